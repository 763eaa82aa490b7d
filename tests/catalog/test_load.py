"""Catalog validation: a bad catalog is refused whole, every problem by its TOML path."""

from decimal import Decimal
from pathlib import Path

import pytest

from meterbill.catalog import load_catalog, parse_catalog
from meterbill.errors import CatalogError

METER = """
[meters.tokens]
event_name = "llm.usage"
aggregation = "sum"
field = "tokens"
"""
PLAN = """
[plans.p]
name = "P"
currency = "USD"
interval = "month"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(CatalogError) as info:
        parse_catalog(text)
    return info.value.problems


def test_seed_catalog_loads(example_dir: Path) -> None:
    catalog = load_catalog(example_dir / "catalog.toml")
    assert list(catalog.meters) == ["o1_input_tokens", "o1_output_tokens", "o1_cached_input_tokens"]
    prices = catalog.plans["openai_o1"].prices
    assert [p.amount for p in prices] == [Decimal("15.00"), Decimal("60.00"), Decimal("7.50")]  # type: ignore[union-attr]
    assert catalog.meters["o1_input_tokens"].filter_text() == {
        "model": ["OpenAI O1"],
        "prompt_type": ["input"],
    }


CASES = [
    (
        'model = "package"\nmeter = "tokens"\npackage_size = 0\namount = "1.00"',
        "plans.p.prices[0].package_size: must be an integer >= 1",
    ),
    (
        'model = "package"\nmeter = "tokens"\npackage_size = 1.5\namount = "1.00"',
        "plans.p.prices[0].package_size: must be an integer >= 1",
    ),
    (
        'model = "package"\nmeter = "tokens"\npackge_size = 10\npackage_size = 10\namount = "1.00"',
        "plans.p.prices[0].packge_size: unknown key",
    ),
    (
        'model = "per_unit"\nmeter = "nope"\nunit_amount = "1"',
        "plans.p.prices[0].meter: unknown meter 'nope'; known meters are tokens",
    ),
    (
        'model = "per_unit"\nmeter = "tokens"\nunit_amount = 0.1',
        'plans.p.prices[0].unit_amount: must be a decimal written as a string, like "15.00"',
    ),
    (
        'model = "per_unit"\nmeter = "tokens"\nunit_amount = "-1"',
        "plans.p.prices[0].unit_amount: must be >= 0",
    ),
    (
        'model = "per_unit"\nmeter = "tokens"\nunit_amount = "abc"',
        "plans.p.prices[0].unit_amount: must be a decimal written as a string",
    ),
    *[
        (
            f'model = "per_unit"\nmeter = "tokens"\nunit_amount = "{text}"',
            "plans.p.prices[0].unit_amount: must be a decimal written as a string",
        )
        for text in [" 1.5", "1_000", "\u0661\u0665", "1,5", "0x10", "", "1.5.0", "e5"]
    ],
    (
        'model = "per_unit"\nmeter = "tokens"\nunit_amount = "0.0000000000001"',
        "plans.p.prices[0].unit_amount: has more than 12 decimal places",
    ),
    ('model = "bogus"\nmeter = "tokens"', "plans.p.prices[0]: unknown model"),
    ('meter = "tokens"', "plans.p.prices[0].model: required, one of flat_fee"),
    (
        'model = "tiered"\nmeter = "tokens"\ntiers = [{up_to = 5, unit_amount = "1"}]',
        "plans.p.prices[0].mode: required",
    ),
    (
        'model = "tiered"\nmode = "volume"\nmeter = "tokens"\ntiers = [{up_to = 5, unit_amount = "1"}]',
        "plans.p.prices[0].tiers: the last tier must have no up_to (unbounded)",
    ),
    (
        'model = "tiered"\nmode = "graduated"\nmeter = "tokens"\n'
        'tiers = [{up_to = 5}, {up_to = 5}, {unit_amount = "1"}]',
        "plans.p.prices[0].tiers[1].up_to: must be greater than the tier before",
    ),
    ('model = "flat_fee"', "plans.p.prices[0].amount: required"),
    # Tiers: a negative amount would bill a credit, a bound <= 0 can never price anything.
    (
        'model = "tiered"\nmode = "graduated"\nmeter = "tokens"\n'
        'tiers = [{up_to = 5, unit_amount = "1"}, {unit_amount = "-1"}]',
        "plans.p.prices[0].tiers[1].unit_amount: must be >= 0",
    ),
    (
        'model = "tiered"\nmode = "volume"\nmeter = "tokens"\n'
        'tiers = [{up_to = 5, flat_amount = "-10"}, {unit_amount = "1"}]',
        "plans.p.prices[0].tiers[0].flat_amount: must be >= 0",
    ),
    (
        'model = "tiered"\nmode = "volume"\nmeter = "tokens"\n'
        'tiers = [{up_to = -5, unit_amount = "1"}, {unit_amount = "1"}]',
        "plans.p.prices[0].tiers[0].up_to: must be > 0",
    ),
    (
        'model = "tiered"\nmode = "volume"\nmeter = "tokens"\n'
        'tiers = [{up_to = "0", flat_amount = "5"}, {unit_amount = "1"}]',
        "plans.p.prices[0].tiers[0].up_to: must be > 0",
    ),
    (
        'model = "package"\nmeter = "tokens"\npackage_size = 1000000000000000000\namount = "1"',
        "plans.p.prices[0].package_size: must be below 10^18",
    ),
]


@pytest.mark.parametrize(("price", "expected"), CASES)
def test_price_problem_reported_by_path(price: str, expected: str) -> None:
    found = problems(METER + PLAN + "[[plans.p.prices]]\n" + price + "\n")
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("meter", "expected"),
    [
        ('event_name = "x"\naggregation = "sum"', "meters.m.field: required for aggregation 'sum'"),
        (
            'event_name = "x"\naggregation = "median"\nfield = "f"',
            "meters.m.aggregation: Input should be",
        ),
        ('aggregation = "count"', "meters.m.event_name: required"),
        ('event_name = ""\naggregation = "count"', "meters.m.event_name:"),
        (
            'event_name = "x"\naggregation = "sum_with_multiplier"\nfield = "f"\nmultiplier = "0"',
            "meters.m.multiplier: must be a decimal > 0",
        ),
        ('event_name = "x"\naggregation = "count"\nfilters = { model = [] }', "meters.m.filters:"),
        ('event_name = "x"\naggregation = "count"\nfiltrs = 1', "meters.m.filtrs: unknown key"),
        (
            'event_name = "x"\naggregation = "count"\nfield = "f"',
            "meters.m.field: not used by aggregation 'count'",
        ),
        # What ingest refuses can never match: blank event names, empty or NUL keys.
        ('event_name = "  "\naggregation = "count"', "meters.m.event_name: must not be empty"),
        (
            'event_name = "x"\naggregation = "sum"\nfield = "a\\u0000b"',
            "meters.m.field: property key 'a\\x00b' is empty or contains NUL",
        ),
        (
            'event_name = "x"\naggregation = "count"\nfilters = { "" = ["a"] }',
            "meters.m.filters.\"\": property key '' is empty",
        ),
        (
            'event_name = "x"\naggregation = "count"\ngroup_by = ["a", ""]',
            "meters.m.group_by[1]: property key '' is empty",
        ),
        (
            'event_name = "x"\naggregation = "count"\ngroup_by = ["a", "b", "a"]',
            "meters.m.group_by: 'a' is listed twice",
        ),
        # A TOML float filter value: is 1.0 the text "1" or "1.0"? The string says.
        (
            'event_name = "x"\naggregation = "count"\nfilters = { v = ["a", 1.0] }',
            'meters.m.filters.v[1]: write the number as a string, like "1.0"',
        ),
        (
            'event_name = "x"\naggregation = "count"\nfilters = { v = [{ a = 1 }] }',
            "meters.m.filters.v[0]: must be a string, an integer or a boolean, not dict",
        ),
    ],
)
def test_meter_problem_reported_by_path(meter: str, expected: str) -> None:
    found = problems("[meters.m]\n" + meter + "\n")
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_listed_at_once() -> None:
    text = (
        '[meters.a]\nevent_name = "x"\naggregation = "sum"\n'
        + PLAN
        + '[[plans.p.prices]]\nmodel = "package"\nmeter = "zz"\npackage_size = 0\namount = "1"\n'
        + '[[plans.p.prices]]\nmodel = "per_unit"\nmeter = "a"\nunit_amount = 1.5\n'
    )
    assert problems(text) == [
        "meters.a.field: required for aggregation 'sum'",
        "plans.p.prices[0].meter: unknown meter 'zz'; known meters are a",
        "plans.p.prices[0].package_size: must be an integer >= 1",
        'plans.p.prices[1].unit_amount: must be a decimal written as a string, like "15.00"',
    ]


def test_message_is_one_line_with_count() -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog('[meters.a]\nevent_name = "x"\naggregation = "sum"\n')
    assert (
        str(info.value) == "catalog.toml: 1 problem: meters.a.field: required for aggregation 'sum'"
    )
    assert "\n" not in str(info.value)


def test_not_toml() -> None:
    assert problems("[meters\n")[0].startswith("not valid TOML")


def test_bad_currency_and_interval() -> None:
    found = problems('[plans.p]\ncurrency = "usd"\ninterval = "fortnight"\n')
    assert found[0] == (
        "plans.p.currency: must be an ISO 4217 code of 3 capital letters, like \"USD\", not 'usd'"
    )
    assert found[1].startswith("plans.p.interval:")


@pytest.mark.parametrize(
    ("text", "value"),
    [("15.00", "15.00"), ("+1", "1"), (".5", "0.5"), ("1e-12", "1E-12"), ("-0", "-0"), ("2.", "2")],
)
def test_decimal_text_accepted(text: str, value: str) -> None:
    price = f'[[plans.p.prices]]\nmodel = "per_unit"\nmeter = "tokens"\nunit_amount = "{text}"\n'
    catalog = parse_catalog(METER + PLAN + price)
    assert catalog.plans["p"].prices[0].unit_amount == Decimal(value)  # type: ignore[union-attr]


def test_filter_values_keep_their_text() -> None:
    catalog = parse_catalog(
        '[meters.m]\nevent_name = "x"\naggregation = "count"\n'
        'filters = { v = ["1.0", 123, true, "-0", ""] }\n'
    )
    assert catalog.meters["m"].filter_text() == {"v": ["1.0", "123", "true", "-0", ""]}


def test_hostile_keys_are_quoted_in_paths() -> None:
    found = problems('[meters."it\'s; drop"]\nevent_name = "x"\naggregation = "sum"\n')
    assert found == ["meters.\"it's; drop\".field: required for aggregation 'sum'"]


def test_property_keys_differing_only_in_ascii_case_are_refused() -> None:
    """The lake keeps one spelling per key (DuckDB ignores ASCII case in column names):
    a meter on ``model`` beside one on ``Model`` read ``Model``'s values in a run."""
    found = problems(
        '[meters.a]\nevent_name = "x"\naggregation = "sum"\nfield = "T"\n'
        'filters = { Model = ["x"] }\n'
        '[meters.b]\nevent_name = "x"\naggregation = "sum"\nfield = "t"\n'
        'filters = { model = ["x"] }\ngroup_by = ["MODEL", "ключ"]\n'
        '[meters.c]\nevent_name = "x"\naggregation = "count"\ngroup_by = ["КЛЮЧ"]\n'
    )
    assert found == [
        "meters.b.field: property key 't' differs only in letter case from 'T' "
        "(meters.a.field); the lake keeps one spelling of a key",
        "meters.b.filters.model: property key 'model' differs only in letter case from "
        "'Model' (meters.a.filters.Model); the lake keeps one spelling of a key",
        "meters.b.group_by[0]: property key 'MODEL' differs only in letter case from "
        "'Model' (meters.a.filters.Model); the lake keeps one spelling of a key",
    ]  # non-ASCII letters are compared exactly, as DuckDB does


