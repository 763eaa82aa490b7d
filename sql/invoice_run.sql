{#- The invoice run: ONE query, ONE scan of the lake, from events to priced usage lines and
    the events no period bills.

    Relations the engine provides:
      lake_events      the lake's events of the run's window: only manifest files, only
                       timestamps in [min period_start, max period_end) of
                       billing_periods; every column below present
      billing_periods  period_no (1, 2, ... unique), invoice_id, subscription_id,
                       customer_id, plan, period_start, period_end (UTC instants;
                       half-open periods): the periods this run prices
      covered_spans    customer_id, span_start, span_end: time a subscription covers
                       that this run does not price (finalized periods, periods in
                       progress); events there are neither priced nor unbilled

    Two-stage aggregation (measured: a third faster than one FILTER aggregate per meter
    over the joined events, see README "Benchmark"):
      slices        the scan: events of the run's window joined to their period, grouped
                    by period, event name and the columns meters filter or group on,
                    with count, sum, count, max, min ... of each value column meters read
      meter_totals  each meter as FILTER aggregates over its slices (sum of sums, max of
                    maxes ...); avg and weighted_sum divide exactly (decimal_math.sql)
    Events of the window that no period and no covered span contains come out as
    unbilled rows (invoice_id NULL): per customer, how many and their first and last
    timestamps. One row out per (invoice, usage price, group), plus those. Flat fees need
    no events and are priced in invoice assembly. -#}
{% from 'macros/aggregate.sql' import slice_stats, aggregate, invalid_events %}
{% from 'macros/meter_filter.sql' import meter_filter %}
{% from 'macros/price_per_unit.sql' import price_per_unit %}
{% from 'macros/price_package.sql' import price_package %}
{% from 'macros/price_tiered.sql' import price_tiered %}
WITH run_periods AS (
  SELECT period_no, customer_id, period_start, period_end
  FROM billing_periods
  UNION ALL
  SELECT 0 AS period_no, customer_id, span_start AS period_start, span_end AS period_end
  FROM covered_spans
),
slices AS (
  SELECT
    rp.period_no,
    CASE WHEN rp.period_no IS NULL THEN e.customer_id END AS unbilled_customer,
    e.event_name,
    {%- for column in slice_columns %}
    e.{{ column | ident }},
    {%- endfor %}
    COUNT(*) AS n_events,{{ slice_stats(value_columns) }}
    MIN(e."timestamp") FILTER (WHERE rp.period_no IS NULL) AS first_timestamp,
    MAX(e."timestamp") FILTER (WHERE rp.period_no IS NULL) AS last_timestamp
  FROM lake_events AS e
  LEFT JOIN run_periods AS rp
    ON e.customer_id = rp.customer_id
    AND e."timestamp" >= rp.period_start
    AND e."timestamp" < rp.period_end
  GROUP BY
    rp.period_no,
    CASE WHEN rp.period_no IS NULL THEN e.customer_id END,
    e.event_name
    {%- for column in slice_columns %},
    e.{{ column | ident }}
    {%- endfor %}
),
{%- if plain_meters %}
meter_totals AS (
  SELECT
    bp.invoice_id
    {%- for meter in plain_meters %},
    {{ aggregate(meter) }} AS {{ ('q_' ~ meter.index) | ident }},
    {{ invalid_events(meter) }} AS {{ ('x_' ~ meter.index) | ident }}
    {%- endfor %}
  FROM slices AS s
  JOIN billing_periods AS bp ON bp.period_no = s.period_no
  GROUP BY bp.invoice_id
),
{%- endif %}
{%- for meter in grouped_meters %}
{{ ('grouped_' ~ meter.index) | ident }} AS (
  SELECT
    bp.invoice_id,
    [{{ meter.group_columns | map('ident') | join(', ') }}] AS group_values,
    {{ aggregate(meter) }} AS quantity,
    {{ invalid_events(meter) }} AS invalid_events
  FROM slices AS s
  JOIN billing_periods AS bp ON bp.period_no = s.period_no
  WHERE {{ meter_filter(meter) }}
  GROUP BY bp.invoice_id, {{ meter.group_columns | map('ident') | join(', ') }}
),
{%- endfor %}
usage AS (
  {%- for meter in plain_meters %}
  SELECT
    bp.invoice_id,
    {{ meter.key | lit }} AS meter,
    CAST(NULL AS VARCHAR[]) AS group_values,
    COALESCE(t.{{ ('q_' ~ meter.index) | ident }}, CAST(0 AS DECIMAL(38, 12))) AS quantity,
    COALESCE(t.{{ ('x_' ~ meter.index) | ident }}, CAST(0 AS BIGINT)) AS invalid_events
  FROM billing_periods AS bp
  LEFT JOIN meter_totals AS t ON t.invoice_id = bp.invoice_id
  {%- if not loop.last or grouped_meters %}
  UNION ALL
  {%- endif %}
  {%- endfor %}
  {%- for meter in grouped_meters %}
  SELECT
    invoice_id,
    {{ meter.key | lit }} AS meter,
    group_values,
    COALESCE(quantity, CAST(0 AS DECIMAL(38, 12))) AS quantity,
    invalid_events
  FROM {{ ('grouped_' ~ meter.index) | ident }}
  {%- if not loop.last %}
  UNION ALL
  {%- endif %}
  {%- endfor %}
)
{%- for price in prices %}
{%- if loop.first %}
SELECT
{%- else %}
UNION ALL
SELECT
{%- endif %}
  u.invoice_id,
  {{ price.index }} AS price_index,
  u.meter,
  u.group_values,
  u.quantity,
  u.invalid_events,
  {% if price.model == 'per_unit' %}{{ price_per_unit(price) }}{% elif price.model == 'package' %}{{ price_package(price) }}{% else %}{{ price_tiered(price) }}{% endif %},
  CAST(NULL AS VARCHAR) AS customer_id,
  CAST(NULL AS BIGINT) AS events,
  CAST(NULL AS TIMESTAMPTZ) AS first_timestamp,
  CAST(NULL AS TIMESTAMPTZ) AS last_timestamp
FROM usage AS u
JOIN billing_periods AS bp ON bp.invoice_id = u.invoice_id
WHERE bp.plan = {{ price.plan | lit }} AND u.meter = {{ price.meter | lit }}
{%- endfor %}
UNION ALL
SELECT
  CAST(NULL AS VARCHAR) AS invoice_id,
  CAST(NULL AS INT) AS price_index,
  CAST(NULL AS VARCHAR) AS meter,
  CAST(NULL AS VARCHAR[]) AS group_values,
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
WHERE period_no IS NULL
GROUP BY unbilled_customer
