-- lifecycle: per period P ({period}: 'day', 'week' from Monday, or 'month') overlapping [{from}, {to}], among
-- the selected users active in P: new (registered in P), returning (active in P - 1 too), resurrecting
-- (not); dormant = active in P - 1 and not in P. A period that ends after the store's last day is
-- unfinished: its counts are NULL. Placeholders: {db}, {period}, {from}, {to}, {user_filter}.
SELECT
    toString(period) AS period,
    if(unfinished, NULL, new) AS new,
    if(unfinished, NULL, returning) AS returning,
    if(unfinished, NULL, resurrecting) AS resurrecting,
    if(unfinished, NULL, dormant) AS dormant
FROM (
    SELECT period, new, returning, resurrecting, dormant,
        multiIf({period} = 'day', period + 1, {period} = 'week', period + 7, addMonths(period, 1)) - 1
            > (SELECT max(date) FROM {db}.fact_daily_user_activity) AS unfinished
    FROM (
        SELECT DISTINCT multiIf({period} = 'day', day, {period} = 'week', toMonday(day), toStartOfMonth(day)) AS period
        FROM (SELECT toDate({from}) + number AS day FROM numbers(toUInt64(toDate({to}) - toDate({from}) + 1)))
    ) AS periods_overlapping
    ALL LEFT JOIN (
        SELECT period,
            countIf(is_active AND registered) AS new,
            countIf(is_active AND was_active AND NOT registered) AS returning,
            countIf(is_active AND NOT was_active AND NOT registered) AS resurrecting,
            countIf(was_active AND NOT is_active) AS dormant
        FROM (
            SELECT period,
                has(periods, period) AS is_active,
                has(periods, multiIf({period} = 'day', period - 1, {period} = 'week', period - 7, addMonths(period, -1))) AS was_active,
                registration_period = period AS registered
            FROM (
                SELECT user_id, periods, registration_period
                FROM (
                    SELECT user_id,
                        groupUniqArray(multiIf({period} = 'day', date, {period} = 'week', toMonday(date), toStartOfMonth(date))) AS periods
                    FROM (
                        SELECT date, user_id, is_active_day
                        FROM {db}.fact_daily_user_activity FINAL
                        WHERE date >= multiIf({period} = 'day', toDate({from}) - 1, {period} = 'week', toMonday(toDate({from})) - 7,
                                              addMonths(toStartOfMonth(toDate({from})), -1))
                    )
                    WHERE is_active_day = 1
                    GROUP BY user_id
                ) AS user_periods
                ALL INNER JOIN (
                    SELECT user_id,
                        if(isNull(registration_date), toDate('1970-01-01'),
                           multiIf({period} = 'day', assumeNotNull(registration_date), {period} = 'week',
                                   toMonday(assumeNotNull(registration_date)), toStartOfMonth(assumeNotNull(registration_date)))) AS registration_period
                    FROM (SELECT user_id, registration_date FROM {db}.dim_users FINAL WHERE {user_filter})
                ) AS selected_users USING user_id
            )
            ARRAY JOIN arrayDistinct(arrayConcat(periods, arrayMap(x -> multiIf({period} = 'day', x + 1, {period} = 'week', x + 7,
                                                                                  addMonths(x, 1)), periods))) AS period
            WHERE period BETWEEN multiIf({period} = 'day', toDate({from}), {period} = 'week', toMonday(toDate({from})),
                                         toStartOfMonth(toDate({from}))) AND toDate({to})
        )
        GROUP BY period
    ) AS counts USING period
)
ORDER BY period
