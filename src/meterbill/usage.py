"""``meterbill usage``: usage over time, from the same meter definitions as invoices.

Runs sql/usage.sql (compiled by ``compiler.usage``) on an in-process DuckDB over the
lake's manifest files whose time range overlaps the asked range. Windows are UTC hours,
days or months; a window appears when the meter matched at least one event in it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from meterbill.catalog.model import Catalog
from meterbill.compiler.usage import USAGE_SCHEMA, Window, compile_usage
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.errors import EngineError
from meterbill.invoices.assemble import group_text

#: What ``Workspace.usage`` returns, one row per (customer, meter, group, window).
USAGE_COLUMNS: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "meter": pl.String(),
    "group": pl.String(),
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "quantity": pl.Decimal(38, 12),
    "events": pl.Int64(),
    "invalid_events": pl.Int64(),
}


def measure_usage(
    catalog: Catalog,
    *,
    lake_files: list[Path],
    customer: str | None,
    meters: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    window: Window,
) -> pl.DataFrame:
    """Usage per customer, meter, group and UTC window (``USAGE_COLUMNS``).

    Raises:
        WorkspaceError: an unknown meter or window.
        EngineError: DuckDB failed.
    """
    compiled = compile_usage(catalog, meters=meters, window=window)
    if compiled.text is None or not lake_files:
        return pl.DataFrame(schema=USAGE_COLUMNS)
    engine = DuckDBEngine()
    con = engine.connect()
    try:
        engine.bind_lake(con, lake_files, compiled.columns)
        scope = pl.DataFrame(
            {"customer_id": [customer], "from_ts": [start], "to_ts": [end]},
            schema={
                "customer_id": pl.String,
                "from_ts": pl.Datetime("us", "UTC"),
                "to_ts": pl.Datetime("us", "UTC"),
            },
        )
        con.register("usage_scope", scope.to_arrow())
        rows = con.sql(compiled.sql("duckdb")).pl().cast(USAGE_SCHEMA)  # type: ignore[arg-type]
    except duckdb.Error as exc:
        raise EngineError(f"duckdb: {str(exc).strip().splitlines()[0]} (usage query)") from exc
    finally:
        con.close()
    group = group_text(catalog, rows["meter"].to_list(), rows["group_values"].to_list())
    return (
        rows.with_columns(pl.Series("group", group, dtype=pl.String))
        .select(list(USAGE_COLUMNS))
        .sort(["customer_id", "meter", "group", "window_start"], nulls_last=False)
    )
