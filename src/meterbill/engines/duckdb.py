"""The DuckDB engine: an in-memory connection per run, the lake read in place.

``lake_events`` is a view over exactly the manifest's files (``union_by_name``, since
property columns differ between files), holding only the events of the run's window
(from the earliest start to the latest end of the periods it prices); a column the
query needs that no file has yet is added as a typed NULL, so the compiled SQL never
depends on what the lake holds.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from meterbill.compiler.compiled import RESULT_SCHEMA, CompiledRun
from meterbill.engines.base import (
    EngineResult,
    covered_table,
    empty_result,
    numbered_periods,
    run_window,
    split_result,
)
from meterbill.errors import EngineError

#: Why a run overflows: usage or an amount beyond the exact decimal types of the run.
DECIMAL_LIMITS = (
    "usage beyond meterbill's exact decimals: quantities stay below 10^26 and a line's "
    "exact amount below 10^14"
)


class DuckDBEngine:
    """Runs compiled SQL in an in-process DuckDB."""

    name = "duckdb"

    def __init__(self, *, threads: int | None = None) -> None:
        """Create the engine; ``threads`` defaults to DuckDB's own choice (all cores)."""
        self._threads = threads

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory connection with the session time zone fixed to UTC."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        if self._threads:
            con.execute(f"SET threads = {int(self._threads)}")
        return con

    def bind_lake(
        self,
        con: duckdb.DuckDBPyConnection,
        lake_files: list[Path],
        columns: dict[str, str],
        *,
        window: tuple[datetime, datetime] | None = None,
        view: str = "lake_events",
    ) -> None:
        """Create the ``lake_events`` view (or ``view``) with every column in ``columns``.

        With ``window`` (start, end), only events with ``start <= timestamp < end``: a
        filter on constants, which the Parquet scan checks against each row group's
        statistics first (measured at 50M events: 0.8 s of thread time less than the
        same bounds joined in from a one-row relation).
        """
        if lake_files:
            present = {
                row[0]
                for row in con.execute(
                    "SELECT name FROM parquet_schema(?) WHERE name <> 'duckdb_schema'",
                    [[str(p) for p in lake_files]],
                ).fetchall()
            }
            source = con.read_parquet([str(p) for p in lake_files], union_by_name=True)
        else:
            present = set()
            source = con.sql("SELECT 1 AS _empty WHERE false")
        # Expressions built through DuckDB's API, not SQL text: names are data.
        projections = [
            duckdb.ColumnExpression(name)
            if name in present
            else duckdb.ConstantExpression(None).cast(duckdb.sqltype(sql_type)).alias(name)
            for name, sql_type in columns.items()
        ]
        relation = source.select(*projections)
        if window is not None:
            timestamp = duckdb.ColumnExpression("timestamp")
            relation = relation.filter(
                (timestamp >= duckdb.ConstantExpression(window[0]))
                & (timestamp < duckdb.ConstantExpression(window[1]))
            )
        relation.create_view(view)

    def run(
        self,
        compiled: CompiledRun,
        *,
        lake_files: list[Path],
        periods: pl.DataFrame,
        sql_path: Path,
        covered: pl.DataFrame | None = None,
        until: datetime | None = None,
    ) -> EngineResult:
        """Run the compiled query; see ``Engine.run``."""
        if compiled.text is None or periods.is_empty():
            return empty_result()
        con = self.connect()
        try:
            self.bind_lake(con, lake_files, compiled.columns, window=run_window(periods, until))
            self.bind_periods(con, periods, covered)
            rows = con.sql(compiled.sql("duckdb")).pl().cast(RESULT_SCHEMA)  # type: ignore[arg-type]
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            if "out of range" in first.lower() or "overflow" in first.lower():
                first += f" ({DECIMAL_LIMITS})"
            raise EngineError(f"duckdb: {first}; compiled SQL at {sql_path}") from exc
        finally:
            con.close()
        return split_result(rows)

    def bind_periods(
        self,
        con: duckdb.DuckDBPyConnection,
        periods: pl.DataFrame,
        covered: pl.DataFrame | None = None,
    ) -> None:
        """Register ``billing_periods`` (numbered by ``period_no``) and ``covered_spans``."""
        con.register("billing_periods", numbered_periods(periods).to_arrow())
        con.register("covered_spans", covered_table(covered).to_arrow())
