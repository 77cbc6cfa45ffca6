-- sessions: sessions starting on a day of [{from}, {to}]: count, users, average duration, nearest-rank
-- p50 / p90 durations (the ceil(q * n)-th smallest: ceil(n / 2) and ceil(9 n / 10) in integers), average
-- actions, bounce rate (sessions of one event). Placeholders: {db}, {from}, {to}, {user_filter}.
-- A session row stands for itself: each (node, day) partition is replaced whole (no FINAL needed).
SELECT
    sessions,
    users,
    ratios[1] AS avg_duration_seconds,
    if(sessions = 0, 0, durations[intDiv(sessions + 1, 2)]) AS p50_duration_seconds,
    if(sessions = 0, 0, durations[intDiv(9 * sessions + 9, 10)]) AS p90_duration_seconds,
    ratios[2] AS avg_actions,
    ratios[3] AS bounce_rate
FROM (
    SELECT
        count() AS sessions,
        uniqExact(user_id) AS users,
        arraySort(groupArray(session_duration_seconds)) AS durations,
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
            [(toUInt64(sum(session_duration_seconds)), toUInt64(count())),
             (toUInt64(sum(actions_count)), toUInt64(count())),
             (toUInt64(countIf(actions_count = 1)), toUInt64(count()))])) AS ratios
    FROM (
        SELECT date, user_id, session_duration_seconds, actions_count
        FROM {db}.fact_user_sessions
        WHERE date BETWEEN toDate({from}) AND toDate({to})
    )
    WHERE user_id GLOBAL IN (SELECT user_id FROM (SELECT user_id FROM {db}.dim_users FINAL WHERE {user_filter}))
)
