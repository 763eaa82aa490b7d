{#- Which events a meter counts: its event name, then each filter key (AND), any of its
    values (OR), compared as text; an event without the key does not match. -#}
{% macro meter_filter(meter) -%}
event_name = {{ meter.event_name | lit }}
{%- for f in meter.filters %} AND {{ f.column | ident }} IN ({{ f.texts | map('lit') | join(', ') }}){% endfor %}
{%- endmacro %}
