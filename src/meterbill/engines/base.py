"""What every engine offers the invoice run: bind the lake and the periods, run, return rows."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import polars as pl

from meterbill.compiler import CompiledRun


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
    ) -> pl.DataFrame:
        """Run the query with ``lake_events`` and ``billing_periods`` bound; priced rows out.

        ``sql_path`` is where the run's SQL was written; errors point there.
        """
        ...
