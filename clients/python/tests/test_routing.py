"""Response routing against a scripted fake server (deterministic, no engaged needed): answers in any order
are matched by request id, the in-flight limit is kept, connection-level errors fail every waiting
request, unknown error codes still raise the one exception class, and the writer's back-pressure holds."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

from engage_client import AsyncClient, Client, EngageError
from engage_client.protocol import MESSAGES_BY_NAME

from conftest import Frame, RawConnection

class FakeServer:
    """Accepts one connection, answers HELLO with the given limits, then runs ``script(conn)``."""

    def __init__(self, script: Callable[["RawConnection"], None], max_in_flight: int = 64,
                 max_batch_items: int = 100000) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.script = script
        self.limits = (max_batch_items, max_in_flight)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            with sock:
                conn = RawConnection(sock)
                message_type, request_id, _ = conn.read()
                assert message_type == 0x01
                conn.send(0x81, request_id, MESSAGES_BY_NAME["HELLO_OK"].encode_payload({
                    "version": 1, "server_name": "fake", "time_zone": "UTC", "max_frame_length": 1 << 24,
                    "max_batch_items": self.limits[0], "max_in_flight": self.limits[1]}))
                self.script(conn)
        except BaseException as error:  # noqa: BLE001 - reported by join()
            self.error = error
        finally:
            self.listener.close()

    def join(self) -> None:
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def test_answers_in_reverse_order_reach_their_callers() -> None:
    def script(conn: RawConnection) -> None:
        requests = [conn.read() for _ in range(10)]
        assert len({r[1] for r in requests}) == 10  # distinct request ids
        for request in reversed(requests):
            conn.pong(request)

    server = FakeServer(script)

    async def run() -> List[Dict[str, Any]]:
        async with AsyncClient(server.address) as client:
            return list(await asyncio.gather(*(client.request("PING", {"nonce": n}) for n in range(100, 110))))

    answers = asyncio.run(run())
    assert [a["nonce"] for a in answers] == list(range(100, 110))
    server.join()


def test_in_flight_limit_is_kept() -> None:
    """The server allows 4 in flight: with 40 requests waiting, the client sends 4, then nothing more until
    one is answered."""

    def script(conn: RawConnection) -> None:
        for _ in range(10):
            waiting = [conn.read() for _ in range(4)]
            conn.sock.settimeout(0.3)
            with pytest.raises(socket.timeout):
                conn.read()  # a fifth request would exceed the limit
            conn.sock.settimeout(20)
            for request in waiting:
                conn.pong(request)

    server = FakeServer(script, max_in_flight=4)

    async def run() -> List[int]:
        async with AsyncClient(server.address) as client:
            answers = await asyncio.gather(*(client.request("PING", {"nonce": n}) for n in range(40)))
            return [a["nonce"] for a in answers]

    assert asyncio.run(run()) == list(range(40))
    server.join()


def test_connection_error_fails_every_waiting_request() -> None:
    def script(conn: RawConnection) -> None:
        for _ in range(3):
            conn.read()
        conn.error(0, 15, "idle for too long")

    server = FakeServer(script)

    async def run() -> List[Optional[BaseException]]:
        async with AsyncClient(server.address) as client:
            results = await asyncio.gather(*(client.ping() for _ in range(3)), return_exceptions=True)
            with pytest.raises(EngageError) as later:
                await client.ping()
            assert later.value.name == "idle_timeout"
            return list(results)

    results = asyncio.run(run())
    errors = [r for r in results if isinstance(r, EngageError)]
    assert len(errors) == 3
    assert all((r.code, r.name, r.request_id) == (15, "idle_timeout", 0) and r.closes_connection for r in errors)
    server.join()


def test_requests_waiting_for_a_slot_fail_when_the_connection_closes() -> None:
    """With 2 in flight allowed, 6 requests are made; the server reads 2 and closes the connection: all 6
    fail with connection_closed, the 4 that were waiting for a slot included (they were never sent)."""
    def script(conn: RawConnection) -> None:
        conn.read()
        conn.read()

    server = FakeServer(script, max_in_flight=2)

    async def run() -> List[Any]:
        async with AsyncClient(server.address, timeout=30) as client:
            calls = [client.request("PING", {"nonce": n}) for n in range(6)]
            return list(await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10))

    results = asyncio.run(run())
    assert [isinstance(r, EngageError) and r.name for r in results] == ["connection_closed"] * 6
    server.join()


@pytest.mark.parametrize("code, name", [
    (21, "invalid_cursor"), (34, "raw_events_dropped"), (35, "backup_failed"), (31, "shutting_down"),
    (30, "storage_full"), (32, "internal_error"), (99, "error_99"),
])
def test_error_codes_raise_engage_error_and_keep_the_connection(code: int, name: str) -> None:
    def script(conn: RawConnection) -> None:
        request = conn.read()
        conn.error(request[1], code, f"detail {code}")
        conn.pong(conn.read())

    server = FakeServer(script)
    with Client(server.address) as client:
        with pytest.raises(EngageError) as caught:
            client.ping()
        assert (caught.value.code, caught.value.name, caught.value.message) == (code, name, f"detail {code}")
        assert not caught.value.closes_connection
        client.ping()  # the connection is still there
    server.join()


def test_answer_with_an_unknown_request_id_fails_the_connection() -> None:
    def script(conn: RawConnection) -> None:
        request = conn.read()
        conn.send(0x82, request[1] + 1000, request[2])
        time.sleep(0.2)

    server = FakeServer(script)
    with Client(server.address) as client:
        with pytest.raises(EngageError) as caught:
            client.ping()
        assert caught.value.name == "unexpected_response" and caught.value.closes_connection
        assert not client.is_open
    server.join()


def test_malformed_response_is_reported() -> None:
    def script(conn: RawConnection) -> None:
        request = conn.read()
        conn.send(0x87, request[1], b"\x00\x01")  # STATS_RESULT cut short
        time.sleep(0.2)

    server = FakeServer(script)
    with Client(server.address) as client:
        with pytest.raises(EngageError) as caught:
            client.stats()
        assert caught.value.name == "malformed_response" and caught.value.code is None
    server.join()


def test_timeout_then_late_answer() -> None:
    release = threading.Event()

    def script(conn: RawConnection) -> None:
        slow = conn.read()
        release.wait(10)
        conn.pong(slow)  # late: nobody waits for it any more
        conn.pong(conn.read())

    server = FakeServer(script)
    with Client(server.address, timeout=1.0) as client:
        with pytest.raises(EngageError) as caught:
            client.ping()
        assert caught.value.name == "timeout" and not caught.value.closes_connection
        release.set()
        client.ping()
    server.join()


def test_writer_back_pressure_and_stream_positions() -> None:
    """With max_in_flight=2, the third batch is not sent before the first is acknowledged; rejections
    are reported at their positions in the stream."""
    log: List[str] = []
    gate = threading.Event()
    two_read = threading.Event()

    def script(conn: RawConnection) -> None:
        batches = [conn.read(), conn.read()]
        log.append("two batches read")
        two_read.set()
        conn.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            conn.read()  # the writer holds the third batch back
        conn.sock.settimeout(20)
        gate.wait(10)

        def answer(request: Frame) -> None:
            count = len(MESSAGES_BY_NAME["INGEST_EVENTS"].decode_payload(request[2])["events"])
            rejected = [{"index": 1, "reason": 4}]  # the second event of every batch
            conn.send(0x85, request[1], MESSAGES_BY_NAME["INGEST_RESULT"].encode_payload(
                {"accepted": count - 1, "duplicates": 0, "rejected": rejected}))

        answer(batches[0])
        third = conn.read()  # sent once the first is acknowledged
        assert third[0] == 0x05
        answer(batches[1])
        answer(third)
        ping = conn.read()
        assert ping[0] == 0x02
        conn.pong(ping)

    server = FakeServer(script)
    events = [{"user_id": "u", "event_id": f"e{i}", "ts": 1771111209608 + i, "action": "a"} for i in range(15)]
    with Client(server.address) as client:
        writer = client.writer(batch_size=5, max_in_flight=2)
        def write() -> None:
            writer.write_many(events)
            log.append("written")

        thread = threading.Thread(target=write)
        thread.start()
        assert two_read.wait(10)
        time.sleep(0.5)
        assert log == ["two batches read"]  # write_many is blocked on the third batch
        gate.set()
        thread.join(10)
        summary = writer.close()
        assert (summary.accepted, summary.duplicates) == (12, 0)
        assert [(r.index, r.reason) for r in summary.rejections] == [
            (1, "timestamp_out_of_range"), (6, "timestamp_out_of_range"), (11, "timestamp_out_of_range")]
        client.ping()
    server.join()


def test_batch_result_that_does_not_add_up_is_malformed() -> None:
    def script(conn: RawConnection) -> None:
        request = conn.read()
        conn.send(0x85, request[1], MESSAGES_BY_NAME["INGEST_RESULT"].encode_payload(
            {"accepted": 3, "duplicates": 0, "rejected": []}))  # two events were sent
        conn.pong(conn.read())

    server = FakeServer(script)
    events = [{"user_id": "u", "event_id": f"e{i}", "ts": 1771111209608, "action": "a"} for i in range(2)]
    with Client(server.address) as client:
        with pytest.raises(EngageError) as caught:
            client.ingest(events)
        assert caught.value.name == "malformed_response" and "2 items" in caught.value.message
        assert not caught.value.closes_connection
        client.ping()
    server.join()


def test_too_many_in_flight_is_raised_not_resent() -> None:
    """PROTOCOL.md 4.26 promises that a client keeping at most max_in_flight requests unanswered never sees
    too_many_in_flight: if a server sends it anyway, the request fails with it at once (nothing is sent
    again) and the connection stays usable."""
    def script(conn: RawConnection) -> None:
        first = conn.read()
        conn.error(first[1], 14, "busy")
        following = conn.read()  # the next ping, not the first one again
        assert following[0] == 0x02 and following[2] != first[2]
        conn.pong(following)

    server = FakeServer(script)
    with Client(server.address) as client:
        with pytest.raises(EngageError) as caught:
            client.request("PING", {"nonce": 5})
        assert (caught.value.code, caught.value.name, caught.value.message) == (14, "too_many_in_flight", "busy")
        assert not caught.value.closes_connection
        assert client.request("PING", {"nonce": 6}) == {"nonce": 6}
    server.join()


def test_errors_pickle_with_every_attribute() -> None:
    import pickle

    error = EngageError(None, "timeout", "slow", 7, closes_connection=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.name, copy.message, copy.request_id, copy.closes_connection) == (None, "timeout", "slow", 7, True)
    assert str(copy) == "timeout: slow"
    server_error = pickle.loads(pickle.dumps(EngageError.from_server(12, "no", 3)))
    assert (server_error.name, server_error.closes_connection, str(server_error)) == ("forbidden", False, "forbidden (12): no")
