"""Import-format conversion without a server: timestamps, client-side rejections, the fast encoder against
the careful one, and query parameters."""

from __future__ import annotations

import datetime

import pytest

from engage_client import protocol
from engage_client.queries import filters, ratio, resolve
from engage_client.records import ItemError, _encode_checked, encode_events, parse_timestamp, timestamp_ms

BASE = 1771111209608  # 2026-02-14T23:20:09.608Z


@pytest.mark.parametrize("text, expected", [
    ("2026-02-14T23:20:09.608Z", BASE),
    ("2026-02-14t23:20:09.608z", BASE),
    ("2026-02-14 23:20:09.608Z", BASE),
    ("2026-02-14T23:20:09,608Z", BASE),
    ("2026-02-14T23:20:09.6089999Z", BASE + 0),  # fractions past milliseconds are truncated
    ("2026-02-14T23:20:09.6Z", BASE - 8),
    ("2026-02-14T23:20:09Z", BASE - 608),
    ("2026-02-15T00:20:09.608+01:00", BASE),
    ("2026-02-14T18:20:09.608-0500", BASE),
    ("2026-02-14T23:20:60.000Z", BASE - 9608 + 60000),  # a leap second counts as the next minute's first
    ("1970-01-01T00:00:00.000Z", 0),
    ("1969-12-31T23:59:59.999Z", -1),
])
def test_timestamps_accepted(text: str, expected: int) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", [
    "2026-02-14T23:20:09.608", "2026-02-14", "2026-02-14T24:00:00Z", "2026-02-30T00:00:00Z",
    "2026-W07-6T23:20:09.608Z", "2026-02-14T23:20:09.Z", "2026-02-14T23:20:09.608+25:00",
    "２０２６-02-14T23:20:09.608Z", "not-a-time", "", "2026-02-14T23:20:09.608Z ",
])
def test_timestamps_refused(text: str) -> None:
    with pytest.raises(ItemError) as caught:
        parse_timestamp(text)
    assert caught.value.reason == "invalid_timestamp"


def test_timestamp_values() -> None:
    assert timestamp_ms(BASE) == BASE
    assert timestamp_ms(datetime.datetime(2026, 2, 14, 23, 20, 9, 608000, tzinfo=datetime.timezone.utc)) == BASE
    for bad in (True, 1.5, None, datetime.datetime(2026, 2, 14)):
        with pytest.raises(ItemError):
            timestamp_ms(bad)


GOOD = [
    {"user_id": "u-1", "event_id": "e-1", "ts": BASE, "action": "like", "context": "home"},
    {"user_id": "ü-2", "event_id": "e-2", "ts": "2026-02-14T23:20:09.608Z", "action": "view", "metadata": {"b": [1, 2], "a": "é"}},
    {"user_id": "u-1", "event_id": "e-3", "ts": "2026-02-15T00:20:09+01:00", "action": "like", "context": ""},
]


def test_fast_and_checked_encoders_agree() -> None:
    fast = encode_events(GOOD)
    payload, positions, rejections = _encode_checked(GOOD)
    assert fast.payload == payload and positions is None and rejections == [] and fast.sent == 3
    fields = protocol.MESSAGES[0x05].decode_payload(fast.payload)
    assert fields["strings"] == [b"u-1", b"like", b"home", "ü-2".encode(), b"view"]
    assert [e["context_ref"] for e in fields["events"]] == [2, None, None]
    assert fields["events"][1]["metadata"] == '{"a":"é","b":[1,2]}'.encode()
    assert fields["events"][2]["ts"] == BASE - 608


def test_bad_events_are_rejected_client_side_with_positions() -> None:
    events = [
        GOOD[0],
        {"user_id": "u-1", "event_id": "x", "action": "like"},                       # 1 no ts
        {"user_id": "u-1", "event_id": "x", "ts": "yesterday", "action": "like"},    # 2
        {"user_id": 7, "event_id": "x", "ts": BASE, "action": "like"},               # 3
        {"user_id": "u", "event_id": "x", "ts": BASE, "action": "like", "metadata": [1]},      # 4
        {"user_id": "u", "event_id": "x", "ts": BASE, "action": "like", "metadata": {"k": "v" * 5000}},  # 5
        {"user_id": "u" * 70000, "event_id": "x", "ts": BASE, "action": "like"},     # 6 does not fit a u16
        {"user_id": "u", "event_id": "\ud800", "ts": BASE, "action": "like"},        # 7 lone surrogate
        {"user_id": "u", "event_id": "x", "ts": 2**63, "action": "like"},            # 8
        "not a dict",                                                                # 9
        GOOD[1],
    ]
    encoded = encode_events(events)
    assert [(r.index, r.reason, r.code) for r in encoded.rejections] == [
        (1, "missing_field", None), (2, "invalid_timestamp", None), (3, "invalid_field", None),
        (4, "invalid_metadata", 7), (5, "invalid_metadata", 7), (6, "invalid_user_id", 1), (7, "invalid_utf8", 5),
        (8, "timestamp_out_of_range", 4), (9, "invalid_json", None),
    ]
    assert encoded.positions == [0, 10]
    fields = protocol.MESSAGES[0x05].decode_payload(encoded.payload)
    assert [e["event_id"] for e in fields["events"]] == [b"e-1", b"e-2"]


def test_query_parameters() -> None:
    spec, given, fields = resolve("active-days", {"month": "2026-02", "where": {"region": ["eu", "na"]}})
    assert spec.request == "QUERY_ACTIVE_DAYS"
    assert (fields["from"], fields["to"]) == (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    assert fields["filters"] == [{"dimension": "region", "value": "eu"}, {"dimension": "region", "value": "na"}]
    _, _, tiers = resolve("tiers", {"month": datetime.date(2026, 3, 17)})
    assert (tiers["window"], tiers["date"]) == (0, datetime.date(2026, 3, 1))
    _, _, retention = resolve("retention", {"period": "week", "from_": "2026-01-01", "to": "2026-01-31", "periods": 8})
    assert (retention["period"], retention["periods"], retention["breakdown"]) == (1, 8, "")
    with pytest.raises(TypeError, match="takes no parameter 'as_of'"):
        resolve("activity", {"from_": "2026-01-01", "to": "2026-01-02", "as_of": "2026-01-01"})
    with pytest.raises(TypeError, match="needs periods"):
        resolve("retention", {"period": "week", "from_": "2026-01-01", "to": "2026-01-31"})
    with pytest.raises(TypeError, match="either month or as_of"):
        resolve("tiers", {})
    with pytest.raises(ValueError, match="period"):
        resolve("lifecycle", {"period": "year", "from_": "2026-01-01", "to": "2026-01-31"})
    with pytest.raises(ValueError, match="after"):
        resolve("activity", {"from_": "2026-02-01", "to": "2026-01-31"})
    with pytest.raises(ValueError, match="unknown query"):
        resolve("funnel", {})
    assert filters([("region", "eu"), ("cohort", "2026-01")]) == [
        {"dimension": "region", "value": "eu"}, {"dimension": "cohort", "value": "2026-01"}]


def test_ratios_follow_the_cli() -> None:
    assert ratio(5, 7) == 0.714286
    assert ratio(1, 3) == 0.333333
    assert ratio(2, 3) == 0.666667
    assert ratio(3, 0) == 0.0
    assert ratio(None, 4) is None and ratio(4, None) is None
