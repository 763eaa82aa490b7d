{#- tiered: tiers are {up_to, unit_amount, flat_amount}, up_to ascending and inclusive,
    the last unbounded. graduated: each tier bills the part of q inside it at its unit
    amount, plus its flat amount if q reaches into it. volume: the first tier with
    q <= up_to prices all of q (q * unit + flat). q = 0 costs 0 in both. -#}
{% macro price_tiered(price) -%}
CAST(u.quantity AS DECIMAL(38, 12)) AS billable_quantity,
{%- if price.mode == 'graduated' %}
    CAST(NULL AS DECIMAL(38, 12)) AS unit_amount,
    CAST(CAST(0 AS DECIMAL(38, 24))
    {%- for tier in price.tiers %}
    {%- set lower = (price.tiers[loop.index0 - 1].up_to | dec) if not loop.first else 'CAST(0 AS DECIMAL(38, 12))' %}
    {%- set upper = 'LEAST(u.quantity, ' ~ (tier.up_to | dec) ~ ')' if tier.up_to is not none else 'u.quantity' %}
      + CASE WHEN u.quantity > {{ lower }} THEN ({{ upper }} - {{ lower }}) * {{ tier.unit_amount | dec }} + {{ tier.flat_amount | dec }} ELSE CAST(0 AS DECIMAL(38, 12)) END
    {%- endfor %} AS DECIMAL(38, 24)) AS amount
{%- else %}
    CASE WHEN u.quantity <= CAST(0 AS DECIMAL(38, 12)) THEN CAST(NULL AS DECIMAL(38, 12))
    {%- for tier in price.tiers %}
      {% if tier.up_to is not none %}WHEN u.quantity <= {{ tier.up_to | dec }} THEN{% else %}ELSE{% endif %} {{ tier.unit_amount | dec }}
    {%- endfor %} END AS unit_amount,
    CAST(CASE WHEN u.quantity <= CAST(0 AS DECIMAL(38, 12)) THEN CAST(0 AS DECIMAL(38, 12))
    {%- for tier in price.tiers %}
      {% if tier.up_to is not none %}WHEN u.quantity <= {{ tier.up_to | dec }} THEN{% else %}ELSE{% endif %} u.quantity * {{ tier.unit_amount | dec }} + {{ tier.flat_amount | dec }}
    {%- endfor %} END AS DECIMAL(38, 24)) AS amount
{%- endif %}
{%- endmacro %}
