"""The proposed invoice for a period in progress, priced exactly as the invoice run does.

The invoice run's compiled SQL runs unchanged over a lake cut at the preview instant
(events with ``timestamp < at``); the period keeps its real bounds, so every aggregation,
``weighted_sum`` included, is what the final invoice will compute if no more events come.
Flat fees are shown as they will be billed for the period (the full fee, or prorated for
a partial period). Nothing is written to the ledger.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
from sqlglot import exp

from meterbill.catalog.model import Catalog
from meterbill.compiler import compile_run
from meterbill.compiler.compile import PRICED_SCHEMA
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.errors import EngineError
from meterbill.invoices.assemble import assemble

PREVIEW_STATUS = "preview"


def price_until(
    catalog: Catalog, *, periods: pl.DataFrame, lake_files: list[Path], at: datetime
) -> pl.DataFrame:
    """The invoice run's priced rows for ``periods``, from the events before ``at``."""
    compiled = compile_run(catalog, plans=sorted(set(periods["plan"])))
    if compiled.tree is None or periods.is_empty():
        return pl.DataFrame(schema=PRICED_SCHEMA)
    engine = DuckDBEngine()
    con = engine.connect()
    try:
        engine.bind_lake(con, lake_files, compiled.columns)
        con.execute("ALTER VIEW lake_events RENAME TO lake_events_all")
        cutoff = exp.cast(exp.Literal.string(at.isoformat()), "TIMESTAMPTZ").sql("duckdb")
        con.execute(
            "CREATE VIEW lake_events AS SELECT * FROM lake_events_all"  # noqa: S608 (our literal)
            f' WHERE "timestamp" < {cutoff}'
        )
        con.register("billing_periods", periods.to_arrow())
        return con.sql(compiled.sql("duckdb")).pl().cast(PRICED_SCHEMA)  # type: ignore[arg-type]
    except duckdb.Error as exc:
        raise EngineError(f"duckdb: {str(exc).strip().splitlines()[0]} (preview)") from exc
    finally:
        con.close()


def preview_invoices(
    catalog: Catalog, *, periods: pl.DataFrame, lake_files: list[Path], at: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(line items, invoices) for the periods as of ``at``; invoices have status preview."""
    priced = price_until(catalog, periods=periods, lake_files=lake_files, at=at)
    lines, invoices = assemble(catalog, periods, priced)
    return lines, invoices.with_columns(pl.lit(PREVIEW_STATUS).alias("status"))
