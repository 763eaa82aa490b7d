"""Catalog-dependent views for ``meterbill sql``, rendered from ``sql/views/``.

They reuse the invoice run's macros (``meter_filter``) and meter contexts, so a view
selects exactly the events the run would.
"""

from __future__ import annotations

from meterbill.catalog.model import Catalog
from meterbill.compiler.compile import meter_context, text_column
from meterbill.compiler.compiled import BASE_COLUMNS, CompiledRun
from meterbill.compiler.environment import render_sql

#: An empty ``invalid_events``: the columns, no rows (a catalog with no field meters).
_NO_INVALID_EVENTS = (
    "SELECT CAST(NULL AS VARCHAR) AS meter, CAST(NULL AS VARCHAR) AS field,"
    " CAST(NULL AS VARCHAR) AS event_id, CAST(NULL AS VARCHAR) AS customer_id,"
    ' CAST(NULL AS TIMESTAMPTZ) AS "timestamp", CAST(NULL AS VARCHAR) AS value WHERE false'
)


def compile_invalid_events(catalog: Catalog) -> CompiledRun:
    """The ``invalid_events`` view's query, and the lake columns it reads."""
    meters = []
    columns = dict(BASE_COLUMNS)
    for index, meter in enumerate(catalog.meters.values()):
        context = meter_context(meter, index)
        if context["value_column"] is None:  # count: needs no field
            continue
        context["field"] = meter.field
        context["text_column"] = text_column(meter.field)
        columns.update(context["columns"])
        columns[context["text_column"]] = "VARCHAR"
        meters.append(context)
    if not meters:
        return CompiledRun(text=_NO_INVALID_EVENTS, columns=columns)
    tree = render_sql("views/invalid_events.sql", meters=meters)
    return CompiledRun(text=tree.sql(dialect="duckdb", pretty=True), columns=columns)
