"""The SQL quoting functions: what sqlglot would render, and what DuckDB reads back."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from meterbill.compiler.sqlvalues import dec, ident, lit

# DuckDB's parser stops at NUL, and SQL text is UTF-8 (no lone surrogates); every
# other code point is data inside quotes
_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40)


@pytest.mark.parametrize(
    ("value", "literal", "identifier"),
    [
        ("model", "'model'", '"model"'),
        ("it's", "'it''s'", '"it\'s"'),
        ('say "hi"', "'say \"hi\"'", '"say ""hi"""'),
        ("'; DROP TABLE x; --", "'''; DROP TABLE x; --'", '"\'; DROP TABLE x; --"'),
        ("back\\slash", "'back\\slash'", '"back\\slash"'),
        ("ünï😀", "'ünï😀'", '"ünï😀"'),
    ],
)
def test_quoting_table(value: str, literal: str, identifier: str) -> None:
    assert lit(value) == literal
    assert ident(value) == identifier


@given(_TEXT)
def test_lit_matches_sqlglot_and_duckdb_reads_it_back(value: str) -> None:
    assert lit(value) == exp.Literal.string(value).sql("duckdb")
    assert duckdb.sql(f"SELECT {lit(value)} AS v").fetchall() == [(value,)]


@given(_TEXT.filter(bool))
def test_ident_matches_sqlglot_and_duckdb_reads_it_back(name: str) -> None:
    assert ident(name) == exp.to_identifier(name, quoted=True).sql("duckdb")
    assert duckdb.sql(f"SELECT 1 AS {ident(name)}").columns == [name]


@pytest.mark.parametrize("value", ["15.00", "-0.5", "0", "1E+3", "1e-12", "12345678901234567890.5"])
def test_dec_is_the_exact_decimal(value: str) -> None:
    (cast,) = duckdb.sql(f"SELECT {dec(Decimal(value))}").fetchall()[0]
    assert cast == Decimal(value)


@pytest.mark.parametrize(
    ("value", "sql_type"),
    [("1.5", "DECIMAL(38,1)"), ("1.50", "DECIMAL(38,1)"), ("1E+3", "DECIMAL(38,0)"),
     ("2", "DECIMAL(38,0)"), ("1e-12", "DECIMAL(38,12)"), ("-0.25", "DECIMAL(38,2)")],
)  # fmt: skip
def test_dec_own_scale_types_the_places_it_has(value: str, sql_type: str) -> None:
    (cast, typed) = duckdb.sql(
        f"SELECT {dec(Decimal(value), own_scale=True)} AS x, typeof(x)"
    ).fetchall()[0]
    assert (cast, typed) == (Decimal(value), sql_type)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), 1.5])
def test_dec_refuses_non_finite_or_float(bad: object) -> None:
    with pytest.raises(TypeError):
        dec(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("function", [lit, ident])
def test_quoting_refuses_non_strings(function) -> None:
    with pytest.raises(TypeError):
        function(7)
