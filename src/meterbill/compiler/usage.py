"""Compile ``meterbill usage``'s query (sql/usage.sql) from the same meter definitions.

The meters go through the same context (``meter_context``) and the same aggregation and
filter macros as the invoice run, so usage and invoices can never disagree on what a
meter counts.
"""

from __future__ import annotations

from typing import Literal, get_args

import polars as pl

from meterbill.catalog.model import Catalog
from meterbill.compiler.compile import meter_context, slice_plan
from meterbill.compiler.compiled import BASE_COLUMNS, CompiledRun
from meterbill.compiler.environment import render_sql
from meterbill.errors import WorkspaceError

Window = Literal["hour", "day", "month"]
WINDOWS: tuple[str, ...] = get_args(Window)

#: The columns the usage query returns, one row per (customer, meter, group, window).
USAGE_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "meter": pl.String(),
    "group_values": pl.List(pl.String()),
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "quantity": pl.Decimal(38, 12),
    "events": pl.Int64(),
    "invalid_events": pl.Int64(),
}


def compile_usage(catalog: Catalog, *, meters: list[str] | None, window: Window) -> CompiledRun:
    """The usage query for some meters (default: every meter) in UTC windows.

    Raises:
        WorkspaceError: an unknown meter or window (a request naming what is not there).
        CompileError: a render/parse failure.
    """
    if window not in WINDOWS:
        raise WorkspaceError(f"unknown window {window!r}; use one of {', '.join(WINDOWS)}")
    keys = list(catalog.meters) if meters is None else meters
    for key in keys:
        if key not in catalog.meters:
            known = ", ".join(sorted(catalog.meters)) or "none"
            raise WorkspaceError(f"unknown meter {key!r}; known meters are {known}")
    if not keys:
        return CompiledRun(text=None)
    contexts = [meter_context(catalog.meters[key], index) for index, key in enumerate(keys)]
    columns = dict(BASE_COLUMNS)
    for meter in contexts:
        columns.update(meter["columns"])
    slice_columns, value_columns = slice_plan(contexts)
    tree = render_sql(
        "usage.sql",
        window=window,
        slice_columns=slice_columns,
        value_columns=value_columns,
        event_names=sorted({m["event_name"] for m in contexts}),
        meters=contexts,
    )
    return CompiledRun(text=tree.sql(dialect="duckdb", pretty=True), columns=columns)
