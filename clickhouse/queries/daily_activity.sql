-- daily_activity: every daily user activity record of [{from}, {to}] (the latest version of each), by user
-- and date; the columns of `engage export daily-activity` that the conformance file lists (is_active_day is
-- 0/1: 18.16 has no Bool type). Placeholders: {db}, {from}, {to}, {user_filter}.
SELECT user_id, toString(date) AS date, sessions_count, total_session_duration, total_actions, unique_action_types,
    is_active_day, engagement_tier
FROM (
    SELECT date, user_id, sessions_count, total_session_duration, total_actions, unique_action_types, is_active_day,
        engagement_tier
    FROM {db}.fact_daily_user_activity FINAL
    WHERE date BETWEEN toDate({from}) AND toDate({to})
)
WHERE user_id GLOBAL IN (SELECT user_id FROM (SELECT user_id FROM {db}.dim_users FINAL WHERE {user_filter}))
ORDER BY user_id, date
