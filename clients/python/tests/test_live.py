"""Client behaviour against a live engaged: ingest results and positions, the writer, pipelining, one error
of each error-code family, TLS, token roles, admin requests, unfinished periods, invalid_cursor and
QUERY_VALUES."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import signal
import ssl
import struct
import threading
import time
from pathlib import Path
from typing import Any, Coroutine, Dict, Iterator, List

import pytest

from engage_client import AsyncClient, Client, EngageError
from engage_client.protocol import HEADER, MESSAGES_BY_NAME, frame
from engage_client.records import encode_events

from conftest import TLS_DIR, Loaded, RawConnection, Server, start_server

TS = 1771111209608  # 2026-02-14T23:20:09.608Z


def event(i: int, user: str = "u-1", **extra: Any) -> Dict[str, Any]:
    return {"user_id": user, "event_id": f"e-{i}", "ts": TS + i * 1000, "action": "like", **extra}


# MARK: ingest


def test_ingest_counts_duplicates_and_client_and_server_rejections(fresh_server: Server) -> None:
    events = [
        event(0, context="home", metadata={"k": 1}),
        event(1, ts="2026-02-14T23:20:10.608Z"),
        event(2, ts=datetime.datetime(2026, 2, 14, 23, 20, 11, 608000, tzinfo=datetime.timezone.utc)),
        event(0),                                    # duplicate of the first (same user, same id)
        event(3, user=""),                           # server: invalid_user_id
        event(4, ts="1999-12-31T23:59:59.999Z"),     # server: timestamp_out_of_range
        event(5, ts="31 Dec"),                       # client: invalid_timestamp
        event(6, action="x" * 129),                  # server: invalid_action
        event(7, context="c" * 257),                 # server: invalid_context
        event(8, user="u-2"),
    ]
    with fresh_server.client() as client:
        result = client.ingest(events)
        client.wait_applied()
        assert (result.accepted, result.duplicates, result.rejected) == (4, 1, 5)
        assert [(r.index, r.reason) for r in result.rejections] == [
            (4, "invalid_user_id"), (5, "timestamp_out_of_range"), (6, "invalid_timestamp"), (7, "invalid_action"),
            (8, "invalid_context")]
        stats = client.stats()
        assert (stats["events"], stats["duplicates"], stats["users"]) == (4, 1, 2)
        exported = {row["event_id"]: row for row in client.export("events")}
        assert exported["e-0"]["action_metadata"] == '{"k":1}' and exported["e-0"]["action_context"] == "home"
        assert [exported[f"e-{i}"]["ts_ms"] for i in (1, 2)] == [TS + 1000, TS + 2000]
        again = client.ingest(events[:3])
        assert (again.accepted, again.duplicates, again.rejected) == (0, 3, 0)


def test_define_actions_and_upsert_users(fresh_server: Server) -> None:
    with fresh_server.client() as client:
        actions = client.define_actions([
            {"action_type": "post", "action_category": "content_creation", "engagement_weight": 3, "is_core_action": True},
            {"action_type": "login", "action_category": "session", "engagement_weight": 0, "is_core_action": False},
            {"action_type": "peek"},                                       # defaults
            {"action_type": "bad", "engagement_weight": "heavy"},          # client: invalid_field
            {"action_type": "nocat", "action_category": ""},               # server: invalid_attribute
        ])
        assert (actions.accepted, [(r.index, r.reason) for r in actions.rejections]) == (
            3, [(3, "invalid_field"), (4, "invalid_attribute")])
        client.wait_applied()
        assert list(client.export("actions")) == [
            {"action_key": 1, "action_type": "post", "action_category": "content_creation", "engagement_weight": 3, "is_core_action": True},
            {"action_key": 2, "action_type": "login", "action_category": "session", "engagement_weight": 0, "is_core_action": False},
            {"action_key": 3, "action_type": "peek", "action_category": "uncategorized", "engagement_weight": 1, "is_core_action": True},
        ]
        users = client.upsert_users([
            {"user_id": "u-1", "registration_date": "2026-01-15", "acquisition_channel": "organic", "region": "eu"},
            {"user_id": "u-1", "device_type": "ios"},                       # keeps the rest
            {"user_id": "u-2", "registration_date": datetime.date(2026, 2, 1), "user_segment": None},
            {"user_id": "u-3", "registration_date": "2026-02-30"},          # client: invalid_date
            {"user_id": "u-4", "registration_date": "1900-01-01"},          # server: invalid_date
            {"acquisition_channel": "organic"},                             # client: missing_field
        ])
        assert users.accepted == 3
        assert [(r.index, r.reason, r.code) for r in users.rejections] == [
            (3, "invalid_date", 11), (4, "invalid_date", 11), (5, "missing_field", None)]
        client.wait_applied()
        exported = {row["user_id"]: row for row in client.export("users")}
        assert exported["u-1"] == {"user_key": exported["u-1"]["user_key"], "user_id": "u-1", "registration_date": "2026-01-15",
                                   "acquisition_channel": "organic", "user_segment": "unknown", "device_type": "ios",
                                   "region": "eu"}
        assert exported["u-2"]["registration_date"] == "2026-02-01"


def test_batches_are_split_to_the_servers_limits(small_limits_server: Server) -> None:
    """max_batch_items 7 and a 64 KiB frame limit: 40 events go in several batches, rejection indexes
    are still positions in the list given."""
    events = [event(i, user=f"s-{i % 3}", metadata={"pad": "p" * 3000}) for i in range(40)]
    events[9]["user_id"] = ""                 # second batch
    events[33]["ts"] = 0                      # fifth batch
    events[34]["ts"] = "nope"                 # client-side
    with small_limits_server.client() as client:
        assert client.server_info.max_batch_items == 7 and client.server_info.max_in_flight == 3
        result = client.ingest(events)
        assert (result.accepted, result.duplicates) == (37, 0)
        assert [(r.index, r.reason) for r in result.rejections] == [
            (9, "invalid_user_id"), (33, "timestamp_out_of_range"), (34, "invalid_timestamp")]
        with client.writer(batch_size=5, max_in_flight=2) as writer:
            writer.write_many(events[:20])
            for item in events[20:]:
                writer.write(item)
        summary = writer.summary
        assert summary is not None and (summary.accepted, summary.duplicates) == (0, 37)
        assert [r.index for r in summary.rejections] == [9, 33, 34]
        assert writer.written == 40
        client.wait_applied()
        assert client.stats()["events"] == 37


def test_writer_streams_many_events(fresh_server: Server) -> None:
    def events() -> Iterator[Dict[str, Any]]:
        for i in range(30000):
            yield {"user_id": f"w-{i % 997}", "event_id": f"w-{i}", "ts": TS + i * 37, "action": ("view", "like")[i % 2],
                   "context": ("home", "feed", None)[i % 3]}
        for i in range(0, 30000, 10):  # 3000 re-sent
            yield {"user_id": f"w-{i % 997}", "event_id": f"w-{i}", "ts": "2026-02-14T23:20:09.608Z", "action": "view"}

    with fresh_server.client() as client:
        writer = client.writer(batch_size=2000, max_in_flight=4)
        writer.write_many(events())
        summary = writer.close(wait_applied=True)
        assert (summary.accepted, summary.duplicates, summary.rejected) == (30000, 3000, 0)
        stats = client.stats()
        assert (stats["events"], stats["duplicates"], stats["users"]) == (30000, 3000, 997)


def test_async_writer_and_ingest(fresh_server: Server) -> None:
    async def run() -> None:
        async with AsyncClient(fresh_server.address) as client:
            async with client.writer(batch_size=100, max_in_flight=3) as writer:
                for i in range(1000):
                    await writer.write(event(i, user=f"a-{i % 10}"))
                await writer.write(event(5000, user=""))
            assert (writer.acknowledged.accepted, [r.index for r in writer.acknowledged.rejections]) == (1000, [1000])
            result = await client.ingest([event(1, user="a-1"), event(2000, user="a-1")])
            assert (result.accepted, result.duplicates) == (1, 1)
            await client.wait_applied()
            assert (await client.stats())["events"] == 1001

    asyncio.run(run())


def test_wait_applied_counts_write_batches(fresh_server: Server) -> None:
    """WAIT_APPLIED answers with the sequence number of the last write batch applied: one per DEFINE_ACTIONS,
    UPSERT_USERS and INGEST_EVENTS request, whatever connection sent it; after it, queries see every write."""
    with fresh_server.client() as client, fresh_server.client() as other:
        assert client.wait_applied() == 0
        client.define_actions([{"action_type": "like"}])
        client.upsert_users([{"user_id": "u-1", "region": "eu"}])
        writer = client.writer(batch_size=10, max_in_flight=2)
        writer.write_many(event(i, user=f"u-{i % 4}") for i in range(35))  # 4 batches
        assert writer.close(wait_applied=True).accepted == 35
        assert other.wait_applied() == 6
        assert other.stats()["events"] == 35
        assert other.activity(from_="2026-02-14", to="2026-02-14")[0]["dau"] == 4
        assert client.ingest([event(0, user="u-0")]).duplicates == 1  # a batch with nothing new still counts
        assert client.wait_applied() == 7
        # PROTOCOL.md 4.27: an INGEST_EVENTS with no event past the string-table checks takes no number, an
        # empty DEFINE_ACTIONS does, a request answered with ERROR does not.
        client.request("INGEST_EVENTS", {"strings": [], "events": []})
        client.request("INGEST_EVENTS", {"strings": [b"u"], "events": [
            {"user_ref": 0, "event_id": b"e", "ts": TS, "action_ref": 9, "context_ref": None, "metadata": b""}]})
        assert client.wait_applied() == 7
        client.request("DEFINE_ACTIONS", {"actions": []})
        assert client.wait_applied() == 8
        expect_error(7, "invalid_field", client.request, "UPSERT_USERS", {"users": [
            {"user_id": "u-1", "registration_date": datetime.date(1600, 1, 1)}]})
        assert client.wait_applied() == 8

    async def run() -> int:
        async with AsyncClient(fresh_server.address) as client:
            async with client.writer(batch_size=5) as writer:
                for i in range(100, 112):
                    await writer.write(event(i))
            assert (await writer.close(wait_applied=True)).accepted == 12
            return await client.wait_applied()

    assert asyncio.run(run()) == 11


def test_change_feed_and_export_users(fresh_server: Server) -> None:
    """CHANGES names what each applied commit rewrote (PROTOCOL.md 4.28), and EXPORT_USERS reads back the users
    it names (4.29); a late active day rewrites the user's later daily rows too (the rolling tier)."""
    with fresh_server.client() as client:
        assert client.changes() == {"current": 0, "oldest": 0, "changes": []}
        client.define_actions([{"action_type": "like"}])
        client.upsert_users([{"user_id": "u-1", "region": "eu"}, {"user_id": "u-2", "region": "na"}])
        assert client.ingest([event(0, user="u-1"), event(1, user="u-2")]).accepted == 2
        client.wait_applied()
        feed = client.changes()
        changes = feed["changes"]
        assert feed["current"] == changes[-1]["sequence"] and feed["oldest"] == 1
        assert [c["sequence"] for c in changes] == list(range(1, len(changes) + 1))
        assert any(c["catalog_changed"] for c in changes)
        day = datetime.datetime.fromtimestamp(TS / 1000, datetime.timezone.utc).date()
        daily = sorted({d for c in changes for d in c["daily_days"]})
        assert daily == [day]
        assert {d for c in changes for d in c["event_days"]} == {day}
        assert {d for c in changes for d in c["session_days"]} == {day}
        keys = sorted({k for c in changes for k in c["user_keys"]})
        assert len(keys) == 2
        rows = client.export_users(list(reversed(keys)) + [999_999])
        assert [row["user_id"] for row in rows] == ["u-2", "u-1"]
        assert [row["region"] for row in rows] == ["na", "eu"]
        # Since the latest commit there is nothing; a limit bounds the answer.
        assert client.changes(since=feed["current"])["changes"] == []
        assert [c["sequence"] for c in client.changes(since=0, limit=1)["changes"]] == [1]
        # A late active day rewrites its own row and the rolling tier of the user's rows up to 29 days later.
        late = {"user_id": "u-2", "event_id": "late", "ts": TS - 86_400_000, "action": "like"}
        assert client.ingest([late]).accepted == 1
        client.wait_applied()
        after = client.changes(since=feed["current"])["changes"]
        assert sorted({d for c in after for d in c["daily_days"]}) == [day - datetime.timedelta(days=1), day]
        assert {d for c in after for d in c["event_days"]} == {day - datetime.timedelta(days=1)}


