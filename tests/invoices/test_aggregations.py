"""Every aggregation, filter rule and group_by, through the compiled SQL on DuckDB."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OCT, bill, price

PLAN = '[plans.p]\ncurrency = "USD"\ninterval = "month"\n[[plans.p.prices]]\nmodel = "per_unit"\nmeter = "m"\nunit_amount = "1"\n'


def meter(aggregation: str, extra: str = "") -> str:
    field = "" if aggregation == "count" else 'field = "v"\n'
    return (
        f'[meters.m]\nevent_name = "usage"\naggregation = "{aggregation}"\n{field}{extra}\n' + PLAN
    )


def at(hours: float) -> Any:
    return OCT + timedelta(hours=hours)


EVENTS = [
    {"event_id": "a", "timestamp": at(1), "properties": {"v": 10}},
    {"event_id": "b", "timestamp": at(2), "properties": {"v": "2.5"}},  # numeric string
    {"event_id": "c", "timestamp": at(3), "properties": {"v": 4}},
    {"event_id": "d", "timestamp": at(3), "properties": {"v": "abc"}},  # not a number
    {"event_id": "e", "timestamp": at(4), "properties": {}},  # field missing
    {"event_id": "f", "timestamp": at(5), "properties": {"v": True}},  # boolean: not a number
    {"event_id": "g", "timestamp": at(6), "event_name": "other", "properties": {"v": 1000}},
]


@pytest.mark.parametrize(
    ("aggregation", "extra", "quantity", "invalid"),
    [
        ("count", "", "6", 0),
        ("sum", "", "16.5", 3),
        ("max", "", "10", 3),
        ("min", "", "2.5", 3),
        ("avg", "", "5.5", 3),
        ("count_unique", "", "5", 1),  # 10, 2.5, 4, abc, true as text; e has no field
        ("sum_with_multiplier", 'multiplier = "0.001"', "0.0165", 3),
        ("latest", "", "4", 3),  # c (3h) is the newest numeric value; d at 3h has none
    ],
)
def test_aggregation(
    tmp_path: Path, aggregation: str, extra: str, quantity: str, invalid: int
) -> None:
    priced = price(tmp_path, meter(aggregation, extra), EVENTS, [{"plan": "p"}])
    row = priced.row(0, named=True)
    assert row["quantity"] == Decimal(quantity)
    assert row["invalid_events"] == invalid


@pytest.mark.parametrize(
    ("v", "multiplier", "quantity"),
    [
        # The product once had 24 places, so it overflowed past 10^14 (2e14 tokens x 1.5).
        ("200000000000000", "1.5", "300000000000000"),
        ("12345678901234567890.123456789012", "2", "24691357802469135780.246913578024"),
        ("12345678901234.123456789012", "0.5", "6172839450617.061728394506"),  # half-up
        ("1000000000000000", "0.000000000001", "1000"),
    ],
)
def test_sum_with_multiplier_of_huge_sums(
    tmp_path: Path, v: str, multiplier: str, quantity: str
) -> None:
    catalog = meter("sum_with_multiplier", f'multiplier = "{multiplier}"')
    # priced at 0: a line amount must stay below 10^14 (DECIMAL(38, 24)), the quantity not
    catalog = catalog.replace('unit_amount = "1"', 'unit_amount = "0"')
    events = [{"properties": {"v": v}}]
    assert price(tmp_path, catalog, events, [{"plan": "p"}])["quantity"].item() == Decimal(quantity)


def test_avg_is_exact_and_rounded_half_up_to_12_places(tmp_path: Path) -> None:
    events = [{"event_id": str(i), "properties": {"v": v}} for i, v in enumerate([1, 1, 0])]
    assert price(tmp_path, meter("avg"), events, [{"plan": "p"}])["quantity"].item() == Decimal(
        "0.666666666667"
    )
    events = [{"event_id": str(i), "properties": {"v": v}} for i, v in enumerate(["-1", "-1", "0"])]
    assert price(tmp_path / "n", meter("avg"), events, [{"plan": "p"}])[
        "quantity"
    ].item() == Decimal("-0.666666666667")
    big = [
        {"event_id": str(i), "properties": {"v": "12345678901234.123456789012"}} for i in range(3)
    ]
    assert price(tmp_path / "b", meter("avg"), big, [{"plan": "p"}])["quantity"].item() == Decimal(
        "12345678901234.123456789012"
    )


def test_latest_ties_broken_by_greatest_event_id(tmp_path: Path) -> None:
    events = [
        {"event_id": "b", "timestamp": at(1), "properties": {"v": 2}},
        {"event_id": "a", "timestamp": at(1), "properties": {"v": 1}},
    ]
    assert price(tmp_path, meter("latest"), events, [{"plan": "p"}])["quantity"].item() == 2


def test_weighted_sum(tmp_path: Path) -> None:
    # October has 31 days; a value of 31 added at the very start counts fully, one added
    # halfway through (day 15.5) counts half, one on the last day (day 30) counts 1/31.
    events = [
        {"event_id": "a", "timestamp": OCT, "properties": {"v": 31}},
        {"event_id": "b", "timestamp": OCT + timedelta(days=15.5), "properties": {"v": 10}},
        {"event_id": "c", "timestamp": OCT + timedelta(days=30), "properties": {"v": 31}},
    ]
    quantity = price(tmp_path, meter("weighted_sum"), events, [{"plan": "p"}])["quantity"].item()
    assert quantity == Decimal(31 + 5 + 1)


def test_weighted_sum_rounds_to_12_places(tmp_path: Path) -> None:
    events = [{"event_id": "a", "timestamp": OCT + timedelta(days=1), "properties": {"v": 1}}]
    quantity = price(tmp_path, meter("weighted_sum"), events, [{"plan": "p"}])["quantity"].item()
    assert quantity == Decimal("0.967741935484")  # 30/31


FILTERED = (
    '[meters.m]\nevent_name = "usage"\naggregation = "count"\nfilters = {{ {filters} }}\n' + PLAN
)


@pytest.mark.parametrize(
    ("filters", "props", "matches"),
    [
        ('code = ["200"]', {"code": 200}, True),
        ("code = [200]", {"code": "200"}, True),
        ('flag = ["true"]', {"flag": True}, True),
        ("flag = [true]", {"flag": True}, True),
        ('code = ["200"]', {"code": "2000"}, False),
        ('code = ["200"]', {}, False),  # missing key does not match
        ('a = ["x"], b = ["y"]', {"a": "x", "b": "y"}, True),  # AND across keys
        ('a = ["x"], b = ["y"]', {"a": "x"}, False),
        ('a = ["x", "z"]', {"a": "z"}, True),  # OR within a key
        ('a = ["X"]', {"a": "x"}, False),  # exact, case-sensitive
    ],
)
def test_filters(tmp_path: Path, filters: str, props: dict[str, Any], matches: bool) -> None:
    priced = price(
        tmp_path, FILTERED.format(filters=filters), [{"properties": props}], [{"plan": "p"}]
    )
    assert priced["quantity"].item() == (1 if matches else 0)


def test_group_by_prices_each_combination(tmp_path: Path) -> None:
    catalog = (
        '[meters.m]\nevent_name = "usage"\naggregation = "sum"\nfield = "v"\ngroup_by = ["region", "tier"]\n'
        '[plans.p]\ncurrency = "USD"\ninterval = "month"\n[[plans.p.prices]]\n'
        'model = "package"\nmeter = "m"\npackage_size = 10\namount = "1"\nfree_units = "5"\n'
    )
    events = [
        {"event_id": "1", "properties": {"v": 7, "region": "eu", "tier": "a"}},
        {"event_id": "2", "properties": {"v": 9, "region": "eu", "tier": "a"}},
        {"event_id": "3", "properties": {"v": 12, "region": "us", "tier": "a"}},
        {"event_id": "4", "properties": {"v": 30, "tier": "b"}},  # region missing: null group
    ]
    lines, invoices = bill(tmp_path, catalog, events, [{"plan": "p"}])
    got = {
        row["group"]: (row["quantity"], row["billable_quantity"])
        for row in lines.iter_rows(named=True)
    }
    assert got == {
        json.dumps({"region": "eu", "tier": "a"}): (16, 2),  # free units per group: 16-5=11 -> 2
        json.dumps({"region": "us", "tier": "a"}): (12, 1),
        json.dumps({"region": None, "tier": "b"}): (30, 3),
    }
    assert invoices["line_count"].item() == 3
    assert lines["line_number"].to_list() == [1, 2, 3]


def test_group_by_meter_without_usage_has_no_line(tmp_path: Path) -> None:
    catalog = (
        '[meters.m]\nevent_name = "usage"\naggregation = "count"\ngroup_by = ["region"]\n'
        '[plans.p]\ncurrency = "USD"\ninterval = "month"\n[[plans.p.prices]]\n'
        'model = "per_unit"\nmeter = "m"\nunit_amount = "1"\n'
    )
    lines, invoices = bill(tmp_path, catalog, [], [{"plan": "p"}])
    assert lines.height == 0 and invoices["total"].item() == 0


def test_several_meters_one_event_name(tmp_path: Path, example_dir: Path) -> None:
    catalog = (example_dir / "catalog.toml").read_text()
    events = [
        {
            "event_id": "1",
            "event_name": "llm.usage",
            "properties": {"model": "OpenAI O1", "prompt_type": "input", "tokens": 5_000_000},
        },
        {
            "event_id": "2",
            "event_name": "llm.usage",
            "properties": {"model": "OpenAI O1", "prompt_type": "output", "tokens": 2_000_000},
        },
        {
            "event_id": "3",
            "event_name": "llm.usage",
            "properties": {
                "model": "OpenAI O1",
                "prompt_type": "cached_input",
                "tokens": 1_000_000,
            },
        },
        {
            "event_id": "4",
            "event_name": "llm.usage",
            "properties": {"model": "gpt-4o", "prompt_type": "input", "tokens": 9_000_000},
        },
    ]
    lines, invoices = bill(tmp_path, catalog, events, [{"plan": "openai_o1"}])
    assert lines["amount"].to_list() == [Decimal("75.00"), Decimal("120.00"), Decimal("7.50")]
    assert invoices["total"].item() == Decimal("202.50")
