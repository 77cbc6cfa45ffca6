"""The client's rows equal what the Swift CLI prints (``engage query NAME --format json``, ``engage stats``,
``engage export --format jsonl``) for the same parameters, against the conformance store: the CLI's JSON
output is the reference for row shapes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import Loaded

CASES: List[Dict[str, Any]] = [
    {"query": "activity", "cli": ["--from", "2026-03-25", "--to", "2026-04-03"],
     "params": {"from_": "2026-03-25", "to": "2026-04-03"}},
    {"query": "activity", "cli": ["--from", "2026-02-01", "--to", "2026-02-10", "--where", "region=eu",
                                  "--where", "region=na", "--where", "user_segment=pro", "--by", "device_type"],
     "params": {"from_": "2026-02-01", "to": "2026-02-10", "where": {"region": ["eu", "na"], "user_segment": "pro"},
                "by": "device_type"}},
    {"query": "activity", "cli": ["--from", "2026-01-01", "--to", "2026-01-31", "--where", "cohort=2026-01",
                                  "--by", "cohort"],
     "params": {"from_": "2026-01-01", "to": "2026-01-31", "where": {"cohort": "2026-01"}, "by": "cohort"}},
    {"query": "active-days", "cli": ["--from", "2026-02-10", "--to", "2026-03-09", "--by", "region"],
     "params": {"from_": "2026-02-10", "to": "2026-03-09", "by": "region"}},
    {"query": "tiers", "cli": ["--month", "2026-02", "--by", "acquisition_channel"],
     "params": {"month": "2026-02", "by": "acquisition_channel"}},
    {"query": "tiers", "cli": ["--as-of", "2026-03-15", "--where", "device_type=ios"],
     "params": {"as_of": "2026-03-15", "where": {"device_type": "ios"}}},
    {"query": "transitions", "cli": ["--month", "2026-02", "--where", "region=eu"],
     "params": {"month": "2026-02", "where": {"region": "eu"}}},
    {"query": "retention", "cli": ["--period", "day", "--from", "2026-03-20", "--to", "2026-03-31", "--periods", "5",
                                   "--by", "region"],
     "params": {"period": "day", "from_": "2026-03-20", "to": "2026-03-31", "periods": 5, "by": "region"}},
    {"query": "retention", "cli": ["--period", "month", "--from", "2026-01-01", "--to", "2026-04-30", "--periods", "4"],
     "params": {"period": "month", "from_": "2026-01-01", "to": "2026-04-30", "periods": 4}},
    {"query": "lifecycle", "cli": ["--period", "month", "--from", "2026-01-01", "--to", "2026-05-31"],
     "params": {"period": "month", "from_": "2026-01-01", "to": "2026-05-31"}},
    {"query": "lifecycle", "cli": ["--period", "day", "--from", "2026-03-01", "--to", "2026-03-10", "--where",
                                   "acquisition_channel=organic"],
     "params": {"period": "day", "from_": "2026-03-01", "to": "2026-03-10", "where": {"acquisition_channel": "organic"}}},
    {"query": "sessions", "cli": ["--from", "2026-02-01", "--to", "2026-02-28", "--where", "device_type=web"],
     "params": {"from_": "2026-02-01", "to": "2026-02-28", "where": {"device_type": "web"}}},
    {"query": "sessions", "cli": ["--from", "2027-01-01", "--to", "2027-01-31"],
     "params": {"from_": "2027-01-01", "to": "2027-01-31"}},
    {"query": "at-risk", "cli": ["--as-of", "2026-03-31", "--limit", "7"], "params": {"as_of": "2026-03-31", "limit": 7}},
    {"query": "at-risk", "cli": ["--as-of", "2026-03-20"], "params": {"as_of": "2026-03-20"}},
    {"query": "actions", "cli": ["--from", "2026-01-01", "--to", "2026-03-31"],
     "params": {"from_": "2026-01-01", "to": "2026-03-31"}},
    {"query": "user", "cli": ["--id", "user-ü-14@example.com"], "params": {"id": "user-ü-14@example.com"}},
    {"query": "user", "cli": ["--id", "u7-000001"], "params": {"id": "u7-000001"}},
]


def run_cli(cli: Path, *args: str) -> str:
    completed = subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.parametrize("case", CASES, ids=[f"{c['query']}-{i}" for i, c in enumerate(CASES)])
def test_query_rows_equal_the_cli(conformance: Loaded, engage_cli: Path, case: Dict[str, Any]) -> None:
    printed = json.loads(run_cli(engage_cli, "query", case["query"], *case["cli"], "--server",
                                 conformance.server.address, "--format", "json"))
    with conformance.server.client() as client:
        got = client.query(case["query"], **case["params"])
    if case["query"] == "user":
        assert got == {key: value for key, value in printed.items() if key != "query"}
        assert len(got["daily_activity"]) > 0 and len(got["sessions"]) > 0
    else:
        assert got == printed["rows"]
        assert printed["query"] == case["query"].replace("-", "_")
        assert len(got) > 0


def test_stats_equal_the_cli(conformance: Loaded, engage_cli: Path) -> None:
    printed = json.loads(run_cli(engage_cli, "stats", "--server", conformance.server.address, "--format", "json"))
    with conformance.server.client() as client:
        assert [client.stats()] == printed["rows"]


@pytest.mark.parametrize("table", ["users", "actions", "dates", "events", "sessions", "daily-activity"])
def test_export_rows_equal_the_cli(conformance: Loaded, engage_cli: Path, table: str) -> None:
    args = ["--from", "2026-03-01", "--to", "2026-03-07"] if table in ("events", "sessions", "daily-activity") else []
    printed = [json.loads(line) for line in run_cli(
        engage_cli, "export", table, *args, "--server", conformance.server.address, "--format", "jsonl").splitlines()]
    dates = {"from_": "2026-03-01", "to": "2026-03-07"} if args else {}
    with conformance.server.client() as client:
        got = list(client.export(table, page_size=333, **dates))
    assert got == printed
    assert len(got) > 0
