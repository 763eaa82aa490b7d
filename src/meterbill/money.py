"""Money: parsing decimal text, currency minor units, and the only rounding in meterbill.

Amounts are computed exactly (Python ``Decimal``, SQL ``DECIMAL(p, s)``, Polars
``Decimal``) and each invoice line is rounded once, half away from zero, to its
currency's minor unit. Python's ``ROUND_HALF_UP`` is half away from zero (-10.125 ->
-10.13); Polars' default is half to even, so the Polars helper names its mode.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # only round_money_column needs Polars; ingest imports this module
    import polars as pl

#: ISO 4217 minor units for currencies that do not use 2 places; every other code is 2.
_MINOR_UNITS: dict[str, int] = {
    # 0 places
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # 3 places
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 places
    "CLF": 4, "UYW": 4,
}  # fmt: skip

#: Scale of quantities and unit prices everywhere (PRODUCT.md: at most 12 places).
QUANTITY_SCALE = 12
#: Enough digits that no exact product of two DECIMAL(38, 12) values is cut.
_EXACT = Context(prec=80)


def currency_places(currency: str) -> int:
    """Return the number of minor-unit places of an ISO 4217 code (unknown codes: 2)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


#: Decimal text: an optional sign, ASCII digits with an optional point, an optional
#: exponent (``"12.5"``, ``"1e3"``; not ``" 1"``, ``"1_000"``, ``"0x10"`` or ``"٣"``, which
#: Python's ``Decimal`` would read). Catalog amounts and numeric event strings alike.
NUMBER_PATTERN: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def parse_decimal(text: str | int) -> Decimal:
    """Read an amount written as text (``"15.00"``) or an integer, exactly.

    Raises:
        ValueError: the text is not a finite decimal number.
    """
    try:
        value = Decimal(text) if isinstance(text, str) else Decimal(int(text))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite decimal number: {text!r}")
    return value


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round an exact amount once to the currency's minor unit, half away from zero."""
    exponent = Decimal(1).scaleb(-currency_places(currency))
    with localcontext(_EXACT):
        return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def round_quantity(value: Decimal) -> Decimal:
    """Round a quantity half-up to the 12 places every quantity has."""
    with localcontext(_EXACT):
        return value.quantize(Decimal(1).scaleb(-QUANTITY_SCALE), rounding=ROUND_HALF_UP)


def prorate(amount: Decimal, numerator: int, denominator: int) -> Decimal:
    """Return ``amount * numerator / denominator`` to 40 significant digits.

    The result is only ever rounded to a minor unit afterwards; a true half-cent tie is a
    terminating decimal, so 40 digits cannot turn a non-tie into a tie or back.
    """
    with localcontext(_EXACT) as ctx:
        ctx.prec = 40
        return amount * numerator / denominator


def format_amount(amount: Decimal, currency: str) -> str:
    """Text of an amount with exactly the currency's places (``202.50``)."""
    return f"{round_money(amount, currency):f}"


def round_money_column(amount: pl.Expr, places: pl.Expr) -> pl.Expr:
    """Polars: round each row's exact amount to its own currency's places.

    ``places`` holds 0-4 per row; Polars rounds to one constant scale per call, so each
    distinct scale is one ``round``, picked by ``when``. The result is ``Decimal(38, 4)``
    (every minor unit fits), half away from zero.
    """
    import polars as pl

    out = pl.lit(None, dtype=pl.Decimal(38, 4))
    for places_value in sorted(set(_MINOR_UNITS.values()) | {2}):
        rounded = amount.round(places_value, mode="half_away_from_zero").cast(pl.Decimal(38, 4))
        out = pl.when(places == places_value).then(rounded).otherwise(out)
    return out
