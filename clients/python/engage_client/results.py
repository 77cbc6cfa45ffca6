"""Results and errors: what the client hands back, and the one exception it raises.

Codes and names follow proto-spec/PROTOCOL.md section 5. Both tables are open: a code this client does not
know still becomes a :class:`Rejection` or an :class:`EngageError` (named ``reason_N`` / ``error_N``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

#: ERROR frame codes (PROTOCOL.md section 5), by number.
ERROR_NAMES: Dict[int, str] = {
    1: "malformed_frame",
    2: "frame_too_large",
    3: "unknown_message_type",
    4: "truncated_payload",
    5: "trailing_bytes",
    6: "invalid_utf8",
    7: "invalid_field",
    8: "handshake_required",
    9: "bad_magic",
    10: "unsupported_version",
    11: "unauthenticated",
    12: "forbidden",
    13: "too_many_items",
    14: "too_many_in_flight",
    15: "idle_timeout",
    16: "slow_client",
    17: "too_many_connections",
    20: "invalid_query",
    21: "invalid_cursor",
    30: "storage_full",
    31: "shutting_down",
    32: "internal_error",
    34: "raw_events_dropped",
    35: "backup_failed",
}

#: Codes after which the server closes the connection.
CLOSING_ERROR_CODES = frozenset({1, 2, 8, 9, 10, 11, 15, 16, 17})

#: Reject reasons of BATCH_RESULT (PROTOCOL.md section 5), by number.
REJECT_REASONS: Dict[int, str] = {
    1: "invalid_user_id",
    2: "invalid_event_id",
    3: "invalid_action",
    4: "timestamp_out_of_range",
    5: "invalid_utf8",
    6: "invalid_context",
    7: "invalid_metadata",
    8: "invalid_reference",
    9: "older_than_retention",
    10: "invalid_attribute",
    11: "invalid_date",
}
REJECT_CODES: Dict[str, int] = {name: code for code, name in REJECT_REASONS.items()}


def error_name(code: int) -> str:
    """The protocol name of an ERROR code, ``error_N`` for a code this client does not know."""
    return ERROR_NAMES.get(code, f"error_{code}")


def reject_reason_name(code: int) -> str:
    """The protocol name of a reject reason, ``reason_N`` for a reason this client does not know."""
    return REJECT_REASONS.get(code, f"reason_{code}")


class EngageError(Exception):
    """Every failure of a call: an ERROR frame from the server, or a connection-level problem.

    Attributes:
        code: the protocol's error code (``20`` for ``invalid_query``...), or ``None`` when the failure was
            found by the client (``connection_closed``, ``timeout``, ``tls``, ``connection_failed``,
            ``malformed_response``, ``unexpected_response``).
        name: the code's name (``invalid_query``, ``error_99`` for an unknown code) or the client-side name.
        message: the server's human-readable detail (not meant to be parsed) or the client's.
        request_id: the request the ERROR answered, ``0`` for an error about the whole connection,
            ``None`` for client-side failures.
    """

    def __init__(self, code: Optional[int], name: str, message: str, request_id: Optional[int] = None, *,
                 closes_connection: Optional[bool] = None) -> None:
        super().__init__(f"{name} ({code}): {message}" if code is not None else f"{name}: {message}")
        self.code = code
        self.name = name
        self.message = message
        self.request_id = request_id
        self._closes_connection = closes_connection

    @classmethod
    def from_server(cls, code: int, message: str, request_id: int) -> "EngageError":
        """The error an ERROR frame carries."""
        return cls(code, error_name(code), message, request_id)

    @property
    def closes_connection(self) -> bool:
        """Whether the connection is gone after this error: a closing code, an error about the connection as a
        whole, or a client-side failure that ended (or never had) the connection."""
        if self._closes_connection is not None:
            return self._closes_connection
        if self.code is None:
            return False
        return self.code in CLOSING_ERROR_CODES or self.request_id == 0

    def __reduce__(self) -> Tuple[Any, ...]:  # keep pickling (multiprocessing) working with the extra arguments
        return (_rebuild_error, (self.code, self.name, self.message, self.request_id, self._closes_connection))


def _rebuild_error(code: Optional[int], name: str, message: str, request_id: Optional[int],
                   closes_connection: Optional[bool]) -> EngageError:
    return EngageError(code, name, message, request_id, closes_connection=closes_connection)


@dataclass(frozen=True)
class Rejection:
    """One item of a batch that was not stored.

    Attributes:
        index: zero-based position in the rows or events the call was given (for a writer: in the stream).
        reason: the reject reason's name (``invalid_user_id``...). Items the client refused before sending
            carry the import format's names too: ``missing_field``, ``invalid_field``, ``invalid_timestamp``.
        code: the protocol's reject code, or ``None`` for a reason that has none (client-side only).
        detail: for client-side rejections, what was wrong; empty for the server's.
    """

    index: int
    reason: str
    code: Optional[int] = None
    detail: str = ""


@dataclass
class BatchResult:
    """What a define/upsert/ingest call (or a writer) did: ``accepted + duplicates + rejected`` equals the
    number of items given."""

    accepted: int = 0
    duplicates: int = 0
    rejections: List[Rejection] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Number of items rejected (by the server or by the client before sending)."""
        return len(self.rejections)

    def add(self, other: "BatchResult", offset: int = 0) -> None:
        """Adds ``other``'s counts; its rejection indexes are shifted by ``offset``."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        if offset:
            self.rejections.extend(
                Rejection(r.index + offset, r.reason, r.code, r.detail) for r in other.rejections
            )
        else:
            self.rejections.extend(other.rejections)

    def as_dict(self) -> Dict[str, object]:
        """``{"accepted", "duplicates", "rejected", "rejections": [{"index", "reason"}...]}``."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejections": [{"index": r.index, "reason": r.reason} for r in self.rejections],
        }


@dataclass(frozen=True)
class ServerInfo:
    """What the server said in HELLO_OK: the protocol version, its name, time zone and limits."""

    version: int
    server_name: str
    time_zone: str
    max_frame_length: int
    max_batch_items: int
    max_in_flight: int
