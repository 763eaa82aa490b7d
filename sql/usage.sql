{#- Usage over time: each meter's aggregation per customer, UTC window (and group).

    The same meters, filters and aggregation macros as the invoice run, so a month's
    usage here is the quantity an invoice for that calendar month (UTC) would bill.
    Relations the engine provides:
      lake_events   the lake (only manifest files), every column below present
      usage_scope   one row: customer_id (NULL: all), from_ts, to_ts (NULL: unbounded)
    For the aggregation macros, each window plays the part of a period (weighted_sum
    weights over the window). One row out per (customer, meter, group, window) that has
    at least one event the meter matches. -#}
{% from 'macros/aggregate.sql' import aggregate, invalid_events %}
{% from 'macros/meter_filter.sql' import meter_filter %}
WITH scoped_events AS (
  SELECT
    e.customer_id,
    DATE_TRUNC({{ window | lit }}, e."timestamp") AS window_start,
    e.event_id,
    e."timestamp",
    e.event_name
    {%- for column in columns %},
    e.{{ column | ident }}
    {%- endfor %}
  FROM lake_events AS e
  CROSS JOIN usage_scope AS s
  WHERE e.event_name IN ({{ event_names | map('lit') | join(', ') }})
    AND (s.customer_id IS NULL OR e.customer_id = s.customer_id)
    AND (s.from_ts IS NULL OR e."timestamp" >= s.from_ts)
    AND (s.to_ts IS NULL OR e."timestamp" < s.to_ts)
),
window_events AS (
  SELECT
    *,
    window_start + {% if window == 'hour' %}INTERVAL 1 HOUR{% elif window == 'day' %}INTERVAL 1 DAY{% else %}INTERVAL 1 MONTH{% endif %} AS window_end
  FROM scoped_events
),
timed_events AS (
  SELECT
    *,
    EPOCH_US(window_end) AS period_end_us,
    EPOCH_US(window_end) - EPOCH_US(window_start) AS period_us
  FROM window_events
)
{%- for meter in meters %}
{%- if not loop.first %}
UNION ALL
{%- endif %}
SELECT
  customer_id,
  {{ meter.key | lit }} AS meter,
  {% if meter.group_columns %}[{{ meter.group_columns | map('ident') | join(', ') }}]{% else %}CAST(NULL AS VARCHAR[]){% endif %} AS group_values,
  window_start,
  MIN(window_end) AS window_end,
  COALESCE({{ aggregate(meter) }}, CAST(0 AS DECIMAL(38, 12))) AS quantity,
  COUNT(*) AS events,
  {{ invalid_events(meter) }} AS invalid_events
FROM timed_events
WHERE {{ meter_filter(meter) }}
GROUP BY customer_id, window_start
{%- for column in meter.group_columns %}, {{ column | ident }}{% endfor %}
{%- endfor %}
