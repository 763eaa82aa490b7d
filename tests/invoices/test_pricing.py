"""Pricing through the real compiled SQL on DuckDB, against PRODUCT.md's examples and a
pure-Decimal reference."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import OCT, bill

METER = """
[meters.m]
event_name = "usage"
aggregation = "sum"
field = "q"
"""


def plan(price: str, currency: str = "USD") -> str:
    return (
        METER
        + f'[plans.p]\nname = "P"\ncurrency = "{currency}"\ninterval = "month"\n'
        + "[[plans.p.prices]]\n"
        + price
        + "\n"
    )


def price_line(
    tmp_path: Path, price: str, quantity: Decimal | int | str, currency: str = "USD"
) -> dict[str, Any]:
    events = [{"properties": {"q": quantity}}] if Decimal(str(quantity)) != 0 else []
    lines, _ = bill(tmp_path, plan(price, currency), events, [{"plan": "p"}])
    assert lines.height == 1
    return lines.row(0, named=True)


PACKAGE_100 = 'model = "package"\nmeter = "m"\npackage_size = 100\namount = "1.00"'


@pytest.mark.parametrize(
    ("q", "packages"), [(0, 0), (2, 1), (99, 1), (100, 1), (101, 2), (150, 2), (250, 3)]
)
def test_package_rounds_up(tmp_path: Path, q: int, packages: int) -> None:
    line = price_line(tmp_path, PACKAGE_100, q)
    assert line["billable_quantity"] == packages
    assert line["amount"] == Decimal(packages)
    assert line["quantity"] == q


@pytest.mark.parametrize(("q", "packages"), [(50, 0), (250, 2), (999, 9)])
def test_package_rounds_down(tmp_path: Path, q: int, packages: int) -> None:
    line = price_line(tmp_path, PACKAGE_100 + '\nround = "down"', q)
    assert line["billable_quantity"] == packages


@pytest.mark.parametrize(
    ("q", "size", "rounding", "packages"),
    [
        # Beyond BIGINT (9.2e18): a quantity may have 26 digits before the point.
        ("12345678901234567890123", 10**12, "up", 12345678902),
        ("12345678901234567890123", 10**12, "down", 12345678901),
        ("12345678901000000000000", 10**12, "up", 12345678901),
        ("12345678901000000000000.000000000001", 10**12, "up", 12345678902),
        ("9000000000000000000", 10**18 - 1, "up", 10),
        ("99999999999999999999999999", 10**17, "down", 999999999),
    ],
)
def test_package_of_huge_quantities(
    tmp_path: Path, q: str, size: int, rounding: str, packages: int
) -> None:
    price = f'model = "package"\nmeter = "m"\npackage_size = {size}\namount = "0.01"'
    line = price_line(tmp_path, price + f'\nround = "{rounding}"', q)
    assert line["quantity"] == Decimal(q)
    assert line["billable_quantity"] == packages
    assert line["amount"] == Decimal(packages) / 100


def test_package_50_per_10(tmp_path: Path) -> None:
    line = price_line(
        tmp_path, 'model = "package"\nmeter = "m"\npackage_size = 10\namount = "50"', 25
    )
    assert line["amount"] == Decimal("150.00")


@pytest.mark.parametrize(("free", "amount"), [(0, "1300"), (10, "1200"), (200, "0")])
def test_package_free_units(tmp_path: Path, free: int, amount: str) -> None:
    price = (
        f'model = "package"\nmeter = "m"\npackage_size = 10\namount = "100"\nfree_units = "{free}"'
    )
    assert price_line(tmp_path, price, 121)["amount"] == Decimal(amount)


def test_package_decimal_quantity_ceils(tmp_path: Path) -> None:
    line = price_line(
        tmp_path, 'model = "package"\nmeter = "m"\npackage_size = 1\namount = "2"', "0.000000000001"
    )
    assert (line["billable_quantity"], line["amount"]) == (1, Decimal("2.00"))


def test_seed_package_million(tmp_path: Path) -> None:
    price = 'model = "package"\nmeter = "m"\npackage_size = 1000000\namount = "15.00"'
    assert price_line(tmp_path, price, 1)["amount"] == Decimal("15.00")
    assert price_line(tmp_path, price, 1_000_001)["amount"] == Decimal("30.00")
    assert price_line(tmp_path, price, 5_000_000)["amount"] == Decimal("75.00")


@pytest.mark.parametrize(
    ("unit", "free", "q", "billable", "amount", "currency"),
    [
        ("0.000015", "0", 1_000_000, "1000000", "15.00", "USD"),
        ("0.000015", "0", 333, "333", "0.00", "USD"),  # 0.004995 rounds down
        ("0.01", "100", 150, "50", "0.50", "USD"),
        ("0.01", "100", 50, "0", "0.00", "USD"),
        ("1.0275", "0", 10, "10", "10.28", "USD"),  # 10.275 rounds half away from zero
        ("0.5", "0", "2001", "2001", "1001", "JPY"),  # 1000.5 JPY
        ("0.0001", "0", "10005", "10005", "1.001", "KWD"),  # 1.0005 KWD
    ],
)
def test_per_unit(
    tmp_path: Path, unit: str, free: str, q: int | str, billable: str, amount: str, currency: str
) -> None:
    price = f'model = "per_unit"\nmeter = "m"\nunit_amount = "{unit}"\nfree_units = "{free}"'
    line = price_line(tmp_path, price, q, currency)
    assert line["billable_quantity"] == Decimal(billable)
    assert str(line["amount"].normalize()) == str(Decimal(amount).normalize())


def test_flat_fee_prorated_and_full(tmp_path: Path) -> None:
    catalog = plan('model = "flat_fee"\namount = "31.00"')
    lines, _invoices = bill(
        tmp_path,
        catalog,
        [],
        [{"plan": "p", "days": 17, "full_days": 31}, {"plan": "p", "customer_id": "c2"}],
    )
    by_customer = {row["customer_id"]: row for row in lines.iter_rows(named=True)}
    assert by_customer["c1"]["amount"] == Decimal("17.00")
    assert by_customer["c1"]["quantity"] == Decimal("0.548387096774")
    assert by_customer["c2"]["amount"] == Decimal("31.00")
    assert by_customer["c2"]["quantity"] == 1
    assert by_customer["c1"]["line_type"] == "fixed" and by_customer["c1"]["meter"] is None


def test_subtotal_is_sum_of_rounded_lines(tmp_path: Path) -> None:
    catalog = (
        METER
        + '[plans.p]\ncurrency = "USD"\ninterval = "month"\n'
        + "".join(
            f'[[plans.p.prices]]\nmodel = "per_unit"\nmeter = "m"\nunit_amount = "10.333333"\nname = "l{i}"\n'
            for i in range(3)
        )
    )
    lines, invoices = bill(tmp_path, catalog, [{"properties": {"q": 1}}], [{"plan": "p"}])
    assert lines["amount"].to_list() == [Decimal("10.33")] * 3
    assert invoices["subtotal"].item() == Decimal("30.99")
    assert invoices["total"].item() == Decimal("30.99")


def test_zero_usage_still_gets_a_line(tmp_path: Path) -> None:
    lines, invoices = bill(tmp_path, plan(PACKAGE_100), [], [{"plan": "p"}])
    assert lines.select("quantity", "billable_quantity", "amount").row(0) == (0, 0, 0)
    assert invoices["line_count"].item() == 1


# -- property-based: the compiled SQL against a pure-Decimal reference -------------------


def reference_package(
    q: Decimal, size: int, amount: Decimal, free: Decimal, *, up: bool
) -> Decimal:
    rest = max(q - free, Decimal(0))
    packages = math.ceil(rest / size) if up else math.floor(rest / size)
    return (packages * amount).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


def reference_per_unit(q: Decimal, unit: Decimal, free: Decimal) -> Decimal:
    return (max(q - free, Decimal(0)) * unit).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


quantities = st.decimals(
    min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False
)
amounts = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(quantities, min_size=1, max_size=4),
    size=st.integers(min_value=1, max_value=10**7),
    amount=amounts,
    free=quantities,
    up=st.booleans(),
)
def test_package_matches_reference(
    tmp_path: Path, parts: list[Decimal], size: int, amount: Decimal, free: Decimal, up: bool
) -> None:
    price = (
        f'model = "package"\nmeter = "m"\npackage_size = {size}\namount = "{amount}"\n'
        f'free_units = "{free}"\nround = "{"up" if up else "down"}"'
    )
    events = [{"event_id": f"e{i}", "properties": {"q": part}} for i, part in enumerate(parts)]
    lines, _ = bill(tmp_path, plan(price), events, [{"plan": "p"}])
    assert lines["amount"].item() == reference_package(
        sum(parts, Decimal(0)), size, amount, free, up=up
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(quantities, min_size=1, max_size=4), unit=amounts, free=quantities)
def test_per_unit_matches_reference(
    tmp_path: Path, parts: list[Decimal], unit: Decimal, free: Decimal
) -> None:
    price = f'model = "per_unit"\nmeter = "m"\nunit_amount = "{unit}"\nfree_units = "{free}"'
    events = [{"event_id": f"e{i}", "properties": {"q": part}} for i, part in enumerate(parts)]
    lines, _ = bill(tmp_path, plan(price), events, [{"plan": "p"}])
    assert lines["amount"].item() == reference_per_unit(sum(parts, Decimal(0)), unit, free)


def test_events_outside_the_period_do_not_count(tmp_path: Path) -> None:
    from datetime import timedelta

    events = [
        {"timestamp": OCT - timedelta(microseconds=1), "properties": {"q": 5}},
        {"timestamp": OCT, "properties": {"q": 7}},
        {
            "timestamp": OCT + timedelta(days=31),
            "properties": {"q": 11},
        },  # Nov 1: period end, excluded
    ]
    lines, _ = bill(tmp_path, plan(PACKAGE_100), events, [{"plan": "p"}])
    assert lines["quantity"].item() == 7
