"""Makes ``engage_client`` importable from the source tree (``python3 -m pytest clients/python/tests`` from
the repository root works without installing the package) and starts the servers the live tests need.

The server is ``$ENGAGED`` (default: ``.build/debug/engaged`` of the repository, which ``tools/test`` builds
first); the ``engage`` CLI, the reference for row shapes, is the one next to it. Each server listens on port
0 of 127.0.0.1, writes its port to a file, keeps its data in a temporary directory, and is stopped (SIGTERM,
then SIGKILL) when its fixture ends. Without the binary the live tests fail; ``ENGAGE_SKIP_LIVE=1`` skips
them instead. The conformance data set is the repository's ``Tests/Fixtures/conformance``
(``$ENGAGE_CONFORMANCE_DIR`` overrides it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

from engage_client import Client  # noqa: E402
from engage_client.protocol import HEADER, MESSAGES_BY_NAME, frame  # noqa: E402

#: ``(type, request_id, payload)``
Frame = Tuple[int, int, bytes]

REPO_ROOT = Path(__file__).resolve().parents[3]
TLS_DIR = REPO_ROOT / "Tests" / "Fixtures" / "tls"


def conformance_dir() -> Path:
    directory = Path(os.environ.get("ENGAGE_CONFORMANCE_DIR") or REPO_ROOT / "Tests" / "Fixtures" / "conformance")
    if not (directory / "expected.json").is_file():
        raise RuntimeError(f"no conformance data in {directory} (set ENGAGE_CONFORMANCE_DIR)")
    return directory


def read_jsonl(path: Path) -> List[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def engaged_path() -> Path:
    """``$ENGAGED``, or the repository's ``.build/debug/engaged``."""
    path = Path(os.environ.get("ENGAGED") or REPO_ROOT / ".build" / "debug" / "engaged")
    if not path.is_file():
        raise RuntimeError(f"no engaged binary at {path} (build it, or set ENGAGED=/path/to/engaged)")
    return path.resolve()


class Server:
    """One ``engaged`` on 127.0.0.1 with a fresh data directory."""

    def __init__(self, *args: str, timezone: str = "UTC", data: Optional[Path] = None) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="engage-pytest-"))
        self.data = data or self.work / "data"
        port_file = self.work / "port"
        self.log = open(self.work / "engaged.log", "wb")
        command = [
            str(engaged_path()), "--data", str(self.data), "--port", "0", "--port-file", str(port_file),
            "--timezone", timezone, "--log-level", "warning", *args,
        ]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.work / "engaged.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"engaged did not start: {log}")
            time.sleep(0.02)
        self.port = int(port_file.read_text().strip())
        self.address = f"127.0.0.1:{self.port}"

    def client(self, **options: Any) -> Client:
        return Client(self.address, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture(scope="session")
def live() -> None:
    if os.environ.get("ENGAGE_SKIP_LIVE") == "1":
        pytest.skip("ENGAGE_SKIP_LIVE=1")
    engaged_path()


@pytest.fixture(scope="session")
def engage_cli(live: None) -> Path:
    """The ``engage`` CLI next to ``engaged``: the reference for row shapes."""
    path = engaged_path().parent / "engage"
    if not path.is_file():
        raise RuntimeError(f"no engage binary in {path.parent}")
    return path


def start_server(*args: str, timezone: str = "UTC", data: Optional[Path] = None) -> Iterator[Server]:
    server = Server(*args, timezone=timezone, data=data)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_server(live: None) -> Iterator[Server]:
    """An empty store (UTC) for one test."""
    yield from start_server()


@pytest.fixture(scope="module")
def small_limits_server(live: None) -> Iterator[Server]:
    """A server with 7 items per batch, 3 requests in flight per connection and a 64 KiB frame limit."""
    yield from start_server("--max-batch-items", "7", "--max-in-flight", "3", "--max-frame-bytes", "65536")


class Loaded:
    """A server holding the conformance data set, loaded through the client."""

    def __init__(self, server: Server, timezone: str) -> None:
        self.server = server
        self.timezone = timezone
        directory = conformance_dir()
        name = "expected.json" if timezone == "UTC" else "expected_america_new_york.json"
        self.expected: Dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))
        with server.client() as client:
            self.actions = client.define_actions(read_jsonl(directory / "actions.jsonl"))
            self.users = client.upsert_users(read_jsonl(directory / "users.jsonl"))
            self.events = client.ingest(read_jsonl(directory / "events.jsonl"))
            client.wait_applied()  # every acknowledged write visible to the queries that follow
            self.stats = client.stats()


@pytest.fixture(scope="session", params=["UTC", "America/New_York"])
def conformance(request: pytest.FixtureRequest, live: None) -> Iterator[Loaded]:
    """The conformance data set in a store of each reporting time zone."""
    for server in start_server(timezone=request.param):
        yield Loaded(server, request.param)


class RawConnection:
    """Frames over a plain socket, for playing either side of the protocol by hand."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(20)

    @classmethod
    def connect(cls, address: str, hello: bool = True, token: str = "") -> "RawConnection":
        host, port = address.rsplit(":", 1)
        conn = cls(socket.create_connection((host, int(port))))
        if hello:
            conn.send(0x01, 1, MESSAGES_BY_NAME["HELLO"].encode_payload(
                {"min_version": 1, "max_version": 1, "token": token, "client_name": "pytest-raw"}))
            assert conn.read()[0] == 0x81
        return conn

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def read(self) -> Frame:
        length, message_type, request_id = HEADER.unpack(self.read_exactly(9))
        return message_type, request_id, self.read_exactly(length - 5)

    def read_error(self) -> Tuple[int, int, str]:
        """``(request_id, code, message)`` of the next frame, which must be an ERROR."""
        message_type, request_id, payload = self.read()
        assert message_type == 0xFF, f"expected ERROR, got 0x{message_type:02x}"
        fields = MESSAGES_BY_NAME["ERROR"].decode_payload(payload)
        return request_id, fields["code"], fields["message"]

    def at_eof(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def send(self, message_type: int, request_id: int, payload: bytes) -> None:
        self.sock.sendall(frame(message_type, request_id, payload))

    def pong(self, request: Frame) -> None:
        self.send(0x82, request[1], request[2])

    def error(self, request_id: int, code: int, message: str) -> None:
        self.send(0xFF, request_id, MESSAGES_BY_NAME["ERROR"].encode_payload({"code": code, "message": message}))

    def close(self) -> None:
        self.sock.close()
