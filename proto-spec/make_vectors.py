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
UNKNOWN = u32(0xFFFFFFFF)  # a count that is not known: a day or period after the store's last day
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
add("stats_result_empty", 0x87, 6,
    "STATS_RESULT of an empty store: 0 events, 0 duplicates, 0 users, 0 actions, 0 days, 32768 bytes on disk, UTC, "
    "no first or last day",
    u64(0) + u64(0) + u64(0) + u32(0) + u32(0) + u64(32768) + text("UTC") + NO_DATE + NO_DATE)
add("error", 0xFF, 0,
    "ERROR frame_too_large (2) for the connection (request id 0)",
    u16(2) + text("frame length 20000000 exceeds the maximum of 16777216 bytes"))
add("error_unauthenticated", 0xFF, 1,
    "ERROR unauthenticated (11) answering HELLO with request id 1: handshake errors echo HELLO's request id",
    u16(11) + text("unknown token"))
add("activity_result_unfinished", 0x86, 5,
    "ACTIVITY_RESULT on a store whose last day is 2026-03-31: 2026-03-31 dau 40 wau 71 mau 98; "
    "2026-04-01 unknown (FF FF FF FF for dau, wau and mau)",
    u32(2)
    + text("") + date("2026-03-31") + u32(40) + u32(71) + u32(98)
    + text("") + date("2026-04-01") + UNKNOWN + UNKNOWN + UNKNOWN)

def filters(*pairs):
    out = u8(len(pairs))
    for dimension, value in pairs:
        out += text(dimension) + text(value)
    return out

add("query_active_days", 0x08, 8, "QUERY_ACTIVE_DAYS 2026-01-01..2026-01-31 where region = eu, by device_type",
    date("2026-01-01") + date("2026-01-31") + filters(("region", "eu")) + text("device_type"))
add("active_days_result", 0x88, 8, "ACTIVE_DAYS_RESULT: group 'ios': 1 active day 13 users; 2 active days 10 users",
    u32(2) + text("ios") + u32(1) + u32(13) + text("ios") + u32(2) + u32(10))
add("query_tiers_month", 0x09, 9, "QUERY_TIERS for the month of 2026-02-01, no filter, no breakdown",
    u8(0) + date("2026-02-01") + filters() + text(""))
add("query_tiers_as_of", 0x09, 9, "QUERY_TIERS as of 2026-03-31 where cohort = 2026-01, by region",
    u8(1) + date("2026-03-31") + filters(("cohort", "2026-01")) + text("region"))
add("tiers_result", 0x89, 9,
    "TIERS_RESULT, all four tiers in order: power 2 users over 36 daily records with 159 sessions and 2729 actions; "
    "core 5 users, 55 records, 94 sessions, 405 actions; regular 18 users, 198 records, 350 sessions, 1461 actions; "
    "casual 0 users",
    u32(4) + text("") + text("power") + u32(2) + u64(36) + u64(159) + u64(2729)
    + text("") + text("core") + u32(5) + u64(55) + u64(94) + u64(405)
    + text("") + text("regular") + u32(18) + u64(198) + u64(350) + u64(1461)
    + text("") + text("casual") + u32(0) + u64(0) + u64(0) + u64(0))
add("query_transitions", 0x0A, 10, "QUERY_TRANSITIONS from 2026-01 (to 2026-02), where user_segment = pro",
    date("2026-01-01") + filters(("user_segment", "pro")))
add("transitions_result", 0x8A, 10, "TRANSITIONS_RESULT: casual -> core 3 users; inactive -> power 1 user",
    u32(2) + text("casual") + text("core") + u32(3) + text("inactive") + text("power") + u32(1))
add("query_retention", 0x0B, 11, "QUERY_RETENTION weekly, 2026-01-01..2026-03-31, 8 periods, no filter, no breakdown",
    u8(1) + date("2026-01-01") + date("2026-03-31") + u16(8) + filters() + text(""))
add("retention_result", 0x8B, 11, "RETENTION_RESULT: cohort 2025-12-29 of 24 users: offset 0 retained 9, offset 1 retained 13",
    u32(2) + text("") + date("2025-12-29") + u32(24) + u32(0) + u32(9)
    + text("") + date("2025-12-29") + u32(24) + u32(1) + u32(13))
