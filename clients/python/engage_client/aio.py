"""The asyncio client: one connection, many requests in flight, responses matched by request id."""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
import struct
from typing import Any, AsyncGenerator, AsyncIterator, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union, cast

from . import protocol
from .protocol import MESSAGES, MESSAGES_BY_NAME, DecodeError, frame
from .queries import Row, Where, export_row, export_table, resolve, stats_report, verify_report
from .records import EncodedBatch, action_fields, encode_events, encode_rows, parse_date, user_fields
from .results import BatchResult, EngageError, Rejection, ServerInfo, reject_reason_name

DEFAULT_SERVER = "127.0.0.1:7733"
DEFAULT_TIMEOUT = 60.0
DEFAULT_CLIENT_NAME = "engage-python"
DEFAULT_PAGE_SIZE = 5000
_LENGTH = struct.Struct(">I")
_TYPE_AND_ID = struct.Struct(">BI")

#: ``tls``: ``False`` (plain TCP), ``True`` (TLS, system trust store or ``ca_file``), or your own context.
TLSOption = Union[bool, ssl.SSLContext]


def parse_address(address: str) -> Tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` (``[v6]:PORT`` for IPv6; an empty host is 127.0.0.1)."""
    host, colon, port_text = address.rpartition(":")
    if not colon or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"cannot read the server address {address!r}: use HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "127.0.0.1", int(port_text)


def tls_context(tls: TLSOption, ca_file: Optional[str]) -> Optional[ssl.SSLContext]:
    """The SSL context for ``tls``/``ca_file`` (``ca_file`` alone implies TLS): TLS 1.2 or later, the server's
    certificate verified against ``ca_file`` or the system's trust store, host name checked."""
    if isinstance(tls, ssl.SSLContext):
        return tls
    if not tls and not ca_file:
        return None
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def batch_result(fields: Mapping[str, Any], count: int, encoded_positions: Optional[List[int]] = None,
                 client_rejections: Sequence[Rejection] = (), offset: int = 0) -> BatchResult:
    """A BATCH_RESULT's fields as a :class:`BatchResult` for ``count`` items the caller gave, of which the
    ``client_rejections`` were not sent: rejection indexes become positions among the ``count``
    (``encoded_positions`` maps positions in the request back to them; ``offset`` is added), the client's
    rejections merged in index order. A result that does not add up to the items sent is malformed."""
    sent = count - len(client_rejections)
    if fields["accepted"] + fields["duplicates"] + len(fields["rejected"]) != sent or any(
        r["index"] >= sent for r in fields["rejected"]
    ):
        raise EngageError(None, "malformed_response", f"a batch result that does not account for the {sent} items sent")
    rejections = [
        Rejection(
            (r["index"] if encoded_positions is None else encoded_positions[r["index"]]) + offset,
            reject_reason_name(r["reason"]), r["reason"],
        )
        for r in fields["rejected"]
    ]
    if client_rejections:
        rejections.extend(Rejection(r.index + offset, r.reason, r.code, r.detail) for r in client_rejections)
        rejections.sort(key=lambda r: r.index)
    return BatchResult(fields["accepted"], fields["duplicates"], rejections)


class _FrameProtocol(asyncio.Protocol):
    """Cuts the byte stream into frames and hands each to the client; pauses writers when the transport's
    buffer is full."""

    def __init__(self, client: "AsyncClient") -> None:
        self.client = client
        self.buffer = bytearray()
        self.transport: Optional[asyncio.Transport] = None
        self.paused = False
        self.drain_waiters: Deque["asyncio.Future[None]"] = collections.deque()
        self.closed: Optional["asyncio.Future[None]"] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        size = len(buffer)
        while size - start >= 4:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length < protocol.MIN_LENGTH:
                self.client._fail_connection(EngageError(None, "malformed_response", f"frame length {length} is below 5"))
                return
            end = start + 4 + length
            if end > size:
                break
            message_type, request_id = _TYPE_AND_ID.unpack_from(buffer, start + 4)
            self.client._on_frame(message_type, request_id, bytes(buffer[start + 9 : end]))
            start = end
            if self.client._failure is not None:  # the connection is being torn down: nothing more to route
                buffer.clear()
                return
        if start:
            del buffer[:start]

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.paused = False
        self._wake()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)
        self.client._on_connection_lost(exc)

    def _wake(self) -> None:
        while self.drain_waiters:
            waiter = self.drain_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if self.paused:
            waiter: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
            self.drain_waiters.append(waiter)
            await waiter


class AsyncClient:
    """An asyncio connection to ``engaged``.

    ``server`` is ``HOST:PORT``; ``token`` authenticates (servers started with ``--tokens``); ``tls=True``
    or a ``ca_file`` (PEM of the authority that signed the server's certificate) connects over TLS, and
    ``server_name`` overrides the name the certificate must carry. ``timeout`` (seconds, ``None`` for
    none) bounds connecting and each response.

    Use it as ``async with AsyncClient(...) as client:`` or ``await client.connect()`` / ``await
    client.close()``. Every method may be called from many tasks at once: requests are pipelined (up to the
    server's ``max_in_flight``; more wait their turn) and responses, which may come in any order, are matched
    by request id.
    """

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        token: Optional[str] = None,
        tls: TLSOption = False,
        ca_file: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        *,
        server_name: Optional[str] = None,
        client_name: str = DEFAULT_CLIENT_NAME,
    ) -> None:
        self.server = server
        self.host, self.port = parse_address(server)
        self.token = token or ""
        self.timeout = timeout
        self.client_name = client_name
        self._ssl = tls_context(tls, ca_file)
        self._server_name = server_name
        self._protocol: Optional[_FrameProtocol] = None
        self._pending: Dict[int, "asyncio.Future[Tuple[int, bytes]]"] = {}
        self._permits: Optional[asyncio.Semaphore] = None
        self._next_id = 1
        self._failure: Optional[EngageError] = None
        self._info: Optional[ServerInfo] = None

    # MARK: connection

    @property
    def server_info(self) -> ServerInfo:
        """What the server said in its handshake: version, name, time zone and limits."""
        if self._info is None:
            raise EngageError(None, "not_connected", "the client is not connected", closes_connection=True)
        return self._info

    @property
    def is_open(self) -> bool:
        """Whether the connection is up (connected and not failed or closed)."""
        return self._info is not None and self._failure is None

    async def connect(self) -> "AsyncClient":
        """Connects and performs the handshake (HELLO / HELLO_OK)."""
        if self._protocol is not None:
            raise EngageError(None, "already_connected", "connect() was called twice")
        loop = asyncio.get_running_loop()
        server_hostname = None
        if self._ssl is not None:
            server_hostname = self._server_name or self.host
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _FrameProtocol(self), self.host, self.port, ssl=self._ssl, server_hostname=server_hostname
                ),
                self.timeout,
            )
        except ssl.SSLError as error:
            raise EngageError(None, "tls", f"TLS handshake with {self.server} failed: {error}",
                              closes_connection=True) from error
        except asyncio.TimeoutError:
            raise EngageError(None, "timeout", f"connecting to {self.server} took longer than {self.timeout} s",
                              closes_connection=True) from None
        except OSError as error:
            raise EngageError(None, "connection_failed", f"cannot connect to {self.server}: {error}",
                              closes_connection=True) from error
        self._protocol = proto
        self._set_nodelay()
        hello = MESSAGES_BY_NAME["HELLO"].encode_payload(
            {"min_version": protocol.PROTOCOL_VERSION, "max_version": protocol.PROTOCOL_VERSION, "token": self.token,
             "client_name": self.client_name}
        )
        try:
            _, reply = await self._exchange(0x01, hello, handshake=True)
        except EngageError as error:
            await self.close()
            if error.name == "connection_closed":
                hint = " (a server started with --tls-cert only accepts TLS clients)" if self._ssl is None else ""
                raise EngageError(None, "connection_closed",
                                  f"the server closed the connection during the handshake{hint}",
                                  closes_connection=True) from None
            raise
        fields = self._decode(0x81, reply)
        if fields["version"] != protocol.PROTOCOL_VERSION:
            await self.close()
            raise EngageError(None, "unexpected_response", f"the server chose protocol version {fields['version']}",
                              closes_connection=True)
        self._info = ServerInfo(**fields)
        self._permits = asyncio.Semaphore(max(1, self._info.max_in_flight))
        return self

    def _set_nodelay(self) -> None:
        import socket

        assert self._protocol is not None and self._protocol.transport is not None
        sock = self._protocol.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    async def close(self) -> None:
        """Closes the connection; requests still waiting fail with ``connection_closed``."""
        proto = self._protocol
        if proto is None or proto.transport is None:
            return
        self._fail_connection(EngageError(None, "connection_closed", "the client closed the connection"))
        if proto.closed is not None:
            try:
                await asyncio.wait_for(asyncio.shield(proto.closed), 5)
            except asyncio.TimeoutError:
                proto.transport.abort()

    async def __aenter__(self) -> "AsyncClient":
        if self._protocol is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # MARK: requests and responses

    def _on_frame(self, message_type: int, request_id: int, payload: bytes) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None:
            if self._permits is not None:
                self._permits.release()
            if not future.done():
                future.set_result((message_type, payload))
            return
        if message_type == 0xFF:
            # An error about the connection itself (request id 0): everything waiting fails with it.
            try:
                fields = MESSAGES[0xFF].decode_payload(payload)
                error = EngageError.from_server(fields["code"], fields["message"], request_id)
            except DecodeError as decode_error:
                error = EngageError(None, "malformed_response", f"ERROR frame: {decode_error}")
        else:
            error = EngageError(None, "unexpected_response", f"a response with request id {request_id} that no request has")
        self._fail_connection(error)

    def _on_connection_lost(self, exc: Optional[Exception]) -> None:
        if isinstance(exc, ssl.SSLError):
            failure = EngageError(None, "tls", f"TLS failed: {exc}")
        else:
            detail = f": {exc}" if exc else ""
            failure = EngageError(None, "connection_closed",
                                  f"the connection to the server closed before the response arrived{detail}")
        self._fail_all(failure)

    def _fail_connection(self, error: EngageError) -> None:
        self._fail_all(error)
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    def _fail_all(self, error: EngageError) -> None:
        if self._failure is None:
            error._closes_connection = True
            self._failure = error
        pending, self._pending = self._pending, {}
        for future in pending.values():
            # The permit of every request that will never be answered comes back, so that the requests
            # waiting for one wake up and fail with the connection instead of waiting forever.
            if self._permits is not None:
                self._permits.release()
            if not future.done():
                future.set_exception(self._failure)
                future.exception()  # retrieved here: a caller that timed out no longer waits for it

    def _allocate_id(self) -> int:
        while True:
            request_id = self._next_id
            self._next_id = request_id + 1 if request_id < 0xFFFFFFFF else 1
            if request_id not in self._pending:
                return request_id

    async def _exchange(self, request_type: int, payload: bytes, handshake: bool = False) -> Tuple[int, bytes]:
        """Sends one request and waits for its response: ``(type, payload)``; an ERROR raises.

        The client never has more than the server's ``max_in_flight`` requests unanswered, so it never meets
        ``too_many_in_flight`` (PROTOCOL.md 4.26); should a server send it anyway, it is raised like any
        other error."""
        message_type, body, request_id = await self._round_trip(request_type, payload, handshake)
        if message_type == 0xFF:
            try:
                fields = MESSAGES[0xFF].decode_payload(body)
            except DecodeError as error:
                failure = EngageError(None, "malformed_response", f"ERROR frame: {error}")
                self._fail_connection(failure)
                raise failure from None
            refusal = EngageError.from_server(fields["code"], fields["message"], request_id)
            if refusal.closes_connection:
                self._fail_connection(refusal)
            raise refusal
        expected = protocol.response_type(request_type)
        if message_type != expected:
            mismatch = EngageError(None, "unexpected_response",
                                   f"0x{message_type:02x} in answer to 0x{request_type:02x}")
            self._fail_connection(mismatch)
            raise mismatch
        return message_type, body

    async def _round_trip(self, request_type: int, payload: bytes, handshake: bool) -> Tuple[int, bytes, int]:
        """Sends a request frame and waits for the frame that answers it: ``(type, payload, request_id)``."""
        if self._failure is not None:
            raise self._failure
        proto = self._protocol
        if proto is None or proto.transport is None or (self._info is None and not handshake):
            raise EngageError(None, "not_connected", "the client is not connected", closes_connection=True)
        length = protocol.MIN_LENGTH + len(payload)
        if self._info is not None and length > self._info.max_frame_length:
            raise ValueError(f"the request is {length} bytes; the server accepts frames of at most "
                             f"{self._info.max_frame_length}")
        if self._permits is not None:
            await self._permits.acquire()
        if self._failure is not None:
            if self._permits is not None:
                self._permits.release()
            raise self._failure
        request_id = self._allocate_id()
        future: "asyncio.Future[Tuple[int, bytes]]" = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        proto.transport.write(frame(request_type, request_id, payload))
        await proto.drain()
        try:
            message_type, body = await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            # The request stays in flight on the server: its permit comes back when (if) it is answered.
            raise EngageError(None, "timeout", f"no response within {self.timeout} s") from None
        return message_type, body, request_id

    def _decode(self, message_type: int, payload: bytes) -> Dict[str, Any]:
        try:
            return MESSAGES[message_type].decode_payload(payload)
        except DecodeError as error:
            failure = EngageError(None, "malformed_response", f"{MESSAGES[message_type].name}: {error}")
            self._fail_connection(failure)
            raise failure from None

    async def request(self, message_name: str, fields: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Sends any request by message name (``"STATS"``, ``"QUERY_ACTIVITY"``...) with its fields as in
        PROTOCOL.md and returns the response's fields. The building block of every other method."""
        message = MESSAGES_BY_NAME[message_name]
        if not message.is_request:
            raise ValueError(f"{message_name} is not a request")
        _, body = await self._exchange(message.type, message.encode_payload(fields or {}))
        return self._decode(protocol.response_type(message.type), body)

    async def _send_batch(self, message_name: str, payload: bytes) -> Dict[str, Any]:
        message = MESSAGES_BY_NAME[message_name]
        _, body = await self._exchange(message.type, payload)
        return self._decode(protocol.response_type(message.type), body)

    # MARK: writing

    async def ping(self) -> None:
        """A round trip to the server."""
        nonce = int.from_bytes(os.urandom(8), "big")
        if (await self.request("PING", {"nonce": nonce}))["nonce"] != nonce:
            raise EngageError(None, "unexpected_response", "PONG carries another nonce")

    async def wait_applied(self) -> int:
        """Returns once every write acknowledged so far (on any connection) is visible to queries: send it
        after the last acknowledgement when what follows reads those writes back. The result is the sequence
        number of the last write batch applied (batches are numbered 1, 2, ... from the data directory's
        creation). Needs no role."""
        sequence: int = (await self.request("WAIT_APPLIED"))["applied_sequence"]
        return sequence

    async def changes(self, since: int = 0, limit: int = 0) -> Dict[str, Any]:
        """The change feed (PROTOCOL.md 4.28): the commits after ``since`` (at most ``limit``; 0 for the
        server's maximum, 10,000) with the units each rewrote, as ``{"current", "oldest", "changes": [{"sequence",
        "catalog_changed", "daily_days", "session_days", "event_days", "user_keys"}]}``; days are
        :class:`datetime.date`. A checkpoint below ``oldest - 1`` has missed changes. Role ``query``."""
        if since < 0 or not 0 <= limit <= 0xFFFFFFFF:
            raise ValueError("since must be 0 or more, limit between 0 and 4294967295")
        page = await self.request("CHANGES", {"since": since, "limit": limit})
        changes = [
            {
                "sequence": change["sequence"], "catalog_changed": bool(change["flags"] & 1),
                "daily_days": list(change["daily_days"]),
                "session_days": list(change["session_days"]),
                "event_days": list(change["event_days"]),
                "user_keys": list(change["user_keys"]),
            }
            for change in page["changes"]
        ]
        return {"current": page["current"], "oldest": page["oldest"], "changes": changes}

    async def export_users(self, keys: Iterable[int]) -> List[Row]:
        """The ``users`` rows (as :meth:`export` gives them) of these user keys, in the order asked, skipping
        keys that do not exist (PROTOCOL.md 4.29); asked 10,000 keys at a time. Role ``query``."""
        _, columns = export_table("users")
        keys = list(keys)
        rows: List[Row] = []
        for start in range(0, len(keys), 10_000):
            page = await self.request("EXPORT_USERS", {"user_keys": keys[start:start + 10_000]})
            rows += [export_row(columns, values) for values in page["rows"]]
        return rows

    async def _send_rows(self, rows: Sequence[Any], message_name: str, list_field: str, convert: Any,
                         limit: int) -> BatchResult:
        async def one(start: int, chunk: Sequence[Any]) -> BatchResult:
            payload, positions, rejections = encode_rows(message_name, list_field, chunk, convert)
            fields = await self._send_batch(message_name, payload)
            return batch_result(fields, len(chunk), positions, rejections, start)

        return _merge(await asyncio.gather(*(one(start, rows[start:start + limit]) for start in range(0, len(rows), limit))))

    async def define_actions(self, rows: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Defines or updates catalog actions: dicts with ``action_type`` and optionally ``action_category``
        (default ``uncategorized``), ``engagement_weight`` (default 1), ``is_core_action`` (default true)."""
        rows = list(rows)
        limit = max(1, min(self.server_info.max_batch_items, 0xFFFF))
        return await self._send_rows(rows, "DEFINE_ACTIONS", "actions", action_fields, limit)

    async def upsert_users(self, rows: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Creates or updates users: dicts with ``user_id`` and optionally ``registration_date``
        (``YYYY-MM-DD`` or a date), ``acquisition_channel``, ``user_segment``, ``device_type``, ``region``
        (last write wins per attribute; absent or ``None`` keeps the current value)."""
        limit = max(1, self.server_info.max_batch_items)
        return await self._send_rows(list(rows), "UPSERT_USERS", "users", user_fields, limit)

    async def ingest(self, events: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Stores events (dicts with ``event_id``, ``user_id``, ``ts`` as ISO 8601 text or epoch
        milliseconds, ``action``, optional ``context`` and ``metadata``) and returns once they are durable.
        Split into batches the server accepts, sent pipelined. Rejection indexes are positions in
        ``events``. For a stream, :meth:`writer` batches and pipelines for you. A query sees the events once
        :meth:`wait_applied` has returned."""
        info = self.server_info
        writer = AsyncEventWriter(self, info.max_batch_items, info.max_in_flight)
        await writer.write_many(events)
        return await writer.close()

    def writer(self, batch_size: int = 5000, max_in_flight: int = 4) -> "AsyncEventWriter":
        """An :class:`AsyncEventWriter`: ``await writer.write(event)`` for each event, ``await
        writer.close()`` for the summary."""
        return AsyncEventWriter(self, batch_size, max_in_flight)

    # MARK: queries

    async def query(self, name: str, **params: Any) -> Any:
        """Runs query ``name`` (``activity``, ``active_days``, ``tiers``, ``transitions``, ``retention``,
        ``lifecycle``, ``sessions``, ``user``, ``at_risk``, ``actions``, ``values``) with the CLI's parameters
        (``from_``, ``to``, ``month``, ``as_of``, ``period``, ``periods``, ``where``, ``by``, ``id``,
        ``limit``, ``dimension``) and returns the rows ``engage query NAME --format json`` prints. ``user``
        returns ``{"user", "daily_activity", "sessions"}`` (``None`` for an unknown user)."""
        spec, given, fields = resolve(name, params)
        return spec.rows(await self.request(spec.request, fields), given, self.server_info.time_zone)

    async def _table(self, name: str, **params: Any) -> List[Row]:
        return cast(List[Row], await self.query(name, **params))

    async def activity(self, from_: Any, to: Any, where: Where = None, by: Optional[str] = None) -> List[Row]:
        """Daily ``dau``, ``wau``, ``mau``, ``dau_mau``, ``dau_wau`` over ``[from_, to]``."""
        return await self._table("activity", from_=from_, to=to, where=where, by=by)

    async def active_days(self, month: Any = None, from_: Any = None, to: Any = None, where: Where = None,
                          by: Optional[str] = None) -> List[Row]:
        """For each k >= 1, the users with exactly k active days in ``month`` or ``[from_, to]``."""
        return await self._table("active_days", month=month, from_=from_, to=to, where=where, by=by)

    async def tiers(self, month: Any = None, as_of: Any = None, where: Where = None,
                    by: Optional[str] = None) -> List[Row]:
        """The tier table of a calendar ``month`` or of the 30 days ending ``as_of``."""
        return await self._table("tiers", month=month, as_of=as_of, where=where, by=by)

    async def transitions(self, month: Any, where: Where = None) -> List[Row]:
        """Monthly tier transitions from ``month`` to the next."""
        return await self._table("transitions", month=month, where=where)

    async def retention(self, period: str, from_: Any, to: Any, periods: int, where: Where = None,
                        by: Optional[str] = None) -> List[Row]:
        """Cohort retention: cohorts per ``period`` (day, week, month) overlapping ``[from_, to]``, offsets
        0..``periods``."""
        return await self._table("retention", period=period, from_=from_, to=to, periods=periods, where=where, by=by)

    async def lifecycle(self, period: str, from_: Any, to: Any, where: Where = None) -> List[Row]:
        """New, returning, resurrecting and dormant users per period."""
        return await self._table("lifecycle", period=period, from_=from_, to=to, where=where)

    async def sessions(self, from_: Any, to: Any, where: Where = None) -> List[Row]:
        """Session summary over ``[from_, to]`` (one row)."""
        return await self._table("sessions", from_=from_, to=to, where=where)

    async def user(self, id: str) -> Optional[Dict[str, Any]]:
        """One user's profile, daily records and sessions; ``None`` for an unknown user."""
        return cast(Optional[Dict[str, Any]], await self.query("user", id=id))

    async def at_risk(self, as_of: Any, limit: int = 100, where: Where = None) -> List[Row]:
        """Users regular or better a week before ``as_of`` with no active day since."""
        return await self._table("at_risk", as_of=as_of, limit=limit, where=where)

    async def actions(self, from_: Any, to: Any, where: Where = None) -> List[Row]:
        """Events and distinct users per action category, then per action type."""
        return await self._table("actions", from_=from_, to=to, where=where)

    async def values(self, dimension: str) -> List[Row]:
        """The values of ``dimension`` that at least one user holds, with their user counts (for ``cohort``:
        registration months ``YYYY-MM``), ordered by value."""
        return await self._table("values", dimension=dimension)

    async def stats(self) -> Dict[str, Any]:
        """What the server stores, as ``engage stats --format json``'s row."""
        return stats_report(await self.request("STATS"))

    async def export_pages(self, table: str, from_: Any = None, to: Any = None,
                           page_size: int = DEFAULT_PAGE_SIZE) -> AsyncGenerator[List[Row], None]:
        """The pages of an export, each a list of rows (see :meth:`export`)."""
        number, columns = export_table(table)
        if page_size < 0:
            raise ValueError("page_size must be 0 (the server's maximum) or more")
        fields: Dict[str, Any] = {
            "table": number, "from": None if from_ is None else parse_date(from_, "from_"),
            "to": None if to is None else parse_date(to, "to"), "cursor": b"", "limit": page_size,
        }
        while True:
            page = await self.request("EXPORT", fields)
            yield [export_row(columns, values) for values in page["rows"]]
            if not page["next_cursor"]:
                return
            fields["cursor"] = page["next_cursor"]

    async def export(self, table: str, from_: Any = None, to: Any = None,
                     page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[Row]:
        """The rows of a star-schema table (``users``, ``actions``, ``dates``, ``events``, ``sessions``,
        ``daily-activity``) as ``engage export --format jsonl`` writes them, fetched page by page;
        ``from_``/``to`` select days of dated tables (default: every day with events). ``page_size`` is
        the most rows a page holds; 0 asks for the server's maximum (10,000 rows; a page also ends near 4 MiB
        of values)."""
        async for page in self.export_pages(table, from_, to, page_size):
            for row in page:
                yield row

    async def admin_verify(self, max_reported: int = 1000) -> Dict[str, Any]:
        """Recomputes every derived record from the raw events and reports the differences (changes nothing):
        ``{"total_issues", "checked": {table: records}, "issues": [{"table", "record", "difference"}]}``."""
        return verify_report(await self.request("VERIFY", {"max_reported": max_reported}))

    async def admin_rebuild(self) -> None:
        """Re-derives every derived record from the raw events."""
        await self.request("REBUILD")

    async def admin_backup(self, path: str) -> int:
        """Writes a consistent copy of the data directory into ``path`` on the server's machine; its size."""
        size: int = (await self.request("BACKUP", {"path": path}))["bytes"]
        return size


def prepare_batches(events: Sequence[Any], info: ServerInfo, batch_size: Optional[int] = None) -> List[Tuple[int, EncodedBatch]]:
    """``events`` encoded as INGEST_EVENTS payloads that fit the server's limits (items per batch, frame
    size): ``(start, batch)`` pairs, ``start`` being the batch's first position in ``events``."""
    size = max(1, min(batch_size or info.max_batch_items, info.max_batch_items))
    limit = info.max_frame_length - protocol.MIN_LENGTH
    batches: List[Tuple[int, EncodedBatch]] = []

    def add(start: int, chunk: Sequence[Any]) -> None:
        encoded = encode_events(chunk)
        if len(encoded.payload) <= limit or len(chunk) == 1:
            if len(encoded.payload) > limit:
                raise ValueError(f"event {start} alone takes {len(encoded.payload)} bytes, more than a frame holds")
            batches.append((start, encoded))
            return
        half = len(chunk) // 2
        add(start, chunk[:half])
        add(start + half, chunk[half:])

    for start in range(0, len(events), size):
        add(start, events[start:start + size])
    return batches


def _merge(results: Iterable[BatchResult]) -> BatchResult:
    total = BatchResult()
    for result in results:
        total.add(result)
    total.rejections.sort(key=lambda r: r.index)
    return total


class AsyncEventWriter:
    """Streams events to the server in batches of ``batch_size``, keeping at most ``max_in_flight``
    batches unacknowledged: :meth:`write` waits (back-pressure) when that many are on the wire.

    Rejection indexes are positions in the stream (0 for the first event written). If a batch fails, the
    error is raised by the next :meth:`write` or :meth:`close`; :attr:`acknowledged` is what is durable.
    Use from one task."""

    def __init__(self, client: AsyncClient, batch_size: int = 5000, max_in_flight: int = 4) -> None:
        info = client.server_info
        self.client = client
        self.batch_size = max(1, min(batch_size, info.max_batch_items))
        self.max_in_flight = max(1, min(max_in_flight, info.max_in_flight))
        self._buffer: List[Any] = []
        self._position = 0
        self._in_flight: Deque[Tuple[int, EncodedBatch, "asyncio.Future[Dict[str, Any]]"]] = collections.deque()
        self._summary = BatchResult()

    @property
    def acknowledged(self) -> BatchResult:
        """What the server acknowledged so far."""
        return self._summary

    @property
    def written(self) -> int:
        """Events given to the writer so far."""
        return self._position + len(self._buffer)

    async def write(self, event: Mapping[str, Any]) -> None:
        """Adds one event; sends a batch once ``batch_size`` are buffered."""
        self._buffer.append(event)
        if len(self._buffer) >= self.batch_size:
            await self._send_buffer()

    async def write_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Adds every event of ``events``."""
        for event in events:
            self._buffer.append(event)
            if len(self._buffer) >= self.batch_size:
                await self._send_buffer()

    async def flush(self) -> None:
        """Sends what is buffered and waits until every batch is acknowledged."""
        if self._buffer:
            await self._send_buffer()
        while self._in_flight:
            await self._collect_oldest()

    async def close(self, wait_applied: bool = False) -> BatchResult:
        """Flushes and returns the summary: accepted, duplicates and rejections (positions in the stream).
        With ``wait_applied``, also waits until every acknowledged event is visible to queries (see
        :meth:`AsyncClient.wait_applied`)."""
        await self.flush()
        if wait_applied:
            await self.client.wait_applied()
        return self._summary

    async def __aenter__(self) -> "AsyncEventWriter":
        return self

    async def __aexit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            await self.close()
        else:
            for _, _, task in self._in_flight:
                task.cancel()

    async def _send_buffer(self) -> None:
        batch, self._buffer = self._buffer, []
        for start, encoded in prepare_batches(batch, self.client.server_info, self.batch_size):
            while len(self._in_flight) >= self.max_in_flight:
                await self._collect_oldest()
            task = asyncio.ensure_future(self.client._send_batch("INGEST_EVENTS", encoded.payload))
            self._in_flight.append((self._position + start, encoded, task))
        self._position += len(batch)

    async def _collect_oldest(self) -> None:
        start, encoded, task = self._in_flight.popleft()
        fields = await task
        self._summary.add(batch_result(fields, encoded.count, encoded.positions, encoded.rejections, start))
