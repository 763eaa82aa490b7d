"""The compiled invoice run: golden SQL, quoting of hostile strings, and no DOUBLE anywhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from meterbill.catalog import load_catalog, parse_catalog
from meterbill.compiler import compile_run
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.errors import WorkspaceError
from tests.conftest import bill, periods_frame

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("METERBILL_UPDATE_GOLDEN") == "1"
HOSTILE = [
    "it's",
    "'; DROP TABLE invoices; --",
    'say "hi"',
    "ключ ✓ 🚀",
    "a\\b",
    "x;y",
    "$$ x $$",
    "/* c */ --",
    "l1\nl2\r",
    "\u202eRTL\u202c عربى",
    "''\\'",
    " padded ",
    "k" * 3000,
]


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
@pytest.mark.parametrize("case", ["openai_o1", "hostile"])
def test_golden_sql(example_dir: Path, case: str, dialect: str) -> None:
    """Regenerate with METERBILL_UPDATE_GOLDEN=1 and review the diff.

    ``hostile``: every catalog string that reaches SQL is a quote, comment, dollar quote,
    backslash, newline, RTL mark or semicolon; the golden shows each quoted once.
    """
    path = example_dir / "catalog.toml" if case == "openai_o1" else GOLDEN / "hostile.toml"
    sql = compile_run(load_catalog(path)).sql(dialect)
    golden = GOLDEN / f"{case}.{dialect}.sql"
    if UPDATE:
        golden.write_text(sql, encoding="utf-8")
    assert sql == golden.read_text(encoding="utf-8"), "compiled SQL changed; see the golden file"
    if case == "hostile":  # each hostile string is one literal or identifier, never code
        tree = sqlglot.parse_one(sql, read=dialect)
        literals = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
        identifiers = {i.this for i in tree.find_all(exp.Identifier)}
        assert {
            "ev'; SELECT 1; --",
            "O1' OR '1'='1",
            "7",
            "true",
            "$$x$$",
            "l1\nl2",
            "e\\'",
            "it's\"; DROP TABLE invoices; --",
            "plan'; --",
            "count;",
        } <= literals
        assert {
            "p__mo'del",
            "p__/* k */",
            'p__reg"ion',
            "p__\u202ertl\u202c",
            'n__tok"ens\\',
            "p__u'; --",
        } <= identifiers
        assert not list(tree.find_all(exp.Drop))


def _hostile_catalog(value: str, *, field: str | None = None) -> str:
    key = json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    return f"""
[meters.{key}]
event_name = {key}
aggregation = "sum"
field = {json.dumps(field or value, ensure_ascii=False)}
filters = {{ {key} = [{key}], model = [{key}] }}

