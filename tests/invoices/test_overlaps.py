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


CASES = [
    # (name, subscriptions (id, customer, plan, start, end), billed, expected rows)
    ("a plan change does not overlap",
     [("s1", "c", "a", day(1), day(11)), ("s2", "c", "b", day(11), None)], {"s1", "s2"}, []),
    ("overlapping plans sharing a meter",
     [("s1", "c", "a", day(1), day(20)), ("s2", "c", "b", day(11), None)], {"s2"},
     [("c", "tokens", "s1", "s2", day(11), day(20))]),
    ("two open-ended subscriptions on one plan share every meter",
     [("s2", "c", "a", day(5), None), ("s1", "c", "a", day(1), None)], {"s1"},
     [("c", "calls", "s1", "s2", day(5), None), ("c", "tokens", "s1", "s2", day(5), None)]),
    ("overlapping plans with no meter in common",
     [("s1", "c", "b", day(1), None), ("s2", "c", "c", day(1), None)], {"s1", "s2"}, []),
    ("flat fees bill no events",
     [("s1", "c", "fee", day(1), None), ("s2", "c", "fee", day(1), None)], {"s1", "s2"}, []),
    ("different customers",
     [("s1", "c", "a", day(1), None), ("s2", "d", "a", day(1), None)], {"s1", "s2"}, []),
    ("a pair the run does not bill is not reported",
     [("s1", "c", "a", day(1), None), ("s2", "c", "a", day(1), None), ("s3", "d", "a", day(1), None)],
     {"s3"}, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subscriptions", "billed", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_shared_meters(
    subscriptions: list[tuple[str, str, str, datetime, datetime | None]],
    billed: set[str],
    expected: list[tuple[object, ...]],
) -> None:
    assert shared_meters(subscriptions, CATALOG, billed=billed).rows() == expected
