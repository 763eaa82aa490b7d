"""Jinja filters that turn user values into SQL: quoted identifiers, string and decimal literals.

Every catalog string (event names, filter values, property keys, meter and plan keys)
reaches the SQL text through one of these. They quote by the SQL standard's rule, which
DuckDB and Spark's ANSI parser share: the text goes between quote characters with each
quote character inside doubled, and nothing else is special (no backslash escapes), so a
quote, a semicolon or unicode is data, never SQL. ``tests/compiler/test_sqlvalues.py``
checks them against sqlglot's rendering and DuckDB's parse. (Plain string code rather
than sqlglot nodes: ``meterbill ingest`` quotes paths and names too, and importing
sqlglot would cost it ~45 ms of start-up.)
"""

from __future__ import annotations

from decimal import Decimal

DECIMAL_TYPE = "DECIMAL(38, 12)"


def ident(name: str) -> str:
    """A quoted identifier: ``p__it's`` -> ``"p__it's"``; ``a"b`` -> ``"a""b"``."""
    if not isinstance(name, str):
        raise TypeError(f"ident expects a string, got {type(name).__name__}")
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A SQL string literal with quotes escaped: ``it's`` -> ``'it''s'``."""
    if not isinstance(value, str):
        raise TypeError(f"lit expects a string, got {type(value).__name__}")
    return "'" + value.replace("'", "''") + "'"


def dec(value: Decimal) -> str:
    """An exact decimal literal typed DECIMAL(38, 12): ``CAST(15.00 AS DECIMAL(38, 12))``."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"dec expects a finite Decimal, got {value!r}")
    return f"CAST({value:f} AS {DECIMAL_TYPE})"
