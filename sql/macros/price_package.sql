{#- package: packages = ceil(max(q - free_units, 0) / package_size) (floor for
    round = "down"); amount = packages * amount. Zero usage is zero packages. -#}
{% from 'macros/decimal_math.sql' import above, ceil_div, floor_div %}
{% macro price_package(price) -%}
{%- set rest = above('u.quantity', price.free_units | dec) -%}
{%- set packages = ceil_div(rest, price.package_size) if price.round == 'up' else floor_div(rest, price.package_size) -%}
CAST({{ packages }} AS DECIMAL(38, 12)) AS billable_quantity,
    {{ price.amount | dec }} AS unit_amount,
    CAST(CAST({{ packages }} AS DECIMAL(20, 0)) * {{ price.amount | dec }} AS DECIMAL(38, 24)) AS amount
{%- endmacro %}
