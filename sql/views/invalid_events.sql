{#- The events a meter matched but could not aggregate: its field is missing, or not a
    number where the aggregation needs one. The invoice run counts them per invoice and
    meter (invalid_usage); this view lists the events themselves, lake-wide.

    Relation: events (the lake, every column below present). -#}
{% from 'macros/meter_filter.sql' import meter_filter %}
{%- for meter in meters %}
SELECT
  {{ meter.key | lit }} AS meter,
  {{ meter.field | lit }} AS field,
  event_id,
  customer_id,
  "timestamp",
  {{ meter.text_column | ident }} AS value
FROM events
WHERE {{ meter_filter(meter) }} AND {{ meter.value_column | ident }} IS NULL
{%- if not loop.last %}
UNION ALL
{%- endif %}
{%- endfor %}
