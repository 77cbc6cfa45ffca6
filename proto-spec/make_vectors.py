#!/usr/bin/env python3
"""Golden vectors for the Engage wire protocol v1, encoded from PROTOCOL.md alone.

This is deliberately an independent implementation (Python, struct module): if the Swift codec and this
file disagree, one of them does not follow the spec. Run it to regenerate vectors.json:

    python3 proto-spec/make_vectors.py > proto-spec/vectors.json
"""
import datetime
import json
import struct

def u8(v): return struct.pack(">B", v)
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def text(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return u16(len(b)) + b
def date(iso):
    return i32((datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days)
def ts(iso):
    moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return i64(round(moment.timestamp() * 1000))
NO_DATE = i32(-2**31)
MAGIC = b"ENGA"

def frame(type_, request_id, payload):
    return u32(5 + len(payload)) + u8(type_) + u32(request_id) + payload

vectors = []
def add(name, type_, request_id, description, payload):
    vectors.append({
        "name": name,
        "type": type_,
        "request_id": request_id,
        "description": description,
        "hex": frame(type_, request_id, payload).hex(),
    })

add("hello", 0x01, 1, "HELLO, versions 1..1, no token, client_name 'engage-cli'",
    MAGIC + u16(1) + u16(1) + text("") + text("engage-cli"))
add("hello_with_token", 0x01, 1, "HELLO, versions 1..2, token 's3cret', client_name 'loadgen'",
    MAGIC + u16(1) + u16(2) + text("s3cret") + text("loadgen"))
add("hello_ok", 0x81, 1,
    "HELLO_OK, version 1, server 'engaged 0.1.0', time zone America/New_York, max frame 16777216, "
    "max batch items 100000, max in flight 64",
    MAGIC + u16(1) + text("engaged 0.1.0") + text("America/New_York") + u32(16777216) + u32(100000) + u16(64))
add("ping", 0x02, 7, "PING, nonce 0x0102030405060708", u64(0x0102030405060708))
add("pong", 0x82, 7, "PONG, nonce 0x0102030405060708", u64(0x0102030405060708))
add("define_actions", 0x03, 2,
    "DEFINE_ACTIONS: login (session, weight 0, not core), share (social_interaction, weight 2, core)",
    u16(2)
    + text("login") + text("session") + i32(0) + u8(0)
    + text("share") + text("social_interaction") + i32(2) + u8(1))
add("define_actions_result", 0x83, 2, "DEFINE_ACTIONS_RESULT: accepted 2, duplicates 0, nothing rejected",
    u32(2) + u32(0) + u32(0))
add("upsert_users", 0x04, 3,
    "UPSERT_USERS: u7-000003 registered 2026-01-15 with all four attributes; "
    "user-ü-1@example.com with region only",
    u32(2)
    + text("u7-000003") + u8(0x1F) + date("2026-01-15")
    + text("paid_search") + text("pro") + text("ios") + text("eu")
    + text("user-ü-1@example.com") + u8(0x10) + text("latam"))
add("upsert_users_result", 0x84, 3, "UPSERT_USERS_RESULT: accepted 1, item 1 rejected invalid_user_id (1)",
    u32(1) + u32(0) + u32(1) + u32(1) + u16(1))
add("ingest_events", 0x05, 4,
    "INGEST_EVENTS: strings [u7-000001, like, home, view_feed]; e7-1 like/home at 2026-02-14T23:20:09.608Z; "
    "e7-2 view_feed, no context, metadata {\"k\":8} at 2026-02-14T23:25:00.000Z",
    u32(4) + text("u7-000001") + text("like") + text("home") + text("view_feed")
    + u32(2)
    + u32(0) + text("e7-1") + ts("2026-02-14T23:20:09.608Z") + u32(1) + u32(2) + text("")
    + u32(0) + text("e7-2") + ts("2026-02-14T23:25:00.000Z") + u32(3) + u32(0xFFFFFFFF) + text('{"k":8}'))
add("ingest_result", 0x85, 4,
    "INGEST_RESULT: accepted 1, duplicates 1, event 2 rejected timestamp_out_of_range (4)",
    u32(1) + u32(1) + u32(1) + u32(2) + u16(4))
add("query_activity", 0x06, 5,
    "QUERY_ACTIVITY 2026-01-01..2026-03-31 where acquisition_channel in (paid_search, organic) "
    "and region = eu, by device_type",
    date("2026-01-01") + date("2026-03-31") + u8(3)
    + text("acquisition_channel") + text("paid_search")
    + text("acquisition_channel") + text("organic")
    + text("region") + text("eu")
    + text("device_type"))
add("activity_result", 0x86, 5,
    "ACTIVITY_RESULT: group 'ios', 2026-01-01 dau 4 wau 4 mau 4; group 'ios', 2026-01-02 dau 3 wau 5 mau 5",
    u32(2)
    + text("ios") + date("2026-01-01") + u32(4) + u32(4) + u32(4)
    + text("ios") + date("2026-01-02") + u32(3) + u32(5) + u32(5))
add("stats", 0x07, 6, "STATS (empty payload)", b"")
add("stats_result", 0x87, 6,
    "STATS_RESULT: 30979 events, 619 duplicates, 142 users, 9 actions, 91 days, 1048576 bytes, UTC, "
    "2026-01-01..2026-04-01",
    u64(30979) + u64(619) + u64(142) + u32(9) + u32(91) + u64(1048576) + text("UTC")
    + date("2026-01-01") + date("2026-04-01"))
add("stats_result_empty", 0x87, 6, "STATS_RESULT of an empty store: no first or last day",
    u64(0) + u64(0) + u64(0) + u32(0) + u32(0) + u64(32768) + text("UTC") + NO_DATE + NO_DATE)
add("error", 0xFF, 0,
    "ERROR frame_too_large (2) for the connection (request id 0)",
    u16(2) + text("frame length 20000000 exceeds the maximum of 16777216 bytes"))

print(json.dumps({"protocol_version": 1, "vectors": vectors}, indent=1, ensure_ascii=False))
