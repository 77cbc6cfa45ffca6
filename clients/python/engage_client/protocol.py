"""The Engage wire protocol, version 1 (proto-spec/PROTOCOL.md): frames, field types and every message.

A message is one entry of :data:`MESSAGES`: its type byte, its name and the layout of its payload, built
from the field types below. The one generic encoder and decoder walk the layout, so a new message (or a
new field type) is one entry here; nothing else in the client switches on message types.

Values on this level are plain Python: ``int``, ``str``, ``bytes``, ``bool``, ``datetime.date`` (``None``
for "no date"), ``None`` for an unknown count (``FF FF FF FF``) or no context, lists and dicts keyed by the
field names of PROTOCOL.md.
"""

from __future__ import annotations

import datetime
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

PROTOCOL_VERSION = 1
MAGIC = b"ENGA"
#: ``date`` value meaning "no date".
NO_DATE = -(2**31)
#: ``u32`` value meaning "no context" in INGEST_EVENTS and "unknown" in query results.
NONE_U32 = 0xFFFFFFFF
#: Counts sent as u64 never exceed this (PROTOCOL.md section 1); more is a malformed response.
MAX_COUNT64 = 2**63 - 1
#: ``length`` (u32), ``type`` (u8), ``request_id`` (u32).
HEADER = struct.Struct(">IBI")
HEADER_SIZE = HEADER.size
#: ``length`` counts type and request id too, so it is never below this.
MIN_LENGTH = 5

_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MIN_DAY = datetime.date.min.toordinal() - _EPOCH_ORDINAL
_MAX_DAY = datetime.date.max.toordinal() - _EPOCH_ORDINAL

Bytes = Union[bytes, bytearray, memoryview]


class DecodeError(ValueError):
    """Bytes that do not follow the protocol: a payload too short or too long, a bad tag, a bad count."""


def day_number(value: datetime.date) -> int:
    """Days since 1970-01-01 (the wire's ``date``)."""
    return value.toordinal() - _EPOCH_ORDINAL


def date_from_day_number(days: int) -> datetime.date:
    """The date ``days`` after 1970-01-01."""
    if not _MIN_DAY <= days <= _MAX_DAY:
        raise DecodeError(f"day {days} is outside the dates this client can represent")
    return datetime.date.fromordinal(days + _EPOCH_ORDINAL)


