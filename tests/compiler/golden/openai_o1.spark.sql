WITH period_events AS (
  SELECT
    bp.invoice_id,
    e.event_name,
    e.`n__tokens`,
    e.`p__model`,
    e.`p__prompt_type`
  FROM lake_events AS e
  JOIN billing_periods AS bp
    ON e.customer_id = bp.customer_id
    AND e.`timestamp` >= bp.period_start
    AND e.`timestamp` < bp.period_end
  WHERE
    e.event_name IN ('llm.usage')
), meter_totals AS (
  SELECT
    invoice_id,
    CAST(SUM(`n__tokens`) FILTER(WHERE
      event_name = 'llm.usage'
      AND `p__model` IN ('OpenAI O1')
      AND `p__prompt_type` IN ('input')) AS DECIMAL(38, 12)) AS `q_0`,
    COUNT(*) FILTER(WHERE
      event_name = 'llm.usage'
      AND `p__model` IN ('OpenAI O1')
      AND `p__prompt_type` IN ('input')
      AND `n__tokens` IS NULL) AS `x_0`,
    CAST(SUM(`n__tokens`) FILTER(WHERE
      event_name = 'llm.usage'
      AND `p__model` IN ('OpenAI O1')
      AND `p__prompt_type` IN ('output')) AS DECIMAL(38, 12)) AS `q_1`,
    COUNT(*) FILTER(WHERE
      event_name = 'llm.usage'
      AND `p__model` IN ('OpenAI O1')
      AND `p__prompt_type` IN ('output')
      AND `n__tokens` IS NULL) AS `x_1`,
    CAST(SUM(`n__tokens`) FILTER(WHERE
      event_name = 'llm.usage'
      AND `p__model` IN ('OpenAI O1')
      AND `p__prompt_type` IN ('cached_input')) AS DECIMAL(38, 12)) AS `q_2`,
    COUNT(*) FILTER(WHERE
      event_name = 'llm.usage'
      AND `p__model` IN ('OpenAI O1')
      AND `p__prompt_type` IN ('cached_input')
      AND `n__tokens` IS NULL) AS `x_2`
  FROM period_events
  GROUP BY
    invoice_id
), usage AS (
  SELECT
    bp.invoice_id,
    'o1_input_tokens' AS meter,
    CAST(NULL AS ARRAY<STRING>) AS group_values,
    COALESCE(t.`q_0`, CAST(0 AS DECIMAL(38, 12))) AS quantity,
    COALESCE(t.`x_0`, CAST(0 AS BIGINT)) AS invalid_events
  FROM billing_periods AS bp
  LEFT JOIN meter_totals AS t
    ON t.invoice_id = bp.invoice_id
  UNION ALL
  SELECT
    bp.invoice_id,
    'o1_output_tokens' AS meter,
    CAST(NULL AS ARRAY<STRING>) AS group_values,
    COALESCE(t.`q_1`, CAST(0 AS DECIMAL(38, 12))) AS quantity,
    COALESCE(t.`x_1`, CAST(0 AS BIGINT)) AS invalid_events
  FROM billing_periods AS bp
  LEFT JOIN meter_totals AS t
    ON t.invoice_id = bp.invoice_id
  UNION ALL
  SELECT
    bp.invoice_id,
    'o1_cached_input_tokens' AS meter,
    CAST(NULL AS ARRAY<STRING>) AS group_values,
    COALESCE(t.`q_2`, CAST(0 AS DECIMAL(38, 12))) AS quantity,
    COALESCE(t.`x_2`, CAST(0 AS BIGINT)) AS invalid_events
  FROM billing_periods AS bp
  LEFT JOIN meter_totals AS t
    ON t.invoice_id = bp.invoice_id
)
SELECT
  u.invoice_id,
  0 AS price_index,
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
      ) AS BIGINT) + 999999
    ) DIV 1000000
  ) AS DECIMAL(38, 12)) AS billable_quantity,
  CAST(15.00 AS DECIMAL(38, 12)) AS unit_amount,
  CAST(CAST((
    (
      CAST(CEIL(
        CASE
          WHEN u.quantity > CAST(0 AS DECIMAL(38, 12))
          THEN u.quantity - CAST(0 AS DECIMAL(38, 12))
          ELSE CAST(0 AS DECIMAL(38, 12))
        END
      ) AS BIGINT) + 999999
    ) DIV 1000000
  ) AS DECIMAL(20, 0)) * CAST(15.00 AS DECIMAL(38, 12)) AS DECIMAL(38, 24)) AS amount
FROM usage AS u
JOIN billing_periods AS bp
  ON bp.invoice_id = u.invoice_id
WHERE
  bp.plan = 'openai_o1' AND u.meter = 'o1_input_tokens'
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
      ) AS BIGINT) + 999999
    ) DIV 1000000
  ) AS DECIMAL(38, 12)) AS billable_quantity,
  CAST(60.00 AS DECIMAL(38, 12)) AS unit_amount,
  CAST(CAST((
    (
      CAST(CEIL(
        CASE
          WHEN u.quantity > CAST(0 AS DECIMAL(38, 12))
          THEN u.quantity - CAST(0 AS DECIMAL(38, 12))
          ELSE CAST(0 AS DECIMAL(38, 12))
        END
      ) AS BIGINT) + 999999
    ) DIV 1000000
  ) AS DECIMAL(20, 0)) * CAST(60.00 AS DECIMAL(38, 12)) AS DECIMAL(38, 24)) AS amount
FROM usage AS u
JOIN billing_periods AS bp
  ON bp.invoice_id = u.invoice_id
WHERE
  bp.plan = 'openai_o1' AND u.meter = 'o1_output_tokens'
UNION ALL
SELECT
  u.invoice_id,
  2 AS price_index,
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
      ) AS BIGINT) + 999999
    ) DIV 1000000
  ) AS DECIMAL(38, 12)) AS billable_quantity,
  CAST(7.50 AS DECIMAL(38, 12)) AS unit_amount,
  CAST(CAST((
    (
      CAST(CEIL(
        CASE
          WHEN u.quantity > CAST(0 AS DECIMAL(38, 12))
          THEN u.quantity - CAST(0 AS DECIMAL(38, 12))
          ELSE CAST(0 AS DECIMAL(38, 12))
        END
      ) AS BIGINT) + 999999
    ) DIV 1000000
  ) AS DECIMAL(20, 0)) * CAST(7.50 AS DECIMAL(38, 12)) AS DECIMAL(38, 24)) AS amount
FROM usage AS u
JOIN billing_periods AS bp
  ON bp.invoice_id = u.invoice_id
WHERE
  bp.plan = 'openai_o1' AND u.meter = 'o1_cached_input_tokens'
