-- Daily DAU and MAU (30-day window), corrected from the data model's example.
--
-- The data model's query filters `fda.date_key >= date_key - 29`, which compares each row with itself
-- (both names resolve to the same column), so every "MAU" is just that day's DAU; and YYYYMMDD keys
-- minus 29 are not 29 days earlier across month boundaries anyway. Here each day of dim_date is joined
-- to the active days in [day - 29, day] through dim_date.day_number (days since 1970-01-01), which is
-- plain integer arithmetic in every SQL engine.
WITH active_days AS (
    SELECT f.user_key, d.day_number
    FROM fact_daily_user_activity f
    JOIN dim_date d ON d.date_key = f.date_key
    WHERE f.is_active_day
),
report_days AS (
    SELECT date_key, full_date, day_number
    FROM dim_date
    WHERE full_date BETWEEN :from_date AND :to_date
)
SELECT r.full_date AS date,
       COUNT(DISTINCT CASE WHEN a.day_number = r.day_number THEN a.user_key END) AS dau,
       COUNT(DISTINCT a.user_key) AS mau,
       ROUND(CAST(COUNT(DISTINCT CASE WHEN a.day_number = r.day_number THEN a.user_key END) AS REAL)
             / NULLIF(COUNT(DISTINCT a.user_key), 0), 6) AS dau_mau
FROM report_days r
LEFT JOIN active_days a ON a.day_number BETWEEN r.day_number - 29 AND r.day_number
GROUP BY r.full_date
ORDER BY r.full_date;