COUNT_NOT_FIELD = (
    "not used by aggregation 'count', which counts every matching event; remove it, or use"
    " count_unique to count distinct values"
)
CASE_CONFLICT = (
    "differs only in letter case from 'T' (meters.a.field); the lake keeps one spelling of a key"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A cross-field rule runs even when another field of the object has a problem.
        (
            '[meters.m]\nevent_name = " "\naggregation = "count"\nfield = "x"\n',
            [
                "meters.m.event_name: must not be empty or only whitespace",
                f"meters.m.field: {COUNT_NOT_FIELD}",
            ],
        ),
        (
            '[meters.m]\nevent_name = "x"\naggregation = "sum_with_multiplier"\nmultiplier = "0"\n'
            "filters = { k = [] }\n",
            [
                "meters.m.field: required for aggregation 'sum_with_multiplier'",
                "meters.m.filters: filter 'k' must list at least one value",
                "meters.m.multiplier: must be a decimal > 0 for sum_with_multiplier",
            ],
        ),
        (
            '[meters.m]\nevent_name = "x"\naggregation = "count"\nmultiplier = "2"\n'
            'group_by = ["a", "a"]\n',
            [
                "meters.m.group_by: 'a' is listed twice",
                "meters.m.multiplier: only for aggregation 'sum_with_multiplier'",
            ],
        ),
        (
            METER + PLAN + '[[plans.p.prices]]\nmodel = "tiered"\nmode = "flat"\nmeter = "tokens"\n'
            'tiers = [{up_to = 5, unit_amount = "-1"}, {up_to = 5}, {up_to = 9}]\n',
            [
                "plans.p.prices[0].mode: Input should be 'volume' or 'graduated'",
                "plans.p.prices[0].tiers: the last tier must have no up_to (unbounded)",
                "plans.p.prices[0].tiers[0].unit_amount: must be >= 0",
                "plans.p.prices[0].tiers[1].up_to: must be greater than the tier before",
            ],
        ),
        # Letter-case conflicts are found in an otherwise invalid catalog too.
        (
            '[meters.a]\nevent_name = "x"\naggregation = "sum"\nfield = "T"\n'
            '[meters.b]\nevent_name = ""\naggregation = "sum"\nfield = "t"\n',
            [
                "meters.b.event_name: must not be empty or only whitespace",
                f"meters.b.field: property key 't' {CASE_CONFLICT}",
            ],
        ),
        (
            '[meters.a]\nevent_name = "x"\naggregation = "sum"\nfield = "T"\n'
            '[meters.b]\nevent_name = "x"\naggregation = "count"\ngroup_by = ["t"]\n'
            + PLAN
            + '[[plans.p.prices]]\nmodel = "flat_fee"\namount = "x"\n',
            [
                f"meters.b.group_by[0]: property key 't' {CASE_CONFLICT}",
                "plans.p.prices[0].amount: must be a decimal written as a string, "
                "like \"15.00\", not 'x'",
            ],
        ),
        # Knock-on problems stay quiet: a rule reading a field with its own problem is skipped.
        (
            '[meters.m]\nevent_name = "x"\naggregation = "median"\n',
            [
                "meters.m.aggregation: Input should be 'count', 'sum', 'count_unique', 'max', "
                "'min', 'avg', 'latest', 'sum_with_multiplier' or 'weighted_sum'",
            ],
        ),
        (
            '[meters.m]\nevent_name = "x"\naggregation = "sum_with_multiplier"\nfield = "f"\n'
            'multiplier = "abc"\n',
            [
                'meters.m.multiplier: must be a decimal written as a string, like "15.00", '
                "not 'abc'",
            ],
        ),
        (
            '[meters.a]\nevent_name = "x"\naggregation = "sum"\nfield = "T"\n'
            '[meters.b]\nevent_name = "x"\naggregation = "sum"\nfield = "t"\n'
            'filters = { "" = ["v"] }\ngroup_by = ["a", ""]\n',
            [
                "meters.b.field: property key 't' " + CASE_CONFLICT,
                "meters.b.filters.\"\": property key '' is empty or contains NUL; no event has it",
                "meters.b.group_by[1]: property key '' is empty or contains NUL; no event has it",
            ],
        ),
        (
            METER
            + PLAN
            + '[[plans.p.prices]]\nmodel = "tiered"\nmode = "volume"\nmeter = "tokens"\n'
            'tiers = [{up_to = 5}, {up_to = "x"}, {up_to = 3}, {unit_amount = "1"}]\n',
            [
                "plans.p.prices[0].tiers[1].up_to: must be a decimal written as a string, "
                "like \"15.00\", not 'x'",
            ],
        ),
        (
            METER + PLAN + '[[plans.p.prices]]\nmodel = "per_unit"\nmeter = ["tokens"]\n'
            'unit_amount = "1"\n',
            ["plans.p.prices[0].meter: Input should be a valid string"],
        ),
        # A flat fee takes no meter: its `meter` is one unknown key, not also an unknown meter.
        (
            PLAN + '[[plans.p.prices]]\nmodel = "flat_fee"\namount = "1"\nmeter = "nope"\n',
            ["plans.p.prices[0].meter: unknown key"],
        ),
        # An unknown or missing model does not hide an unknown meter.
        (
            METER + PLAN + '[[plans.p.prices]]\nmodel = "bogus"\nmeter = "nope"\n',
            [
                "plans.p.prices[0]: unknown model; expected one of flat_fee, per_unit, package, "
                "tiered",
                "plans.p.prices[0].meter: unknown meter 'nope'; known meters are tokens",
            ],
        ),
        # In TOML path order, whatever order the file has.
        (
            '[meters.z]\nevent_name = "x"\naggregation = "sum"\n'
            '[meters.a]\nevent_name = "x"\naggregation = "max"\n',
            [
                "meters.a.field: required for aggregation 'max'",
                "meters.z.field: required for aggregation 'sum'",
            ],
        ),
    ],
)
def test_every_independent_problem_is_listed(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize("count", ["0", "-1", "1001", '"2"', "1.0", "true"])
def test_interval_count_problem_in_catalog_words(count: str) -> None:
    found = problems(PLAN + f"interval_count = {count}\n")
    assert found == ["plans.p.interval_count: must be an integer from 1 to 1000"]