def test_export_page_size_zero_is_the_servers_maximum(conformance: Loaded) -> None:
    """EXPORT limit 0 means the server's maximum, 10,000 rows a page (PROTOCOL.md 4.20): 30,979 events come in
    4 pages, the same rows as with pages of 5,000; a negative page size is refused before sending."""
    with conformance.server.client() as client:
        pages = list(client.export_pages("events", page_size=0))
        assert [len(page) for page in pages] == [10_000, 10_000, 10_000, 979]
        assert [row for page in pages for row in page] == list(client.export("events"))
        with pytest.raises(ValueError):
            list(client.export("events", page_size=-1))
        assert client.is_open


# MARK: pipelining


def test_many_requests_in_flight_are_matched_by_id(conformance: Loaded) -> None:
    """500 mixed requests at once on one connection: each answer belongs to its own request."""

    async def run() -> None:
        async with AsyncClient(conformance.server.address) as client:
            days = [datetime.date(2026, 1, 1) + datetime.timedelta(days=i) for i in range(90)]
            calls: List[Coroutine[Any, Any, Any]] = []
            for i in range(500):
                kind = i % 3
                if kind == 0:
                    calls.append(client.request("PING", {"nonce": i}))
                elif kind == 1:
                    day = days[i % 90].isoformat()
                    calls.append(client.activity(from_=day, to=day))
                else:
                    calls.append(client.stats())
            answers = await asyncio.gather(*calls)
            expected_activity = {row["date"]: row for row in conformance.expected["activity"]}
            for i, answer in enumerate(answers):
                if i % 3 == 0:
                    assert answer == {"nonce": i}
                elif i % 3 == 1:
                    assert answer == [expected_activity[days[i % 90].isoformat()]]
                else:
                    assert answer["events"] == 30979

    asyncio.run(run())


