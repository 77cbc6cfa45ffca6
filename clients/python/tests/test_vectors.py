"""Every golden vector of proto-spec/vectors.json decodes and re-encodes to the same bytes, and the decoded
fields say what the vector's description says."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from engage_client import protocol
from engage_client.protocol import MESSAGES, DecodeError, decode_frame

VECTORS_PATH = Path(__file__).resolve().parents[3] / "proto-spec" / "vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())["vectors"]


def vector(name: str) -> bytes:
    return bytes.fromhex(next(v["hex"] for v in VECTORS if v["name"] == name))


def test_every_message_type_has_a_vector() -> None:
    assert set(MESSAGES) == {v["type"] for v in VECTORS}


@pytest.mark.parametrize("entry", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_round_trip(entry: Dict[str, Any]) -> None:
    data = bytes.fromhex(entry["hex"])
    message, request_id, fields = decode_frame(data)
    assert message.type == entry["type"]
    assert request_id == entry["request_id"]
    assert message.encode(request_id, fields) == data


def test_decoded_fields_match_the_descriptions() -> None:
    _, _, hello = decode_frame(vector("hello_with_token"))
    assert hello == {"min_version": 1, "max_version": 2, "token": "s3cret", "client_name": "loadgen"}
    _, _, ok = decode_frame(vector("hello_ok"))
    assert ok == {"version": 1, "server_name": "engaged 0.1.0", "time_zone": "America/New_York",
                  "max_frame_length": 16777216, "max_batch_items": 100000, "max_in_flight": 64}
    _, _, ping = decode_frame(vector("ping"))
    assert ping == {"nonce": 0x0102030405060708}
    _, _, users = decode_frame(vector("upsert_users"))
    assert users["users"] == [
        {"user_id": "u7-000003", "registration_date": datetime.date(2026, 1, 15), "acquisition_channel": "paid_search",
         "user_segment": "pro", "device_type": "ios", "region": "eu"},
        {"user_id": "user-ü-1@example.com", "region": "latam"},
    ]
    _, _, events = decode_frame(vector("ingest_events"))
    assert events["strings"] == [b"u7-000001", b"like", b"home", b"view_feed"]
    assert events["events"][0] == {"user_ref": 0, "event_id": b"e7-1", "ts": 1771111209608, "action_ref": 1,
                                   "context_ref": 2, "metadata": b""}
    assert events["events"][1]["context_ref"] is None and events["events"][1]["metadata"] == b'{"k":8}'
    _, _, result = decode_frame(vector("ingest_result"))
    assert result == {"accepted": 1, "duplicates": 1, "rejected": [{"index": 2, "reason": 4}]}
    _, _, stats = decode_frame(vector("stats_result_empty"))
    assert stats["first_day"] is None and stats["last_day"] is None and stats["bytes_on_disk"] == 32768
    _, _, page = decode_frame(vector("export_page"))
    assert page == {"rows": [[7, "casual", True, None]], "next_cursor": b"\x00\x01"}
    _, _, user = decode_frame(vector("user_result_unknown"))
    assert user == {"user": None}
    _, _, activity = decode_frame(vector("activity_result_unfinished"))
    assert [(r["dau"], r["wau"], r["mau"]) for r in activity["rows"]] == [(40, 71, 98), (None, None, None)]
    _, _, retention = decode_frame(vector("retention_result_unfinished"))
    assert [(r["period_offset"], r["retained"]) for r in retention["rows"]] == [(0, 18), (1, None)]
    _, _, lifecycle = decode_frame(vector("lifecycle_result_unfinished"))
    assert [r["new"] for r in lifecycle["rows"]] == [1, None] and lifecycle["rows"][1]["dormant"] is None
    assert decode_frame(vector("query_values"))[2] == {"dimension": "region"}
    assert decode_frame(vector("values_result"))[2] == {"rows": [{"value": "eu", "users": 48}, {"value": "na", "users": 51}]}
    _, request_id, applied = decode_frame(vector("wait_applied_result"))
    assert (request_id, applied) == (22, {"applied_sequence": 1234})
    assert decode_frame(vector("wait_applied"))[2] == {}
    _, request_id, error = decode_frame(vector("error"))
    assert request_id == 0 and error["code"] == 2


def test_ingest_payload_of_the_fast_encoder_matches_the_vector() -> None:
    from engage_client.records import encode_events

    events = [
        {"user_id": "u7-000001", "event_id": "e7-1", "ts": "2026-02-14T23:20:09.608Z", "action": "like",
         "context": "home"},
        {"user_id": "u7-000001", "event_id": "e7-2", "ts": "2026-02-14T23:25:00.000Z", "action": "view_feed",
         "metadata": {"k": 8}},
    ]
    encoded = encode_events(events)
    assert encoded.positions is None and encoded.rejections == []
    assert protocol.frame(0x05, 4, encoded.payload) == vector("ingest_events")


def test_truncated_and_trailing_payloads_are_refused() -> None:
    data = vector("activity_result")
    with pytest.raises(DecodeError, match="does not match"):
        decode_frame(data[:-1])  # the length field says one byte more
    message = MESSAGES[0x86]
    payload = data[9:]
    with pytest.raises(DecodeError, match="ends inside"):
        message.decode_payload(payload[:-1])
    with pytest.raises(DecodeError, match="left after"):
        message.decode_payload(payload + b"\x00")


def test_unknown_values_decode_to_none() -> None:
    # The "unknown" marker (u32 FF FF FF FF, PROTOCOL.md 4.25) field by field in ACTIVITY and LIFECYCLE results.
    activity = bytes.fromhex("00000001" "0000" "00004fe6" "ffffffff" "00000005" "ffffffff")
    assert MESSAGES[0x86].decode_payload(activity)["rows"] == [
        {"group": "", "date": datetime.date(2026, 1, 1), "dau": None, "wau": 5, "mau": None}]
    lifecycle = bytes.fromhex("00000001" "00004fe6" "00000001" "ffffffff" "00000002" "ffffffff")
    row = MESSAGES[0x8C].decode_payload(lifecycle)["rows"][0]
    assert (row["new"], row["returning"], row["resurrecting"], row["dormant"]) == (1, None, 2, None)
    assert MESSAGES[0x8C].encode_payload({"rows": [row]}) == lifecycle


def test_counts_above_2_63_are_malformed() -> None:
    payload = bytearray(vector("backup_result")[9:])
    payload[0] = 0x80
    with pytest.raises(DecodeError, match="2\\^63"):
        MESSAGES[0x94].decode_payload(bytes(payload))


def test_a_count_larger_than_the_payload_is_refused_before_allocating() -> None:
    with pytest.raises(DecodeError, match="does not fit"):
        MESSAGES[0x86].decode_payload(b"\xff\xff\xff\xff")
