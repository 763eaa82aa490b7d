{#- A meter's aggregation over the events its filter matches, as DECIMAL(38, 12), and
    the count of matching events it could not aggregate (field missing or not a number). -#}
{% from 'macros/meter_filter.sql' import meter_filter %}
{% from 'macros/decimal_math.sql' import quantity, div_round %}

{% macro aggregate(meter) -%}
{%- set where = meter_filter(meter) -%}
{%- if meter.aggregation == 'count' -%}
CAST(COUNT(*) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'sum' -%}
CAST(SUM({{ meter.value_column | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'max' -%}
CAST(MAX({{ meter.value_column | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'min' -%}
CAST(MIN({{ meter.value_column | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'count_unique' -%}
CAST(COUNT(DISTINCT {{ meter.value_column | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'avg' -%}
{{ div_round('SUM(' ~ (meter.value_column | ident) ~ ') FILTER (WHERE ' ~ where ~ ')', 'COUNT(' ~ (meter.value_column | ident) ~ ') FILTER (WHERE ' ~ where ~ ')') }}
{%- elif meter.aggregation == 'latest' -%}
CAST(ARG_MAX({{ meter.value_column | ident }}, ("timestamp", event_id)) FILTER (WHERE {{ where }} AND {{ meter.value_column | ident }} IS NOT NULL) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'weighted_sum' -%}
{#- sum(value * (period_end - timestamp)) / (period_end - period_start), in microseconds -#}
{{ div_round('SUM(' ~ (meter.value_column | ident) ~ ' * CAST(period_end_us - EPOCH_US("timestamp") AS DECIMAL(38, 0))) FILTER (WHERE ' ~ where ~ ')', 'MAX(period_us)') }}
{%- elif meter.aggregation == 'sum_with_multiplier' -%}
{{ quantity('SUM(' ~ (meter.value_column | ident) ~ ') FILTER (WHERE ' ~ where ~ ') * ' ~ (meter.multiplier | dec)) }}
{%- endif -%}
{%- endmacro %}

{% macro invalid_events(meter) -%}
{%- if meter.value_column -%}
COUNT(*) FILTER (WHERE {{ meter_filter(meter) }} AND {{ meter.value_column | ident }} IS NULL)
{%- else -%}
CAST(0 AS BIGINT)
{%- endif -%}
{%- endmacro %}
