"""Two subscriptions of one customer at once whose plans share a meter: reported, with
the span they overlap, and only then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterbill.catalog import parse_catalog
from meterbill.invoices.overlaps import shared_meters

CATALOG = parse_catalog(
    """
[meters.tokens]
event_name = "llm"
aggregation = "sum"
field = "tokens"

[meters.calls]
event_name = "api"
aggregation = "count"

[plans.a]
name = "A"
currency = "USD"
interval = "month"
prices = [{ meter = "tokens", model = "per_unit", unit_amount = "1" },
          { meter = "calls", model = "per_unit", unit_amount = "1" }]

[plans.b]
name = "B"
currency = "USD"
interval = "month"
prices = [{ meter = "tokens", model = "per_unit", unit_amount = "2" }]

[plans.c]
name = "C"
currency = "USD"
interval = "month"
prices = [{ meter = "calls", model = "per_unit", unit_amount = "2" }]

[plans.fee]
name = "Fee"
currency = "USD"
interval = "month"
prices = [{ model = "flat_fee", amount = "10" }]
"""
)


def day(n: int) -> datetime:
    return datetime(2026, 3, n, tzinfo=UTC)


def march(*sub_ids: str) -> list[tuple[str, datetime, datetime]]:
    """Billed periods: March 1 - April 1 of each subscription."""
    return [(sub_id, day(1), datetime(2026, 4, 1, tzinfo=UTC)) for sub_id in sub_ids]


CASES = [
    # (name, subscriptions (id, customer, plan, start, end), billed periods, expected rows)
    ("a plan change does not overlap",
     [("s1", "c", "a", day(1), day(11)), ("s2", "c", "b", day(11), None)], march("s1", "s2"), []),
    ("overlapping plans sharing a meter",
     [("s1", "c", "a", day(1), day(20)), ("s2", "c", "b", day(11), None)], march("s2"),
     [("c", "tokens", "s1", "s2", day(11), day(20))]),
    ("two open-ended subscriptions on one plan share every meter",
     [("s2", "c", "a", day(5), None), ("s1", "c", "a", day(1), None)], march("s1"),
     [("c", "calls", "s1", "s2", day(5), None), ("c", "tokens", "s1", "s2", day(5), None)]),
    ("overlapping plans with no meter in common",
     [("s1", "c", "b", day(1), None), ("s2", "c", "c", day(1), None)], march("s1", "s2"), []),
    ("flat fees bill no events",
     [("s1", "c", "fee", day(1), None), ("s2", "c", "fee", day(1), None)], march("s1", "s2"), []),
    ("different customers",
     [("s1", "c", "a", day(1), None), ("s2", "d", "a", day(1), None)], march("s1", "s2"), []),
    ("a pair the run does not bill is not reported",
     [("s1", "c", "a", day(1), None), ("s2", "c", "a", day(1), None), ("s3", "d", "a", day(1), None)],
     march("s3"), []),
    ("a run billing only periods after the overlap does not report it again",
     [("s1", "c", "a", day(1), None), ("s2", "c", "b", day(1), day(11))],
     [("s1", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))], []),
    ("a billed period ending when the overlap starts does not meet it",
     [("s1", "c", "a", day(1), None), ("s2", "c", "b", day(11), None)],
     [("s1", day(1), day(11))], []),
    ("a billed period starting when the overlap ends does not meet it",
     [("s1", "c", "a", day(1), None), ("s2", "c", "b", day(1), day(11))],
     [("s1", day(11), day(21))], []),
    ("the other subscription's billed period meets the overlap",
     [("s1", "c", "a", day(1), None), ("s2", "c", "b", day(1), day(11))],
     [("s1", day(11), day(21)), ("s2", day(1), day(11))],
     [("c", "tokens", "s1", "s2", day(1), day(11))]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subscriptions", "billed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_shared_meters(
    subscriptions: list[tuple[str, str, str, datetime, datetime | None]],
    billed: list[tuple[str, datetime, datetime]],
    expected: list[tuple[object, ...]],
) -> None:
    assert shared_meters(subscriptions, CATALOG, billed=billed).rows() == expected
