"""Events no period bills: the spans a run must not report, computed before the scan.

The invoice run's one scan joins each event of the run's window (from the earliest start
to the latest end of the periods it prices) to its period. An event that joins no
period is billed by nothing, unless a subscription covers it in a period this run does
not price: a finalized period (never rerun) or a period still in progress. Those spans
go to the query as ``covered_spans``; what joins neither is reported as unbilled
(``unbilled_events``): events of customers without a subscription at that instant,
before a subscription's start or after its end.

A subscription covers ``[start_at, end_at)`` (its periods tile that span), so its
covered spans are that span, clipped to the window, minus the periods being priced.
A finalized invoice covers its period for its customer even when a later re-import
moved the subscription's start or end off it or gave it another customer: those events
were billed, so they are covered too (only the parts outside the subscription's span,
so the usual case adds nothing to the scan's join).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import duckdb
import polars as pl

from meterbill.engines.base import COVERED_SCHEMA, run_window


def covered_spans(con: duckdb.DuckDBPyConnection, periods: pl.DataFrame) -> pl.DataFrame:
    """Spans of the run's window that subscriptions cover but ``periods`` do not price.

    Args:
        con: the state database (reads ``subscriptions``).
        periods: the periods this run prices (``subscription_id``, ``customer_id``,
            ``period_start``, ``period_end``).

    Returns:
        ``COVERED_SCHEMA`` rows, at most a few per subscription.
    """
    if periods.is_empty():
        return pl.DataFrame(schema=COVERED_SCHEMA)
    window_start, window_end = run_window(periods)
    priced: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for sub_id, start, end in periods.select(
        "subscription_id", "period_start", "period_end"
    ).iter_rows():
        priced[sub_id].append((start, end))
    rows = con.execute(
        "SELECT subscription_id, customer_id, start_at, end_at FROM subscriptions"
        " WHERE start_at < ? AND (end_at IS NULL OR end_at > ?)",
        [window_end, window_start],
    ).fetchall()
    spans: list[tuple[str, datetime, datetime]] = []
    for sub_id, customer_id, start_at, end_at in rows:
        cursor = max(start_at, window_start)
        stop = window_end if end_at is None else min(end_at, window_end)
        for start, end in sorted(priced.get(sub_id, [])):
            if start > cursor:
                spans.append((customer_id, cursor, min(start, stop)))
            cursor = max(cursor, end)
        if cursor < stop:
            spans.append((customer_id, cursor, stop))
    spans += _finalized_outside_subscriptions(con, window_start, window_end)
    return pl.DataFrame([s for s in spans if s[1] < s[2]], schema=COVERED_SCHEMA, orient="row")


def _finalized_outside_subscriptions(
    con: duckdb.DuckDBPyConnection, window_start: datetime, window_end: datetime
) -> list[tuple[str, datetime, datetime]]:
    """The parts of finalized invoices' periods in the window that their subscription's
    current span (for the invoice's customer) no longer covers."""
    rows = con.execute(
        "SELECT i.customer_id, i.period_start, i.period_end,"
        " s.customer_id = i.customer_id, s.start_at, s.end_at"
        " FROM invoices AS i LEFT JOIN subscriptions AS s"
        " ON s.subscription_id = i.subscription_id"
        " WHERE i.status = 'finalized' AND i.period_start < ? AND i.period_end > ?"
        " AND (s.subscription_id IS NULL OR s.customer_id <> i.customer_id"
        " OR i.period_start < s.start_at OR i.period_end > s.end_at)",
        [window_end, window_start],
    ).fetchall()
    spans = []
    for customer_id, start, end, same_customer, start_at, end_at in rows:
        start, end = max(start, window_start), min(end, window_end)
        if not same_customer:  # no such subscription now, or another customer's
            spans.append((customer_id, start, end))
            continue
        spans.append((customer_id, start, min(end, start_at)))
        if end_at is not None:
            spans.append((customer_id, max(start, end_at), end))
    return spans
