{#- Usage over time: each meter's aggregation per customer, UTC window (and group).

    The same meters, filters and aggregation macros as the invoice run, so a month's
    usage here is the quantity an invoice for that calendar month (UTC) would bill.
    Relations the engine provides:
      lake_events   the lake (only manifest files), every column below present
      usage_scope   one row: customer_id (NULL: all), from_ts, to_ts (NULL: unbounded)
    Aggregated in the invoice run's two stages (macros/aggregate.sql), with each UTC
    window playing the part of a period (weighted_sum weighs over the window): slices
    per customer, window, event name and slice column, then each meter over its slices.
    One row out per (customer, meter, group, window) with an event the meter matches. -#}
{% from 'macros/aggregate.sql' import slice_stats, aggregate, invalid_events %}
{% from 'macros/meter_filter.sql' import meter_filter %}
{%- set whole_start %}DATE_TRUNC({{ window | lit }}, e."timestamp"){% endset %}
{%- set step %}{% if window == 'hour' %}INTERVAL 1 HOUR{% elif window == 'day' %}INTERVAL 1 DAY{% else %}INTERVAL 1 MONTH{% endif %}{% endset %}
WITH window_events AS (
  {#- A window is cut to --from/--to (GREATEST and LEAST skip NULL, an open bound), so
      its bounds say which time its row measures. #}
  SELECT
    e.*,
    GREATEST({{ whole_start }}, s.from_ts) AS window_start,
    LEAST({{ whole_start }} + {{ step }}, s.to_ts) AS window_end
  FROM lake_events AS e
  CROSS JOIN usage_scope AS s
  WHERE e.event_name IN ({{ event_names | map('lit') | join(', ') }})
    AND (s.customer_id IS NULL OR e.customer_id = s.customer_id)
    AND (s.from_ts IS NULL OR e."timestamp" >= s.from_ts)
    AND (s.to_ts IS NULL OR e."timestamp" < s.to_ts)
),
slices AS (
  SELECT
    e.customer_id,
    e.window_start,
    e.window_end,
    e.event_name,
    {%- for column in slice_columns %}
    e.{{ column | ident }},
    {%- endfor %}{{ slice_stats(value_columns, period_end='e.window_end') }}
    COUNT(*) AS n_events
  FROM window_events AS e
  GROUP BY
    e.customer_id, e.window_start, e.window_end, e.event_name
    {%- for column in slice_columns %},
    e.{{ column | ident }}
    {%- endfor %}
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
  window_end,
  COALESCE({{ aggregate(meter, period_us='MAX(EPOCH_US(window_end) - EPOCH_US(window_start))') }}, CAST(0 AS DECIMAL(38, 12))) AS quantity,
  CAST(SUM(n_events) AS BIGINT) AS events,
  {{ invalid_events(meter) }} AS invalid_events
FROM slices
WHERE {{ meter_filter(meter) }}
GROUP BY customer_id, window_start, window_end
{%- for column in meter.group_columns %}, {{ column | ident }}{% endfor %}
{%- endfor %}
