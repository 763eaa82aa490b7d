{#- Exact decimal arithmetic: the only place division-like operations may appear.

    DuckDB turns DECIMAL / DECIMAL (and avg) into DOUBLE, so nothing here divides
    decimals. Package counts divide integers: for x >= 0 and an integer n >= 1,
    ceil(x / n) = ceil(ceil(x) / n) and floor(x / n) = floor(floor(x) / n), and integer
    floor division is exact on every engine. HUGEINT, not BIGINT: a quantity may have 26
    digits before the point (DECIMAL(38, 12)), and BIGINT stops at 9.2e18 tokens. -#}

{% macro ceil_div(x, n) -%}
((CAST(CEIL({{ x }}) AS HUGEINT) + {{ n - 1 }}) // {{ n }})
{%- endmacro %}

{% macro floor_div(x, n) -%}
(CAST(FLOOR({{ x }}) AS HUGEINT) // {{ n }})
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
    to 12 places, exactly, with integer arithmetic only (no `/`, which DuckDB computes in
    DOUBLE). On |x|: the whole quotient w = floor(|x|) // n; the rest r = |x| - w * n is
    below n, so r * 10^12 is an integer below n * 10^12 whose quotient f (by n) is the 12
    decimal places and whose remainder decides the rounding. Every quotient is smaller
    than 10^27, which keeps it exact on Spark too (compiler/dialect.py). NULL when n is 0. -#}
{% macro div_round(x, n) -%}
{%- set a = 'ABS(' ~ x ~ ')' -%}
{%- set d = 'CAST(' ~ n ~ ' AS BIGINT)' -%}
{%- set whole = '(CAST(FLOOR(' ~ a ~ ') AS HUGEINT) // ' ~ d ~ ')' -%}
{%- set rest = '(CAST((' ~ a ~ ' - CAST(' ~ whole ~ ' * ' ~ d ~ ' AS DECIMAL(38, 12))) * 1000000000000 AS HUGEINT))' -%}
{%- set places = '(' ~ rest ~ ' // ' ~ d ~ ' + CASE WHEN 2 * (' ~ rest ~ ' % ' ~ d ~ ') >= ' ~ d ~ ' THEN 1 ELSE 0 END)' -%}
{%- set value = '(CAST(' ~ whole ~ ' AS DECIMAL(38, 12)) + CAST(CAST(' ~ places ~ ' AS DECIMAL(38, 12)) * CAST(0.000000000001 AS DECIMAL(38, 12)) AS DECIMAL(38, 12)))' -%}
CASE WHEN {{ n }} = 0 THEN NULL ELSE CAST({{ value }} * CASE WHEN {{ x }} < 0 THEN -1 ELSE 1 END AS DECIMAL(38, 12)) END
{%- endmacro %}
