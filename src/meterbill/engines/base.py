"""What every engine offers the invoice run: bind the lake and the periods, run, return rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from meterbill.compiler.compiled import PRICED_SCHEMA, UNBILLED_SCHEMA, CompiledRun

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
        until: datetime | None = None,
    ) -> EngineResult:
        """Run the query with ``lake_events``, ``billing_periods`` and ``covered_spans`` bound.

        ``periods`` are the periods to price (``period_no`` is added here); ``covered``
        (``COVERED_SCHEMA``) the spans whose events are neither priced nor unbilled.
        ``lake_events`` holds the events of ``run_window(periods, until)``; ``until``
        (a preview's ``--at``) cuts it short while the periods keep their bounds.
        ``sql_path`` is where the run's SQL was written; errors point there.
        """
        ...


def run_window(periods: pl.DataFrame, until: datetime | None = None) -> tuple[datetime, datetime]:
    """The instants whose events a run reads: earliest period start to latest end (or until)."""
    start, end = periods["period_start"].min(), periods["period_end"].max()
    if until is not None:
        end = min(end, until)  # type: ignore[type-var]
    return start, end  # type: ignore[return-value]


def numbered_periods(periods: pl.DataFrame) -> pl.DataFrame:
    """``billing_periods`` as the query reads it: numbered by ``period_no`` (INT32, from 1)."""
    numbered = periods.drop("period_no", strict=False).with_row_index("period_no", offset=1)
    return numbered.with_columns(pl.col("period_no").cast(pl.Int32))


def covered_table(covered: pl.DataFrame | None) -> pl.DataFrame:
    """``covered_spans`` as the query reads it (empty when there are none)."""
    spans = pl.DataFrame(schema=COVERED_SCHEMA) if covered is None else covered
    return spans.select(list(COVERED_SCHEMA)).cast(COVERED_SCHEMA)  # type: ignore[arg-type]


def empty_result() -> EngineResult:
    """The result of a run with nothing to query."""
    return EngineResult(pl.DataFrame(schema=PRICED_SCHEMA), pl.DataFrame(schema=UNBILLED_SCHEMA))


def split_result(rows: pl.DataFrame) -> EngineResult:
    """The query's rows (``RESULT_SCHEMA``) split into priced and unbilled rows."""
    return EngineResult(
        priced=rows.filter(pl.col("invoice_id").is_not_null()).select(list(PRICED_SCHEMA)),
        unbilled=rows.filter(pl.col("invoice_id").is_null())
        .select(list(UNBILLED_SCHEMA))
        .sort("customer_id"),
    )