class Reader:
    """Reads fields from a payload, refusing to run past its end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: Bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, size: int, what: str = "field") -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise DecodeError(f"payload ends inside {what}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, layout: struct.Struct, what: str = "field") -> Tuple[Any, ...]:
        if self.pos + layout.size > len(self.data):
            raise DecodeError(f"payload ends inside {what}")
        values = layout.unpack_from(self.data, self.pos)
        self.pos += layout.size
        return values

    def expect_end(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} bytes left after the last field")


# MARK: - Field types


class FieldType:
    """A wire type: ``encode`` appends a value's bytes, ``decode`` reads one value back."""

    #: Fewest bytes one value takes (checked against a count before a list is allocated).
    min_size = 0

    def encode(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def decode(self, reader: Reader) -> Any:
        raise NotImplementedError


class Int(FieldType):
    """A big-endian integer of a fixed size (``B H I Q`` unsigned, ``i q`` signed)."""

    def __init__(self, code: str) -> None:
        self.layout = struct.Struct(">" + code)
        self.min_size = self.layout.size
        self.name = {"B": "u8", "H": "u16", "I": "u32", "Q": "u64", "i": "i32", "q": "i64"}[code]

    def encode(self, value: int, out: bytearray) -> None:
        try:
            out += self.layout.pack(value)
        except struct.error as error:
            raise ValueError(f"{value!r} does not fit a {self.name}") from error

    def decode(self, reader: Reader) -> Any:
        return reader.unpack(self.layout, self.name)[0]


U8, U16, U32, U64, I32, I64 = Int("B"), Int("H"), Int("I"), Int("Q"), Int("i"), Int("q")


class Count64(Int):
    """A u64 count; more than 2^63-1 is a malformed response (PROTOCOL.md section 1)."""

    def __init__(self) -> None:
        super().__init__("Q")

    def decode(self, reader: Reader) -> int:
        value: int = super().decode(reader)
        if value > MAX_COUNT64:
            raise DecodeError(f"count {value} exceeds 2^63-1")
        return value


class OptionalU32(Int):
    """A u32 where ``FF FF FF FF`` is ``None``: "no context" in an event, "unknown" in a result row."""

    def __init__(self) -> None:
        super().__init__("I")

    def encode(self, value: Optional[int], out: bytearray) -> None:
        super().encode(NONE_U32 if value is None else value, out)

    def decode(self, reader: Reader) -> Optional[int]:
        value: int = super().decode(reader)
        return None if value == NONE_U32 else value


COUNT64 = Count64()
OPT_U32 = OptionalU32()


class Bool(FieldType):
    """A u8 that must be 0 or 1."""

    min_size = 1

    def encode(self, value: bool, out: bytearray) -> None:
        out.append(1 if value else 0)

    def decode(self, reader: Reader) -> bool:
        value: int = reader.unpack(U8.layout, "bool")[0]
        if value > 1:
            raise DecodeError(f"bool is {value}, not 0 or 1")
        return value == 1


def _write_blob(value: Bytes, out: bytearray) -> None:
    if len(value) > 0xFFFF:
        raise ValueError(f"{len(value)} bytes do not fit a u16 length")
    out += U16.layout.pack(len(value))
    out += value


def _read_blob(reader: Reader) -> bytes:
    size: int = reader.unpack(U16.layout, "length")[0]
    return reader.take(size, "bytes")


class Blob(FieldType):
    """``u16`` length and that many bytes (PROTOCOL.md ``bytes``)."""

    min_size = 2

    def encode(self, value: Bytes, out: bytearray) -> None:
        _write_blob(value, out)

    def decode(self, reader: Reader) -> bytes:
        return _read_blob(reader)


class Text(FieldType):
    """``str``: u16 length and UTF-8."""

    min_size = 2

    def encode(self, value: str, out: bytearray) -> None:
        _write_blob(value.encode("utf-8"), out)

    def decode(self, reader: Reader) -> str:
        raw = _read_blob(reader)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DecodeError(f"a str is not UTF-8: {error}") from None


class Date(FieldType):
    """``date``: i32 days since 1970-01-01; with ``optional``, "no date" (i32 minimum) is ``None``."""

    min_size = 4

    def __init__(self, optional: bool = False) -> None:
        self.optional = optional

    def encode(self, value: Optional[datetime.date], out: bytearray) -> None:
        if value is None:
            if not self.optional:
                raise ValueError("a date is required here")
            out += I32.layout.pack(NO_DATE)
        else:
            out += I32.layout.pack(day_number(value))

    def decode(self, reader: Reader) -> Optional[datetime.date]:
        (days,) = reader.unpack(I32.layout, "date")
        if days == NO_DATE:
            if self.optional:
                return None
            raise DecodeError("'no date' where a date is required")
        return date_from_day_number(days)


class Constant(FieldType):
    """Fixed bytes (HELLO's magic): nothing to give when encoding, checked when decoding."""

    def __init__(self, value: bytes) -> None:
        self.value = value
        self.min_size = len(value)

    def encode(self, value: Any, out: bytearray) -> None:
        out += self.value

    def decode(self, reader: Reader) -> None:
        if reader.take(len(self.value), "magic") != self.value:
            raise DecodeError(f"expected the bytes {self.value!r}")
        return None


BOOL, BLOB, TEXT, DATE, OPT_DATE = Bool(), Blob(), Text(), Date(), Date(optional=True)


class Struct(FieldType):
    """Named fields one after the other; the value is a dict. A field named ``None`` is a constant."""

    def __init__(self, *fields: Tuple[Optional[str], FieldType]) -> None:
        self.fields = fields
        self.min_size = sum(kind.min_size for _, kind in fields)

    def encode(self, value: Mapping[str, Any], out: bytearray) -> None:
        for name, kind in self.fields:
            if name is None:
                kind.encode(None, out)
                continue
            try:
                field_value = value[name]
            except KeyError:
                raise ValueError(f"field '{name}' is missing") from None
            kind.encode(field_value, out)

    def decode(self, reader: Reader) -> Dict[str, Any]:
        result: Dict[str, Any] = {}
        for name, kind in self.fields:
            value = kind.decode(reader)
            if name is not None:
                result[name] = value
        return result


class Array(FieldType):
    """A count (of the given integer type) and that many items."""

    def __init__(self, count: Int, item: FieldType) -> None:
        self.count = count
        self.item = item
        self.min_size = count.min_size

    def encode(self, value: Sequence[Any], out: bytearray) -> None:
        self.count.encode(len(value), out)
        for item in value:
            self.item.encode(item, out)

    def decode(self, reader: Reader) -> List[Any]:
        count: int = self.count.decode(reader)
        # Refuse a count the rest of the payload cannot hold before allocating for it.
        if count * max(self.item.min_size, 1) > reader.remaining:
            raise DecodeError(f"count {count} does not fit in the {reader.remaining} bytes left")
        return [self.item.decode(reader) for _ in range(count)]


class Found(FieldType):
    """``found u8`` (0 or 1) and, when 1, the fields of ``body``; ``None`` when 0 (USER_RESULT)."""

    min_size = 1

    def __init__(self, body: Struct) -> None:
        self.body = body

    def encode(self, value: Optional[Mapping[str, Any]], out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.body.encode(value, out)

    def decode(self, reader: Reader) -> Optional[Dict[str, Any]]:
        return self.body.decode(reader) if BOOL.decode(reader) else None


#: UPSERT_USERS ``fields`` bits, in wire order after the bit mask.
USER_FIELD_BITS: Tuple[Tuple[str, int, FieldType], ...] = (
    ("registration_date", 0x01, DATE),
    ("acquisition_channel", 0x02, TEXT),
    ("user_segment", 0x04, TEXT),
    ("device_type", 0x08, TEXT),
    ("region", 0x10, TEXT),
)


class UserRecord(FieldType):
    """UPSERT_USERS user: ``user_id``, a ``fields`` bit mask and the fields it names. A dict without a key
    (or with ``None`` there) leaves that attribute as it is on the server."""

    min_size = 3

    def encode(self, value: Mapping[str, Any], out: bytearray) -> None:
        TEXT.encode(value["user_id"], out)
        present = [(name, bit, kind) for name, bit, kind in USER_FIELD_BITS if value.get(name) is not None]
        out.append(sum(bit for _, bit, _ in present))
        for name, _, kind in present:
            kind.encode(value[name], out)

    def decode(self, reader: Reader) -> Dict[str, Any]:
        user: Dict[str, Any] = {"user_id": TEXT.decode(reader)}
        mask: int = U8.decode(reader)
        if mask & ~0x1F:
            raise DecodeError(f"fields 0x{mask:02x} sets undefined bits")
        for name, bit, kind in USER_FIELD_BITS:
            if mask & bit:
                user[name] = kind.decode(reader)
        return user


#: EXPORT_PAGE value tags.
TAG_NULL, TAG_INTEGER, TAG_TEXT, TAG_BOOLEAN = 0, 1, 2, 3
_TAG_INTEGER = struct.Struct(">Bq")


class ExportRows(FieldType):
    """EXPORT_PAGE rows: ``row_count u32``, ``column_count u16``, then tagged values (null, i64, str, bool)
    row by row; each row decodes to a list of ``None``/``int``/``str``/``bool``."""

    min_size = 6

    def encode(self, value: Sequence[Sequence[Any]], out: bytearray) -> None:
        columns = len(value[0]) if value else 0
        U32.encode(len(value), out)
        U16.encode(columns, out)
        for row in value:
            if len(row) != columns:
                raise ValueError("every exported row needs the same number of values")
            for cell in row:
                if cell is None:
                    out.append(TAG_NULL)
                elif cell is True or cell is False:
                    out.append(TAG_BOOLEAN)
                    out.append(1 if cell else 0)
                elif isinstance(cell, int):
                    out += _TAG_INTEGER.pack(TAG_INTEGER, cell)
                else:
                    out.append(TAG_TEXT)
                    TEXT.encode(cell, out)

    def decode(self, reader: Reader) -> List[List[Any]]:
        count: int = reader.unpack(U32.layout, "row_count")[0]
        columns: int = reader.unpack(U16.layout, "column_count")[0]
        if count * columns > reader.remaining:
            raise DecodeError(f"{count} rows of {columns} values do not fit in the {reader.remaining} bytes left")
        data, pos = reader.data, reader.pos
        unpack_from = struct.unpack_from
        rows: List[List[Any]] = []
        try:
            for _ in range(count):
                row: List[Any] = []
                for _ in range(columns):
                    tag = data[pos]
                    pos += 1
                    if tag == TAG_TEXT:
                        size = (data[pos] << 8) | data[pos + 1]
                        end = pos + 2 + size
                        if end > len(data):
                            raise IndexError
                        row.append(data[pos + 2 : end].decode("utf-8"))
                        pos = end
                    elif tag == TAG_INTEGER:
                        row.append(unpack_from(">q", data, pos)[0])
                        pos += 8
                    elif tag == TAG_NULL:
                        row.append(None)
                    elif tag == TAG_BOOLEAN:
                        flag = data[pos]
                        if flag > 1:
                            raise DecodeError(f"boolean value {flag}")
                        row.append(flag == 1)
                        pos += 1
                    else:
                        raise DecodeError(f"value tag {tag} is not 0 (null), 1 (integer), 2 (text) or 3 (boolean)")
                rows.append(row)
        except (IndexError, struct.error):
            raise DecodeError("payload ends inside an exported value") from None
        except UnicodeDecodeError:
            raise DecodeError("an exported text value is not UTF-8") from None
        reader.pos = pos
        return rows


# MARK: - Messages


@dataclass(frozen=True)
class Message:
    """One message type: its type byte, name (PROTOCOL.md section 4) and payload layout."""

    type: int
    name: str
    payload: Struct

    @property
    def is_request(self) -> bool:
        return self.type < 0x80

    def encode_payload(self, fields: Mapping[str, Any]) -> bytes:
        out = bytearray()
        self.payload.encode(fields, out)
        return bytes(out)

    def encode(self, request_id: int, fields: Mapping[str, Any]) -> bytes:
        """The whole frame, length field included."""
        return frame(self.type, request_id, self.encode_payload(fields))

    def decode_payload(self, payload: Bytes) -> Dict[str, Any]:
        """The payload's fields; a payload that ends early or has bytes left over is a :class:`DecodeError`."""
        reader = Reader(payload)
        fields = self.payload.decode(reader)
        reader.expect_end()
        return fields


def frame(message_type: int, request_id: int, payload: Bytes) -> bytes:
    """``length``, ``type``, ``request_id`` and ``payload`` as one frame."""
    return HEADER.pack(MIN_LENGTH + len(payload), message_type, request_id) + payload


FILTERS = Array(U8, Struct(("dimension", TEXT), ("value", TEXT)))
BATCH_RESULT = Struct(
    ("accepted", U32),
    ("duplicates", U32),
    ("rejected", Array(U32, Struct(("index", U32), ("reason", U16)))),
)


def _rows(*fields: Tuple[str, FieldType]) -> Struct:
    """``row_count u32`` and that many rows of ``fields``, decoded under the key ``rows``."""
    return Struct(("rows", Array(U32, Struct(*fields))))


_messages: List[Message] = [
    Message(0x01, "HELLO", Struct(
        (None, Constant(MAGIC)), ("min_version", U16), ("max_version", U16), ("token", TEXT), ("client_name", TEXT))),
    Message(0x81, "HELLO_OK", Struct(
        (None, Constant(MAGIC)), ("version", U16), ("server_name", TEXT), ("time_zone", TEXT),
        ("max_frame_length", U32), ("max_batch_items", U32), ("max_in_flight", U16))),
    Message(0x02, "PING", Struct(("nonce", U64))),
    Message(0x82, "PONG", Struct(("nonce", U64))),
    Message(0x03, "DEFINE_ACTIONS", Struct(("actions", Array(U16, Struct(
        ("action_type", TEXT), ("action_category", TEXT), ("engagement_weight", I32), ("is_core_action", BOOL)))))),
    Message(0x83, "DEFINE_ACTIONS_RESULT", BATCH_RESULT),
    Message(0x04, "UPSERT_USERS", Struct(("users", Array(U32, UserRecord())))),
    Message(0x84, "UPSERT_USERS_RESULT", BATCH_RESULT),
    Message(0x05, "INGEST_EVENTS", Struct(
        ("strings", Array(U32, BLOB)),
        ("events", Array(U32, Struct(
            ("user_ref", U32), ("event_id", BLOB), ("ts", I64), ("action_ref", U32), ("context_ref", OPT_U32),
            ("metadata", BLOB)))))),
    Message(0x85, "INGEST_RESULT", BATCH_RESULT),
    Message(0x06, "QUERY_ACTIVITY", Struct(("from", DATE), ("to", DATE), ("filters", FILTERS), ("breakdown", TEXT))),
    Message(0x86, "ACTIVITY_RESULT", _rows(
        ("group", TEXT), ("date", DATE), ("dau", OPT_U32), ("wau", OPT_U32), ("mau", OPT_U32))),
    Message(0x07, "STATS", Struct()),
    Message(0x87, "STATS_RESULT", Struct(
        ("events", COUNT64), ("duplicates", COUNT64), ("users", COUNT64), ("actions", U32), ("days", U32),
        ("bytes_on_disk", COUNT64), ("time_zone", TEXT), ("first_day", OPT_DATE), ("last_day", OPT_DATE))),
    Message(0x08, "QUERY_ACTIVE_DAYS", Struct(("from", DATE), ("to", DATE), ("filters", FILTERS), ("breakdown", TEXT))),
    Message(0x88, "ACTIVE_DAYS_RESULT", _rows(("group", TEXT), ("active_days", U32), ("users", U32))),
    Message(0x09, "QUERY_TIERS", Struct(("window", U8), ("date", DATE), ("filters", FILTERS), ("breakdown", TEXT))),
    Message(0x89, "TIERS_RESULT", _rows(
        ("group", TEXT), ("tier", TEXT), ("users", U32), ("records", COUNT64), ("sessions", COUNT64),
        ("actions", COUNT64))),
    Message(0x0A, "QUERY_TRANSITIONS", Struct(("month", DATE), ("filters", FILTERS))),
    Message(0x8A, "TRANSITIONS_RESULT", _rows(("from_tier", TEXT), ("to_tier", TEXT), ("users", U32))),
    Message(0x0B, "QUERY_RETENTION", Struct(
        ("period", U8), ("from", DATE), ("to", DATE), ("periods", U16), ("filters", FILTERS), ("breakdown", TEXT))),
    Message(0x8B, "RETENTION_RESULT", _rows(
        ("group", TEXT), ("cohort", DATE), ("cohort_size", U32), ("period_offset", U32), ("retained", OPT_U32))),
    Message(0x0C, "QUERY_LIFECYCLE", Struct(("period", U8), ("from", DATE), ("to", DATE), ("filters", FILTERS))),
    Message(0x8C, "LIFECYCLE_RESULT", _rows(
        ("period", DATE), ("new", OPT_U32), ("returning", OPT_U32), ("resurrecting", OPT_U32),
        ("dormant", OPT_U32))),
    Message(0x0D, "QUERY_SESSIONS", Struct(("from", DATE), ("to", DATE), ("filters", FILTERS))),
    Message(0x8D, "SESSIONS_RESULT", Struct(
        ("sessions", COUNT64), ("users", COUNT64), ("total_duration_seconds", COUNT64), ("total_actions", COUNT64),
        ("bounces", COUNT64), ("p50_duration_seconds", U32), ("p90_duration_seconds", U32))),
    Message(0x0E, "QUERY_USER", Struct(("user_id", TEXT))),
    Message(0x8E, "USER_RESULT", Struct(("user", Found(Struct(
        ("user_id", TEXT), ("registration_date", OPT_DATE), ("acquisition_channel", TEXT), ("user_segment", TEXT),
        ("device_type", TEXT), ("region", TEXT), ("current_tier", TEXT), ("as_of", DATE),
        ("days", Array(U32, Struct(
            ("date", DATE), ("sessions_count", U32), ("total_session_duration", U32), ("total_actions", U32),
            ("unique_action_types", U32), ("is_active_day", BOOL), ("engagement_tier", TEXT)))),
        ("sessions", Array(U32, Struct(
            ("start", I64), ("end", I64), ("actions_count", U32), ("screens_visited", U32),
            ("session_type", TEXT))))))))),
    Message(0x0F, "QUERY_AT_RISK", Struct(("as_of", DATE), ("limit", U32), ("filters", FILTERS))),
    Message(0x8F, "AT_RISK_RESULT", _rows(
        ("user_id", TEXT), ("tier", TEXT), ("active_days", U32), ("actions", COUNT64), ("last_active_day", DATE))),
    Message(0x10, "QUERY_ACTIONS", Struct(("from", DATE), ("to", DATE), ("filters", FILTERS))),
    Message(0x90, "ACTIONS_RESULT", _rows(
        ("kind", U8), ("action_category", TEXT), ("action_type", TEXT), ("is_core_action", BOOL),
        ("events", COUNT64), ("users", COUNT64))),
    Message(0x11, "EXPORT", Struct(
        ("table", U8), ("from", OPT_DATE), ("to", OPT_DATE), ("cursor", BLOB), ("limit", U32))),
    Message(0x91, "EXPORT_PAGE", Struct(("rows", ExportRows()), ("next_cursor", BLOB))),
    Message(0x12, "VERIFY", Struct(("max_reported", U32))),
    Message(0x92, "VERIFY_RESULT", Struct(
        ("total_issues", COUNT64),
        ("tables", Array(U16, Struct(("table", TEXT), ("records", COUNT64)))),
        ("issues", Array(U32, Struct(("table", TEXT), ("key", TEXT), ("detail", TEXT)))))),
    Message(0x13, "REBUILD", Struct()),
    Message(0x93, "REBUILD_RESULT", Struct()),
    Message(0x14, "BACKUP", Struct(("path", TEXT))),
    Message(0x94, "BACKUP_RESULT", Struct(("bytes", COUNT64))),
    Message(0x15, "QUERY_VALUES", Struct(("dimension", TEXT))),
    Message(0x95, "VALUES_RESULT", _rows(("value", TEXT), ("users", COUNT64))),
    Message(0x16, "WAIT_APPLIED", Struct()),
    Message(0x96, "WAIT_APPLIED_RESULT", Struct(("applied_sequence", COUNT64))),
    Message(0x17, "CHANGES", Struct(("since", COUNT64), ("limit", U32))),
    Message(0x97, "CHANGES_RESULT", Struct(
        ("current", COUNT64), ("oldest", COUNT64),
        ("changes", Array(U32, Struct(
            ("sequence", COUNT64), ("flags", U8), ("daily_days", Array(U32, DATE)),
            ("session_days", Array(U32, DATE)), ("event_days", Array(U32, DATE)),
            ("user_keys", Array(U32, U32))))))),
    Message(0x18, "EXPORT_USERS", Struct(("user_keys", Array(U32, U32)))),
    Message(0xFF, "ERROR", Struct(("code", U16), ("message", TEXT))),
]

#: Every message this client knows, by type byte.
MESSAGES: Dict[int, Message] = {message.type: message for message in _messages}
#: The same, by name (``QUERY_ACTIVITY``...).
MESSAGES_BY_NAME: Dict[str, Message] = {message.name: message for message in _messages}
del _messages


#: Requests answered by another request's response type (PROTOCOL.md 4: EXPORT_USERS -> EXPORT_PAGE).
_SHARED_RESPONSES = {0x18: 0x91}


def response_type(request_type: int) -> int:
    """The type of the response that answers a request (``request | 0x80``, except EXPORT_USERS)."""
    return _SHARED_RESPONSES.get(request_type, request_type | 0x80)


def split_frame(data: Bytes) -> Tuple[int, int, bytes]:
    """``(type, request_id, payload)`` of one whole frame; the length field must match the bytes given."""
    if len(data) < HEADER_SIZE:
        raise DecodeError("a frame is at least 9 bytes")
    length, message_type, request_id = HEADER.unpack_from(data, 0)
    if length < MIN_LENGTH:
        raise DecodeError(f"frame length {length} is below 5")
    if length != len(data) - 4:
        raise DecodeError(f"frame length {length} does not match the {len(data) - 4} bytes after it")
    return message_type, request_id, bytes(data[HEADER_SIZE:])


def decode_frame(data: Bytes) -> Tuple[Message, int, Dict[str, Any]]:
    """``(message, request_id, fields)`` of one whole frame."""
    message_type, request_id, payload = split_frame(data)
    message = MESSAGES.get(message_type)
    if message is None:
        raise DecodeError(f"unknown message type 0x{message_type:02x}")
    return message, request_id, message.decode_payload(payload)
