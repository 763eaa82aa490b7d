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

{#- x / n for a DECIMAL(38, 12) x and a positive integer n, rounded half away from zero
    to 12 places, exactly. x is scaled to a HUGEINT count of 10^-12 units (integer part and
    fraction part separately, so nothing overflows), divided with integer //, and the
    remainder decides the rounding. NULL when n is 0 (no events). -#}
{% macro div_round(x, n) -%}
{%- set scaled -%}
(CAST(TRUNC(ABS({{ x }})) AS HUGEINT) * 1000000000000 + CAST((ABS({{ x }}) - TRUNC(ABS({{ x }}))) * 1000000000000 AS HUGEINT))
{%- endset -%}
{%- set rounded -%}
({{ scaled }} // CAST({{ n }} AS HUGEINT) + CASE WHEN 2 * ({{ scaled }} % CAST({{ n }} AS HUGEINT)) >= CAST({{ n }} AS HUGEINT) THEN 1 ELSE 0 END)
{%- endset -%}
CASE WHEN {{ n }} = 0 THEN NULL ELSE CAST(SIGN({{ x }}) * (CAST({{ rounded }} // 1000000000000 AS DECIMAL(38, 12)) + CAST({{ rounded }} % 1000000000000 AS DECIMAL(38, 12)) * CAST(0.000000000001 AS DECIMAL(38, 12))) AS DECIMAL(38, 12)) END
{%- endmacro %}
