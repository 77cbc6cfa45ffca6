-- activity: DAU, WAU, MAU, DAU/MAU and DAU/WAU for every day of [{from}, {to}], per group (SEMANTICS.md).
-- Placeholders: see clickhouse/README.md ({db}, {from}, {to}, {user_filter}, {group_expr}, {group_column}).
--
-- Exact windows with equality joins only: a user's active day d, after that user's previous active day p
-- (counting only active days in [from - 29, to], which decide every window ending in [from, to]), covers
-- MAU over [max(d, p + 30), d + 29] and WAU over [max(d, p + 7), d + 6]. These intervals are disjoint per
-- user, so +1 at each start and -1 after each end, summed in day order, give exact counts; sums of users of
-- different shards add. Days after the store's last day (the latest date of any event) are unknown: NULL.
SELECT {group_column}
    toString(day) AS date,
    if(day > last_day, NULL, dau) AS dau,
    if(day > last_day, NULL, wau) AS wau,
    if(day > last_day, NULL, mau) AS mau,
    if(day > last_day, NULL, ratios[1]) AS dau_mau,
    if(day > last_day, NULL, ratios[2]) AS dau_wau
FROM (
    SELECT grp, day, dau, wau, mau,
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
            [(toUInt64(dau), toUInt64(mau)), (toUInt64(dau), toUInt64(wau))])) AS ratios,
        (SELECT max(date) FROM {db}.fact_daily_user_activity) AS last_day
    FROM (
        -- Per group: the day-ordered deltas, summed into running counts.
        SELECT grp,
            arraySort(groupArray((day, d_dau, d_wau, d_mau))) AS deltas,
            arrayMap(t -> t.1, deltas) AS days,
            arrayMap(t -> t.2, deltas) AS daus,
            arrayCumSum(arrayMap(t -> t.3, deltas)) AS waus,
            arrayCumSum(arrayMap(t -> t.4, deltas)) AS maus
        FROM (
            SELECT grp, day, sum(dd) AS d_dau, sum(dw) AS d_wau, sum(dm) AS d_mau
            FROM (
                -- Every day of every group, so that days without any change still get a row.
                SELECT grp, toDate({from}) + offset AS day, toInt64(0) AS dd, toInt64(0) AS dw, toInt64(0) AS dm
                FROM (
                    SELECT DISTINCT assumeNotNull(grp) AS grp
                    FROM (SELECT user_id, {group_expr} AS grp FROM {db}.dim_users FINAL)
                    WHERE isNotNull(grp)
                )
                ARRAY JOIN range(toUInt32(toDate({to}) - toDate({from}) + 1)) AS offset
                UNION ALL
                -- Deltas of each active day, moved to {from} when earlier (they count from the start) and
                -- dropped when after {to}.
                SELECT grp, greatest(delta.1, toDate({from})) AS day, delta.2 AS dd, delta.3 AS dw, delta.4 AS dm
                FROM (
                    SELECT grp, d, p
                    FROM (
                        SELECT user_id, days, arrayPushFront(arrayPopBack(days), toDate('1970-01-01')) AS previous
                        FROM (
                            SELECT user_id, arraySort(groupArray(date)) AS days
                            FROM (
                                SELECT date, user_id, is_active_day
                                FROM {db}.fact_daily_user_activity FINAL
                                WHERE date BETWEEN toDate({from}) - 29 AND toDate({to})
                            )
                            WHERE is_active_day = 1
                            GROUP BY user_id
                        )
                    ) AS user_active_days
                    ALL INNER JOIN (
                        SELECT user_id, assumeNotNull(grp) AS grp
                        FROM (SELECT user_id, {group_expr} AS grp FROM {db}.dim_users FINAL WHERE {user_filter})
                        WHERE isNotNull(grp)
                    ) AS selected_users USING user_id
                    ARRAY JOIN days AS d, previous AS p
                )
                ARRAY JOIN [
                    (d, toInt64(1), toInt64(0), toInt64(0)),
                    (greatest(d, p + 7), toInt64(0), toInt64(1), toInt64(0)),
                    (d + 7, toInt64(0), toInt64(-1), toInt64(0)),
                    (greatest(d, p + 30), toInt64(0), toInt64(0), toInt64(1)),
                    (d + 30, toInt64(0), toInt64(0), toInt64(-1))
                ] AS delta
                WHERE delta.1 <= toDate({to}) AND (delta.2 = 0 OR delta.1 >= toDate({from}))
            )
            GROUP BY grp, day
        )
        GROUP BY grp
    )
    ARRAY JOIN days AS day, daus AS dau, waus AS wau, maus AS mau
)
ORDER BY grp, day
