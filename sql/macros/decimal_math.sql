{#- Exact decimal arithmetic: the only place division-like operations may appear.

    DuckDB turns DECIMAL / DECIMAL (and avg) into DOUBLE, so nothing here divides
    decimals. Package counts divide integers: for x >= 0 and an integer n >= 1,
    ceil(x / n) = ceil(ceil(x) / n) and floor(x / n) = floor(floor(x) / n), and BIGINT
    floor division is exact on every engine. -#}

{% macro ceil_div(x, n) -%}
((CAST(CEIL({{ x }}) AS BIGINT) + {{ n - 1 }}) // {{ n }})
{%- endmacro %}

{% macro floor_div(x, n) -%}
(CAST(FLOOR({{ x }}) AS BIGINT) // {{ n }})
{%- endmacro %}

{#- A quantity rounded half-up to the 12 places every quantity has. -#}
{% macro quantity(x) -%}
CAST(ROUND({{ x }}, 12) AS DECIMAL(38, 12))
{%- endmacro %}

{#- The part of q above the free units, never negative. -#}
{% macro above(q, free) -%}
CASE WHEN {{ q }} > {{ free }} THEN {{ q }} - {{ free }} ELSE CAST(0 AS DECIMAL(38, 12)) END
{%- endmacro %}
