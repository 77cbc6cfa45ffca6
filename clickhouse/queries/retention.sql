-- retention: cohorts = users registered in each period ({period}: 'day', 'week' from Monday, or 'month')
-- that overlaps [{from}, {to}]; cohorts without users are left out. For k = 0..{periods}: retained = cohort
-- users active on any day of period cohort + k (activity after {to} counts), rate = retained / cohort_size.
-- An offset whose period ends after the store's last day (the latest date of any event) is unfinished:
-- retained and rate are NULL. Placeholders: clickhouse/README.md.
SELECT {group_column}
    toString(cohort) AS cohort,
    cohort_size,
    period_offset,
    if(unfinished, NULL, retained) AS retained,
    if(unfinished, NULL, ratio[1]) AS rate
FROM (
    SELECT grp, cohort, cohort_size, period_offset, retained,
        multiIf({period} = 'day', cohort + (period_offset + 1), {period} = 'week', cohort + 7 * (period_offset + 1),
                addMonths(cohort, period_offset + 1)) - 1 > (SELECT max(date) FROM {db}.fact_daily_user_activity) AS unfinished,
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
            [(toUInt64(retained), toUInt64(cohort_size))])) AS ratio
    FROM (
        SELECT grp, cohort, cohort_size, period_offset
        FROM (
            SELECT grp, cohort, count() AS cohort_size
            FROM (
                SELECT user_id, assumeNotNull(grp) AS grp,
                    multiIf({period} = 'day', assumeNotNull(registration_date), {period} = 'week',
                            toMonday(assumeNotNull(registration_date)), toStartOfMonth(assumeNotNull(registration_date))) AS cohort
                FROM (SELECT user_id, {group_expr} AS grp, registration_date FROM {db}.dim_users FINAL WHERE {user_filter})
                WHERE isNotNull(grp) AND isNotNull(registration_date)
            )
            WHERE cohort BETWEEN multiIf({period} = 'day', toDate({from}), {period} = 'week', toMonday(toDate({from})),
                                         toStartOfMonth(toDate({from}))) AND toDate({to})
            GROUP BY grp, cohort
        )
        ARRAY JOIN range(toUInt32({periods} + 1)) AS period_offset
    ) AS cohort_offsets
    ALL LEFT JOIN (
        SELECT grp, cohort, period_offset, uniqExact(user_id) AS retained
        FROM (
            SELECT user_id, grp, cohort, toUInt32(offset) AS period_offset
            FROM (
                SELECT user_id, grp, cohort,
                    multiIf({period} = 'day', toInt64(toRelativeDayNum(date)) - toRelativeDayNum(cohort),
                            {period} = 'week', intDiv(toInt64(toRelativeDayNum(toMonday(date))) - toRelativeDayNum(cohort), 7),
                            toInt64(toRelativeMonthNum(date)) - toRelativeMonthNum(cohort)) AS offset
                FROM (
                    SELECT user_id, date
                    FROM (
                        SELECT date, user_id, is_active_day
                        FROM {db}.fact_daily_user_activity FINAL
                        WHERE date >= multiIf({period} = 'day', toDate({from}), {period} = 'week', toMonday(toDate({from})),
                                              toStartOfMonth(toDate({from})))
                    )
                    WHERE is_active_day = 1
                ) AS active_days
                ALL INNER JOIN (
                    SELECT user_id, assumeNotNull(grp) AS grp,
                        multiIf({period} = 'day', assumeNotNull(registration_date), {period} = 'week',
                                toMonday(assumeNotNull(registration_date)), toStartOfMonth(assumeNotNull(registration_date))) AS cohort
                    FROM (SELECT user_id, {group_expr} AS grp, registration_date FROM {db}.dim_users FINAL WHERE {user_filter})
                    WHERE isNotNull(grp) AND isNotNull(registration_date)
                ) AS cohort_users USING user_id
            )
            WHERE offset >= 0 AND offset <= {periods}
        )
        GROUP BY grp, cohort, period_offset
    ) AS retained_counts USING grp, cohort, period_offset
)
ORDER BY grp, cohort, period_offset
