"""The import format (SEMANTICS.md "JSON lines input") turned into request payloads.

Rows and events are dicts as in the JSON-lines files. What the wire cannot carry, or the import format does
not allow, is refused here item by item (a :class:`~engage_client.results.Rejection` with the same reason
names as ``engage import``); everything else is left to the server, which checks every item itself.

:func:`encode_events` is the hot path of ingestion: one pass over the events building the string table and
the event records with precomputed :class:`struct.Struct` packers. It assumes well-formed events and falls
back to a careful per-event pass (which finds and rejects the bad ones) only when something does not fit.
"""

from __future__ import annotations

import datetime
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .protocol import MESSAGES_BY_NAME, NONE_U32
from .results import REJECT_CODES, Rejection

#: Most bytes of serialized event metadata (SEMANTICS.md: at most 4 KiB).
METADATA_MAX_BYTES = 4096
#: A ``str``/``bytes`` field's u16 length.
WIRE_MAX_STRING = 0xFFFF
AUTO_REGISTERED_CATEGORY = "uncategorized"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MILLISECOND = datetime.timedelta(milliseconds=1)
_from_iso = datetime.datetime.fromisoformat
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:[Zz]|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


class ItemError(ValueError):
    """Why one item cannot be sent: a reason name (as ``engage import`` reports it) and a detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def rejection(self, index: int) -> Rejection:
        return Rejection(index, self.reason, REJECT_CODES.get(self.reason), self.detail)


def parse_timestamp(text: str) -> int:
    """Epoch milliseconds of ``YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)``, exactly the forms the
    server's tools accept (``T``, ``t`` or a space; fractions past milliseconds truncated; second 60 allowed).
    Raises :class:`ItemError` (``invalid_timestamp``) for anything else."""
    # The common form, YYYY-MM-DDTHH:MM:SS.mmmZ, through the C parser: the shape checks leave it nothing
    # that the full grammar below would refuse.
    if (
        len(text) == 24 and text[23] == "Z" and text[10] == "T" and text[19] == "." and text[4] == "-"
        and text[7] == "-" and text[13] == ":" and text[16] == ":" and text.isascii()
    ):
        try:
            return (_from_iso(text) - _EPOCH) // _MILLISECOND
        except ValueError:
            pass
    match = _ISO.fullmatch(text)
    if match is None:
        raise ItemError("invalid_timestamp", f"ts {text[:64]!r} is not an ISO 8601 time with Z or an offset")
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    try:
        date = datetime.date(int(year), int(month), int(day))
    except ValueError:
        raise ItemError("invalid_timestamp", f"ts {text[:64]!r} names a day that does not exist") from None
    if int(hour) >= 24 or int(minute) >= 60 or int(second) >= 61:
        raise ItemError("invalid_timestamp", f"ts {text[:64]!r} has a time of day out of range")
    offset = 0
    if sign is not None:
        if int(offset_hours) >= 24 or int(offset_minutes) >= 60:
            raise ItemError("invalid_timestamp", f"ts {text[:64]!r} has an offset out of range")
        offset = (int(offset_hours) * 3600 + int(offset_minutes) * 60) * (-1 if sign == "-" else 1)
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    seconds = (date.toordinal() - _EPOCH_ORDINAL) * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second) - offset
    return seconds * 1000 + millis


def timestamp_ms(value: Any) -> int:
    """``ts`` of an event: integer epoch milliseconds, an ISO 8601 string, or an aware ``datetime``."""
    if value.__class__ is int:
        return value
    if isinstance(value, str):
        return parse_timestamp(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ItemError("invalid_timestamp", "a datetime ts needs a time zone (tzinfo)")
        return (value - _EPOCH) // _MILLISECOND
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise ItemError("invalid_timestamp", "ts must be an ISO 8601 string or integer epoch milliseconds")


def parse_date(value: Any, what: str) -> datetime.date:
    """A ``datetime.date`` from a date (a ``datetime`` gives its date) or ``YYYY-MM-DD``; ValueError otherwise."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return datetime.date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
        except ValueError:
            pass
    raise ValueError(f"{what} {value!r} is not a date (YYYY-MM-DD)")


def _string(row: Mapping[str, Any], name: str, required: bool = True) -> Optional[str]:
    value = row.get(name)
    if value is None:
        if required:
            raise ItemError("missing_field", f"field '{name}' is missing")
        return None
    if not isinstance(value, str):
        raise ItemError("invalid_field", f"field '{name}' must be a string")
    return value


