"""The lake's event schema, and the conversion of input values into its typed columns.

Every lake file has the core columns (``CORE_COLUMNS``), then two columns per property
key ``K`` present in that file: ``p__K`` holds the value's text and ``n__K`` its exact
number (``DECIMAL(38,12)``), or NULL when the value is not a number. Two columns because
meters need both: filters compare text (``123`` matches ``"123"``) and aggregations sum
exact decimals; a meter reads only the columns it names, and no query parses JSON.

The conversions here are the whole definition of "a number" and "a timestamp":

* a property value is a number when it is a JSON number, a Parquet integer, float or
  decimal, or a string matching ``NUMBER_PATTERN`` (ASCII digits only, so ``"٣"`` is
  text). Booleans are not numbers. Numbers are rounded half-up to 12 places by
  ``money.round_quantity`` (the only rounding in meterbill); a number whose magnitude is
  ``>= 10**26`` does not fit ``DECIMAL(38,12)`` and keeps only its text.
* a timestamp is an ISO 8601 string with an offset or ``Z``, or an epoch number (JSON
  number, integer, or a string matching ``NUMBER_PATTERN``, read as the JSON number of
  that text, so a CSV cell or a Parquet string gives what a JSON number gives):
  magnitude ``>= 1e11`` is milliseconds, else seconds. Instants are kept as integer
  microseconds since the epoch (UTC); anything finer is truncated toward the past.
  Parquet timestamps arrive as ``datetime``: an aware one is that instant, a naive one
  is read as UTC.

Lake column names are compared the way DuckDB compares identifiers: ASCII letters
case-insensitively (``p__Model`` and ``p__model`` are one column to DuckDB), which is
why ``fold_column_name`` exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Context, Decimal, InvalidOperation, localcontext
from typing import Final

import pyarrow as pa

from meterbill.events.rejects import RecordRejected
from meterbill.money import NUMBER_PATTERN, QUANTITY_SCALE, round_quantity

# -- columns -----------------------------------------------------------------------------

EVENT_ID: Final = "event_id"
EVENT_NAME: Final = "event_name"
CUSTOMER_ID: Final = "customer_id"
CUSTOMER_ID_ALIAS: Final = "external_customer_id"
TIMESTAMP: Final = "timestamp"
SOURCE: Final = "source"
PROPERTIES: Final = "properties"
INGEST_ID: Final = "ingest_id"

TEXT_TYPE: Final = "VARCHAR"
NUMBER_TYPE: Final = f"DECIMAL(38,{QUANTITY_SCALE})"
TIMESTAMP_TYPE: Final = "TIMESTAMP WITH TIME ZONE"

#: Arrow types written to Parquet; DuckDB reads them back as the SQL types above.
TEXT_ARROW: Final = pa.string()
NUMBER_ARROW: Final = pa.decimal128(38, QUANTITY_SCALE)
TIMESTAMP_ARROW: Final = pa.timestamp("us", tz="UTC")

#: The columns every lake file starts with, in order, with their SQL types.
CORE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    (EVENT_ID, TEXT_TYPE),
    (EVENT_NAME, TEXT_TYPE),
    (CUSTOMER_ID, TEXT_TYPE),
    (TIMESTAMP, TIMESTAMP_TYPE),
    (SOURCE, TEXT_TYPE),
    (INGEST_ID, TEXT_TYPE),
)
CORE_ARROW_SCHEMA: Final = pa.schema(
    [
        pa.field(EVENT_ID, TEXT_ARROW, nullable=False),
        pa.field(EVENT_NAME, TEXT_ARROW, nullable=False),
        pa.field(CUSTOMER_ID, TEXT_ARROW, nullable=False),
        pa.field(TIMESTAMP, TIMESTAMP_ARROW, nullable=False),
        pa.field(SOURCE, TEXT_ARROW),
        pa.field(INGEST_ID, TEXT_ARROW, nullable=False),
    ]
)

TEXT_PREFIX: Final = "p__"
NUMBER_PREFIX: Final = "n__"


def constant_text(value: str, length: int) -> pa.Array:
    """A text column of one repeated value, built without a Python list per row."""
    indexes = pa.nulls(length, pa.int32()).fill_null(0)
    return pa.DictionaryArray.from_arrays(indexes, pa.array([value], TEXT_ARROW)).cast(TEXT_ARROW)


def property_columns(key: str) -> tuple[str, str]:
    """Return the lake column names ``(p__K, n__K)`` of property key ``K`` (verbatim)."""
    return TEXT_PREFIX + key, NUMBER_PREFIX + key


def property_key(column: str) -> str | None:
    """Return the property key of a ``p__K`` column name, or None for any other column."""
    return column[len(TEXT_PREFIX) :] if column.startswith(TEXT_PREFIX) else None


_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_column_name(name: str) -> str:
    """Return ``name`` as DuckDB compares identifiers: ASCII letters lowered, nothing else.

    DuckDB binds ``"p__Model"`` to a column ``p__model`` and renames the second of two
    such columns in one file (``p__Model_1``), so two keys that fold alike cannot both be
    lake columns. Non-ASCII letters are compared exactly (``ключ`` != ``КЛЮЧ``).
    """
    return name.translate(_ASCII_LOWER)


# -- numbers -----------------------------------------------------------------------------

#: DECIMAL(38,12) holds 26 integer digits: magnitudes from 10**26 up do not fit.
_MAX_INTEGER_DIGITS: Final = 38 - QUANTITY_SCALE
#: Below 5e-13 a value rounds to zero at 12 places; skip quantize for tiny exponents.
_ZERO: Final = Decimal(0).scaleb(-QUANTITY_SCALE)


@dataclass(frozen=True, slots=True)
class JsonNumber:
    """A JSON number kept as its literal text, so ``1.50`` stays ``1.50``.

    The JSON reader makes every number one of these (never a float, never an int that
    could lose its spelling); ``value`` is the exact decimal.
    """

    text: str

    @property
    def value(self) -> Decimal:
        """The exact decimal value of the literal (see ``exact_decimal``)."""
        return exact_decimal(self.text)


def exact_decimal(text: str) -> Decimal:
    """Read decimal number text exactly, whatever its exponent.

    ``Decimal`` refuses exponents beyond about ±10**18 (``1e1100000000000000000``). Such
    a number is either far beyond every range here (returned as a signed Infinity) or
    far below 1e-12 (returned as a signed zero), which is all any caller needs to know.

    Raises:
        InvalidOperation: the text is not a number at all (callers check first).
    """
    try:
        return Decimal(text)
    except InvalidOperation:
        mantissa, _, exponent = text.lower().partition("e")
        if not exponent:
            raise
        sign = "-" if mantissa.startswith("-") else "+"
        if Decimal(mantissa).is_zero() or exponent.startswith("-"):
            return Decimal(f"{sign}0")
        return Decimal(f"{sign}Infinity")


PropertyValue = tuple[str, Decimal | None]
"""A property as stored: ``(text for p__K, number for n__K or None)``."""


def lake_number(value: Decimal) -> Decimal | None:
    """Round an exact number to the lake's 12 places, or None if it does not fit.

    Returns None for non-finite values and magnitudes ``>= 10**26`` (also after
    rounding: ``99...9.9999999999999`` rounds up to ``10**26``).
    """
    if not value.is_finite():
        return None
    if value.is_zero():
        return _ZERO
    if value.adjusted() >= _MAX_INTEGER_DIGITS:
        return None
    if value.adjusted() < -QUANTITY_SCALE - 1:
        return _ZERO  # quantize of a huge negative exponent is legal but pointless
    rounded = round_quantity(value)
    if not rounded.is_zero() and rounded.adjusted() >= _MAX_INTEGER_DIGITS:
        return None
    return rounded


def text_number(text: str) -> Decimal | None:
    """Return the lake number of a string that reads as a decimal, else None."""
    if NUMBER_PATTERN.fullmatch(text) is None:
        return None
    return lake_number(exact_decimal(text))


def property_value(value: object) -> PropertyValue | None:
    """Convert one property value to its stored text and number; None means absent.

    Raises:
        RecordRejected: ``nested_property`` for objects and arrays, ``bad_number`` for
            NaN/Infinity, ``bad_encoding`` for bytes that are not UTF-8, ``bad_type`` for
            any other type.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value, text_number(value)
    if isinstance(value, JsonNumber):
        return value.text, lake_number(value.value)
    if isinstance(value, bool):  # before int: bool is an int subclass
        return ("true" if value else "false"), None
    if isinstance(value, int):
        return str(value), lake_number(Decimal(value))
    if isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as this float
        number = Decimal(text)
        if not number.is_finite():
            raise RecordRejected("bad_number", f"property value {text} is not a finite number")
        return text, lake_number(number)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RecordRejected("bad_number", f"property value {value} is not a finite number")
        return format(value, "f"), lake_number(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat(), None
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordRejected("bad_encoding", f"property value is not UTF-8: {exc}") from None
        return text, text_number(text)
    if isinstance(value, dict | list | tuple):
        raise RecordRejected(
            "nested_property", f"property values must be scalars, got {type_name(value)}"
        )
    raise RecordRejected("bad_type", f"unsupported property value type {type_name(value)}")


# -- timestamps --------------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
#: The representable range: what ``datetime`` (and so every reader of the lake) holds.
MIN_MICROS: Final = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
MAX_MICROS: Final = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // (
    _MICROSECOND
)
#: Epoch magnitudes from 1e11 up are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_FROM: Final = Decimal("1e11")
#: Any epoch value with more integer digits than this is far outside the range.
_MAX_EPOCH_DIGITS: Final = 20
_EXACT: Final = Context(prec=60)


