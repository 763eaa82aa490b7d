{#- The invoice run: ONE query from the lake's events to priced usage lines.

    Relations the engine provides:
      lake_events      the lake (only manifest files), every column below present
      billing_periods  invoice_id, subscription_id, customer_id, plan, period_start,
                       period_end (UTC instants; half-open periods)
    One row out per (invoice, usage price, group). Flat fees need no events and are
    priced in invoice assembly. -#}
{% from 'macros/aggregate.sql' import aggregate, invalid_events %}
{% from 'macros/meter_filter.sql' import meter_filter %}
{% from 'macros/price_per_unit.sql' import price_per_unit %}
{% from 'macros/price_package.sql' import price_package %}
{% from 'macros/price_tiered.sql' import price_tiered %}
WITH period_events AS (
  SELECT
    bp.invoice_id,
    {%- if needs_time %}
    e.event_id,
    e."timestamp",
    EPOCH_US(bp.period_end) AS period_end_us,
    EPOCH_US(bp.period_end) - EPOCH_US(bp.period_start) AS period_us,
    {%- endif %}
    e.event_name
    {%- for column in columns %},
    e.{{ column | ident }}
    {%- endfor %}
  FROM lake_events AS e
  JOIN billing_periods AS bp
    ON e.customer_id = bp.customer_id
    AND e."timestamp" >= bp.period_start
    AND e."timestamp" < bp.period_end
  WHERE e.event_name IN ({{ event_names | map('lit') | join(', ') }})
),
{%- if plain_meters %}
meter_totals AS (
  SELECT
    invoice_id
    {%- for meter in plain_meters %},
    {{ aggregate(meter) }} AS {{ ('q_' ~ meter.index) | ident }},
    {{ invalid_events(meter) }} AS {{ ('x_' ~ meter.index) | ident }}
    {%- endfor %}
  FROM period_events
  GROUP BY invoice_id
),
{%- endif %}
{%- for meter in grouped_meters %}
{{ ('grouped_' ~ meter.index) | ident }} AS (
  SELECT
    invoice_id,
    [{{ meter.group_columns | map('ident') | join(', ') }}] AS group_values,
    {{ aggregate(meter) }} AS quantity,
    {{ invalid_events(meter) }} AS invalid_events
  FROM period_events
  WHERE {{ meter_filter(meter) }}
  GROUP BY invoice_id, {{ meter.group_columns | map('ident') | join(', ') }}
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
  {% if price.model == 'per_unit' %}{{ price_per_unit(price) }}{% elif price.model == 'package' %}{{ price_package(price) }}{% else %}{{ price_tiered(price) }}{% endif %}
FROM usage AS u
JOIN billing_periods AS bp ON bp.invoice_id = u.invoice_id
WHERE bp.plan = {{ price.plan | lit }} AND u.meter = {{ price.meter | lit }}
{%- endfor %}