def _wire_text(value: str, name: str, reason: str) -> None:
    """The wire carries at most 65535 bytes of UTF-8 per string; the server's limits are far below it."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ItemError("invalid_utf8", f"field '{name}' is not valid Unicode (lone surrogate)") from None
    if size > WIRE_MAX_STRING:
        raise ItemError(reason, f"field '{name}' is {size} bytes; the protocol carries at most {WIRE_MAX_STRING}")


def serialize_metadata(value: Any) -> bytes:
    """Event metadata as the server stores it: a JSON object with sorted keys, compact, UTF-8."""
    if not isinstance(value, Mapping):
        raise ItemError("invalid_metadata", "metadata must be a JSON object")
    try:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as error:
        raise ItemError("invalid_metadata", f"metadata is not serializable as JSON: {error}") from None
    if len(data) > METADATA_MAX_BYTES:
        raise ItemError("invalid_metadata", f"metadata is {len(data)} bytes serialized; at most {METADATA_MAX_BYTES}")
    return data


# MARK: - Actions and users


def action_fields(row: Mapping[str, Any]) -> Dict[str, Any]:
    """DEFINE_ACTIONS action from an import row: ``action_type`` required; ``action_category`` defaults to
    ``uncategorized``, ``engagement_weight`` to 1, ``is_core_action`` to true."""
    if not isinstance(row, Mapping):
        raise ItemError("invalid_json", "an action must be a dict")
    action_type = _string(row, "action_type")
    category = _string(row, "action_category", required=False)
    if category is None:
        category = AUTO_REGISTERED_CATEGORY
    weight = row.get("engagement_weight")
    if weight is None:
        weight = 1
    elif isinstance(weight, bool) or not isinstance(weight, int):
        raise ItemError("invalid_field", "engagement_weight must be an integer")
    elif not -(2**31) <= weight < 2**31:
        raise ItemError("invalid_field", "engagement_weight is out of range")
    core = row.get("is_core_action")
    if core is None:
        core = True
    elif not isinstance(core, bool):
        raise ItemError("invalid_field", "is_core_action must be true or false")
    assert action_type is not None
    _wire_text(action_type, "action_type", "invalid_action")
    _wire_text(category, "action_category", "invalid_attribute")
    return {"action_type": action_type, "action_category": category, "engagement_weight": weight, "is_core_action": core}


def user_fields(row: Mapping[str, Any]) -> Dict[str, Any]:
    """UPSERT_USERS user from an import row: ``user_id`` required; ``registration_date`` (``YYYY-MM-DD`` or a
    date) and the four attributes optional (absent or ``None``: left as they are on the server)."""
    if not isinstance(row, Mapping):
        raise ItemError("invalid_json", "a user must be a dict")
    user_id = _string(row, "user_id")
    assert user_id is not None
    _wire_text(user_id, "user_id", "invalid_user_id")
    user: Dict[str, Any] = {"user_id": user_id}
    registration = row.get("registration_date")
    if registration is not None:
        try:
            user["registration_date"] = parse_date(registration, "registration_date")
        except ValueError as error:
            raise ItemError("invalid_date", str(error)) from None
    for name in ("acquisition_channel", "user_segment", "device_type", "region"):
        value = _string(row, name, required=False)
        if value is not None:
            _wire_text(value, name, "invalid_attribute")
            user[name] = value
    return user


# MARK: - Events


@dataclass
class EncodedBatch:
    """One INGEST_EVENTS payload built from ``count`` consecutive events of the caller's sequence.

    ``positions`` maps the i-th event sent to its index among those ``count`` events (``None``: the
    identity, nothing was refused before sending); ``rejections`` are the events refused before sending
    (indexes among the ``count``)."""

    payload: bytes
    count: int
    positions: Optional[List[int]] = None
    rejections: List[Rejection] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.count if self.positions is None else len(self.positions)


_U32 = struct.Struct(">I")
_STRING_HEAD = struct.Struct(">H")
_EVENT_HEAD = struct.Struct(">IH")  # user_ref, event_id length
_EVENT_TAIL = struct.Struct(">qIIH")  # ts, action_ref, context_ref, metadata length
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _assemble(table: Dict[str, int], records: List[bytes], event_count: int) -> bytes:
    head = [_U32.pack(len(table))]
    pack_length = _STRING_HEAD.pack
    for text in table:
        raw = text.encode("utf-8")
        if len(raw) > WIRE_MAX_STRING:
            raise ValueError("string too long for the wire")
        head.append(pack_length(len(raw)))
        head.append(raw)
    head.append(_U32.pack(event_count))
    return b"".join(head) + b"".join(records)


def _encode_fast(events: Sequence[Mapping[str, Any]]) -> bytes:
    """Every event well-formed, or an exception (any) sends the batch to :func:`_encode_checked`."""
    table: Dict[str, int] = {}
    intern = table.setdefault
    records: List[bytes] = []
    append = records.append
    head = _EVENT_HEAD.pack
    tail = _EVENT_TAIL.pack
    parse = parse_timestamp
    for event in events:
        event_id = event["event_id"].encode("utf-8")
        ts = event["ts"]
        if ts.__class__ is not int:
            if ts.__class__ is not str:
                raise TypeError("ts")
            ts = parse(ts)
        user = intern(event["user_id"], len(table))
        action = intern(event["action"], len(table))
        context = event.get("context")
        context = NONE_U32 if not context else intern(context, len(table))
        metadata = event.get("metadata")
        append(head(user, len(event_id)))
        append(event_id)
        if metadata is None:
            append(tail(ts, action, context, 0))
        else:
            if metadata.__class__ is not dict:
                raise TypeError("metadata")
            data = _dumps(metadata).encode("utf-8")
            if len(data) > METADATA_MAX_BYTES:
                raise ValueError("metadata")
            append(tail(ts, action, context, len(data)))
            append(data)
    for text in table:
        if text.__class__ is not str:
            raise TypeError("string")
    return _assemble(table, records, len(events))


def _checked_event(event: Any) -> Tuple[str, bytes, int, str, Optional[str], bytes]:
    if not isinstance(event, Mapping):
        raise ItemError("invalid_json", "an event must be a dict")
    if event.get("ts") is None:
        raise ItemError("missing_field", "field 'ts' is missing")
    ts = timestamp_ms(event["ts"])
    metadata = event.get("metadata")
    metadata_bytes = b"" if metadata is None else serialize_metadata(metadata)
    user_id = _string(event, "user_id")
    event_id = _string(event, "event_id")
    action = _string(event, "action")
    context = _string(event, "context", required=False)
    assert user_id is not None and event_id is not None and action is not None
    _wire_text(user_id, "user_id", "invalid_user_id")
    _wire_text(event_id, "event_id", "invalid_event_id")
    _wire_text(action, "action", "invalid_action")
    if context:
        _wire_text(context, "context", "invalid_context")
    if not -(2**63) <= ts < 2**63:
        raise ItemError("timestamp_out_of_range", "ts does not fit in 64 bits of milliseconds")
    return user_id, event_id.encode("utf-8"), ts, action, context, metadata_bytes


def _encode_checked(events: Sequence[Any]) -> Tuple[bytes, Optional[List[int]], List[Rejection]]:
    table: Dict[str, int] = {}
    intern = table.setdefault
    records: List[bytes] = []
    positions: List[int] = []
    rejections: List[Rejection] = []
    for index, event in enumerate(events):
        try:
            user_id, event_id, ts, action, context, metadata = _checked_event(event)
        except ItemError as error:
            rejections.append(error.rejection(index))
            continue
        user = intern(user_id, len(table))
        action_ref = intern(action, len(table))
        context_ref = NONE_U32 if not context else intern(context, len(table))
        records.append(_EVENT_HEAD.pack(user, len(event_id)) + event_id)
        records.append(_EVENT_TAIL.pack(ts, action_ref, context_ref, len(metadata)) + metadata)
        positions.append(index)
    payload = _assemble(table, records, len(positions))
    return payload, (None if not rejections else positions), rejections


def encode_events(events: Sequence[Any]) -> EncodedBatch:
    """One INGEST_EVENTS payload for ``events`` (import-format dicts; ``ts`` as epoch milliseconds, an ISO
    8601 string or an aware datetime). Events that cannot be sent are in ``rejections``."""
    try:
        return EncodedBatch(_encode_fast(events), len(events))
    except Exception:  # noqa: BLE001 - anything unusual: redo the batch event by event, rejecting the bad ones
        payload, positions, rejections = _encode_checked(events)
        return EncodedBatch(payload, len(events), positions, rejections)


def encode_rows(
    message_name: str, list_field: str, rows: Sequence[Any], convert: Any
) -> Tuple[bytes, Optional[List[int]], List[Rejection]]:
    """A DEFINE_ACTIONS or UPSERT_USERS payload from import rows (``convert``: :func:`action_fields` or
    :func:`user_fields`); rows refused before sending come back as rejections."""
    items: List[Dict[str, Any]] = []
    positions: List[int] = []
    rejections: List[Rejection] = []
    for index, row in enumerate(rows):
        try:
            items.append(convert(row))
            positions.append(index)
        except ItemError as error:
            rejections.append(error.rejection(index))
    payload = MESSAGES_BY_NAME[message_name].encode_payload({list_field: items})
    return payload, (None if not rejections else positions), rejections


__all__ = [
    "EncodedBatch",
    "ItemError",
    "action_fields",
    "encode_events",
    "encode_rows",
    "parse_date",
    "parse_timestamp",
    "serialize_metadata",
    "timestamp_ms",
    "user_fields",
]
