{#- per_unit: billable = max(q - free_units, 0); amount = billable * unit_amount. -#}
{% from 'macros/decimal_math.sql' import above %}
{% macro price_per_unit(price) -%}
{%- set billable = above('u.quantity', price.free_units | dec) -%}
{{ billable }} AS billable_quantity,
    {{ price.unit_amount | dec }} AS unit_amount,
    CAST(({{ billable }}) * {{ price.unit_amount | dec }} AS DECIMAL(38, 24)) AS amount
{%- endmacro %}
