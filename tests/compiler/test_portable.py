"""The portability guard: SQL outside the allow-list fails compilation, naming the node."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from meterbill.catalog import load_catalog, parse_catalog
from meterbill.compiler import compile_run
from meterbill.compiler.portable import check_portable
from meterbill.errors import CompileError
from tests.engines.test_spark_parity import CHUNKS, _merge


def check(sql: str) -> None:
    check_portable(sqlglot.parse_one(sql, read="duckdb"))


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        # DuckDB's ASOF join: sqlglot writes it for Spark as a table alias (zero rows)
        ("SELECT * FROM a ASOF JOIN b ON a.t >= b.t", "an ASOF join"),
        # unknown to sqlglot: passed through to Spark unchanged
        ("SELECT frobnicate(x) FROM t", "the unknown function FROBNICATE()"),
        # DuckDB-only functions sqlglot knows
        ("SELECT list_sum(x) FROM t", "list_sum"),
        ("SELECT strftime(ts, '%Y') FROM t", "TimeToStr"),
        # meaning differs: DOUBLE in DuckDB, DOUBLE in Spark, CAST AS BIGINT in Spark
        ("SELECT a / b FROM t", "Div"),
        ("SELECT avg(x) FROM t", "Avg"),
        ("SELECT sign(x) FROM t", "Sign"),
        ("SELECT trunc(x) FROM t", "Trunc"),
        ("SELECT CAST(x AS DOUBLE) FROM t", "the type DOUBLE"),
        ("SELECT * FROM a FULL OUTER JOIN b ON a.x = b.x", "FULL OUTER join"),
        ("SELECT * FROM a JOIN b USING (x)", "USING"),
        ("SELECT sum(x) OVER (PARTITION BY y) FROM t", "Window"),
    ],
)
def test_refused(sql: str, named: str) -> None:
    with pytest.raises(CompileError, match="not known to mean the same on DuckDB and Spark") as err:
        check(sql)
    assert named.lower() in str(err.value).lower()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a.x, CAST(SUM(y) FILTER (WHERE z IN ('a', 'b')) AS DECIMAL(38, 12)) FROM a "
        "LEFT JOIN b ON a.k = b.k WHERE NOT a.y IS NULL GROUP BY a.x",
        "SELECT CAST(x AS HUGEINT) // 7 % 3, EPOCH_US(ts), ARG_MAX(v, (ts, id)), [p, q] FROM t",
        "WITH c AS (SELECT 1 AS x) SELECT x FROM c UNION ALL SELECT 2",
    ],
)
def test_allowed(sql: str) -> None:
    check(sql)


def test_bare_decimal_is_refused_or_made_explicit() -> None:
    """DuckDB reads a bare DECIMAL as (18,3), Spark as (10,0): never left implicit."""
    parsed = sqlglot.parse_one("SELECT CAST(x AS DECIMAL) FROM t", read="duckdb")
    assert "DECIMAL(18, 3)" in parsed.sql("spark")  # sqlglot writes DuckDB's default out
    bare = exp.select(exp.cast(exp.column("x"), exp.DataType(this=exp.DataType.Type.DECIMAL)))
    with pytest.raises(CompileError, match="without precision and scale"):
        check_portable(bare)


def test_every_real_catalog_compiles(example_dir: Path) -> None:
    """The seed and every parity case's catalog (all aggregations and price models)."""
    compile_run(load_catalog(example_dir / "catalog.toml"))
    for cases in CHUNKS.values():
        catalog, _, _ = _merge(cases)
        assert compile_run(catalog).tree is not None


def test_compile_run_applies_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template that renders non-portable SQL is a compile error, not a Spark surprise."""
    from meterbill.compiler import environment

    monkeypatch.setattr(
        environment, "render", lambda *_, **__: "SELECT * FROM a ASOF JOIN b ON a.t >= b.t"
    )
    catalog = parse_catalog(
        '[meters.m]\nevent_name = "e"\naggregation = "count"\n[plans.p]\ncurrency = "USD"\n'
        'interval = "month"\n[[plans.p.prices]]\nmodel = "per_unit"\nmeter = "m"\nunit_amount = "1"\n'
    )
    with pytest.raises(CompileError, match="ASOF join"):
        compile_run(catalog)
