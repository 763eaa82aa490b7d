"""The Spark dialect step: each transform once, as DuckDB SQL in and Spark SQL out."""

from __future__ import annotations

import pytest
import sqlglot

from meterbill.compiler.dialect import to_spark


def spark(duckdb_sql: str) -> str:
    return to_spark(sqlglot.parse_one(duckdb_sql, read="duckdb")).sql("spark")


@pytest.mark.parametrize(
    ("duckdb_sql", "spark_sql"),
    [
        # HUGEINT: no 128-bit integer in Spark
        ("SELECT CAST(x AS HUGEINT)", "SELECT CAST(x AS DECIMAL(38, 0))"),
        # // on known 64-bit integers: Spark's DIV (BIGINT, truncating like DuckDB)
        ("SELECT (CAST(x AS BIGINT) + 9) // 10", "SELECT (CAST(x AS BIGINT) + 9) DIV 10"),
        ("SELECT COUNT(*) // 2", "SELECT COUNT(*) DIV 2"),
        # // on anything wider or unknown: an exact decimal quotient, not DIV's BIGINT
        (
            "SELECT CAST(x AS HUGEINT) // n",
            "SELECT CAST((CAST(x AS DECIMAL(38, 0)) - CAST(x AS DECIMAL(38, 0)) % n) / n "
            "AS DECIMAL(38, 0))",
        ),
        # nested: the inner // is rewritten too
        (
            "SELECT (a // b) // 7",
            "SELECT CAST(((CAST((a - a % b) / b AS DECIMAL(38, 0))) - "
            "(CAST((a - a % b) / b AS DECIMAL(38, 0))) % 7) / 7 AS DECIMAL(38, 0))",
        ),
        # EPOCH_US: microseconds since 1970 (sqlglot passes it through unchanged)
        ('SELECT EPOCH_US(e."timestamp")', "SELECT UNIX_MICROS(e.`timestamp`)"),
        # ARG_MAX with a row key: a struct key, compared field by field
        ("SELECT ARG_MAX(v, (ts, id))", "SELECT MAX_BY(v, STRUCT(ts, id))"),
        # list literals and VARCHAR[] (sqlglot's own mapping, pinned here)
        (
            "SELECT [a, b], CAST(NULL AS VARCHAR[])",
            "SELECT ARRAY(a, b), CAST(NULL AS ARRAY<STRING>)",
        ),
        # strings: Spark reads backslash escapes, so they are doubled; quotes in names
        ("SELECT 'a\\b', 'it''s', \"p__x`y\"", "SELECT 'a\\\\b', 'it\\'s', `p__x``y`"),
    ],
)
def test_transform(duckdb_sql: str, spark_sql: str) -> None:
    assert spark(duckdb_sql) == spark_sql


def test_to_spark_leaves_the_tree_alone() -> None:
    tree = sqlglot.parse_one("SELECT CAST(x AS HUGEINT) // n, EPOCH_US(t)", read="duckdb")
    before = tree.sql("duckdb")
    to_spark(tree)
    assert tree.sql("duckdb") == before
