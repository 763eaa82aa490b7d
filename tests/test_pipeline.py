"""Every meter and price of the contract through the real pipeline, once.

catalog.toml on disk -> `meterbill customers/subscriptions import` -> `meterbill ingest`
of a JSON lines file -> `meterbill invoice run` -> `meterbill export line-items --format
csv`, all through the CLI. Each pricing case is its own plan and customer in one
workspace, so the whole table costs one ingest and one run. Expected amounts are
PRODUCT.md's and issue 3's examples, written out by hand.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from meterbill.cli.main import cli

PERIOD = "2026-10"
PACKAGE_100 = {"model": "package", "meter": "q", "package_size": 100, "amount": "1.00"}
GRADUATED_A = [("5", "0"), ("10", "2"), (None, "3")]
GRADUATED_B = [("1", "10"), ("2", "20"), (None, "30")]
VOLUME = [("10", "50"), ("20", "40"), (None, "30")]

#: case -> (price, quantity billed, currency, expected amount text)
PRICING: dict[str, tuple[dict[str, Any], str, str, str]] = {
    **{
        f"package_up_{q}": (PACKAGE_100, str(q), "USD", f"{n}.00")
        for q, n in [(0, 0), (2, 1), (99, 1), (100, 1), (101, 2), (150, 2), (250, 3)]
    },
    "package_down_50": ({**PACKAGE_100, "round": "down"}, "50", "USD", "0.00"),
    "package_down_250": ({**PACKAGE_100, "round": "down"}, "250", "USD", "2.00"),
    "package_50_per_10": (
        {"model": "package", "meter": "q", "package_size": 10, "amount": "50"},
        "25", "USD", "150.00",
    ),
    **{
        f"package_free_{free}": (
            {"model": "package", "meter": "q", "package_size": 10, "amount": "100",
             "free_units": str(free)},
            "121", "USD", amount,
        )
        for free, amount in [(0, "1300.00"), (10, "1200.00"), (200, "0.00")]
    },
    **{
        f"graduated_a_{q}": (
            {"model": "tiered", "meter": "q", "mode": "graduated", "tiers": GRADUATED_A},
            str(q), "USD", f"{amount}.00",
        )
        for q, amount in [(3, 0), (7, 4), (11, 13), (15, 25)]
    },
    "graduated_b_2_5": (
        {"model": "tiered", "meter": "q", "mode": "graduated", "tiers": GRADUATED_B},
        "2.5", "USD", "45.00",
    ),
    **{
        f"volume_{q}": (
            {"model": "tiered", "meter": "q", "mode": "volume", "tiers": VOLUME},
            str(q), "USD", f"{amount}.00",
        )
        for q, amount in [(5, 250), (15, 600), (25, 750)]
    },
    "per_unit_token": (
        {"model": "per_unit", "meter": "q", "unit_amount": "0.000015"}, "1000000", "USD", "15.00"
    ),
    "per_unit_free": (
        {"model": "per_unit", "meter": "q", "unit_amount": "2", "free_units": "3"},
        "5.5", "USD", "5.00",
    ),
    "round_usd": ({"model": "per_unit", "meter": "q", "unit_amount": "10.275"}, "1", "USD", "10.28"),
    "round_jpy": ({"model": "per_unit", "meter": "q", "unit_amount": "1000.5"}, "1", "JPY", "1001"),
    "round_kwd": ({"model": "per_unit", "meter": "q", "unit_amount": "1.0005"}, "1", "KWD", "1.001"),
    "round_clf": ({"model": "per_unit", "meter": "q", "unit_amount": "0.00005"}, "1", "CLF", "0.0001"),
}  # fmt: skip

#: meter -> (aggregation keys, expected quantity) over the AGG_EVENTS below.
AGGREGATIONS: dict[str, tuple[dict[str, Any], str]] = {
    "a_count": ({"aggregation": "count"}, "6"),
    "a_sum": ({"aggregation": "sum", "field": "v"}, "10.5"),
    "a_count_unique": ({"aggregation": "count_unique", "field": "v"}, "5"),
    "a_max": ({"aggregation": "max", "field": "v"}, "5"),
    "a_min": ({"aggregation": "min", "field": "v"}, "2.5"),
    "a_avg": ({"aggregation": "avg", "field": "v"}, "3.5"),
    "a_latest": ({"aggregation": "latest", "field": "v"}, "2.5"),
    "a_multiplied": (
        {"aggregation": "sum_with_multiplier", "field": "v", "multiplier": "1.5"}, "15.75"
    ),
    # 3 x 31/31 + 5 x 15.5/31 + 2.5 x 1/31 = 5.5806451612903225..., half-up to 12 places
    # is 5.580645161290 (text exports drop the trailing zero)
    "a_weighted": ({"aggregation": "weighted_sum", "field": "v"}, "5.58064516129"),
}  # fmt: skip
#: (day of October, hour, value): three numbers, then three events that are not numbers.
AGG_EVENTS = [(1, 0, 3), (16, 12, "5"), (31, 0, 2.5), (2, 0, "abc"), (3, 0, True), (4, 0, None)]

HOSTILE_METER = "o'; DROP TABLE invoices; --ü"
HOSTILE_KEY = "ké'y\";"
HOSTILE_VALUES = ["'); DROP TABLE line_items; --", 'ü"🔥']
HOSTILE_CUSTOMER = "c'; DROP TABLE customers; --ß"


def _toml(value: Any) -> str:
    """A TOML value: strings JSON-quoted (valid TOML basic strings), lists and tables inline."""
    if isinstance(value, dict):
        return (
            "{ "
            + ", ".join(
                f"{json.dumps(k, ensure_ascii=False)} = {_toml(v)}" for k, v in value.items()
            )
            + " }"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _price(price: dict[str, Any]) -> dict[str, Any]:
    if "tiers" in price:
        tiers = [
            {"unit_amount": unit, **({"up_to": up_to} if up_to else {})}
            for up_to, unit in price["tiers"]
        ]
        return {**price, "tiers": tiers}
    return price


def _catalog() -> str:
    meters: dict[str, dict[str, Any]] = {
        "q": {"event_name": "usage", "aggregation": "sum", "field": "q"},
        "filtered": {
            "event_name": "calls",
            "aggregation": "count",
            "filters": {"status": [200, True], "region": ["eu", "us"]},
        },
        "by_region": {"event_name": "calls", "aggregation": "count", "group_by": ["region"]},
        "third": {"event_name": "thirds", "aggregation": "sum", "field": "x"},
        HOSTILE_METER: {
            "name": HOSTILE_METER,
            "event_name": "hostile';--",
            "aggregation": "sum",
            "field": HOSTILE_KEY,
            "filters": {HOSTILE_KEY + "f": HOSTILE_VALUES},
        },
        **{key: {"event_name": "agg", **spec} for key, (spec, _) in AGGREGATIONS.items()},
    }
    plans: dict[str, tuple[str, list[dict[str, Any]]]] = {
        case: (currency, [_price(price)]) for case, (price, _, currency, _) in PRICING.items()
    }
    one = {"model": "per_unit", "unit_amount": "1"}
    plans["aggregations"] = ("USD", [{**one, "meter": key} for key in AGGREGATIONS])
    plans["calls"] = (
        "USD",
        [
            {**one, "meter": "filtered"},
            {"model": "package", "meter": "by_region", "package_size": 2, "amount": "1.00",
             "free_units": "1"},
        ],
    )  # fmt: skip
    plans["thirds"] = ("USD", [{"model": "flat_fee", "amount": "10.333333"}] * 3)
    plans["hostile"] = ("EUR", [{**one, "meter": HOSTILE_METER}])
    lines = []
    for key, meter in meters.items():
        lines.append(f"[meters.{json.dumps(key, ensure_ascii=False)}]")
        lines += [f"{k} = {_toml(v)}" for k, v in meter.items()]
    for key, (currency, prices) in plans.items():
        lines += [f"[plans.{key}]", f'currency = "{currency}"', 'interval = "month"']
        for price in prices:
            lines.append(f"[[plans.{key}.prices]]")
            lines += [f"{k} = {_toml(v)}" for k, v in price.items()]
    return "\n".join(lines) + "\n"


def _events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def event(customer: str, name: str, day: int, hour: int = 0, **properties: Any) -> None:
        events.append(
            {
                "event_id": f"e{len(events)}",
                "event_name": name,
                "customer_id": customer,
                "timestamp": f"{PERIOD}-{day:02d}T{hour:02d}:00:00Z",
                "properties": properties,
            }
        )

    for case, (_, quantity, _, _) in PRICING.items():
        q = Decimal(quantity)
        if q >= 2:  # two events, one a numeric string: the sum is the quantity
            event(case, "usage", 5, q=int(q - 1) if q == q.to_integral() else float(q - 1))
            event(case, "usage", 6, q="1")
        elif q:
            event(case, "usage", 5, q=quantity)
        event(case, "usage", 7, q=999, model="ignored")  # November: not this period
        events[-1]["timestamp"] = "2026-11-01T00:00:00Z"
    for day, hour, value in AGG_EVENTS:
        event("aggregations", "agg", day, hour, **({} if value is None else {"v": value}))
    for status, region in [
        (200, "eu"), ("200", "us"), (True, "eu"), ("true", "eu"),  # all four match
        (500, "eu"), (200, "asia"), (200, None), (None, "eu"),  # none of these
    ]:  # fmt: skip
        properties = {"status": status, "region": region}
        event("calls", "calls", 9, **{k: v for k, v in properties.items() if v is not None})
    for _ in range(3):
        event("thirds", "thirds", 10, x=1)
    for value in [*HOSTILE_VALUES, "near miss"]:
        event(HOSTILE_CUSTOMER, "hostile';--", 11, **{HOSTILE_KEY: 2, HOSTILE_KEY + "f": value})
    return events


def _cli(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """The exported line items, by customer (and the workspace, under key "")."""
    tmp = tmp_path_factory.mktemp("pipeline")
    ws = tmp / "ws"
    _cli("init", ws)
    (ws / "catalog.toml").write_text(_catalog(), encoding="utf-8")
    customers = [*PRICING, "aggregations", "calls", "thirds", HOSTILE_CUSTOMER]
    plans = [*PRICING, "aggregations", "calls", "thirds", "hostile"]
    with (tmp / "subscriptions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subscription_id", "customer_id", "plan", "start"])
        writer.writerows(
            [f"sub_{i}", c, p, f"{PERIOD}-01"]
            for i, (c, p) in enumerate(zip(customers, plans, strict=True))
        )
    _cli("subscriptions", "import", tmp / "subscriptions.csv", "-w", ws)
    events = tmp / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in _events()), encoding="utf-8")
    assert f"accepted {len(_events())}, duplicates 0, rejected 0" in _cli(
        "ingest", events, "-w", ws
    )
    _cli("invoice", "run", "--through", "2026-11-01", "-w", ws)
    out = tmp / "lines.csv"
    _cli("export", "line-items", "--format", "csv", "--out", out, "-w", ws)
    by_customer: dict[str, list[dict[str, str]]] = defaultdict(list)
    for line in csv.DictReader(out.read_text(encoding="utf-8").splitlines()):
        by_customer[line["customer_id"]].append(line)
    by_customer[""] = [{"workspace": str(ws)}]
    return by_customer


@pytest.mark.parametrize("case", list(PRICING))
def test_price_models(exported: dict[str, list[dict[str, str]]], case: str) -> None:
    _, quantity, currency, amount = PRICING[case]
    (line,) = exported[case]
    assert (line["amount"], line["currency"]) == (amount, currency)
    assert Decimal(line["quantity"]) == Decimal(quantity)


@pytest.mark.parametrize("meter", list(AGGREGATIONS))
def test_aggregations(exported: dict[str, list[dict[str, str]]], meter: str) -> None:
    lines = {line["meter"]: line for line in exported["aggregations"]}
    assert lines[meter]["quantity"] == AGGREGATIONS[meter][1]


def test_invalid_values_are_reported_not_billed(exported: dict[str, list[dict[str, str]]]) -> None:
    ws = exported[""][0]["workspace"]
    counts = _cli(
        "sql", "SELECT meter, events FROM invalid_usage ORDER BY meter", "--format", "csv", "-w", ws
    )
    # "abc", true and the missing value, for every meter that needs a number; count_unique
    # reads text, so only the missing value is invalid there
    expected = {key: 3 for key, (spec, _) in AGGREGATIONS.items() if "field" in spec}
    expected["a_count_unique"] = 1
    assert (
        dict((row["meter"], int(row["events"])) for row in csv.DictReader(counts.splitlines()))
        == expected
    )
    listed = _cli(
        "sql", "SELECT event_id, value FROM invalid_events WHERE meter = 'a_sum'",
        "--format", "csv", "-w", ws,
    )  # fmt: skip
    first = next(i for i, e in enumerate(_events()) if e["event_name"] == "agg")
    assert sorted(listed.splitlines()[1:]) == sorted(
        [f"e{first + 3},abc", f"e{first + 4},true", f"e{first + 5},"]
    )


def test_filters_match_text_and_groups_price_apart(
    exported: dict[str, list[dict[str, str]]],
) -> None:
    lines = exported["calls"]
    (filtered,) = [line for line in lines if line["meter"] == "filtered"]
    assert (filtered["quantity"], filtered["amount"]) == ("4", "4.00")
    groups = {line["group"]: line for line in lines if line["meter"] == "by_region"}
    # eu: 5 events -> 4 after the free unit -> 2 packages; us, asia: 1 -> 0; missing: null
    assert {g: (v["quantity"], v["billable_quantity"], v["amount"]) for g, v in groups.items()} == {
        '{"region": "eu"}': ("5", "2", "2.00"),
        '{"region": "us"}': ("1", "0", "0.00"),
        '{"region": "asia"}': ("1", "0", "0.00"),
        '{"region": null}': ("1", "0", "0.00"),
    }


def test_subtotal_is_the_sum_of_rounded_lines(exported: dict[str, list[dict[str, str]]]) -> None:
    assert [line["amount"] for line in exported["thirds"]] == ["10.33"] * 3
    ws = exported[""][0]["workspace"]
    totals = _cli(
        "sql",
        "SELECT subtotal, total, currency FROM invoices WHERE customer_id = 'thirds'",
        "--format", "csv", "-w", ws,
    )  # fmt: skip
    assert totals.splitlines()[1] == "30.99,30.99,USD"


def test_hostile_strings_match_as_data(exported: dict[str, list[dict[str, str]]]) -> None:
    (line,) = exported[HOSTILE_CUSTOMER]
    assert line["meter"] == HOSTILE_METER
    assert (line["quantity"], line["amount"], line["currency"]) == ("4", "4.00", "EUR")
    assert line["description"].startswith(HOSTILE_METER)
    ws = exported[""][0]["workspace"]
    tables = _cli("sql", "SELECT count(*) AS n FROM invoices", "--format", "csv", "-w", ws)
    assert tables.splitlines()[1] == str(len(PRICING) + 4)
