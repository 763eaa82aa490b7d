"""Which periods a run bills: every subscription's periods, cut where the contract says.

The rows here are what the invoice run, ``invoice finalize`` and ``invoice preview`` agree
on: a subscription's periods (``periods``: the calendar), only those ended by now and
by ``--through`` in the customer's time zone, less the time finalized invoices of the
same subscription already billed (``invoices.frozen``). ``--through``, ``--at``,
``--from`` and ``--to`` are read here too (``through_instant``): a date is the
customer's local midnight, a timestamp needs an offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import duckdb
import polars as pl

from meterbill import cadences, state
from meterbill.catalog import Catalog
from meterbill.errors import WorkspaceError
from meterbill.invoices import frozen, ledger
from meterbill.periods import Period, local_midnight, period_at, periods_through

#: The columns of a billing_periods frame (the periods a run prices).
PERIOD_SCHEMA = {
    "invoice_id": pl.String,
    "subscription_id": pl.String,
    "customer_id": pl.String,
    "plan": pl.String,
    "period_start": pl.Datetime("us", "UTC"),
    "period_end": pl.Datetime("us", "UTC"),
    "days": pl.Int64,
    "full_days": pl.Int64,
}


def has_begun(through: str, through_utc: datetime, now: datetime) -> bool:
    """Whether ``--through`` is not in the future: a date (``through_utc`` its UTC
    midnight) has begun once it has begun anywhere, first at UTC+14 (compared on the
    side of ``now``, so that 0001-01-01 does not leave datetime's range)."""
    ahead = timedelta(hours=14) if _is_date(through) else timedelta(0)
    return through_utc <= now + ahead


def _is_date(through: str) -> bool:
    """Whether ``--through`` (or ``--at``, ...) is a bare date (``2026-11-01``)."""
    return len(through) == 10


def through_instant(through: str, timezone: str, option: str = "--through") -> datetime:
    """``--through`` (or ``option``): a date is that day's local midnight in ``timezone``;
    a timestamp needs an offset and means that instant."""
    try:
        if _is_date(through):
            return local_midnight(date.fromisoformat(through), timezone)
        value = datetime.fromisoformat(through.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise WorkspaceError(
                f"{option}: a timestamp needs an offset (like +00:00): {through!r}"
            )
        return value.astimezone(UTC)
    except ValueError:
        raise WorkspaceError(
            f"{option}: not a date (2026-11-01) or a timestamp with offset: {through!r}"
        ) from None
    except OverflowError:  # year 1 or 9999 moved across the offset to UTC
        raise WorkspaceError(
            f"{option}: out of the supported range of dates: {through!r}"
        ) from None


def subscription_rows(
    con: duckdb.DuckDBPyConnection,
    plans: dict[str, cadences.Cadence],
    customer: str | None = None,
    *,
    known_only: bool = False,
) -> list[tuple[Any, ...]]:
    """(subscription_id, customer_id, plan key, cadence, start, end, cycle, time zone) rows.

    With ``known_only``, a subscription whose plan has no cadence is left out (a
    workspace whose plans no run or import has recorded yet); else it is an error.

    Raises:
        WorkspaceError: a subscription's plan is no longer in the catalog.
    """
    rows = con.execute(
        "SELECT s.subscription_id, s.customer_id, s.plan, s.start_at, s.end_at, s.billing_cycle,"
        " coalesce(c.timezone, 'UTC') FROM subscriptions s"
        " LEFT JOIN customers c USING (customer_id)"
        " WHERE ? IS NULL OR s.customer_id = ? ORDER BY s.subscription_id",
        [customer, customer],
    ).fetchall()
    out = []
    for sub_id, customer_id, plan_key, start, end, cycle, timezone in rows:
        cadence = plans.get(plan_key)
        if cadence is None and known_only:
            continue
        if cadence is None:
            raise WorkspaceError(
                f"subscription {sub_id!r} is on plan {plan_key!r}, which catalog.toml no longer has"
            )
        out.append((sub_id, customer_id, plan_key, cadence, start, end, cycle, timezone))
    return out


def _period_row(sub_id: str, customer_id: str, plan_key: str, period: Period) -> dict[str, Any]:
    """One row of the billing_periods relation."""
    return {
        "invoice_id": ledger.invoice_id(sub_id, period.start),
        "subscription_id": sub_id,
        "customer_id": customer_id,
        "plan": plan_key,
        "period_start": period.start,
        "period_end": period.end,
        "days": period.days,
        "full_days": period.full_days,
    }


def ended_periods(
    subscriptions: list[tuple[Any, ...]], through: str, *, now: datetime
) -> pl.DataFrame:
    """Every complete period of the ``subscriptions`` (``subscription_rows``) up to
    ``through``, one row each.

    Complete means ended: a period ending after ``now`` is not billed even when
    ``through`` (a date, the customer's local midnight) reaches it, as it can for a
    customer west of UTC on the day ``through`` names.
    """
    rows = []
    through_at = cache(through_instant)  # one parse per time zone, not per subscription
    for sub_id, customer_id, plan_key, plan, start, end, cycle, timezone in subscriptions:
        for period in periods_through(
            start=start,
            end=end,
            interval=plan.interval,
            interval_count=plan.interval_count,
            cycle=cycle,
            timezone=timezone,
            through=min(through_at(through, timezone), now),
        ):
            rows.append(_period_row(sub_id, customer_id, plan_key, period))
    return pl.DataFrame(rows, schema=PERIOD_SCHEMA)


def ending_by(
    schedule: pl.DataFrame, subscriptions: list[tuple[Any, ...]], through: str
) -> pl.DataFrame:
    """The periods of ``schedule`` (every ended one) that end by ``through`` in their
    customer's time zone: what ``ended_periods`` gives for ``through``."""
    at = cache(through_instant)
    ends = {row[0]: at(through, row[-1]) for row in subscriptions}
    cut = pl.DataFrame(
        {"subscription_id": list(ends), "through": list(ends.values())},
        schema={"subscription_id": pl.String, "through": pl.Datetime("us", "UTC")},
    )
    return (
        schedule.join(cut, on="subscription_id", how="left", maintain_order="left")
        .filter(pl.col("period_end") <= pl.col("through"))
        .drop("through")
    )


def clipped_schedule(
    con: duckdb.DuckDBPyConnection, subscriptions: list[tuple[Any, ...]], now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every ended period of the ``subscriptions``, less the time finalized invoices of
    the same subscription already billed; and the periods that leaves nothing of
    (``invoices.frozen.clip_to_frozen``, the rule preview follows too)."""
    schedule = ended_periods(subscriptions, now.isoformat(), now=now)
    return frozen.clip_to_frozen(con, schedule, {row[0]: row[-1] for row in subscriptions})


def remove_stale_drafts(
    con: duckdb.DuckDBPyConnection, subscriptions: list[tuple[Any, ...]], now: datetime
) -> list[str]:
    """Delete the drafts of these subscriptions that no ended period of their current
    schedules matches (see ``ledger.remove_stale_drafts``); returns their ids."""
    checked = [row[0] for row in subscriptions]
    return ledger.remove_stale_drafts(con, clipped_schedule(con, subscriptions, now)[0], checked)


def periods_at(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    customer: str,
    at: str | None,
    *,
    now: datetime,
) -> tuple[pl.DataFrame, datetime, dict[str, str]]:
    """The periods of a customer's subscriptions that contain ``at`` (default ``now``), the
    instant, and each subscription's time zone (every subscription of the customer).

    Raises:
        WorkspaceError: an unknown customer, a bad ``--at``, or no subscription active then
            (nor a finalized invoice holding that instant).
    """
    timezone = state.scalar(con, "SELECT timezone FROM customers WHERE customer_id = ?", [customer])
    if timezone is None:
        raise WorkspaceError(f"no customer {customer!r}")
    instant = now if at is None else through_instant(at, str(timezone), "--at")
    rows, zones = [], {}
    for sub_id, customer_id, plan_key, plan, start, end, cycle, zone in subscription_rows(
        con, cadences.of(catalog), customer
    ):
        period = period_at(
            start=start,
            end=end,
            interval=plan.interval,
            interval_count=plan.interval_count,
            cycle=cycle,
            timezone=zone,
            at=instant,
        )
        zones[sub_id] = zone
        if period is not None:
            rows.append(_period_row(sub_id, customer_id, plan_key, period))
    if not rows and not frozen.finalized_holding(con, list(zones), instant):
        raise WorkspaceError(
            f"customer {customer!r} has no subscription active at {instant.isoformat()}"
        )
    return pl.DataFrame(rows, schema=PERIOD_SCHEMA), instant, zones


def drafts_through(
    con: duckdb.DuckDBPyConnection, through: str, invoice_ids: list[str] | None
) -> list[str]:
    """Drafts (of ``invoice_ids`` if given) whose period ends by ``through``."""
    rows = con.execute(
        "SELECT i.invoice_id, i.period_end, coalesce(c.timezone, 'UTC') FROM invoices AS i"
        " LEFT JOIN customers AS c USING (customer_id)"
        " WHERE i.status = 'draft' AND (? IS NULL OR list_contains(?, i.invoice_id))",
        [invoice_ids, invoice_ids],
    ).fetchall()
    return [
        invoice_id
        for invoice_id, period_end, timezone in rows
        if period_end <= through_instant(through, timezone)
    ]
