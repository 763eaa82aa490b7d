"""Compile a catalog into the invoice run's one SQL query (``CompiledRun``).

The template context is plain data prepared here (meters numbered, filters as column
names and text values, prices with decimal amounts), so templates stay free of logic
about the catalog. The rendered text is parsed by sqlglot (DuckDB dialect); the tree is
the artifact that engines run (``CompiledRun.sql(dialect)``) and ``explain`` prints.
"""

from __future__ import annotations

from typing import Any

from meterbill.catalog.model import Catalog, Meter
from meterbill.compiler.compiled import BASE_COLUMNS, CompiledRun
from meterbill.compiler.environment import render_sql
from meterbill.compiler.portable import check_portable
from meterbill.errors import WorkspaceError

TEXT_PREFIX = "p__"
NUMBER_PREFIX = "n__"
_NUMERIC = frozenset({"sum", "max", "min", "avg", "latest", "sum_with_multiplier", "weighted_sum"})


def text_column(key: str) -> str:
    """The lake column holding a property's text (filters, groups, count_unique)."""
    return TEXT_PREFIX + key


def number_column(key: str) -> str:
    """The lake column holding a property's exact numeric value (NULL if not a number)."""
    return NUMBER_PREFIX + key


def compile_run(catalog: Catalog, *, plans: list[str] | None = None) -> CompiledRun:
    """Compile the catalog (or some of its plans) into the invoice run's query.

    Raises:
        WorkspaceError: an unknown plan (a request naming what the catalog lacks).
        CompileError: an aggregation or price model this release does not compile, or a
            render/parse failure.
    """
    selected = list(catalog.plans) if plans is None else plans
    for plan_key in selected:
        if plan_key not in catalog.plans:
            known = ", ".join(sorted(catalog.plans)) or "none"
            raise WorkspaceError(f"unknown plan {plan_key!r}; known plans are {known}")
    prices: list[dict[str, Any]] = []
    meter_keys: list[str] = []
    for plan_key in selected:
        for index, price in enumerate(catalog.plans[plan_key].prices):
            if price.model == "flat_fee":
                continue
            prices.append({**price.model_dump(), "plan": plan_key, "index": index})
            if price.meter not in meter_keys:
                meter_keys.append(price.meter)
    if not prices:
        return CompiledRun(text=None, plans=tuple(selected))

    meters = [meter_context(catalog.meters[key], index) for index, key in enumerate(meter_keys)]
    columns = dict(BASE_COLUMNS)
    for meter in meters:
        for column, sql_type in meter["columns"].items():
            columns[column] = sql_type
    slice_columns, value_columns = slice_plan(meters)
    tree = render_sql(
        "invoice_run.sql",
        slice_columns=slice_columns,
        value_columns=value_columns,
        plain_meters=[m for m in meters if not m["group_columns"]],
        grouped_meters=[m for m in meters if m["group_columns"]],
        prices=prices,
    )
    check_portable(tree)
    text = tree.sql(dialect="duckdb", pretty=True)
    return CompiledRun(text=text, columns=columns, plans=tuple(selected))


#: The stage-1 partial aggregates each aggregation needs of its value column (every
#: numeric value column also gets a count of its non-null values, for invalid_events).
_PARTIALS: dict[str, tuple[str, ...]] = {
    "sum": ("sum",),
    "sum_with_multiplier": ("sum",),
    "avg": ("sum",),
    "max": ("max",),
    "min": ("min",),
    "weighted_sum": ("weighted",),
    "latest": ("latest",),
}


def slice_plan(meters: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """What stage 1 of the two-stage aggregation groups by and computes, for ``meters``.

    Returns the slice columns (the text columns meters filter or group on, and the
    ``count_unique`` value columns) and the numeric value columns with their partials.
    """
    slice_columns: list[str] = []
    for meter in meters:
        texts = [f["column"] for f in meter["filters"]] + meter["group_columns"]
        if meter["aggregation"] == "count_unique":
            texts.append(meter["value_column"])
        slice_columns.extend(c for c in texts if c not in slice_columns)
    return slice_columns, _value_columns(meters)


def _value_columns(meters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numeric value columns, numbered, with the partials their meters need.

    Sets each numeric meter's ``value_index`` (its column's number) as a side effect.
    """
    found: dict[str, dict[str, Any]] = {}
    for meter in meters:
        partials = _PARTIALS.get(meter["aggregation"])
        if partials is None:
            continue
        column = meter["value_column"]
        entry = found.setdefault(
            column,
            {"index": len(found), "column": column, "sum": False, "max": False, "min": False,
             "weighted": False, "latest": False},
        )  # fmt: skip
        for partial in partials:
            entry[partial] = True
        meter["value_index"] = entry["index"]
    return list(found.values())


def meter_context(meter: Meter, index: int) -> dict[str, Any]:
    """A meter as the templates see it: numbered, with lake column names resolved."""
    columns: dict[str, str] = {}
    value_column = None
    if meter.aggregation in _NUMERIC:
        value_column = number_column(meter.field or "")
        columns[value_column] = "DECIMAL(38,12)"
    elif meter.aggregation == "count_unique":
        value_column = text_column(meter.field or "")
        columns[value_column] = "VARCHAR"
    filters = []
    for key, values in meter.filter_text().items():
        filters.append({"column": text_column(key), "texts": values})
        columns[text_column(key)] = "VARCHAR"
    group_columns = [text_column(key) for key in meter.group_by]
    for column in group_columns:
        columns[column] = "VARCHAR"
    return {
        "index": index,
        "key": meter.key,
        "event_name": meter.event_name,
        "aggregation": meter.aggregation,
        "value_column": value_column,
        "multiplier": meter.multiplier,
        "filters": filters,
        "group_columns": group_columns,
        "columns": columns,
        "value_index": None,
    }