def test_one_client_shared_by_threads(conformance: Loaded) -> None:
    expected = {row["date"]: row for row in conformance.expected["activity"]}
    failures: List[BaseException] = []
    with conformance.server.client() as client:
        def work(offset: int) -> None:
            try:
                for i in range(30):
                    day = (datetime.date(2026, 1, 1) + datetime.timedelta(days=(offset * 7 + i) % 90)).isoformat()
                    assert client.activity(from_=day, to=day) == [expected[day]]
            except BaseException as error:  # noqa: BLE001
                failures.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


# MARK: errors, one of each family


def expect_error(code: int, name: str, call: Any, *args: Any, **kwargs: Any) -> EngageError:
    with pytest.raises(EngageError) as caught:
        call(*args, **kwargs)
    assert (caught.value.code, caught.value.name) == (code, name), caught.value
    assert caught.value.message
    return caught.value


def test_query_errors_keep_the_connection(conformance: Loaded) -> None:
    with conformance.server.client() as client:
        expect_error(20, "invalid_query", client.activity, from_="2026-01-01", to="2026-01-31", by="shoe_size")
        expect_error(20, "invalid_query", client.activity, from_="2026-01-01", to="2026-01-31", where={"cohort": "Jan"})
        expect_error(20, "invalid_query", client.activity, from_="2000-01-01", to="2026-01-31")  # over 3661 days
        assert client.is_open
        assert client.sessions(from_="2026-01-01", to="2026-03-31") == conformance.expected["sessions"]


