"""Jinja filters that turn user values into SQL: quoted identifiers, string and decimal literals.

Every catalog string (event names, filter values, property keys, meter and plan keys)
reaches the SQL text through one of these, and they build sqlglot nodes rather than
pasting text, so a quote, a semicolon or unicode is data, never SQL.
"""

from __future__ import annotations

from decimal import Decimal

from sqlglot import exp

_DIALECT = "duckdb"
DECIMAL_TYPE = "DECIMAL(38, 12)"


def ident(name: str) -> str:
    """A quoted identifier: ``p__it's`` -> ``"p__it's"``."""
    return exp.to_identifier(name, quoted=True).sql(_DIALECT)


def lit(value: str) -> str:
    """A SQL string literal with quotes escaped: ``it's`` -> ``'it''s'``."""
    if not isinstance(value, str):
        raise TypeError(f"lit expects a string, got {type(value).__name__}")
    return exp.Literal.string(value).sql(_DIALECT)


def dec(value: Decimal) -> str:
    """An exact decimal literal typed DECIMAL(38, 12): ``CAST(15.00 AS DECIMAL(38, 12))``."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"dec expects a finite Decimal, got {value!r}")
    return exp.cast(exp.Literal.number(f"{value:f}"), DECIMAL_TYPE).sql(_DIALECT)
