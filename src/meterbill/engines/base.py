"""What every engine offers the invoice run: bind the lake and the periods, run, return rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import polars as pl

from meterbill.compiler import CompiledRun

#: ``covered_spans``: time that subscriptions cover but this run does not price.
COVERED_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "span_start": pl.Datetime("us", "UTC"),
    "span_end": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True, slots=True)
class EngineResult:
    """The invoice run query's two outputs, from its one scan.

    Attributes:
        priced: one row per (invoice, usage price, group): ``PRICED_SCHEMA``.
        unbilled: one row per customer with events in the run's window that no period
            and no covered span contains: ``UNBILLED_SCHEMA``.
    """

    priced: pl.DataFrame
    unbilled: pl.DataFrame


class Engine(Protocol):
    """An engine that runs one compiled query (DuckDB in-process, or Spark)."""

    name: str

    def run(
        self,
        compiled: CompiledRun,
        *,
        lake_files: list[Path],
        periods: pl.DataFrame,
        sql_path: Path,
        covered: pl.DataFrame | None = None,
    ) -> EngineResult:
        """Run the query with ``lake_events``, ``billing_periods`` and ``covered_spans`` bound.

        ``periods`` are the periods to price (``period_no`` is added here); ``covered``
        (``COVERED_SCHEMA``) the spans whose events are neither priced nor unbilled.
        ``sql_path`` is where the run's SQL was written; errors point there.
        """
        ...