add("retention_result_unfinished", 0x8B, 11,
    "RETENTION_RESULT on a store whose last day is 2026-03-31: monthly cohort 2026-03-01 of 22 users, offset 0 "
    "retained 18, offset 1 (April) unknown",
    u32(2) + text("") + date("2026-03-01") + u32(22) + u32(0) + u32(18)
    + text("") + date("2026-03-01") + u32(22) + u32(1) + UNKNOWN)
add("query_lifecycle", 0x0C, 12, "QUERY_LIFECYCLE monthly, 2026-01-01..2026-03-31, no filter",
    u8(2) + date("2026-01-01") + date("2026-03-31") + filters())
add("lifecycle_result", 0x8C, 12, "LIFECYCLE_RESULT: week 2026-01-05: new 9, returning 8, resurrecting 5, dormant 1",
    u32(1) + date("2026-01-05") + u32(9) + u32(8) + u32(5) + u32(1))
add("lifecycle_result_unfinished", 0x8C, 12,
    "LIFECYCLE_RESULT on a store whose last day is 2026-03-31: week 2026-03-23 new 1, returning 37, resurrecting 6, "
    "dormant 14; week 2026-03-30 (ends 2026-04-05) unknown",
    u32(2) + date("2026-03-23") + u32(1) + u32(37) + u32(6) + u32(14)
    + date("2026-03-30") + UNKNOWN + UNKNOWN + UNKNOWN + UNKNOWN)
add("query_sessions", 0x0D, 13, "QUERY_SESSIONS 2026-01-01..2026-03-31 where device_type = ios",
    date("2026-01-01") + date("2026-03-31") + filters(("device_type", "ios")))
add("sessions_result", 0x8D, 13,
    "SESSIONS_RESULT: 3636 sessions, 122 users, 3810304 s in all, 30957 actions, 689 bounces, p50 279 s, p90 2999 s",
    u64(3636) + u64(122) + u64(3810304) + u64(30957) + u64(689) + u32(279) + u32(2999))
add("query_user", 0x0E, 14, "QUERY_USER u7-000001", text("u7-000001"))
add("user_result", 0x8E, 14,
    "USER_RESULT: u7-000001 registered 2026-02-14, social/free/web/eu, current tier casual as of 2026-03-01; "
    "one day 2026-02-14 (1 session, 418 s, 6 actions, 3 types, active, casual); one session 6 actions, 4 screens, engaged",
    u8(1) + text("u7-000001") + date("2026-02-14") + text("social") + text("free") + text("web") + text("eu")
    + text("casual") + date("2026-03-01")
    + u32(1) + date("2026-02-14") + u32(1) + u32(418) + u32(6) + u32(3) + u8(1) + text("casual")
    + u32(1) + i64(1771111209608) + i64(1771111628604) + u32(6) + u32(4) + text("engaged"))
add("user_result_unknown", 0x8E, 14, "USER_RESULT for an unknown user", u8(0))
add("query_at_risk", 0x0F, 15, "QUERY_AT_RISK as of 2026-03-31, at most 50 users, no filter",
    date("2026-03-31") + u32(50) + filters())
add("at_risk_result", 0x8F, 15, "AT_RISK_RESULT: u7-000042 was regular with 9 active days and 61 actions, last active 2026-03-20",
    u32(1) + text("u7-000042") + text("regular") + u32(9) + u64(61) + date("2026-03-20"))
add("query_actions", 0x10, 16, "QUERY_ACTIONS 2026-01-01..2026-01-31, no filter",
    date("2026-01-01") + date("2026-01-31") + filters())
add("actions_result", 0x90, 16,
    "ACTIONS_RESULT: category content_creation 120 events by 40 users; action post_create (core) 120 events by 40 users",
    u32(2) + u8(0) + text("content_creation") + text("") + u8(0) + u64(120) + u64(40)
    + u8(1) + text("content_creation") + text("post_create") + u8(1) + u64(120) + u64(40))
add("export", 0x11, 17, "EXPORT daily-activity (table 5), 2026-01-01..2026-03-31, from the start, 5000 rows per page",
    u8(5) + date("2026-01-01") + date("2026-03-31") + text(b"") + u32(5000))