def parse_timestamp(value: object) -> int:
    """Read a timestamp value as integer microseconds since the epoch, UTC.

    Raises:
        RecordRejected: ``bad_timestamp``, ``timestamp_without_offset``, ``empty_field``
            or ``bad_type``; a None value is the caller's ``missing_field``.
    """
    if isinstance(value, str):
        return _parse_timestamp_text(value)
    if isinstance(value, JsonNumber):
        return epoch_micros(value.value)
    if isinstance(value, bool):
        raise RecordRejected("bad_type", "timestamp must be a string or a number, got boolean")
    if isinstance(value, int):
        return epoch_micros(Decimal(value))
    if isinstance(value, float):
        return epoch_micros(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return epoch_micros(value)
    if isinstance(value, datetime):
        instant = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _datetime_micros(instant, value)
    raise RecordRejected(
        "bad_type", f"timestamp must be a string or a number, got {type_name(value)}"
    )


def epoch_micros(value: Decimal) -> int:
    """Convert epoch seconds (``|value| < 1e11``) or milliseconds to microseconds.

    Raises:
        RecordRejected: ``bad_timestamp`` when not finite or out of range.
    """
    if value.is_nan():
        raise RecordRejected("bad_timestamp", "epoch timestamp is not a number")
    if value.is_infinite() or (not value.is_zero() and value.adjusted() >= _MAX_EPOCH_DIGITS):
        raise RecordRejected("bad_timestamp", f"epoch timestamp {value} is out of range")
    shift = 3 if abs(value) >= _MILLISECONDS_FROM else 6
    with localcontext(_EXACT):
        micros = int(value.scaleb(shift).to_integral_value(rounding=ROUND_FLOOR))
    if not MIN_MICROS <= micros <= MAX_MICROS:
        raise RecordRejected("bad_timestamp", f"epoch timestamp {value} is out of range")
    return micros


def _parse_timestamp_text(text: str) -> int:
    """Read an ISO 8601 string with an offset, or an epoch number written as text."""
    if not text.strip():
        raise RecordRejected("empty_field", "timestamp is empty")
    if NUMBER_PATTERN.fullmatch(text):  # as a JSON number reads: CSV cells are text
        return epoch_micros(exact_decimal(text))
    if text.endswith("z"):  # RFC 3339 allows a lower-case z; fromisoformat does not
        text = text[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordRejected(
            "bad_timestamp", f"timestamp {text!r} is not ISO 8601 or an epoch number"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise RecordRejected(
            "timestamp_without_offset",
            f"timestamp {text!r} has no offset; write Z or +hh:mm",
        )
    return _datetime_micros(parsed, text)


def _datetime_micros(instant: datetime, shown: object) -> int:
    """Microseconds since the epoch of an aware datetime, range-checked."""
    try:
        return (instant.astimezone(UTC) - _EPOCH) // _MICROSECOND
    except OverflowError:
        raise RecordRejected("bad_timestamp", f"timestamp {shown!s} is out of range") from None


def type_name(value: object) -> str:
    """A JSON-ish name of a value's type for messages (``object``, ``array``, ``number``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, JsonNumber | int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__