def test_message_errors_keep_the_connection(small_limits_server: Server) -> None:
    with small_limits_server.client() as client:
        aio = client._aio
        send = lambda request_type, payload: client._run(aio._exchange(request_type, payload))  # noqa: E731
        expect_error(3, "unknown_message_type", send, 0x7E, b"")
        expect_error(4, "truncated_payload", send, 0x02, b"\x00\x01")
        expect_error(5, "trailing_bytes", send, 0x07, b"\x00")
        expect_error(6, "invalid_utf8", send, 0x0E, b"\x00\x01\xff")
        expect_error(7, "invalid_field", send, 0x03, b"\x00\x01\x00\x01a\x00\x01b\x00\x00\x00\x01\x02")  # bool 2
        eight = MESSAGES_BY_NAME["INGEST_EVENTS"].encode_payload({"strings": [b"u", b"a"], "events": [
            {"user_ref": 0, "event_id": f"e{i}".encode(), "ts": TS, "action_ref": 1, "context_ref": None, "metadata": b""}
            for i in range(8)]})
        expect_error(13, "too_many_items", send, 0x05, eight)
        assert client.is_open
        client.ping()


def test_too_many_in_flight(small_limits_server: Server) -> None:
    """A raw connection sends 20 ingest batches at once to a server that allows 3 in flight: the ones
    beyond are refused; the connection stays open."""
    conn = RawConnection.connect(small_limits_server.address)
    try:
        payload = MESSAGES_BY_NAME["INGEST_EVENTS"].encode_payload({"strings": [b"r", b"a"], "events": [
            {"user_ref": 0, "event_id": b"x", "ts": TS, "action_ref": 1, "context_ref": None, "metadata": b""}]})
        conn.sock.sendall(b"".join(frame(0x05, 100 + i, payload) for i in range(20)))
        answers = [conn.read() for _ in range(20)]
        refused = [MESSAGES_BY_NAME["ERROR"].decode_payload(p)["code"] for t, _, p in answers if t == 0xFF]
        assert sorted(request_id for _, request_id, _ in answers) == list(range(100, 120))
        assert refused and set(refused) == {14}
        assert sum(1 for t, _, _ in answers if t == 0x85) == 20 - len(refused)
        conn.send(0x02, 7, b"\x00" * 8)
        assert conn.read() == (0x82, 7, b"\x00" * 8)
    finally:
        conn.close()


