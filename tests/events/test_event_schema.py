"""The definitions of "a number" and "a timestamp", value by value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbill.events.rejects import RecordRejected
from meterbill.events.schema import (
    JsonNumber,
    fold_column_name,
    lake_number,
    parse_timestamp,
    property_columns,
    property_value,
    text_number,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5", Decimal("12.5")),
        ("+5", Decimal(5)),
        ("-.5", Decimal("-0.5")),
        ("5.", Decimal(5)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("007", Decimal(7)),
        ("0.0000000000005", Decimal("1E-12")),
        ("0.0000000000004", Decimal(0)),
        ("abc", None),
        ("", None),
        (" 5", None),
        ("5 ", None),
        ("5\n", None),
        ("1_000", None),
        ("0x10", None),
        ("NaN", None),
        ("Infinity", None),
        ("1e", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: Decimal reads it, we do not
        ("1e30", None),  # does not fit DECIMAL(38,12)
        ("1e1100000000000000000", None),  # beyond what Decimal itself can hold
        ("-.0E1100000000000000000", Decimal(0)),
        ("5e-1100000000000000000", Decimal(0)),
    ],
)
def test_text_number(text: str, expected: Decimal | None) -> None:
    assert text_number(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal(10) ** 26, None),
        (-(Decimal(10) ** 26), None),
        (Decimal(10) ** 26 - 1, Decimal(10) ** 26 - 1),
        (Decimal("99999999999999999999999999.9999999999995"), None),  # rounds up to 10**26
        (
            Decimal("99999999999999999999999999.9999999999994"),
            Decimal("99999999999999999999999999.999999999999"),
        ),
        (Decimal("-0.0000000000005"), Decimal("-1E-12")),
        (Decimal("2.5E-12"), Decimal("3E-12")),
        (Decimal("1e-999999999"), Decimal(0)),
        (Decimal("1e999999999"), None),
        (Decimal("-0"), Decimal(0)),
    ],
)
def test_lake_number(value: Decimal, expected: Decimal | None) -> None:
    result = lake_number(value)
    assert result == expected
    if result is not None:
        assert result.as_tuple().exponent == -12


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", ("text", None)),
        (JsonNumber("1.50"), ("1.50", Decimal("1.5"))),
        (JsonNumber("-0"), ("-0", Decimal(0))),
        (JsonNumber("12345678901234567890123456789"), ("12345678901234567890123456789", None)),
        (True, ("true", None)),
        (False, ("false", None)),
        (7, ("7", Decimal(7))),
        (0.1, ("0.1", Decimal("0.1"))),
        (1e16, ("1e+16", Decimal("1e16"))),
        (Decimal("1.50"), ("1.50", Decimal("1.5"))),
        (Decimal("1.0E-7"), ("0.00000010", Decimal("1E-7"))),
        (date(2024, 1, 2), ("2024-01-02", None)),
        (b"12", ("12", Decimal(12))),
        (None, None),
    ],
)
def test_property_value(value: object, expected: tuple[str, Decimal | None] | None) -> None:
    assert property_value(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": 1}, "nested_property"),
        ([1], "nested_property"),
        (float("nan"), "bad_number"),
        (float("-inf"), "bad_number"),
        (Decimal("NaN"), "bad_number"),
        (b"\xff", "bad_encoding"),
        (timedelta(seconds=1), "bad_type"),
    ],
)
def test_property_value_rejects(value: object, reason: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        property_value(value)
    assert caught.value.reject.reason == reason


NOON_US = int(datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp()) * 10**6


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T12:00:00Z", NOON_US),
        ("2024-03-01T12:00:00+00:00", NOON_US),
        ("2024-03-01T07:00:00-05:00", NOON_US),
        ("2024-03-01 12:00:00.000001Z", NOON_US + 1),
        ("2024-03-01T12:00:00.0000019Z", NOON_US + 1),  # truncated to microseconds
        ("20240301T120000Z", NOON_US),
        ("2024-03-01t12:00:00z", NOON_US),
        (JsonNumber("1709294400"), NOON_US),
        (JsonNumber("1709294400000"), NOON_US),
        (JsonNumber("1709294400.000001"), NOON_US + 1),
        (JsonNumber("1.7092944E9"), NOON_US),
        (JsonNumber("99999999999"), 99999999999 * 10**6),  # just below 1e11: seconds
        (JsonNumber("100000000000"), 100000000000 * 10**3),  # 1e11: milliseconds
        (JsonNumber("-1"), -(10**6)),
        ("1709294400", NOON_US),
        ("+1709294400000", NOON_US),
        # a string reads as the JSON number of its text: CSV cells and Parquet strings
        ("1709294400.5", NOON_US + 500000),
        ("1.7092944E9", NOON_US),
        ("1709294400000.0", NOON_US),
        ("-0", 0),
        (1709294400, NOON_US),
        (1709294400.5, NOON_US + 500000),
        (Decimal("1709294400"), NOON_US),
        (datetime(2024, 3, 1, 12), NOON_US),  # naive (Parquet): UTC
        (datetime(2024, 3, 1, 13, tzinfo=timezone(timedelta(hours=1))), NOON_US),
    ],
)
def test_parse_timestamp(value: object, expected: int) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-03-01T12:00:00", "timestamp_without_offset"),
        ("2024-03-01", "timestamp_without_offset"),
        ("", "empty_field"),
        ("  ", "empty_field"),
        ("noon", "bad_timestamp"),
        ("1_709_294_400", "bad_timestamp"),
        (" 1709294400", "bad_timestamp"),
        ("1e17", "bad_timestamp"),
        ("1e1100000000000000000", "bad_timestamp"),
        ("9999-12-31T23:59:59-01:00", "bad_timestamp"),
        (JsonNumber("1e400"), "bad_timestamp"),
        (JsonNumber("1e17"), "bad_timestamp"),
        (JsonNumber("1e1100000000000000000"), "bad_timestamp"),  # year > 9999 even as milliseconds
        (float("nan"), "bad_timestamp"),
        (True, "bad_type"),
        ([1], "bad_type"),
        (date(2024, 3, 1), "bad_type"),
    ],
)
def test_parse_timestamp_rejects(value: object, reason: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_timestamp(value)
    assert caught.value.reject.reason == reason


def test_column_names() -> None:
    assert property_columns("a b") == ("p__a b", "n__a b")
    assert fold_column_name("p__Model_ÄКЛЮЧ") == "p__model_ÄКЛЮЧ"


_ORACLE = Context(prec=200, Emax=10**9, Emin=-(10**9))


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_json_numbers_are_exact(value: Decimal) -> None:
    """A JSON number's text is kept verbatim and its number rounded once, half up."""
    text = str(value)
    stored_text, number = property_value(JsonNumber(text)) or ("", None)
    assert stored_text == text
    try:
        expected: Decimal | None = value.quantize(Decimal("1e-12"), ROUND_HALF_UP, _ORACLE)
    except ArithmeticError:
        expected = None
    if expected is not None and abs(expected) >= Decimal(10) ** 26:
        expected = None
    assert number == expected
