"""Python client for Engage, the user-engagement analytics server (exact DAU/WAU/MAU, tiers, retention,
sessions), speaking its binary TCP protocol (proto-spec/PROTOCOL.md, version 1).

>>> from engage_client import Client
>>> with Client("127.0.0.1:7733") as client:
...     result = client.ingest([{"user_id": "u-1", "event_id": "e-1", "ts": 1771111209608,
...                              "action": "like", "context": "home"}])
...     rows = client.activity(from_="2026-01-01", to="2026-03-31")

:class:`Client` blocks; :class:`AsyncClient` has the same methods as coroutines. Every failure is an
:class:`EngageError`.
"""

from .aio import AsyncClient, AsyncEventWriter
from .client import Client, EventWriter
from .queries import DIMENSIONS, EXPORT_TABLES, PERIODS, QUERIES
from .results import (
    ERROR_NAMES, REJECT_REASONS, BatchResult, EngageError, Rejection, ServerInfo, error_name, reject_reason_name,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncEventWriter",
    "BatchResult",
    "Client",
    "DIMENSIONS",
    "ERROR_NAMES",
    "EXPORT_TABLES",
    "EngageError",
    "EventWriter",
    "PERIODS",
    "QUERIES",
    "REJECT_REASONS",
    "Rejection",
    "ServerInfo",
    "error_name",
    "reject_reason_name",
]
