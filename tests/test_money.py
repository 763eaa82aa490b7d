from decimal import Decimal

import polars as pl
import pytest

from meterbill.money import (
    currency_places,
    format_amount,
    parse_decimal,
    prorate,
    round_money,
    round_money_column,
)

ROUNDING = [
    ("10.275", "USD", "10.28"),
    ("10.274999", "USD", "10.27"),
    ("-10.125", "USD", "-10.13"),
    ("1000.5", "JPY", "1001"),
    ("999.4999", "JPY", "999"),
    ("1.0005", "KWD", "1.001"),
    ("2.00005", "CLF", "2.0001"),
    ("0.005", "XYZ", "0.01"),
    ("202.5", "USD", "202.50"),
]


@pytest.mark.parametrize(("amount", "currency", "expected"), ROUNDING)
def test_round_money_half_away_from_zero(amount: str, currency: str, expected: str) -> None:
    assert str(round_money(Decimal(amount), currency)) == expected


@pytest.mark.parametrize(("amount", "currency", "expected"), ROUNDING)
def test_polars_rounding_matches_python(amount: str, currency: str, expected: str) -> None:
    frame = pl.DataFrame(
        {"amount": [Decimal(amount)], "places": [currency_places(currency)]},
        schema={"amount": pl.Decimal(38, 24), "places": pl.Int32},
    )
    rounded = frame.select(round_money_column(pl.col("amount"), pl.col("places")))
    assert rounded.item() == Decimal(expected)
    assert rounded.dtypes[0] == pl.Decimal(38, 4)


def test_currency_places() -> None:
    assert [
        currency_places(c) for c in ("USD", "EUR", "JPY", "KRW", "KWD", "BHD", "CLF", "ABC")
    ] == [
        2,
        2,
        0,
        0,
        3,
        3,
        4,
        2,
    ]


def test_subtotal_is_sum_of_rounded_lines() -> None:
    lines = [round_money(Decimal("10.333333"), "USD")] * 3
    assert sum(lines) == Decimal("30.99")


def test_prorate_exact_then_rounded_once() -> None:
    assert round_money(prorate(Decimal("31.00"), 17, 31), "USD") == Decimal("17.00")
    assert round_money(prorate(Decimal("10.00"), 17, 31), "USD") == Decimal("5.48")


def test_format_amount_keeps_places() -> None:
    assert format_amount(Decimal("202.5"), "USD") == "202.50"
    assert format_amount(Decimal("1001"), "JPY") == "1001"


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "", "1e"])
def test_parse_decimal_refuses_non_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        parse_decimal(text)
