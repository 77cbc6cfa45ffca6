"""The blocking client. It runs an :class:`~engage_client.aio.AsyncClient` on an event loop of its own (one
background thread per client), so TLS, pipelining and response matching have one implementation; calls
block the calling thread until their response arrives. A :class:`Client` may be shared by many threads."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
from typing import Any, Coroutine, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, TypeVar, cast

from .aio import (
    DEFAULT_CLIENT_NAME, DEFAULT_PAGE_SIZE, DEFAULT_SERVER, DEFAULT_TIMEOUT, AsyncClient, TLSOption, batch_result,
    prepare_batches,
)
from .queries import Row, Where
from .records import EncodedBatch
from .results import BatchResult, EngageError, ServerInfo

T = TypeVar("T")


class Client:
    """A connection to ``engaged`` (connected when constructed).

    ``server`` is ``HOST:PORT``; ``token`` authenticates (servers started with ``--tokens``); ``tls=True``
    or a ``ca_file`` (PEM of the authority that signed the server's certificate) connects over TLS, and
    ``server_name`` overrides the name the certificate must carry. ``timeout`` (seconds, ``None`` for
    none) bounds connecting and each response.

    >>> with Client("127.0.0.1:7733") as client:
    ...     client.ingest([{"user_id": "u-1", "event_id": "e-1", "ts": "2026-02-14T23:20:09.608Z",
    ...                     "action": "like", "context": "home"}])
    ...     rows = client.query("activity", from_="2026-01-01", to="2026-03-31")

    Every failure raises :class:`~engage_client.EngageError`.
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
        self._aio = AsyncClient(server, token, tls, ca_file, timeout, server_name=server_name, client_name=client_name)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engage-client", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._run(self._aio.connect())
        except BaseException:
            self._stop_loop()
            raise

    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        if self._closed:
            coroutine.close()
            raise EngageError(None, "not_connected", "the client is closed", closes_connection=True)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._submit(coroutine).result()

    def _stop_loop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        """Closes the connection and its thread; requests still waiting fail with ``connection_closed``."""
        if self._closed:
            return
        try:
            self._run(self._aio.close())
        finally:
            self._stop_loop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def server_info(self) -> ServerInfo:
        """What the server said in its handshake: version, name, time zone and limits."""
        return self._aio.server_info

    @property
    def is_open(self) -> bool:
        """Whether the connection is up."""
        return not self._closed and self._aio.is_open

    def request(self, message_name: str, fields: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Sends any request by message name with its PROTOCOL.md fields; returns the response's fields."""
        return self._run(self._aio.request(message_name, fields))

    def ping(self) -> None:
        """A round trip to the server."""
        self._run(self._aio.ping())

    def wait_applied(self) -> int:
        """Returns once every write acknowledged so far (on any connection) is visible to queries; the
        sequence number of the last write batch applied (see :meth:`AsyncClient.wait_applied`)."""
        return self._run(self._aio.wait_applied())

    # MARK: writing

    def define_actions(self, rows: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Defines or updates catalog actions: dicts with ``action_type`` and optionally ``action_category``
        (default ``uncategorized``), ``engagement_weight`` (default 1), ``is_core_action`` (default true)."""
        return self._run(self._aio.define_actions(list(rows)))

    def upsert_users(self, rows: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Creates or updates users: dicts with ``user_id`` and optionally ``registration_date``,
        ``acquisition_channel``, ``user_segment``, ``device_type``, ``region``."""
        return self._run(self._aio.upsert_users(list(rows)))

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> BatchResult:
        """Stores events and returns once they are durable (see :meth:`AsyncClient.ingest`); a query sees
        them once :meth:`wait_applied` has returned. The events are encoded in the calling thread, batch by
        batch while earlier batches travel."""
        info = self.server_info
        writer = EventWriter(self, info.max_batch_items, info.max_in_flight)
        writer.write_many(events)
        return writer.close()

    def writer(self, batch_size: int = 5000, max_in_flight: int = 4) -> "EventWriter":
        """An :class:`EventWriter`: ``writer.write(event)`` for each event, ``writer.close()`` for the
        summary."""
        return EventWriter(self, batch_size, max_in_flight)

    # MARK: queries

    def query(self, name: str, **params: Any) -> Any:
        """Runs query ``name`` with the CLI's parameters and returns the rows ``engage query NAME --format
        json`` prints (see :meth:`AsyncClient.query`)."""
        return self._run(self._aio.query(name, **params))

    def _table(self, name: str, **params: Any) -> List[Row]:
        return cast(List[Row], self.query(name, **params))

    def activity(self, from_: Any, to: Any, where: Where = None, by: Optional[str] = None) -> List[Row]:
        """Daily ``dau``, ``wau``, ``mau``, ``dau_mau``, ``dau_wau`` over ``[from_, to]``."""
        return self._table("activity", from_=from_, to=to, where=where, by=by)

    def active_days(self, month: Any = None, from_: Any = None, to: Any = None, where: Where = None,
                    by: Optional[str] = None) -> List[Row]:
        """For each k >= 1, the users with exactly k active days in ``month`` or ``[from_, to]``."""
        return self._table("active_days", month=month, from_=from_, to=to, where=where, by=by)

    def tiers(self, month: Any = None, as_of: Any = None, where: Where = None, by: Optional[str] = None) -> List[Row]:
        """The tier table of a calendar ``month`` or of the 30 days ending ``as_of``."""
        return self._table("tiers", month=month, as_of=as_of, where=where, by=by)

    def transitions(self, month: Any, where: Where = None) -> List[Row]:
        """Monthly tier transitions from ``month`` to the next."""
        return self._table("transitions", month=month, where=where)

    def retention(self, period: str, from_: Any, to: Any, periods: int, where: Where = None,
                  by: Optional[str] = None) -> List[Row]:
        """Cohort retention per ``period`` (day, week, month), offsets 0..``periods``."""
        return self._table("retention", period=period, from_=from_, to=to, periods=periods, where=where, by=by)

    def lifecycle(self, period: str, from_: Any, to: Any, where: Where = None) -> List[Row]:
        """New, returning, resurrecting and dormant users per period."""
        return self._table("lifecycle", period=period, from_=from_, to=to, where=where)

    def sessions(self, from_: Any, to: Any, where: Where = None) -> List[Row]:
        """Session summary over ``[from_, to]`` (one row)."""
        return self._table("sessions", from_=from_, to=to, where=where)

    def user(self, id: str) -> Optional[Dict[str, Any]]:
        """One user's profile, daily records and sessions; ``None`` for an unknown user."""
        return cast(Optional[Dict[str, Any]], self.query("user", id=id))

    def at_risk(self, as_of: Any, limit: int = 100, where: Where = None) -> List[Row]:
        """Users regular or better a week before ``as_of`` with no active day since."""
        return self._table("at_risk", as_of=as_of, limit=limit, where=where)

    def actions(self, from_: Any, to: Any, where: Where = None) -> List[Row]:
        """Events and distinct users per action category, then per action type."""
        return self._table("actions", from_=from_, to=to, where=where)

    def values(self, dimension: str) -> List[Row]:
        """The values of ``dimension`` that at least one user holds, with their user counts (see
        :meth:`AsyncClient.values`)."""
        return self._table("values", dimension=dimension)

    def stats(self) -> Dict[str, Any]:
        """What the server stores, as ``engage stats --format json``'s row."""
        return self._run(self._aio.stats())

    def export_pages(self, table: str, from_: Any = None, to: Any = None,
                     page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[List[Row]]:
        """The pages of an export, each a list of rows; the next page is asked for when this one is taken."""
        pages = self._aio.export_pages(table, from_, to, page_size)

        async def next_page() -> List[Row]:
            return await pages.__anext__()

        try:
            while True:
                try:
                    yield self._run(next_page())
                except StopAsyncIteration:
                    return
        finally:
            if not self._closed:
                self._run(pages.aclose())

    def export(self, table: str, from_: Any = None, to: Any = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Row]:
        """The rows of a star-schema table (``users``, ``actions``, ``dates``, ``events``, ``sessions``,
        ``daily-activity``) as ``engage export --format jsonl`` writes them, fetched page by page
        (``page_size`` rows at most; 0: the server's maximum)."""
        for page in self.export_pages(table, from_, to, page_size):
            yield from page

    def changes(self, since: int = 0, limit: int = 0) -> Dict[str, Any]:
        """The change feed after ``since`` (see :meth:`AsyncClient.changes`)."""
        return self._run(self._aio.changes(since, limit))

    def export_users(self, keys: Iterable[int]) -> List[Row]:
        """The ``users`` rows of these user keys (see :meth:`AsyncClient.export_users`)."""
        return self._run(self._aio.export_users(keys))

    def admin_verify(self, max_reported: int = 1000) -> Dict[str, Any]:
        """Recomputes every derived record and reports the differences (see :meth:`AsyncClient.admin_verify`)."""
        return self._run(self._aio.admin_verify(max_reported))

    def admin_rebuild(self) -> None:
        """Re-derives every derived record from the raw events."""
        self._run(self._aio.admin_rebuild())

    def admin_backup(self, path: str) -> int:
        """Writes a consistent copy of the data directory into ``path`` on the server's machine; its size."""
        return self._run(self._aio.admin_backup(path))


class EventWriter:
    """Streams events to the server in batches of ``batch_size``, with at most ``max_in_flight`` batches
    unacknowledged: :meth:`write` blocks (back-pressure) while that many are on the wire. Batches are
    encoded in the calling thread while earlier ones travel and commit.

    Rejection indexes are positions in the stream (0 for the first event written). If a batch fails, the
    error is raised by the next :meth:`write`, :meth:`flush` or :meth:`close`; :attr:`acknowledged` is what is
    durable (events not acknowledged may be sent again: the server drops duplicates by event id).

    >>> with client.writer() as writer:
    ...     for event in events:
    ...         writer.write(event)
    >>> writer.summary.accepted
    """

    def __init__(self, client: Client, batch_size: int = 5000, max_in_flight: int = 4) -> None:
        info = client.server_info
        self.client = client
        self.batch_size = max(1, min(batch_size, info.max_batch_items))
        self.max_in_flight = max(1, min(max_in_flight, info.max_in_flight))
        self._buffer: List[Any] = []
        self._position = 0
        self._in_flight: Deque[Tuple[int, EncodedBatch, "concurrent.futures.Future[Dict[str, Any]]"]] = collections.deque()
        self._summary = BatchResult()
        self.summary: Optional[BatchResult] = None

    @property
    def acknowledged(self) -> BatchResult:
        """What the server acknowledged so far."""
        return self._summary

    @property
    def written(self) -> int:
        """Events given to the writer so far."""
        return self._position + len(self._buffer)

    def write(self, event: Mapping[str, Any]) -> None:
        """Adds one event; sends a batch once ``batch_size`` are buffered."""
        buffer = self._buffer
        buffer.append(event)
        if len(buffer) >= self.batch_size:
            self._send_buffer()

    def write_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Adds every event of ``events``."""
        buffer = self._buffer
        size = self.batch_size
        for event in events:
            buffer.append(event)
            if len(buffer) >= size:
                self._send_buffer()
                buffer = self._buffer

    def flush(self) -> None:
        """Sends what is buffered and waits until every batch is acknowledged."""
        if self._buffer:
            self._send_buffer()
        while self._in_flight:
            self._collect_oldest()

    def close(self, wait_applied: bool = False) -> BatchResult:
        """Flushes and returns the summary: accepted, duplicates and rejections (positions in the stream).
        With ``wait_applied``, also waits until every acknowledged event is visible to queries (see
        :meth:`Client.wait_applied`)."""
        self.flush()
        if wait_applied:
            self.client.wait_applied()
        self.summary = self._summary
        return self._summary

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()

    def _send_buffer(self) -> None:
        batch, self._buffer = self._buffer, []
        aio = self.client._aio
        for start, encoded in prepare_batches(batch, self.client.server_info, self.batch_size):
            while len(self._in_flight) >= self.max_in_flight:
                self._collect_oldest()
            future = self.client._submit(aio._send_batch("INGEST_EVENTS", encoded.payload))
            self._in_flight.append((self._position + start, encoded, future))
        self._position += len(batch)

    def _collect_oldest(self) -> None:
        start, encoded, future = self._in_flight.popleft()
        self._summary.add(batch_result(future.result(), encoded.count, encoded.positions, encoded.rejections, start))