def test_ping_takes_no_in_flight_slot(live: None) -> None:
    """PROTOCOL.md 4.26: PING is answered at once and takes no slot: 50 PINGs in one write to a server that
    allows 1 request in flight are all answered with PONG."""
    for server in start_server("--max-in-flight", "1"):
        conn = RawConnection.connect(server.address)
        try:
            conn.sock.sendall(b"".join(frame(0x02, 10 + n, struct.pack(">Q", n)) for n in range(50)))
            answers = [conn.read() for _ in range(50)]
        finally:
            conn.close()
        assert sorted((t, i, p) for t, i, p in answers) == [(0x82, 10 + n, struct.pack(">Q", n)) for n in range(50)]


@pytest.mark.parametrize("window", [1, 4])
def test_exactly_max_in_flight_is_never_refused(live: None, window: int) -> None:
    """PROTOCOL.md 4.26: a request's slot is free before its answer is written. Four raw connections each keep
    exactly max_in_flight requests unanswered, sending the next one the moment an answer arrives, through
    2,500 requests of every path (queries on the query threads, STATS, WAIT_APPLIED, ingest batches answered
    by the writer, PING): none is refused. (A server that frees the slot after writing the answer refuses a
    few in each run with a window of 1.) Then the client itself sends 2,000 requests at once."""
    kinds = "asasasawip"
    total = 2500
    activity = MESSAGES_BY_NAME["QUERY_ACTIVITY"].encode_payload(
        {"from": datetime.date(2026, 2, 14), "to": datetime.date(2026, 2, 14), "filters": [], "breakdown": ""})

    def request(connection: int, n: int) -> bytes:
        kind = kinds[n % len(kinds)]
        if kind == "i":
            return frame(0x05, n + 1, encode_events([event(n, user=f"f{connection}-{n % 7}")]).payload)
        if kind == "p":
            return frame(0x02, n + 1, struct.pack(">Q", n))
        if kind == "a":
            return frame(0x06, n + 1, activity)
        return frame(0x07 if kind == "s" else 0x16, n + 1, b"")

    for server in start_server("--max-in-flight", str(window)):
        refusals: List[str] = []
        answered: List[int] = []

        def run(connection: int) -> None:
            conn = RawConnection.connect(server.address)
            try:
                conn.sock.sendall(b"".join(request(connection, n) for n in range(window)))
                ids = []
                for n in range(window, total + window):
                    message_type, request_id, payload = conn.read()
                    if n < total:
                        conn.sock.sendall(request(connection, n))  # at once: `window` unanswered again
                    ids.append(request_id)
                    if message_type == 0xFF:
                        refusals.append(str(MESSAGES_BY_NAME["ERROR"].decode_payload(payload)))
                answered.append(len(set(ids)))
            finally:
                conn.close()

        threads = [threading.Thread(target=run, args=(c,)) for c in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert refusals == []
        assert answered == [total] * 4

        async def run_client() -> List[Any]:
            async with AsyncClient(server.address) as client:
                assert client.server_info.max_in_flight == window
                calls = [client.ping() if i % 2 else client.stats() for i in range(2000)]
                return list(await asyncio.gather(*calls, return_exceptions=True))

        results = asyncio.run(run_client())
        assert [r for r in results if isinstance(r, BaseException)] == []
        with server.client() as client:
            client.wait_applied()
            assert client.stats()["events"] == 4 * total // len(kinds)


def test_framing_errors_close_the_connection(fresh_server: Server) -> None:
    for header, code, name in ((HEADER.pack(20_000_000, 0x02, 9), 2, "frame_too_large"),
                               (struct.pack(">I", 3), 1, "malformed_frame")):
        with fresh_server.client() as client:
            async def poke() -> None:
                assert client._aio._protocol is not None and client._aio._protocol.transport is not None
                client._aio._protocol.transport.write(header)
            client._run(poke())
            error = expect_error(code, name, client.ping)
            assert error.request_id == 0 and error.closes_connection
            assert not client.is_open
            with pytest.raises(EngageError):
                client.ping()


def test_handshake_errors(fresh_server: Server) -> None:
    with fresh_server.client() as client:
        error = expect_error(8, "handshake_required", client.request, "HELLO",
                             {"min_version": 1, "max_version": 1, "token": "", "client_name": "twice"})
        assert error.closes_connection and not client.is_open
    conn = RawConnection.connect(fresh_server.address, hello=False)
    conn.send(0x02, 5, b"\x00" * 8)
    assert conn.read_error()[1] == 8 and conn.at_eof()
    conn = RawConnection.connect(fresh_server.address, hello=False)
    conn.send(0x01, 1, b"ENGB" + b"\x00\x01\x00\x01\x00\x00\x00\x00")
    assert conn.read_error()[1] == 9 and conn.at_eof()
    conn = RawConnection.connect(fresh_server.address, hello=False)
    conn.send(0x01, 1, b"ENGA" + b"\x00\x02\x00\x03\x00\x00\x00\x00")
    assert conn.read_error()[1] == 10 and conn.at_eof()


def test_connection_limit_errors(live: None) -> None:
    for server in start_server("--idle-timeout", "1s", "--frame-timeout", "1s", "--max-connections", "1"):
        first = server.client()
        try:
            expect_error(17, "too_many_connections", server.client)
            deadline = time.monotonic() + 15  # idle for longer than --idle-timeout 1: the server closes
            while first.is_open and time.monotonic() < deadline:
                time.sleep(0.1)
            error = expect_error(15, "idle_timeout", first.ping)
            assert error.request_id == 0 and not first.is_open
        finally:
            first.close()
        time.sleep(0.2)
        conn = RawConnection.connect(server.address)
        conn.sock.sendall(HEADER.pack(13, 0x02, 3))  # a PING without its nonce
        assert conn.read_error()[:2] == (0, 16)
        assert conn.at_eof()


def test_graceful_shutdown(live: None) -> None:
    """SIGTERM while 100 batches are in flight or on their way: each one is acknowledged, refused with
    shutting_down, or (sent after the server stopped reading) unanswered at close; what was acknowledged is
    exactly what a restart finds."""
    server = Server()
    try:
        client = server.client()
        events = [event(i, user=f"g-{i % 300}") for i in range(200_000)]
        payloads = [encode_events(events[i:i + 2000]).payload for i in range(0, len(events), 2000)]

        def send(payload: bytes) -> "concurrent.futures.Future[Dict[str, Any]]":
            return client._submit(client._aio._send_batch("INGEST_EVENTS", payload))

        futures = [send(payload) for payload in payloads[:60]]
        time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        futures += [send(payload) for payload in payloads[60:]]
        outcomes: Dict[str, int] = {}
        acknowledged = 0
        for future in futures:
            try:
                acknowledged += future.result()["accepted"]
                outcomes["acknowledged"] = outcomes.get("acknowledged", 0) + 1
            except EngageError as error:
                outcomes[error.name] = outcomes.get(error.name, 0) + 1
        client.close()
        assert server.process.wait(30) == 0
        assert set(outcomes) <= {"acknowledged", "shutting_down", "connection_closed"}, outcomes
        assert outcomes.get("shutting_down", 0) > 0 and sum(outcomes.values()) == 100
        for restarted in start_server(data=server.data):
            with restarted.client() as again:
                again.wait_applied()
                assert again.stats()["events"] == acknowledged
    finally:
        server.stop()


def test_raw_event_retention(live: None) -> None:
    """With --raw-retention-days, an event older than the horizon is rejected (older_than_retention), raw
    events that age past it are dropped at start, and VERIFY and REBUILD are then raw_events_dropped (34)."""
    yesterday = int(time.time() * 1000) - 86_400_000
    first = Server()
    try:
        with first.client() as client:
            assert client.ingest([event(i) for i in range(5)] + [event(9, ts=yesterday)]).accepted == 6
        first.process.terminate()
        assert first.process.wait(20) == 0
        for server in start_server("--raw-retention-days", "30", data=first.data):
            with server.client() as client:
                deadline = time.monotonic() + 10
                while client.stats()["events"] != 1 and time.monotonic() < deadline:  # dropped at start
                    time.sleep(0.05)
                assert client.stats()["events"] == 1
                result = client.ingest([event(20), event(21, ts=yesterday)])
                assert (result.accepted, [(r.index, r.reason, r.code) for r in result.rejections]) == (
                    1, [(0, "older_than_retention", 9)])
                assert "retention" in expect_error(34, "raw_events_dropped", client.admin_verify).message
                expect_error(34, "raw_events_dropped", client.admin_rebuild)
                assert client.is_open
    finally:
        first.stop()


# MARK: TLS and tokens


@pytest.fixture(scope="module")
def tls_server(live: None) -> Iterator[Server]:
    yield from start_server("--tls-cert", str(TLS_DIR / "server.pem"), "--tls-key", str(TLS_DIR / "server-key.pem"))


def test_tls(tls_server: Server, fresh_server: Server) -> None:
    """The fixture CA verifies the server by IP address and by name under every Python's default checks
    (Python 3.13's VERIFY_X509_STRICT included); another CA, another name, a plain client of a TLS server
    and a TLS client of a plain server are refused."""
    ca = str(TLS_DIR / "ca.pem")
    with Client(tls_server.address, ca_file=ca) as client:
        assert client.ingest([event(1)]).accepted == 1
        client.wait_applied()
        assert client.stats()["events"] == 1
    with Client(f"localhost:{tls_server.port}", ca_file=ca) as client:
        client.ping()
    context = ssl.create_default_context(cafile=ca)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with Client(tls_server.address, tls=context) as client:
        client.ping()
    assert expect_error(None, "tls", Client, tls_server.address, ca_file=str(TLS_DIR / "other-ca.pem")).closes_connection  # type: ignore[arg-type]
    assert expect_error(None, "tls", Client, tls_server.address, ca_file=ca, server_name="engage.example")  # type: ignore[arg-type]
    assert "only accepts TLS" in expect_error(None, "connection_closed", Client, tls_server.address).message  # type: ignore[arg-type]
    expect_error(None, "tls", Client, fresh_server.address, ca_file=ca)  # type: ignore[arg-type]


TOKENS = {"ingest": "ingest-token-0123456789", "query": "query-token-0123456789", "admin": "admin-token-0123456789",
          "both": "both-token-0123456789"}


@pytest.fixture(scope="module")
def token_server(live: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text("# role tests\n" + "".join(
        f"{token} {'ingest,query' if role == 'both' else role}\n" for role, token in TOKENS.items()))
    yield from start_server("--tokens", str(path))


def test_token_roles(token_server: Server, tmp_path: Path) -> None:
    some = [event(1)]
    with token_server.client(token=TOKENS["ingest"]) as client:
        client.ping()  # no role needed
        assert client.ingest(some).accepted == 1
        assert client.define_actions([{"action_type": "like"}]).accepted == 1
        assert client.wait_applied() == 2  # no role needed either
        expect_error(12, "forbidden", client.stats)
        expect_error(12, "forbidden", client.activity, from_="2026-02-14", to="2026-02-14")
        expect_error(12, "forbidden", lambda: list(client.export("users")))
        assert client.is_open
    with token_server.client(token=TOKENS["query"]) as client:
        assert client.wait_applied() == 2
        expect_error(12, "forbidden", client.ingest, some)
        expect_error(12, "forbidden", client.upsert_users, [{"user_id": "u-9"}])
        assert client.activity(from_="2026-02-14", to="2026-02-14")[0]["dau"] == 1
        expect_error(12, "forbidden", client.admin_verify)
    with token_server.client(token=TOKENS["both"]) as client:
        assert client.ingest(some).duplicates == 1
        expect_error(12, "forbidden", client.admin_rebuild)
    with token_server.client(token=TOKENS["admin"]) as client:
        assert client.ingest([event(2)]).accepted == 1
        client.wait_applied()
        assert client.stats()["events"] == 2
        assert client.admin_verify()["total_issues"] == 0
    expect_error(11, "unauthenticated", token_server.client)
    expect_error(11, "unauthenticated", token_server.client, token="not-a-known-token-at-all")


# MARK: admin


def test_admin_verify_rebuild_backup(conformance: Loaded, tmp_path: Path) -> None:
    with conformance.server.client() as client:
        report = client.admin_verify(max_reported=10)
        assert report["total_issues"] == 0 and report["issues"] == []
        assert report["checked"] and all(count > 0 for count in report["checked"].values())
        client.admin_rebuild()
        assert client.query("lifecycle", period="week", from_="2026-01-01", to="2026-03-31")[:13] == \
            conformance.expected["lifecycle_week"][:13]
        target = tmp_path / "backup"
        size = client.admin_backup(str(target))
        assert size > 0 and any(target.iterdir())
        sequence = client.wait_applied()
        assert "already holds a data directory" in expect_error(
            35, "backup_failed", client.admin_backup, str(target)).message
        (tmp_path / "a-file").write_text("")
        expect_error(35, "backup_failed", client.admin_backup, str(tmp_path / "a-file" / "backup"))
        assert client.is_open
    for copy in start_server(data=target, timezone=conformance.timezone):
        with copy.client() as client:
            assert client.stats()["events"] == 30979
            assert client.wait_applied() == sequence  # a backup keeps the count


# MARK: unfinished periods, invalid_cursor, QUERY_VALUES


def test_unfinished_days_are_unknown(conformance: Loaded) -> None:
    last = datetime.date.fromisoformat(conformance.stats["last_day"])
    with conformance.server.client() as client:
        rows = client.activity(from_=last - datetime.timedelta(days=1), to=last + datetime.timedelta(days=2))
    assert [row["date"] for row in rows] == [(last + datetime.timedelta(days=d)).isoformat() for d in range(-1, 3)]
    assert all(isinstance(row["dau"], int) and isinstance(row["dau_mau"], float) for row in rows[:2])
    for row in rows[2:]:
        assert row["dau"] is None and row["wau"] is None and row["mau"] is None
        assert row["dau_mau"] is None and row["dau_wau"] is None


def test_unfinished_periods_are_unknown(conformance: Loaded) -> None:
    with conformance.server.client() as client:
        retention = client.retention(period="month", from_="2026-03-01", to="2026-03-31", periods=2)
        lifecycle = client.lifecycle(period="month", from_="2026-03-01", to="2026-05-31")
    assert [r["period_offset"] for r in retention] == [0, 1, 2] and isinstance(retention[0]["retained"], int)
    assert [(r["retained"], r["rate"]) for r in retention[1:]] == [(None, None), (None, None)]
    assert isinstance(lifecycle[0]["new"], int)
    assert all(r[key] is None for r in lifecycle[1:] for key in ("new", "returning", "resurrecting", "dormant"))


def test_an_empty_store_has_only_unknown_values(fresh_server: Server) -> None:
    with fresh_server.client() as client:
        assert client.stats()["last_day"] is None
        rows = client.activity(from_="2026-01-01", to="2026-01-02")
        assert [(r["dau"], r["wau"], r["mau"], r["dau_mau"]) for r in rows] == [(None, None, None, None)] * 2
        assert client.lifecycle(period="week", from_="2026-01-05", to="2026-01-11") == [
            {"period": "2026-01-05", "new": None, "returning": None, "resurrecting": None, "dormant": None}]


def test_forged_export_cursor_is_invalid_cursor(conformance: Loaded) -> None:
    """A cursor the server never gave, one it gave for another table, one for the same table but another range,
    and a genuine one with a byte changed are refused with invalid_cursor; the connection stays open."""
    with conformance.server.client() as client:
        def first_cursor(table: int, day_from: Any = None) -> bytes:
            page = client.request("EXPORT", {"table": table, "from": day_from, "to": None, "cursor": b"", "limit": 2})
            cursor: bytes = page["next_cursor"]
            assert cursor
            return cursor

        users_cursor = first_cursor(0)
        daily_cursor = first_cursor(5)
        ranged_cursor = first_cursor(5, datetime.date(2026, 3, 1))
        damaged = bytes([daily_cursor[0]]) + bytes([daily_cursor[1] ^ 0x01]) + daily_cursor[2:]
        for cursor in (b"\xff" * 9, users_cursor, ranged_cursor, damaged):
            fields = {"table": 5, "from": None, "to": None, "cursor": cursor, "limit": 10}
            expect_error(21, "invalid_cursor", client.request, "EXPORT", fields)
            assert client.is_open
        page = client.request("EXPORT", {"table": 5, "from": None, "to": None, "cursor": daily_cursor, "limit": 10})
        assert len(page["rows"]) == 10


def test_query_values(conformance: Loaded) -> None:
    with conformance.server.client() as client:
        users = list(client.export("users"))
        for dimension in ("region", "acquisition_channel"):
            counts: Dict[str, int] = {}
            for user in users:
                counts[user[dimension]] = counts.get(user[dimension], 0) + 1
            assert client.values(dimension) == [{"value": value, "users": counts[value]} for value in sorted(counts)]
        months: Dict[str, int] = {}
        for user in users:
            if user["registration_date"] is not None:
                months[user["registration_date"][:7]] = months.get(user["registration_date"][:7], 0) + 1
        assert client.query("values", dimension="cohort") == [{"value": m, "users": months[m]} for m in sorted(months)]
        expect_error(20, "invalid_query", client.values, "shoe_size")
        expect_error(20, "invalid_query", client.values, "")
