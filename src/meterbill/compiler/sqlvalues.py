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


def dec(value: Decimal, *, own_scale: bool = False) -> str:
    """An exact decimal literal typed DECIMAL(38, 12): ``CAST(15.00 AS DECIMAL(38, 12))``.

    With ``own_scale``, typed with the value's own decimal places (at most 12):
    ``CAST(1.5 AS DECIMAL(38, 1))``. For a factor of a product: DECIMAL(38, 12) x
    DECIMAL(38, s) keeps 12 + s places and so 26 - s integer digits, where a (38, 12)
    factor would leave only 14 (a sum of 10^14 tokens x 1.5 overflowed).
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"dec expects a finite Decimal, got {value!r}")
    if not own_scale:
        return f"CAST({value:f} AS {DECIMAL_TYPE})"
    scale = max(0, -value.normalize().as_tuple().exponent)  # type: ignore[operator]
    if scale > 12:  # the catalog allows 12 places
        raise TypeError(f"dec expects at most 12 decimal places, got {value!r}")
    return f"CAST({value:f} AS DECIMAL(38, {scale}))"
