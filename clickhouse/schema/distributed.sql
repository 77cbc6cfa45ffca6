-- The cluster's read and write entry points over the local tables of local.sql (run local.sql first, with
-- {local} = `_local`, on every shard; then this file on every shard). Placeholders: {db}, {cluster} (a
-- cluster of remote_servers; tools/clickhouse names it `engage`). Rows of one user live on one shard:
-- cityHash64(user_id) modulo the shard count (equal weights). The shard count must not change under data.

CREATE TABLE IF NOT EXISTS {db}.dim_users AS {db}.dim_users_local
    ENGINE = Distributed({cluster}, {db}, dim_users_local, cityHash64(user_id));

CREATE TABLE IF NOT EXISTS {db}.fact_daily_user_activity AS {db}.fact_daily_user_activity_local
    ENGINE = Distributed({cluster}, {db}, fact_daily_user_activity_local, cityHash64(user_id));

CREATE TABLE IF NOT EXISTS {db}.fact_user_sessions AS {db}.fact_user_sessions_local
    ENGINE = Distributed({cluster}, {db}, fact_user_sessions_local, cityHash64(user_id));

-- Inserting here (with insert_distributed_sync = 1) puts each staged session on its user's shard.
CREATE TABLE IF NOT EXISTS {db}.fact_user_sessions_staging AS {db}.fact_user_sessions_staging_local
    ENGINE = Distributed({cluster}, {db}, fact_user_sessions_staging_local, cityHash64(user_id));

CREATE TABLE IF NOT EXISTS {db}.fact_user_actions AS {db}.fact_user_actions_local
    ENGINE = Distributed({cluster}, {db}, fact_user_actions_local, cityHash64(user_id));
