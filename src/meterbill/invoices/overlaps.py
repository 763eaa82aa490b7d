"""Events billed twice: two subscriptions of one customer at once whose plans price a
same meter.

Events name a customer, not a subscription, so each of a customer's subscriptions prices
all of that customer's events in its own periods (one invoice per subscription period).
Two subscriptions at once whose plans share a meter therefore bill the same events on
both invoices. That is almost always a mistake, but it is the catalog's and the
subscriptions' to fix, so the run reports it (and the CLI warns) rather than refusing to
bill. A plan change, one subscription ending when the next starts, does not overlap:
subscriptions cover half-open spans ``[start, end)``. A run reports a pair only when one
of the periods it bills meets their overlap: an overlap billed (and finalized) long ago
is not repeated by every later run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import polars as pl

from meterbill.catalog import Catalog

#: The columns of ``shared_meters``: each meter two overlapping subscriptions both price.
SHARED_SCHEMA = {
    "customer_id": pl.String,
    "meter": pl.String,
    "subscription_id": pl.String,
    "other_subscription_id": pl.String,
    "overlap_start": pl.Datetime("us", "UTC"),
    "overlap_end": pl.Datetime("us", "UTC"),  # null: both open-ended
}


def shared_meters(
    subscriptions: Iterable[tuple[str, str, str, datetime, datetime | None]],
    catalog: Catalog,
    *,
    billed: Iterable[tuple[str, datetime, datetime]],
) -> pl.DataFrame:
    """Each meter that two of a customer's subscriptions price at the same time.

    Args:
        subscriptions: ``(subscription_id, customer_id, plan key, start, end)`` rows
            (``end`` None: open-ended); every plan is in ``catalog``.
        catalog: the plans, for the meters each one prices.
        billed: ``(subscription_id, period_start, period_end)`` of the periods the run
            bills; a pair is reported when one of them meets the pair's overlap.

    Returns:
        ``SHARED_SCHEMA`` rows, one per (pair, meter), the pair in id order.
    """
    meters = {
        key: {price.meter for price in plan.prices if price.model != "flat_fee"}
        for key, plan in catalog.plans.items()
    }
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for sub_id, period_start, period_end in billed:
        spans[sub_id].append((period_start, period_end))
    by_customer: dict[str, list[tuple[str, str, datetime, datetime | None]]] = defaultdict(list)
    for sub_id, customer_id, plan_key, start, end in subscriptions:
        by_customer[customer_id].append((sub_id, plan_key, start, end))
    rows = []
    for customer_id, subs in sorted(by_customer.items()):
        subs.sort()
        for index, (sub_id, plan_key, start, end) in enumerate(subs):
            for other_id, other_plan, other_start, other_end in subs[index + 1 :]:
                overlap_start = max(start, other_start)
                ends = [e for e in (end, other_end) if e is not None]
                overlap_end = min(ends) if ends else None
                if overlap_end is not None and overlap_start >= overlap_end:
                    continue
                if not _meets(spans[sub_id] + spans[other_id], overlap_start, overlap_end):
                    continue
                for meter in sorted(meters[plan_key] & meters[other_plan]):
                    rows.append((customer_id, meter, sub_id, other_id, overlap_start, overlap_end))
    return pl.DataFrame(rows, schema=SHARED_SCHEMA, orient="row")


def _meets(periods: list[tuple[datetime, datetime]], start: datetime, end: datetime | None) -> bool:
    """Whether one of ``periods`` (each ``[start, end)``) meets ``[start, end)`` (``end``
    None: open-ended)."""
    return any(p_end > start and (end is None or p_start < end) for p_start, p_end in periods)
