{#- Aggregation in two stages (see invoice_run.sql).

    Stage 1 (slice_stats): per slice of events (period, event name, filter and group
    columns), the partial aggregates of each numeric value column meters read, named
    v<i>_sum, v<i>_count (non-null values), v<i>_max, v<i>_min, v<i>_weighted (sum of
    value x microseconds to the period's end), v<i>_latest / v<i>_latest_at (the newest
    non-null value and its (timestamp, event_id)); count(*) is n_events.

    Stage 2 (aggregate): a meter's quantity over the slices its filter matches, as
    DECIMAL(38, 12), combining the partials (sum of sums, max of maxes, ...); and
    invalid_events, the matching events it could not aggregate (field missing or not a
    number). count_unique reads its text column, which is a slice column, so a distinct
    count over slices is the distinct count over events. -#}
{% from 'macros/meter_filter.sql' import meter_filter %}
{% from 'macros/decimal_math.sql' import quantity, div_round %}

{#- Every stage-1 partial aggregate, each followed by a comma; ``period_end`` is the
    expression of the event's period end (weighted_sum weighs by the time left). -#}
{% macro slice_stats(value_columns, period_end='rp.period_end') -%}
{%- for v in value_columns %}
{%- set col = 'e.' ~ (v.column | ident) %}
{%- set p = 'v' ~ v.index ~ '_' %}
{%- if v.sum %}
    SUM({{ col }}) AS {{ (p ~ 'sum') | ident }},
{%- endif %}
    COUNT({{ col }}) AS {{ (p ~ 'count') | ident }},
{%- if v.max %}
    MAX({{ col }}) AS {{ (p ~ 'max') | ident }},
{%- endif %}
{%- if v.min %}
    MIN({{ col }}) AS {{ (p ~ 'min') | ident }},
{%- endif %}
{%- if v.weighted %}
    SUM({{ col }} * CAST(EPOCH_US({{ period_end }}) - EPOCH_US(e."timestamp") AS DECIMAL(38, 0))) AS {{ (p ~ 'weighted') | ident }},
{%- endif %}
{%- if v.latest %}
    ARG_MAX({{ col }}, (e."timestamp", e.event_id)) FILTER (WHERE {{ col }} IS NOT NULL) AS {{ (p ~ 'latest') | ident }},
    MAX((e."timestamp", e.event_id)) FILTER (WHERE {{ col }} IS NOT NULL) AS {{ (p ~ 'latest_at') | ident }},
{%- endif %}
{%- endfor %}
{%- endmacro %}

{#- ``period_us`` is the expression of the period's length in microseconds (weighted_sum). -#}
{% macro aggregate(meter, period_us='MAX(EPOCH_US(bp.period_end) - EPOCH_US(bp.period_start))') -%}
{%- set where = meter_filter(meter) -%}
{%- set p = 'v' ~ meter.value_index ~ '_' -%}
{%- if meter.aggregation == 'count' -%}
CAST(SUM(n_events) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'sum' -%}
CAST(SUM({{ (p ~ 'sum') | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'max' -%}
CAST(MAX({{ (p ~ 'max') | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'min' -%}
CAST(MIN({{ (p ~ 'min') | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'count_unique' -%}
CAST(COUNT(DISTINCT {{ meter.value_column | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'avg' -%}
{{ div_round('SUM(' ~ ((p ~ 'sum') | ident) ~ ') FILTER (WHERE ' ~ where ~ ')', 'SUM(' ~ ((p ~ 'count') | ident) ~ ') FILTER (WHERE ' ~ where ~ ')') }}
{%- elif meter.aggregation == 'latest' -%}
CAST(ARG_MAX({{ (p ~ 'latest') | ident }}, {{ (p ~ 'latest_at') | ident }}) FILTER (WHERE {{ where }}) AS DECIMAL(38, 12))
{%- elif meter.aggregation == 'weighted_sum' -%}
{#- sum(value * (period_end - timestamp)) / (period_end - period_start), in microseconds -#}
{{ div_round('SUM(' ~ ((p ~ 'weighted') | ident) ~ ') FILTER (WHERE ' ~ where ~ ')', period_us) }}
{%- elif meter.aggregation == 'sum_with_multiplier' -%}
{#- the multiplier typed with its own places, so the product keeps 26 - s integer digits -#}
{{ quantity('SUM(' ~ ((p ~ 'sum') | ident) ~ ') FILTER (WHERE ' ~ where ~ ') * ' ~ (meter.multiplier | dec(own_scale=true))) }}
{%- endif -%}
{%- endmacro %}

{% macro invalid_events(meter) -%}
{%- if meter.aggregation == 'count_unique' -%}
COALESCE(CAST(SUM(n_events) FILTER (WHERE {{ meter_filter(meter) }} AND {{ meter.value_column | ident }} IS NULL) AS BIGINT), CAST(0 AS BIGINT))
{%- elif meter.value_column -%}
COALESCE(CAST(SUM(n_events - {{ ('v' ~ meter.value_index ~ '_count') | ident }}) FILTER (WHERE {{ meter_filter(meter) }}) AS BIGINT), CAST(0 AS BIGINT))
{%- else -%}
CAST(0 AS BIGINT)
{%- endif -%}
{%- endmacro %}
