"""The compiled invoice run: golden SQL, quoting of hostile strings, and no DOUBLE anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from meterbill.catalog import load_catalog, parse_catalog
from meterbill.compiler import compile_run
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.errors import WorkspaceError
from tests.conftest import bill, periods_frame

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("METERBILL_UPDATE_GOLDEN") == "1"
HOSTILE = ["it's", "'; DROP TABLE invoices; --", 'say "hi"', "ключ ✓ 🚀", "a\\b", "x;y"]


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_golden_sql_of_the_seed(example_dir: Path, dialect: str) -> None:
    """Regenerate with METERBILL_UPDATE_GOLDEN=1 and review the diff."""
    sql = compile_run(load_catalog(example_dir / "catalog.toml")).sql(dialect)
    golden = GOLDEN / f"openai_o1.{dialect}.sql"
    if UPDATE:
        golden.write_text(sql, encoding="utf-8")
    assert sql == golden.read_text(encoding="utf-8"), "compiled SQL changed; see the golden file"


def _hostile_catalog(value: str, *, field: str | None = None) -> str:
    key = value.replace("\\", "\\\\").replace('"', '\\"')
    return f"""
[meters."{key}"]
event_name = "{key}"
aggregation = "sum"
field = "{field or key}"
filters = {{ "{key}" = ["{key}"], model = ["{key}"] }}

[plans."{key}"]
currency = "USD"
interval = "month"
[[plans."{key}".prices]]
model = "per_unit"
meter = "{key}"
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
