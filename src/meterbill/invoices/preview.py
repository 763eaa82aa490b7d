"""The proposed invoice for a period in progress, priced exactly as the invoice run does.

The invoice run's compiled SQL runs unchanged over a lake cut at the preview instant
(events with ``timestamp < at``); the period keeps its real bounds, so every aggregation,
``weighted_sum`` included, is what the final invoice will compute if no more events come.
Flat fees are shown as they will be billed for the period (the full fee, or prorated for
a partial period). ``Workspace.preview`` hands over the periods as the run bills them
(started where a finalized invoice of the subscription ends: ``invoices/frozen.py``, the
run's own rule), so a preview at a period's last microsecond is the run's draft line for
line. Nothing is written to the ledger.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from meterbill.catalog.model import Catalog
from meterbill.compiler import compile_run
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.invoices.assemble import assemble

PREVIEW_STATUS = "preview"


def price_until(
    catalog: Catalog, *, periods: pl.DataFrame, lake_files: list[Path], at: datetime
) -> pl.DataFrame:
    """The invoice run's priced rows for ``periods``, from the events before ``at``."""
    compiled = compile_run(catalog, plans=sorted(set(periods["plan"])))
    result = DuckDBEngine().run(
        compiled, lake_files=lake_files, periods=periods, sql_path=Path("(preview)"), until=at
    )
    return result.priced


def preview_invoices(
    catalog: Catalog, *, periods: pl.DataFrame, lake_files: list[Path], at: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(line items, invoices) for the periods as of ``at``; invoices have status preview."""
    priced = price_until(catalog, periods=periods, lake_files=lake_files, at=at)
    lines, invoices = assemble(catalog, periods, priced)
    return lines, invoices.with_columns(pl.lit(PREVIEW_STATUS).alias("status"))
