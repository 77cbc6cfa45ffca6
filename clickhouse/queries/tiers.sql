-- tiers: the tier table over the window [{from}, {to}]: a calendar month (its first and last day), or the
-- rolling window as of a day D (D - 29 and D). Per group, every tier but inactive in the order power, core,
-- regular, casual (0 users when none): users, and avg_daily_sessions / avg_daily_actions = sums over all
-- daily records of those users inside the window (active or not) divided by the number of those records.
-- Tier of a user over the window, a = active days, A = total_actions summed over the active days:
-- 1..5 casual, 6..15 regular, >= 16 core, or power when also A >= {power_threshold} * a.
-- Placeholders: clickhouse/README.md.
SELECT {group_column} tier, users, ratios[1] AS avg_daily_sessions, ratios[2] AS avg_daily_actions
FROM (
    SELECT grp, tier, tier_rank, users,
        -- num / den rounded to 6 decimals exactly as printf("%.6f", num / den) rounds; 0 when den = 0 (p = (num,
        -- max(den, 1), den = 0): both branches of if() are evaluated, and intDiv by 0 throws).
        arrayMap(p -> if(p.3, 0., (intDiv(p.1 * 1000000, p.2) + multiIf(
            2 * ((p.1 * 1000000) % p.2) > p.2, 1,
            2 * ((p.1 * 1000000) % p.2) < p.2, 0,
            -- an exact tie of the fraction: the double p.1 / p.2 lies on one side of it; M * 15625 against
            -- (2q + 1) * 2^s tells which (wrapping 64-bit arithmetic is exact here: they differ by < 2^13)
            toInt64((bitAnd(reinterpretAsUInt64(reinterpretAsString(p.1 / p.2)), 4503599627370495) + 4503599627370496) * 15625
                - if(1068 - bitShiftRight(reinterpretAsUInt64(reinterpretAsString(p.1 / p.2)), 52) >= 64, 0,
                     bitShiftLeft(2 * intDiv(p.1 * 1000000, p.2) + 1, 1068 - bitShiftRight(reinterpretAsUInt64(reinterpretAsString(p.1 / p.2)), 52)))
            ) > 0
            OR (toInt64((bitAnd(reinterpretAsUInt64(reinterpretAsString(p.1 / p.2)), 4503599627370495) + 4503599627370496) * 15625
                - if(1068 - bitShiftRight(reinterpretAsUInt64(reinterpretAsString(p.1 / p.2)), 52) >= 64, 0,
                     bitShiftLeft(2 * intDiv(p.1 * 1000000, p.2) + 1, 1068 - bitShiftRight(reinterpretAsUInt64(reinterpretAsString(p.1 / p.2)), 52)))
            ) = 0 AND intDiv(p.1 * 1000000, p.2) % 2 = 1))) / 1000000.),
            arrayMap(q -> (q.1, greatest(q.2, toUInt64(1)), q.2 = 0),
            [(toUInt64(sessions), toUInt64(records)), (toUInt64(actions), toUInt64(records))])) AS ratios
    FROM (
        SELECT grp, tier, tier_rank
        FROM (
            SELECT DISTINCT assumeNotNull(grp) AS grp
            FROM (SELECT user_id, {group_expr} AS grp FROM {db}.dim_users FINAL)
            WHERE isNotNull(grp)
        )
        ARRAY JOIN ['power', 'core', 'regular', 'casual'] AS tier, [1, 2, 3, 4] AS tier_rank
    ) AS tier_grid
    ALL LEFT JOIN (
        SELECT grp, tier, count() AS users, sum(user_records) AS records, sum(user_sessions) AS sessions,
            sum(user_actions) AS actions
        FROM (
            SELECT grp, user_records, user_sessions, user_actions,
                multiIf(active_days = 0, 'inactive', active_days <= 5, 'casual', active_days <= 15, 'regular',
                        active_actions >= {power_threshold} * active_days, 'power', 'core') AS tier
            FROM (
                SELECT user_id,
                    count() AS user_records,
                    sum(sessions_count) AS user_sessions,
                    sum(total_actions) AS user_actions,
                    sum(is_active_day) AS active_days,
                    sum(if(is_active_day = 1, total_actions, 0)) AS active_actions
                FROM (
                    SELECT date, user_id, sessions_count, total_actions, is_active_day
                    FROM {db}.fact_daily_user_activity FINAL
                    WHERE date BETWEEN toDate({from}) AND toDate({to})
                )
                GROUP BY user_id
            ) AS user_windows
            ALL INNER JOIN (
                SELECT user_id, assumeNotNull(grp) AS grp
                FROM (SELECT user_id, {group_expr} AS grp FROM {db}.dim_users FINAL WHERE {user_filter})
                WHERE isNotNull(grp)
            ) AS selected_users USING user_id
        )
        WHERE tier != 'inactive'
        GROUP BY grp, tier
    ) AS tier_sums USING grp, tier
)
ORDER BY grp, tier_rank
