-- transitions: monthly tiers of each user in the month starting {month} (a date 'YYYY-MM-01') and in the
-- next month; users inactive in both are left out; count per (from_tier, to_tier), ordered by the names.
-- Tiers as in tiers.sql over the days of each month. Placeholders: {db}, {month}, {power_threshold},
-- {user_filter} (no breakdown).
SELECT from_tier, to_tier, count() AS users
FROM (
    SELECT
        multiIf(a1 = 0, 'inactive', a1 <= 5, 'casual', a1 <= 15, 'regular', x1 >= {power_threshold} * a1, 'power', 'core') AS from_tier,
        multiIf(a2 = 0, 'inactive', a2 <= 5, 'casual', a2 <= 15, 'regular', x2 >= {power_threshold} * a2, 'power', 'core') AS to_tier
    FROM (
        SELECT user_id,
            sum(if(in_first, is_active_day, 0)) AS a1,
            sum(if(in_first AND is_active_day = 1, total_actions, 0)) AS x1,
            sum(if(in_first, 0, is_active_day)) AS a2,
            sum(if(NOT in_first AND is_active_day = 1, total_actions, 0)) AS x2
        FROM (
            SELECT user_id, is_active_day, total_actions, date < addMonths(toDate({month}), 1) AS in_first
            FROM (
                SELECT date, user_id, is_active_day, total_actions
                FROM {db}.fact_daily_user_activity FINAL
                WHERE date BETWEEN toDate({month}) AND addMonths(toDate({month}), 2) - 1
            )
        )
        GROUP BY user_id
    )
    WHERE user_id GLOBAL IN (SELECT user_id FROM (SELECT user_id FROM {db}.dim_users FINAL WHERE {user_filter}))
)
WHERE from_tier != 'inactive' OR to_tier != 'inactive'
GROUP BY from_tier, to_tier
ORDER BY from_tier, to_tier
