-- active_days: for k >= 1, the users with exactly k active days in [{from}, {to}] (a month: its first and
-- last day), per group; values of k without users are left out. Placeholders: clickhouse/README.md.
SELECT {group_column} active_days, users
FROM (
    SELECT grp, active_days, count() AS users
    FROM (
        SELECT user_id, count() AS active_days
        FROM (
            SELECT date, user_id, is_active_day
            FROM {db}.fact_daily_user_activity FINAL
            WHERE date BETWEEN toDate({from}) AND toDate({to})
        )
        WHERE is_active_day = 1
        GROUP BY user_id
    ) AS user_active_days
    ALL INNER JOIN (
        SELECT user_id, assumeNotNull(grp) AS grp
        FROM (SELECT user_id, {group_expr} AS grp FROM {db}.dim_users FINAL WHERE {user_filter})
        WHERE isNotNull(grp)
    ) AS selected_users USING user_id
    GROUP BY grp, active_days
)
ORDER BY grp, active_days
