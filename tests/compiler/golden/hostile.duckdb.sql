WITH run_periods AS (
  SELECT
    period_no,
    customer_id,
    period_start,
    period_end
  FROM billing_periods
  UNION ALL
  SELECT
    0 AS period_no,
    customer_id,
    span_start AS period_start,
    span_end AS period_end
  FROM covered_spans
), slices AS (
  SELECT
    rp.period_no,
    CASE WHEN rp.period_no IS NULL THEN e.customer_id END AS unbilled_customer,
    e.event_name,
    e."p__mo'del",
    e."p__/* k */",
    e."p__reg""ion",
    e."p__‮rtl‬",
    e."p__u'; --",
    COUNT(*) AS n_events,
    SUM(e."n__tok""ens\") AS "v0_sum",
    COUNT(e."n__tok""ens\") AS "v0_count",
    MIN(e."timestamp") FILTER(WHERE
      rp.period_no IS NULL) AS first_timestamp,
    MAX(e."timestamp") FILTER(WHERE
      rp.period_no IS NULL) AS last_timestamp
  FROM lake_events AS e
  LEFT JOIN run_periods AS rp
    ON e.customer_id = rp.customer_id
    AND e."timestamp" >= rp.period_start
    AND e."timestamp" < rp.period_end
  GROUP BY
    rp.period_no,
    CASE WHEN rp.period_no IS NULL THEN e.customer_id END,
    e.event_name,
    e."p__mo'del",
    e."p__/* k */",
    e."p__reg""ion",
    e."p__‮rtl‬",
    e."p__u'; --"
), meter_totals AS (
  SELECT
    bp.invoice_id,
    CAST(COUNT(DISTINCT "p__u'; --") FILTER(WHERE
      event_name = 'e\''') AS DECIMAL(38, 12)) AS "q_1",
    COALESCE(
      CAST(SUM(n_events) FILTER(WHERE
        event_name = 'e\''' AND "p__u'; --" IS NULL) AS BIGINT),
      CAST(0 AS BIGINT)
    ) AS "x_1"
  FROM slices AS s
  JOIN billing_periods AS bp
    ON bp.period_no = s.period_no
  GROUP BY
    bp.invoice_id
), "grouped_0" AS (
  SELECT
    bp.invoice_id,
    ["p__reg""ion", "p__‮rtl‬"] AS group_values,
    CAST(SUM("v0_sum") FILTER(WHERE
      event_name = 'ev''; SELECT 1; --'
      AND "p__mo'del" IN ('O1'' OR ''1''=''1', '7', 'true')
      AND "p__/* k */" IN ('$$x$$', 'l1
l2')) AS DECIMAL(38, 12)) AS quantity,
    COALESCE(
      CAST(SUM(n_events - "v0_count") FILTER(WHERE
        event_name = 'ev''; SELECT 1; --'
        AND "p__mo'del" IN ('O1'' OR ''1''=''1', '7', 'true')
        AND "p__/* k */" IN ('$$x$$', 'l1
l2')) AS BIGINT),
      CAST(0 AS BIGINT)
    ) AS invalid_events
  FROM slices AS s
  JOIN billing_periods AS bp
    ON bp.period_no = s.period_no
  WHERE
    event_name = 'ev''; SELECT 1; --'
    AND "p__mo'del" IN ('O1'' OR ''1''=''1', '7', 'true')
    AND "p__/* k */" IN ('$$x$$', 'l1
l2')
  GROUP BY
    bp.invoice_id,
    "p__reg""ion",
    "p__‮rtl‬"
), usage AS (
  SELECT
    bp.invoice_id,
    'count;' AS meter,
    CAST(NULL AS TEXT[]) AS group_values,
    COALESCE(t."q_1", CAST(0 AS DECIMAL(38, 12))) AS quantity,
    COALESCE(t."x_1", CAST(0 AS BIGINT)) AS invalid_events
  FROM billing_periods AS bp
  LEFT JOIN meter_totals AS t
    ON t.invoice_id = bp.invoice_id
  UNION ALL
  SELECT
    invoice_id,
    'it''s"; DROP TABLE invoices; --' AS meter,
    group_values,
    COALESCE(quantity, CAST(0 AS DECIMAL(38, 12))) AS quantity,
    invalid_events
  FROM "grouped_0"
)
SELECT
  u.invoice_id,
  0 AS price_index,
  u.meter,
  u.group_values,
  u.quantity,
  u.invalid_events,
  CAST(u.quantity AS DECIMAL(38, 12)) AS billable_quantity,
  CAST(NULL AS DECIMAL(38, 12)) AS unit_amount,
  CAST(CAST(0 AS DECIMAL(38, 24)) + CASE
    WHEN u.quantity > CAST(0 AS DECIMAL(38, 12))
    THEN (
      LEAST(u.quantity, CAST(1.5 AS DECIMAL(38, 12))) - CAST(0 AS DECIMAL(38, 12))
    ) * CAST(0.000000000001 AS DECIMAL(38, 12)) + CAST(0 AS DECIMAL(38, 12))
    ELSE CAST(0 AS DECIMAL(38, 12))
  END + CASE
    WHEN u.quantity > CAST(1.5 AS DECIMAL(38, 12))
    THEN (
      u.quantity - CAST(1.5 AS DECIMAL(38, 12))
    ) * CAST(2 AS DECIMAL(38, 12)) + CAST(3 AS DECIMAL(38, 12))
    ELSE CAST(0 AS DECIMAL(38, 12))
  END AS DECIMAL(38, 24)) AS amount,
  CAST(NULL AS TEXT) AS customer_id,
  CAST(NULL AS BIGINT) AS events,
  CAST(NULL AS TIMESTAMPTZ) AS first_timestamp,
  CAST(NULL AS TIMESTAMPTZ) AS last_timestamp
FROM usage AS u
JOIN billing_periods AS bp
  ON bp.invoice_id = u.invoice_id
WHERE
  bp.plan = 'plan''; --' AND u.meter = 'it''s"; DROP TABLE invoices; --'
UNION ALL
SELECT
  u.invoice_id,
  1 AS price_index,
  u.meter,
  u.group_values,
  u.quantity,
  u.invalid_events,
  CAST((
    (
      CAST(CEIL(
        CASE
          WHEN u.quantity > CAST(0 AS DECIMAL(38, 12))
          THEN u.quantity - CAST(0 AS DECIMAL(38, 12))
          ELSE CAST(0 AS DECIMAL(38, 12))
        END
      ) AS INT128) + 9
    ) // 10
  ) AS DECIMAL(38, 12)) AS billable_quantity,
  CAST(1 AS DECIMAL(38, 12)) AS unit_amount,
  CAST(CAST((
    (
      CAST(CEIL(
        CASE
          WHEN u.quantity > CAST(0 AS DECIMAL(38, 12))
          THEN u.quantity - CAST(0 AS DECIMAL(38, 12))
          ELSE CAST(0 AS DECIMAL(38, 12))
        END
      ) AS INT128) + 9
    ) // 10
  ) AS DECIMAL(20, 0)) * CAST(1 AS DECIMAL(38, 12)) AS DECIMAL(38, 24)) AS amount,
  CAST(NULL AS TEXT) AS customer_id,
  CAST(NULL AS BIGINT) AS events,
  CAST(NULL AS TIMESTAMPTZ) AS first_timestamp,
  CAST(NULL AS TIMESTAMPTZ) AS last_timestamp
FROM usage AS u
JOIN billing_periods AS bp
  ON bp.invoice_id = u.invoice_id
WHERE
  bp.plan = 'plan''; --' AND u.meter = 'count;'
UNION ALL
SELECT
  CAST(NULL AS TEXT) AS invoice_id,
  CAST(NULL AS INT) AS price_index,
  CAST(NULL AS TEXT) AS meter,
  CAST(NULL AS TEXT[]) AS group_values,
  CAST(NULL AS DECIMAL(38, 12)) AS quantity,
  CAST(NULL AS BIGINT) AS invalid_events,
  CAST(NULL AS DECIMAL(38, 12)) AS billable_quantity,
  CAST(NULL AS DECIMAL(38, 12)) AS unit_amount,
  CAST(NULL AS DECIMAL(38, 24)) AS amount,
  unbilled_customer AS customer_id,
  CAST(SUM(n_events) AS BIGINT) AS events,
  MIN(first_timestamp) AS first_timestamp,
  MAX(last_timestamp) AS last_timestamp
FROM slices
WHERE
  period_no IS NULL
GROUP BY
  unbilled_customer
