"""DuckDB and Spark give the same invoices, line for line: exported line items byte for byte.

Every case of the pricing, aggregation and tier tables (harvested from their
``parametrize`` marks, so a new row there is a new parity case here) plus edge values
runs on both engines. Spark is slow to start and to plan, so cases are batched: each
case's catalog, customers and events are renamed apart (``c7:m``, ``c7:c1``) into one
catalog and one lake, which prices every invoice exactly as its own run would (periods
join events by customer, prices select by plan), and each batch is one query per engine.
One local[2] session serves the whole module; the tests skip only when Java is missing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meterbill.catalog import Catalog, parse_catalog
from meterbill.compiler import compile_run
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.engines.spark import SparkEngine, java_available
from meterbill.errors import EngineError
from meterbill.export import write_frame
from meterbill.invoices.assemble import assemble
from meterbill.settings import SparkSettings
from tests.compiler.test_compile import HOSTILE
from tests.conftest import OCT, periods_frame, write_lake_file
from tests.invoices import test_aggregations, test_pricing, test_tiered

pytestmark = pytest.mark.spark


@dataclass
class Case:
    """One catalog, its events and its billing periods (keys as the catalog writes them)."""

    id: str
    catalog: str
    events: list[dict[str, Any]] = field(default_factory=list)
    periods: list[dict[str, Any]] = field(default_factory=lambda: [{"plan": "p"}])


# -- the cases -------------------------------------------------------------------------


def _harvest(test: Callable[..., Any], build: Callable[..., Case]) -> Iterator[Case]:
    """One case per row of a test's ``parametrize`` table, built from the row's values."""
    for mark in getattr(test, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        argnames = mark.args[0]
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else argnames
        for index, values in enumerate(mark.args[1]):
            row = dict(zip(names, values if len(names) > 1 else [values], strict=True))
            case = build(**row)
            case.id = f"{test.__name__}[{index}]"
            yield case


def _usage(q: Any) -> list[dict[str, Any]]:
    return [{"properties": {"q": q}}] if Decimal(str(q)) != 0 else []


def _pricing_cases() -> list[Case]:
    t = test_pricing
    up = t.PACKAGE_100
    package = 'model = "package"\nmeter = "m"\npackage_size = {}\namount = "{}"'
    cases = [
        *_harvest(t.test_package_rounds_up, lambda q, **_: Case("", t.plan(up), _usage(q))),
        *_harvest(
            t.test_package_rounds_down,
            lambda q, **_: Case("", t.plan(up + '\nround = "down"'), _usage(q)),
        ),
        *_harvest(
            t.test_package_free_units,
            lambda free, **_: Case(
                "", t.plan(package.format(10, 100) + f'\nfree_units = "{free}"'), _usage(121)
            ),
        ),
        *_harvest(
            t.test_per_unit,
            lambda unit, free, q, currency, **_: Case(
                "",
                t.plan(
                    f'model = "per_unit"\nmeter = "m"\nunit_amount = "{unit}"\nfree_units = "{free}"',
                    currency,
                ),
                _usage(q),
            ),
        ),
        Case("package_50_per_10", t.plan(package.format(10, 50)), _usage(25)),
        Case("package_decimal_ceils", t.plan(package.format(1, 2)), _usage("0.000000000001")),
        *[
            Case(f"seed_package_{q}", t.plan(package.format(1000000, "15.00")), _usage(q))
            for q in (1, 1_000_001, 5_000_000)
        ],
        Case("zero_usage", t.plan(up)),
        Case(
            "flat_fee_prorated",
            t.plan('model = "flat_fee"\namount = "31.00"'),
            [],
            [{"plan": "p", "days": 17, "full_days": 31}, {"plan": "p", "customer_id": "c2"}],
        ),
        Case(
            "outside_the_period",
            t.plan(up),
            [
                {"timestamp": OCT - timedelta(microseconds=1), "properties": {"q": 5}},
                {"timestamp": OCT, "properties": {"q": 7}},
                {"timestamp": OCT + timedelta(days=31), "properties": {"q": 11}},
            ],
        ),
    ]
    return cases


def _aggregation_cases() -> list[Case]:
    t = test_aggregations
    ids = [{**e, "event_id": f"{i}"} for i, e in enumerate(t.EVENTS)]
    group_catalog = inspect.getsource(t.test_group_by_prices_each_combination)
    assert "group_by" in group_catalog  # the group cases below mirror that test's catalog
    grouped = (
        '[meters.m]\nevent_name = "usage"\naggregation = "sum"\nfield = "v"\n'
        'group_by = ["region", "tier"]\n[plans.p]\ncurrency = "USD"\ninterval = "month"\n'
        '[[plans.p.prices]]\nmodel = "package"\nmeter = "m"\npackage_size = 10\n'
        'amount = "1"\nfree_units = "5"\n'
    )
    return [
        *_harvest(
            t.test_aggregation,
            lambda aggregation, extra, **_: Case("", t.meter(aggregation, extra), ids),
        ),
        *_harvest(
            t.test_filters,
            lambda filters, props, **_: Case(
                "", t.FILTERED.format(filters=filters), [{"properties": props}]
            ),
        ),
        Case(
            "avg_two_thirds",
            t.meter("avg"),
            [{"event_id": str(i), "properties": {"v": v}} for i, v in enumerate([1, 1, 0])],
        ),
        Case(
            "avg_negative",
            t.meter("avg"),
            [{"event_id": str(i), "properties": {"v": v}} for i, v in enumerate(["-1", "-1", "0"])],
        ),
        Case(
            "avg_big",
            t.meter("avg"),
            [
                {"event_id": str(i), "properties": {"v": "12345678901234.123456789012"}}
                for i in range(3)
            ],
        ),
        Case(
            "latest_ties",
            t.meter("latest"),
            [
                {"event_id": "b", "timestamp": t.at(1), "properties": {"v": 2}},
                {"event_id": "a", "timestamp": t.at(1), "properties": {"v": 1}},
            ],
        ),
        Case(
            "weighted_sum",
            t.meter("weighted_sum"),
            [
                {"event_id": "a", "timestamp": OCT, "properties": {"v": 31}},
                {"event_id": "b", "timestamp": OCT + timedelta(days=15.5), "properties": {"v": 10}},
                {"event_id": "c", "timestamp": OCT + timedelta(days=30), "properties": {"v": 31}},
                {
                    "event_id": "d",
                    "timestamp": OCT + timedelta(days=1),
                    "properties": {"v": "-7.5"},
                },
            ],
        ),
        Case(
            "group_by",
            grouped,
            [
                {"event_id": "1", "properties": {"v": 7, "region": "eu", "tier": "a"}},
                {"event_id": "2", "properties": {"v": 9, "region": "eu", "tier": "a"}},
                {"event_id": "3", "properties": {"v": 12, "region": "us", "tier": "a"}},
                {"event_id": "4", "properties": {"v": 30, "tier": "b"}},
                {"event_id": "5", "properties": {"v": 1}},  # every group key null
            ],
        ),
        Case("group_by_no_usage", grouped),
    ]


def _tier_cases() -> list[Case]:
    t = test_tiered
    return [
        *_harvest(
            t.test_tiers, lambda mode, tiers, q, **_: Case("", t.tiered(mode, tiers), _usage(q))
        ),
        Case("volume_unit_amount", t.tiered("volume", t.VOLUME), _usage(15)),
    ]


D = 1000  # the package size and tier bound the edge values sit around
BIG = str(2**53 + 1)  # past a double's exact integers
EDGE_QUANTITIES = ["0", "1", f"{D - 1}", f"{D}", f"{D + 1}", "0.000000000001",
                   "999.999999999999", "123456789.123456789012"]  # fmt: skip
EDGE_PRICES = {
    "package_up": f'model = "package"\nmeter = "m"\npackage_size = {D}\namount = "0.123456789012"',
    "package_down": f'model = "package"\nmeter = "m"\npackage_size = {D}\namount = "7"\nround = "down"',
    "per_unit": 'model = "per_unit"\nmeter = "m"\nunit_amount = "0.000000000001"\nfree_units = "1"',
    "graduated": test_tiered.tiered(
        "graduated", [(str(D), "0.000000000001", "0"), (None, "0.5", "1.1")]
    ).split("[[plans.p.prices]]\n", 1)[1],
    "volume": test_tiered.tiered(
        "volume", [(str(D - 1), "2", "0"), (str(D), "1", "3"), (None, "0.25", "0")]
    ).split("[[plans.p.prices]]\n", 1)[1],
}


def _edge_cases() -> list[Case]:
    meter = test_tiered.METER
    head = '[plans.p]\ncurrency = "USD"\ninterval = "month"\n'
    cases = [
        Case(f"edge_{name}_{q}", meter + head + "[[plans.p.prices]]\n" + price + "\n", _usage(q))
        for name, price in EDGE_PRICES.items()
        for q in [*EDGE_QUANTITIES, *([BIG] if name.startswith("package") else [])]
    ]
    # packages of a quantity past BIGINT (9.2e18 tokens), up and down
    for rounding in ("up", "down"):
        price = (
            f'model = "package"\nmeter = "m"\npackage_size = {10**12}\namount = "0.01"\n'
            f'round = "{rounding}"'
        )
        cases.append(
            Case(
                f"edge_package_huge_{rounding}",
                meter + head + "[[plans.p.prices]]\n" + price + "\n",
                _usage("12345678901000000000000.000000000001"),
            )
        )
    # past 10^14, q * unit price leaves DECIMAL(38, 24): test_overflow_fails_on_both_engines
    for currency in ("JPY", "KWD"):
        cases.append(
            Case(
                f"edge_currency_{currency}",
                test_pricing.plan(
                    'model = "per_unit"\nmeter = "m"\nunit_amount = "0.000500000001"', currency
                ),
                [
                    {"event_id": str(i), "properties": {"q": q}}
                    for i, q in enumerate(["1001", "0.5"])
                ],
            )
        )
    for index, value in enumerate(HOSTILE):
        key = json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
        catalog = (
            f'[meters.{key}]\nevent_name = {key}\naggregation = "sum"\nfield = {key}\n'
            f'filters = {{ {key} = [{key}] }}\ngroup_by = [{key}, "g"]\n'
            f'[plans.{key}]\ncurrency = "USD"\ninterval = "month"\n'
            f'[[plans.{key}.prices]]\nmodel = "per_unit"\nmeter = {key}\nunit_amount = "1.5"\n'
        )
        events = [
            {"event_name": value, "customer_id": value, "properties": {value: v, "g": g}}
            for v, g in [(value, value), (value, None), (value + " ", value)]
        ]
        # a hostile value as the filter, the field (not a number: invalid), a group value
        events += [
            {"event_name": value, "customer_id": value, "properties": {value: value, "g": "x"}},
        ]
        cases.append(
            Case(f"hostile_{index}", catalog, events, [{"plan": value, "customer_id": value}])
        )
    return cases


# -- batching and running -------------------------------------------------------------


def _merge(cases: list[Case]) -> tuple[Catalog, list[dict[str, Any]], list[dict[str, Any]]]:
    """One catalog, lake and period list for many cases.

    Meters and plans are prefixed per distinct catalog (``k0:m``), customers, events and
    invoices per case (``c7:c1``): cases sharing a catalog are more customers on it.
    """
    meters: dict[str, Any] = {}
    plans: dict[str, Any] = {}
    tags: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    periods: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        if case.catalog not in tags:
            tag = tags[case.catalog] = f"k{len(tags)}:"
            catalog = parse_catalog(case.catalog)
            for key, meter in catalog.meters.items():
                meters[tag + key] = meter.model_copy(update={"key": tag + key})
            for key, plan in catalog.plans.items():
                prices = [
                    p.model_copy(update={"meter": tag + p.meter})
                    if getattr(p, "meter", None)
                    else p
                    for p in plan.prices
                ]
                plans[tag + key] = plan.model_copy(update={"key": tag + key, "prices": prices})
        plan_tag, tag = tags[case.catalog], f"c{i}:"
        for n, event in enumerate(case.events):
            events.append(
                {
                    **event,
                    "event_id": tag + str(event.get("event_id", f"e{n}")),
                    "customer_id": tag + event.get("customer_id", "c1"),
                }
            )
        for period in case.periods:
            customer = tag + period.get("customer_id", "c1")
            periods.append(
                {
                    **period,
                    "plan": plan_tag + period["plan"],
                    "customer_id": customer,
                    "invoice_id": f"inv_{customer}",
                    "subscription_id": f"sub_{customer}",
                }
            )
    return Catalog(meters=meters, plans=plans), events, periods


@pytest.fixture(scope="module")
def spark() -> SparkEngine:
    """One local[2] Spark session for the module (started on the first run)."""
    if not java_available():
        pytest.skip("Spark needs Java, and none is installed")
    return SparkEngine(SparkSettings(master="local[2]"))


def _exports(lines: pl.DataFrame, out: Path) -> dict[str, bytes]:
    result = {}
    for fmt in ("csv", "json", "parquet"):
        path = out / f"line_items.{fmt}"
        write_frame(lines, fmt=fmt, out=path)  # type: ignore[arg-type]
        result[fmt] = path.read_bytes()
    return result


BATCHES = {
    "pricing": _pricing_cases,
    "aggregations": _aggregation_cases,
    "tiers": _tier_cases,
    "edges": _edge_cases,
}
#: Distinct catalogs per Spark query. Spark's planning time grows faster than the query
#: (each price re-reads the usage of every meter), so a few catalogs per query is the
#: sweet spot; cases that share a catalog cost nothing extra (one more customer).
CATALOGS_PER_QUERY = 4


def _chunks() -> dict[str, list[Case]]:
    """The batches as queries: cases grouped by catalog, a few catalogs per query."""
    out: dict[str, list[Case]] = {}
    for name, build in BATCHES.items():
        by_catalog: dict[str, list[Case]] = {}
        for case in build():
            by_catalog.setdefault(case.catalog, []).append(case)
        groups = list(by_catalog.values())
        for start in range(0, len(groups), CATALOGS_PER_QUERY):
            chunk = groups[start : start + CATALOGS_PER_QUERY]
            out[f"{name}-{start // CATALOGS_PER_QUERY}"] = [c for group in chunk for c in group]
    return out


CHUNKS = _chunks()


@pytest.mark.parametrize("chunk", list(CHUNKS))
def test_line_items_identical(chunk: str, spark: SparkEngine, tmp_path: Path) -> None:
    cases = CHUNKS[chunk]
    catalog, events, periods = _merge(cases)
    compiled = compile_run(catalog)
    files = [write_lake_file(tmp_path / "lake" / "part.parquet", events)] if events else []
    frame = periods_frame(periods)
    results = {}
    for engine in (DuckDBEngine(), spark):
        result = engine.run(compiled, lake_files=files, periods=frame, sql_path=tmp_path / "q.sql")
        lines, invoices = assemble(catalog, frame, result.priced)
        results[engine.name] = (result, lines, invoices)
    (d_result, d_lines, d_invoices), (s_result, s_lines, s_invoices) = results.values()
    order = ["invoice_id", "price_index", "group_values"]
    assert_frame_equal(d_result.priced.sort(order), s_result.priced.sort(order))
    assert_frame_equal(d_result.unbilled, s_result.unbilled)
    assert_frame_equal(d_invoices, s_invoices)
    duck = _exports(d_lines, tmp_path / "duckdb")
    for fmt, data in _exports(s_lines, tmp_path / "spark").items():
        if data != duck[fmt]:
            for i, case in enumerate(cases):  # name the first case that differs
                mine = pl.col("invoice_id").str.starts_with(f"inv_c{i}:")
                assert_frame_equal(d_lines.filter(mine), s_lines.filter(mine), obj=case.id)
        assert data == duck[fmt], fmt
    assert d_lines.height >= len([c for c in cases if c.events]) - 1


def test_seed_total_on_spark(spark: SparkEngine, tmp_path: Path, example_dir: Path) -> None:
    catalog = parse_catalog((example_dir / "catalog.toml").read_text())
    tokens = {"input": 5_000_000, "output": 2_000_000, "cached_input": 1_000_000}
    events = [
        {"event_id": kind, "event_name": "llm.usage",
         "properties": {"model": "OpenAI O1", "prompt_type": kind, "tokens": n}}
        for kind, n in tokens.items()
    ]  # fmt: skip
    files = [write_lake_file(tmp_path / "lake" / "part.parquet", events)]
    frame = periods_frame([{"plan": "openai_o1"}])
    result = spark.run(compile_run(catalog), lake_files=files, periods=frame, sql_path=tmp_path)
    _, invoices = assemble(catalog, frame, result.priced)
    assert invoices["total"].item() == Decimal("202.50")


PER_UNIT_1000 = 'model = "per_unit"\nmeter = "m"\nunit_amount = "1000"'


@pytest.mark.parametrize("price", ["per_unit", "graduated", "volume"])
def test_overflow_fails_on_both_engines(spark: SparkEngine, tmp_path: Path, price: str) -> None:
    """A product past DECIMAL(38, 24) is an error on both engines, never a wrong amount."""
    catalog = parse_catalog(
        test_tiered.METER
        + '[plans.p]\ncurrency = "USD"\ninterval = "month"\n[[plans.p.prices]]\n'
        + (EDGE_PRICES[price] if price != "per_unit" else PER_UNIT_1000)
        + "\n"
    )
    files = [write_lake_file(tmp_path / "part.parquet", _usage(BIG))]
    frame = periods_frame([{"plan": "p"}])
    for engine in (DuckDBEngine(), spark):
        with pytest.raises(EngineError, match=r"(?i)(overflow|out.of.range).*compiled SQL at"):
            engine.run(compile_run(catalog), lake_files=files, periods=frame, sql_path=tmp_path)


def test_lake_without_a_property_column_reads_nulls(spark: SparkEngine, tmp_path: Path) -> None:
    """Two lake files, only one with the field: Spark merges schemas like DuckDB."""
    catalog = parse_catalog(test_aggregations.meter("sum"))
    files = [
        write_lake_file(tmp_path / "a.parquet", [{"event_id": "a", "properties": {"v": 5}}]),
        write_lake_file(tmp_path / "b.parquet", [{"event_id": "b", "properties": {"w": "x"}}]),
    ]
    frame = periods_frame([{"plan": "p"}])
    compiled = compile_run(catalog)
    got = [
        engine.run(compiled, lake_files=files, periods=frame, sql_path=tmp_path).priced
        for engine in (DuckDBEngine(), spark)
    ]
    assert_frame_equal(got[0], got[1])
    assert got[1].select("quantity", "invalid_events").row(0) == (Decimal(5), 1)


def test_spark_types_match_duckdb_and_nothing_is_double(spark: SparkEngine, tmp_path: Path) -> None:
    """Every aggregation and price model: Spark's result types are DuckDB's, and no
    expression anywhere in Spark's analyzed plan is DOUBLE or FLOAT."""
    wanted = {"weighted_sum", "group_by", "volume_unit_amount"}
    cases = [c for c in _aggregation_cases() if c.id.startswith("test_aggregation[")]
    cases += [c for c in _aggregation_cases() + _tier_cases() if c.id in wanted]
    cases += [c for c in _tier_cases() if c.id == "test_tiers[4]"]  # graduated 2.5 -> 45
    catalog, events, periods = _merge(cases)
    compiled = compile_run(catalog)
    session = spark.session()
    files = [write_lake_file(tmp_path / "part.parquet", events)]
    spark.bind(session, compiled, files, periods_frame(periods))
    result = session.sql(compiled.sql("spark"))
    types = {f.name: f.dataType.simpleString() for f in result.schema.fields}
    assert types["quantity"] == types["billable_quantity"] == "decimal(38,12)"
    assert types["unit_amount"] == "decimal(38,12)"
    assert types["amount"] == "decimal(38,24)"
    assert types["invalid_events"] == "bigint"
    plan = result._jdf.queryExecution().analyzed().treeString().lower()
    assert "decimal(38,24)" in plan  # the plan prints its types
    assert "double" not in plan and "float" not in plan