[plans.{key}]
currency = "USD"
interval = "month"
[[plans.{key}.prices]]
model = "per_unit"
meter = {key}
unit_amount = "1"
"""


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_stay_literals(value: str) -> None:
    compiled = compile_run(parse_catalog(_hostile_catalog(value)))
    assert compiled.tree is not None
    literals = [lit.this for lit in compiled.tree.find_all(exp.Literal) if lit.is_string]
    identifiers = {i.this for i in compiled.tree.find_all(exp.Identifier)}
    assert literals.count(value) >= 4  # event name, filter value, meter key, plan key
    assert {"p__" + value, "n__" + value} <= identifiers
    assert not list(compiled.tree.find_all(exp.Drop))
    # The Spark text, read back by sqlglot, holds the same values as literals.
    spark = sqlglot.parse_one(compiled.sql("spark"), read="spark")
    spark_literals = [lit.this for lit in spark.find_all(exp.Literal) if lit.is_string]
    assert spark_literals.count(value) == literals.count(value)
    assert {"p__" + value, "n__" + value} <= {i.this for i in spark.find_all(exp.Identifier)}


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_match_exactly(tmp_path: Path, value: str) -> None:
    """Key, filter value, event name and customer id all hostile: only exact matches count."""
    match = {value: value, "model": value}
    events = [
        {"event_name": value, "customer_id": value, "properties": {**match, "tokens": 7}},
        {"event_name": value, "customer_id": value, "properties": {**match, "tokens": 5}},
        {
            "event_name": value,
            "customer_id": value,
            "properties": {**match, value: value + " ", "tokens": 100},
        },
        {"event_name": value + ";", "customer_id": value, "properties": {**match, "tokens": 1000}},
        {"event_name": value, "customer_id": value + "'", "properties": {**match, "tokens": 10000}},
    ]
    catalog = _hostile_catalog(value, field="tokens")
    lines, invoices = bill(tmp_path, catalog, events, [{"plan": value, "customer_id": value}])
    assert lines.select("meter", "quantity", "amount").row(0) == (value, 12, 12)
    assert invoices["customer_id"].item() == value
    assert invoices["plan"].item() == value


def test_no_division_or_avg_in_compiled_sql(example_dir: Path) -> None:
    tree = compile_run(load_catalog(example_dir / "catalog.toml")).tree
    assert tree is not None
    assert not list(tree.find_all(exp.Div))
    assert not list(tree.find_all(exp.Avg))


def test_no_double_or_float_column(example_dir: Path, tmp_path: Path) -> None:
    compiled = compile_run(load_catalog(example_dir / "catalog.toml"))
    engine = DuckDBEngine()
    con = engine.connect()
    engine.bind_lake(con, [], compiled.columns)
    engine.bind_periods(con, periods_frame([{"plan": "openai_o1"}]))
    described = con.execute("DESCRIBE " + compiled.sql("duckdb")).fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["quantity"] == "DECIMAL(38,12)"
    assert types["amount"] == "DECIMAL(38,24)"
    assert not [t for t in types.values() if "DOUBLE" in t or "FLOAT" in t], types


def test_unknown_plan_is_a_request_error(example_dir: Path) -> None:
    with pytest.raises(WorkspaceError, match="unknown plan 'nope'; known plans are openai_o1"):
        compile_run(load_catalog(example_dir / "catalog.toml"), plans=["nope"])


def test_flat_fee_only_catalog_needs_no_query() -> None:
    catalog = parse_catalog(
        '[plans.p]\ncurrency = "USD"\ninterval = "month"\n[[plans.p.prices]]\nmodel = "flat_fee"\namount = "5"\n'
    )
    assert compile_run(catalog).tree is None


def test_duckdb_error_points_at_compiled_sql(tmp_path: Path, example_dir: Path) -> None:
    compiled = compile_run(load_catalog(example_dir / "catalog.toml"))
    bad = tmp_path / "lake.parquet"
    duckdb.sql(
        f"COPY (SELECT 'x' AS customer_id) TO '{bad}' (FORMAT parquet)"
    )  # no timestamp column type match
    from meterbill.errors import EngineError

    with pytest.raises(EngineError, match=r"compiled SQL at .*run\.sql"):
        DuckDBEngine().run(
            compiled,
            lake_files=[bad, tmp_path / "missing.parquet"],
            periods=periods_frame([{"plan": "openai_o1"}]),
            sql_path=tmp_path / "run.sql",
        )


def test_an_amount_beyond_the_decimals_says_so(tmp_path: Path) -> None:
    """10^20 units at 10^6 each: beyond DECIMAL(38, 24); one line saying why, not just DuckDB's."""
    from meterbill.errors import EngineError

    catalog = (
        '[meters.m]\nevent_name = "usage"\naggregation = "sum"\nfield = "q"\n'
        '[plans.p]\ncurrency = "USD"\ninterval = "month"\n'
        '[[plans.p.prices]]\nmodel = "per_unit"\nmeter = "m"\nunit_amount = "1000000"\n'
    )
    events = [{"properties": {"q": 10**20}}]
    with pytest.raises(EngineError) as info:
        bill(tmp_path, catalog, events, [{"plan": "p"}])
    message = str(info.value)
    assert "quantities stay below 10^26 and a line's exact amount below 10^14" in message
    assert "\n" not in message
    assert message.endswith("run.sql")


def test_nul_in_names_and_values_matches_exactly(tmp_path: Path) -> None:
    """NUL may be in event names, filter values, meter/plan keys and customer ids (not
    property keys, which ingest refuses): it is data, and only the exact text matches."""
    value = "a\x00b"
    key = json.dumps(value)
    catalog = f"""
[meters.{key}]
event_name = {key}
aggregation = "sum"
field = "tokens"
filters = {{ model = [{key}] }}
[plans.{key}]
currency = "USD"
interval = "month"
[[plans.{key}.prices]]
model = "per_unit"
meter = {key}
unit_amount = "1"
"""
    events = [
        {"event_name": value, "customer_id": value, "properties": {"model": value, "tokens": 3}},
        {"event_name": value, "customer_id": value, "properties": {"model": "a", "tokens": 50}},
        {"event_name": "a", "customer_id": value, "properties": {"model": value, "tokens": 700}},
    ]
    lines, _ = bill(tmp_path, catalog, events, [{"plan": value, "customer_id": value}])
    assert lines.select("meter", "quantity", "amount").rows() == [(value, 3, 3)]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_group_by_keys_and_values(tmp_path: Path, value: str) -> None:
    """A group_by key and group values that are SQL and JSON metacharacters: one group per
    exact text, the group column is JSON of the exact key and value."""
    key = json.dumps(value, ensure_ascii=False)
    catalog = f"""
[meters.m]
event_name = "usage"
aggregation = "sum"
field = "tokens"
group_by = [{key}]
[plans.p]
currency = "USD"
interval = "month"
[[plans.p.prices]]
model = "per_unit"
meter = "m"
unit_amount = "1"
"""
    events = [
        {"properties": {value: value, "tokens": 1}},
        {"properties": {value: value, "tokens": 2}},
        {"properties": {value: value + "'", "tokens": 40}},
        {"properties": {"tokens": 500}},
    ]
    lines, _ = bill(tmp_path, catalog, events, [{"plan": "p"}])
    got = {json.dumps(json.loads(g)): q for g, q in lines.select("group", "quantity").rows()}
    assert got == {
        json.dumps({value: value}): 3,
        json.dumps({value: value + "'"}): 40,
        json.dumps({value: None}): 500,
    }
