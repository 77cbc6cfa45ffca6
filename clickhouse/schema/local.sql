-- Engage's OLAP tier: the tables every shard holds (or the only server, on a single node such as chDB).
-- Placeholders (replaced textually by the caller before sending; see clickhouse/README.md):
--   {db}     database name, an identifier
--   {local}  suffix of the sharded tables' local parts: `_local` on a cluster (where tables of the plain name
--            are Distributed ones, distributed.sql), empty on a single server (the local tables then carry the
--            names the queries read)
-- One statement per `;` at the end of a line. Every statement is idempotent (IF NOT EXISTS).
--
-- Versions: `version` is the commit sequence of the engaged node that wrote the row (a UInt64 that only
-- grows). ReplacingMergeTree(version) keeps, per sorting key, the row with the highest version; queries read
-- with FINAL, so a row sent twice, or an older state sent after a newer one, never counts twice or wins.
-- A user belongs to exactly one engaged node, so versions of one user's rows are always comparable.

CREATE DATABASE IF NOT EXISTS {db};

-- Users, sharded by cityHash64(user_id) with their facts, so per-user work is shard-local.
CREATE TABLE IF NOT EXISTS {db}.dim_users{local} (
    user_id String,
    -- engaged's surrogate key: unique within one node only
    user_key UInt64,
    registration_date Nullable(Date),
    acquisition_channel String,
    user_segment String,
    device_type String,
    region String,
    node_id UInt16,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY user_id;

-- Daily user activity: one row per (user, local day with any event). Late events, tier flips (up to 29 days
-- after a new active day) and catalog changes rewrite rows: upsert with a higher version.
CREATE TABLE IF NOT EXISTS {db}.fact_daily_user_activity{local} (
    date Date,
    user_id String,
    user_key UInt64,
    date_key UInt32,
    sessions_count UInt32,
    total_session_duration UInt64,
    total_actions UInt32,
    unique_action_types UInt32,
    is_active_day UInt8,
    engagement_tier String,
    node_id UInt16,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(date)
ORDER BY (date, user_id);

-- Sessions by the local day of their start. A late event can merge two sessions into one (a row
-- disappears), so sessions are not upserted: each (engaged node, day) is one partition, replaced whole by
-- `ALTER TABLE ... REPLACE PARTITION (node_id, 'YYYY-MM-DD') FROM fact_user_sessions_staging{local}`. Several
-- nodes write into one shard; the node in the partition key keeps one node's replace from touching another
-- node's sessions of the same day. Plain MergeTree: a partition replace is already idempotent.
CREATE TABLE IF NOT EXISTS {db}.fact_user_sessions{local} (
    date Date,
    user_id String,
    start_ms Int64,
    end_ms Int64,
    session_id String,
    session_key UInt64,
    user_key UInt64,
    date_key UInt32,
    session_duration_seconds UInt32,
    actions_count UInt32,
    screens_visited UInt32,
    session_type String,
    node_id UInt16,
    version UInt64
) ENGINE = MergeTree
PARTITION BY (node_id, date)
ORDER BY (user_id, start_ms);

-- Where a node's sessions of a day are assembled before the replace; same structure and partitioning
-- (REPLACE PARTITION requires both). Never read by queries.
CREATE TABLE IF NOT EXISTS {db}.fact_user_sessions_staging{local} AS {db}.fact_user_sessions{local};

-- Events, as engaged keeps them (deduplicated by (user, event_id)). An event's session_key changes when its
-- session merges with another: upsert by version.
CREATE TABLE IF NOT EXISTS {db}.fact_user_actions{local} (
    date Date,
    user_id String,
    ts_ms Int64,
    event_id String,
    action_type String,
    action_context Nullable(String),
    action_metadata Nullable(String),
    action_instance_key UInt64,
    user_key UInt64,
    session_key UInt64,
    action_key UInt64,
    date_key UInt32,
    node_id UInt16,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(date)
ORDER BY (user_id, event_id);

-- Dimensions complete on every shard (not sharded, no Distributed table): any shard can join them locally.
-- Every node writes its own copy of the catalog (node_id in the key): versions of different nodes are not
-- comparable, and the nodes' catalogs are equal once each has applied a catalog change.
CREATE TABLE IF NOT EXISTS {db}.dim_actions (
    action_type String,
    node_id UInt16,
    action_key UInt64,
    action_category String,
    engagement_weight Int64,
    is_core_action UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (action_type, node_id);

CREATE TABLE IF NOT EXISTS {db}.dim_date (
    full_date Date,
    date_key UInt32,
    year UInt16,
    quarter UInt8,
    month UInt8,
    day_of_month UInt8,
    day_of_week UInt8,
    week_of_year UInt8,
    is_weekend UInt8,
    day_number Int64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY full_date;

-- The last commit sequence of each engaged node whose changes every table holds. Written to every shard
-- after all of a sync's rows are in; a node resumes from the smallest value over the shards.
CREATE TABLE IF NOT EXISTS {db}.sync_checkpoint (
    node_id UInt16,
    version UInt64,
    synced_at DateTime
) ENGINE = ReplacingMergeTree(version)
ORDER BY node_id;