add("export_next_page", 0x11, 17, "EXPORT users (table 0), no dates, continuing after cursor 00 00 00 2a, 2 rows per page",
    u8(0) + NO_DATE + NO_DATE + text(bytes([0, 0, 0, 0x2A])) + u32(2))
add("export_page", 0x91, 17,
    "EXPORT_PAGE: one row of 4 values (integer 7, text 'casual', boolean true, null); next cursor 00 01",
    u32(1) + u16(4) + u8(1) + i64(7) + u8(2) + text("casual") + u8(3) + u8(1) + u8(0) + text(bytes([0, 1])))
add("export_page_last", 0x91, 17, "EXPORT_PAGE: no rows, empty cursor (the end)", u32(0) + u16(0) + text(b""))
add("error_invalid_cursor", 0xFF, 17,
    "ERROR invalid_cursor (21) answering an EXPORT whose cursor the server did not hand out",
    u16(21) + text("this is not an export cursor handed out by this server; start the export again with an empty cursor"))
add("verify", 0x12, 18, "VERIFY, report at most 100 differences", u32(100))
add("verify_result", 0x92, 18,
    "VERIFY_RESULT: 1 difference; checked daily 1851, sessions 3641; daily '2026-01-03 user u7-000001': 'total_actions stored 7, recomputed 6'",
    u64(1) + u16(2) + text("daily") + u64(1851) + text("sessions") + u64(3641)
    + u32(1) + text("daily") + text("2026-01-03 user u7-000001") + text("total_actions stored 7, recomputed 6"))
add("rebuild", 0x13, 19, "REBUILD (empty payload)", b"")
add("rebuild_result", 0x93, 19, "REBUILD_RESULT (empty payload)", b"")
add("backup", 0x14, 20, "BACKUP into /var/backups/engage-2026-11-26 (a path on the server's machine)",
    text("/var/backups/engage-2026-11-26"))
add("backup_result", 0x94, 20, "BACKUP_RESULT: the copy holds 135266304 bytes", u64(135266304))
add("error_backup_failed", 0xFF, 20,
    "ERROR backup_failed (35) answering a BACKUP into a directory that already holds a data directory",
    u16(35) + text("/var/backups/engage-2026-11-26 already holds a data directory; back up into a new or empty directory"))
add("error_raw_events_dropped", 0xFF, 18,
    "ERROR raw_events_dropped (34) answering a VERIFY after raw-event retention dropped events",
    u16(34) + text("raw events before 2026-09-01 were dropped by raw-event retention; verify needs every raw event"))
add("query_values", 0x15, 21, "QUERY_VALUES of the dimension region", text("region"))
add("values_result", 0x95, 21, "VALUES_RESULT: eu held by 48 users, na by 51 users",
    u32(2) + text("eu") + u64(48) + text("na") + u64(51))
add("wait_applied", 0x16, 22, "WAIT_APPLIED (empty payload)", b"")
add("wait_applied_result", 0x96, 22, "WAIT_APPLIED_RESULT: the last write batch applied is number 1234",
    u64(1234))
add("changes", 0x17, 23, "CHANGES since commit 41, at most 100", u64(41) + u32(100))
add("changes_result", 0x97, 23,
    "CHANGES_RESULT: latest commit 43, oldest 1; commit 42 wrote daily rows of 2026-03-14 and 2026-03-15, "
    "sessions and events of 2026-03-14, and users 7 and 9; commit 43 changed the catalog",
    u64(43) + u64(1) + u32(2)
    + u64(42) + u8(0) + u32(2) + date("2026-03-14") + date("2026-03-15") + u32(1) + date("2026-03-14")
    + u32(1) + date("2026-03-14") + u32(2) + u32(7) + u32(9)
    + u64(43) + u8(1) + u32(0) + u32(0) + u32(0) + u32(0))
add("export_users", 0x18, 24, "EXPORT_USERS of user keys 7 and 9", u32(2) + u32(7) + u32(9))

print(json.dumps({"protocol_version": 1, "vectors": vectors}, indent=1, ensure_ascii=False))
