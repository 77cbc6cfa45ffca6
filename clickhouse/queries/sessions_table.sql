-- sessions_table: every session starting on a day of [{from}, {to}], by user and start (epoch ms).
-- Placeholders: {db}, {from}, {to}, {user_filter}.
SELECT user_id, start_ms, end_ms, session_duration_seconds, actions_count, screens_visited, session_type
FROM (
    SELECT date, user_id, start_ms, end_ms, session_duration_seconds, actions_count, screens_visited, session_type
    FROM {db}.fact_user_sessions
    WHERE date BETWEEN toDate({from}) AND toDate({to})
)
WHERE user_id GLOBAL IN (SELECT user_id FROM (SELECT user_id FROM {db}.dim_users FINAL WHERE {user_filter}))
ORDER BY user_id, start_ms
