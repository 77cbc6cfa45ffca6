"""The README's examples run against a real engaged: the two programs under "Client library" as their own
processes (as a user would run them), the other snippets with ``client`` connected to the conformance store."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import PACKAGE_ROOT, Loaded, start_server

README = (PACKAGE_ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS: List[str] = re.findall(r"^```python\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)
PROGRAMS, SNIPPETS = BLOCKS[:2], BLOCKS[2:]


def run_program(source: str, server: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "example.py"
    path.write_text(source, encoding="utf-8")
    env: Dict[str, str] = {**os.environ, "ENGAGE_SERVER": server, "PYTHONPATH": str(PACKAGE_ROOT)}
    env.pop("ENGAGE_TOKEN", None)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, env=env)


def test_the_readme_has_its_examples() -> None:
    assert len(PROGRAMS) == 2 and len(SNIPPETS) >= 3
    assert README.index("## Client library") < README.index(PROGRAMS[0])


def test_client_example(live: None, tmp_path: Path) -> None:
    for server in start_server():
        completed = run_program(PROGRAMS[0], server.address, tmp_path)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.splitlines() == [
            "accepted 1, duplicates 0, rejected 0",
            "stream: accepted 10000",
            "2026-02-14 50 50 1.0",
            "2026-02-15 50 50 1.0",
            "2026-02-16 - - None",
        ]
    # Nothing listens there: the example's error handling says so and exits 1.
    completed = run_program(PROGRAMS[0], "127.0.0.1:1", tmp_path)
    assert completed.returncode == 1 and completed.stdout.startswith("cannot reach engaged: "), completed


def test_async_client_example(live: None, tmp_path: Path) -> None:
    for server in start_server():
        completed = run_program(PROGRAMS[1], server.address, tmp_path)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.splitlines() == ["accepted 10001", "[50, 50]"]


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet(conformance: Loaded, index: int) -> None:
    output = io.StringIO()
    with conformance.server.client() as client, contextlib.redirect_stdout(output):
        exec(compile(SNIPPETS[index], f"README snippet {index + 1}", "exec"), {"client": client})
    if "except EngageError" in SNIPPETS[index]:
        assert output.getvalue().startswith("20 invalid_query ")
