"""The frozen history: how a period meets the finalized invoices of its subscription.

A subscription re-imported with another start, or a customer moved to another time zone,
after a period was finalized has new periods across the frozen ones. The finalized
invoices cannot change and their time is billed already, so a period that one of them
overlaps is billed from the latest end of those invoices (``frozen_until``), its flat fee
prorated by the whole local days left; a period they cover whole is not billed. Its
invoice id stays the period's own.

This is the one place that rule lives: the invoice run, ``invoice finalize`` (stale
drafts) and ``invoice preview`` all call ``clip_to_frozen``, so a preview shows the
period the run will bill.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from meterbill.periods import whole_local_days

_FROZEN_SCHEMA = {"invoice_id": pl.String, "frozen_until": pl.Datetime("us", "UTC")}


def frozen_until(con: duckdb.DuckDBPyConnection, periods: pl.DataFrame) -> pl.DataFrame:
    """For each of ``periods`` that a finalized invoice of the same subscription (not its
    own) overlaps, the latest end of those invoices (``invoice_id``, ``frozen_until``)."""
    empty = pl.DataFrame(schema=_FROZEN_SCHEMA)
    if periods.is_empty():
        return empty
    columns = ["invoice_id", "subscription_id", "period_start", "period_end"]
    con.register("run_periods", periods.select(columns).to_arrow())
    try:
        frame = con.sql(
            "SELECT p.invoice_id, max(f.period_end) AS frozen_until FROM run_periods AS p"
            " JOIN invoices AS f ON f.subscription_id = p.subscription_id"
            " AND f.status = 'finalized' AND f.invoice_id <> p.invoice_id"
            " AND f.period_start < p.period_end AND p.period_start < f.period_end"
            " GROUP BY p.invoice_id ORDER BY p.invoice_id"
        ).pl()
    finally:
        con.unregister("run_periods")
    return frame.cast(_FROZEN_SCHEMA) if frame.height else empty  # type: ignore[arg-type]


def clip_to_frozen(
    con: duckdb.DuckDBPyConnection, periods: pl.DataFrame, zones: dict[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the periods as billed, the periods not billed at all) under the frozen history.

    Args:
        con: the state database (reads the finalized invoices).
        periods: billing periods (``invoice_id``, ``subscription_id``, ``period_start``,
            ``period_end``, ``days``, ``full_days``, ...), none of them finalized itself.
        zones: subscription id -> its customer's time zone (for the whole local days).

    Returns:
        The periods a finalized invoice overlaps start at its end, with ``days`` the whole
        local days left; the ones it covers whole are the second frame (unchanged).
    """
    frozen = frozen_until(con, periods)
    if frozen.is_empty():
        return periods, periods.clear()
    joined = periods.join(frozen, on="invoice_id", how="left", maintain_order="left")
    covered = joined.filter(pl.col("frozen_until") >= pl.col("period_end"))
    clipped = joined.filter(
        (pl.col("frozen_until") > pl.col("period_start"))
        & (pl.col("frozen_until") < pl.col("period_end"))
    )
    days: dict[str, int] = {
        invoice_id: whole_local_days(start, end, zones[sub_id])
        for invoice_id, sub_id, start, end in clipped.select(
            "invoice_id", "subscription_id", "frozen_until", "period_end"
        ).iter_rows()
    }
    billed = (
        joined.filter(~pl.col("invoice_id").is_in(covered["invoice_id"].implode()))
        .with_columns(
            period_start=pl.max_horizontal("period_start", "frozen_until"),
            days=pl.col("invoice_id").replace_strict(days, default=pl.col("days")),
        )
        .drop("frozen_until")
    )
    return billed, covered.drop("frozen_until")


def finalized_holding(
    con: duckdb.DuckDBPyConnection, subscription_ids: list[str], instant: datetime
) -> list[str]:
    """Ids of the finalized invoices of these subscriptions whose period holds ``instant``
    (``period_start <= instant < period_end``): that instant is billed already."""
    rows = con.execute(
        "SELECT invoice_id FROM invoices WHERE status = 'finalized'"
        " AND list_contains(?, subscription_id) AND period_start <= ? AND ? < period_end"
        " ORDER BY period_start, subscription_id",
        [subscription_ids, instant, instant],
    ).fetchall()
    return [row[0] for row in rows]


def record_skipped(con: duckdb.DuckDBPyConnection, run_id: str, covered: pl.DataFrame) -> int:
    """Record the ``covered`` periods (not billed) that no earlier run recorded; returns
    how many were new. A period is the same when its id and bounds are: one skipped
    again by every later run is said once (``skipped_periods``)."""
    if covered.is_empty():
        return 0
    keys = ["invoice_id", "subscription_id", "customer_id", "period_start", "period_end"]
    con.register("covered_periods", covered.select(keys).to_arrow())
    try:
        columns = ", ".join(keys)
        inserted = con.execute(
            f"INSERT INTO skipped_periods SELECT ?, * FROM (SELECT {columns} FROM covered_periods"  # noqa: S608 (our names)
            f" EXCEPT SELECT {columns} FROM skipped_periods)",
            [run_id],
        ).fetchall()
        count = int(inserted[0][0])  # an INSERT returns how many rows it added
    finally:
        con.unregister("covered_periods")
    return count
