"""The catalog as frozen pydantic models: what catalog.toml may say, and nothing else.

Every model forbids unknown keys (a typo like ``packge_size`` is an error, not a silent
default). Money and unit prices are decimal text (or TOML integers); a TOML float is
refused because it is binary floating point by the time we see it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from meterbill.money import NUMBER_PATTERN, QUANTITY_SCALE, parse_decimal

Aggregation = Literal[
    "count", "sum", "count_unique", "max", "min", "avg", "latest",
    "sum_with_multiplier", "weighted_sum",
]  # fmt: skip
Interval = Literal["day", "week", "month", "quarter", "year"]
TierMode = Literal["volume", "graduated"]

#: The aggregations this release compiles; the others validate and are refused at compile.
NUMERIC_AGGREGATIONS: frozenset[str] = frozenset(
    {"sum", "max", "min", "avg", "latest", "sum_with_multiplier", "weighted_sum"}
)


#: Catalog decimals are DECIMAL(38, 12) in SQL: 26 digits before the point at most.
_DECIMAL_LIMIT = Decimal(10) ** (38 - QUANTITY_SCALE)
#: The largest ``interval_count``: ample for any plan, and periods stay within datetime's
#: years (a huge count overflowed period arithmetic with a traceback).
MAX_INTERVAL_COUNT = 1000


def decimal_text(value: Any) -> Decimal:
    """Accept ``"15.00"`` or an integer; refuse floats, booleans and junk."""
    if isinstance(value, (bool, float)):
        raise ValueError('must be a decimal written as a string, like "15.00"')
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str | int):
        if isinstance(value, str) and not NUMBER_PATTERN.fullmatch(value):
            # Python's Decimal also reads " 1.5", "1_000" and non-ASCII digits (Arabic-Indic):
            # in a billing file those are typos or surprises, not amounts.
            raise ValueError(f'must be a decimal written as a string, like "15.00", not {value!r}')
        try:
            parsed = parse_decimal(value)
        except ValueError:
            raise ValueError(
                f'must be a decimal written as a string, like "15.00", not {value!r}'
            ) from None
        if -parsed.as_tuple().exponent > QUANTITY_SCALE:  # type: ignore[operator]
            raise ValueError(f"has more than {QUANTITY_SCALE} decimal places")
        if abs(parsed) >= _DECIMAL_LIMIT:  # beyond DECIMAL(38, 12), SQL could not hold it
            raise ValueError(
                f"is too large (at most {_DECIMAL_LIMIT.adjusted()} digits before the point): "
                f"{value!r}"
            )
        return parsed
    raise ValueError('must be a decimal written as a string, like "15.00"')


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must be >= 0")
    return value


DecimalText = Annotated[Decimal, BeforeValidator(decimal_text)]


def _property_key(key: str) -> str:
    """A property key an event can have: ingest refuses empty keys and keys with NUL."""
    if not key or "\x00" in key:
        raise ValueError(f"property key {key!r} is empty or contains NUL; no event has it")
    return key


def _filter_value(value: Any) -> str | int | bool:
    """A filter value as written: text, an integer or a boolean (compared as text).

    A TOML float is refused: ``1.0`` would be compared as ``1`` (pydantic) or as
    ``1.0`` (its text) and both are surprising; the string says which text is meant.
    """
    if isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        raise ValueError(f'write the number as a string, like "{value!r}": it is compared as text')
    raise ValueError(f"must be a string, an integer or a boolean, not {type(value).__name__}")


PropertyKey = Annotated[str, AfterValidator(_property_key)]
FilterValue = Annotated[str | int | bool, PlainValidator(_filter_value)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Meter(_Model):
    """A meter: which events count, and how they aggregate into a quantity."""

    key: str = ""
    name: str = ""
    event_name: str
    aggregation: Aggregation
    field: PropertyKey | None = None
    multiplier: DecimalText | None = None
    filters: dict[PropertyKey, list[FilterValue]] = Field(default_factory=dict)
    group_by: list[PropertyKey] = Field(default_factory=list)

    @field_validator("event_name")
    @classmethod
    def _event_name(cls, value: str) -> str:
        if not value.strip():  # ingest refuses blank event names: nothing would match
            raise ValueError("must not be empty or only whitespace")
        return value

    @field_validator("filters")
    @classmethod
    def _filters_text(
        cls, value: dict[str, list[str | int | bool]]
    ) -> dict[str, list[str | int | bool]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"filter {key!r} must list at least one value")
        return value

    @field_validator("group_by")
    @classmethod
    def _group_by_once(cls, value: list[str]) -> list[str]:
        for index, key in enumerate(value):
            if key in value[:index]:
                raise ValueError(f"{key!r} is listed twice")
        return value

    @model_validator(mode="after")
    def _field_rules(self, info: ValidationInfo) -> Meter:
        if not _rules_deferred(info):
            _refuse(meter_rule_problems(self.aggregation, self.field, self.multiplier))
        return self

    def filter_text(self) -> dict[str, list[str]]:
        """Filters with every value as the text it is compared to (``true``, ``123``)."""
        return {
            key: [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
            for key, values in self.filters.items()
        }


class FlatFee(_Model):
    """A fixed amount per period, prorated by days for a partial period."""

    model: Literal["flat_fee"]
    amount: DecimalText
    name: str = ""

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: Decimal) -> Decimal:
        return _non_negative(value)


class PerUnit(_Model):
    """``max(q - free_units, 0) * unit_amount``."""

    model: Literal["per_unit"]
    meter: str
    unit_amount: DecimalText
    free_units: DecimalText = Decimal(0)
    name: str = ""

    @field_validator("unit_amount", "free_units")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        return _non_negative(value)


class Package(_Model):
    """``ceil(max(q - free_units, 0) / package_size) * amount`` (``floor`` for ``down``)."""

    model: Literal["package"]
    meter: str
    amount: DecimalText
    package_size: Any
    round: Literal["up", "down"] = "up"
    free_units: DecimalText = Decimal(0)
    name: str = ""

    @field_validator("package_size")
    @classmethod
    def _package_size(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("must be an integer >= 1")
        if value >= 10**18:
            raise ValueError("must be below 10^18")
        return value

    @field_validator("amount", "free_units")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        return _non_negative(value)


class Tier(_Model):
    """One tier: inclusive ``up_to`` (absent on the last), unit and flat amounts."""

    up_to: DecimalText | None = None
    unit_amount: DecimalText = Decimal(0)
    flat_amount: DecimalText = Decimal(0)

    @field_validator("up_to")
    @classmethod
    def _up_to(cls, value: Decimal | None) -> Decimal | None:
        # q = 0 costs 0, so a tier up to 0 (or below) could never price anything.
        if value is not None and value <= 0:
            raise ValueError("must be > 0")
        return value

    @field_validator("unit_amount", "flat_amount")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        return _non_negative(value)


class Tiered(_Model):
    """Volume or graduated tiers over a meter's quantity."""

    model: Literal["tiered"]
    meter: str
    mode: TierMode
    tiers: Annotated[list[Tier], Field(min_length=1)]
    name: str = ""

    @model_validator(mode="after")
    def _tier_order(self, info: ValidationInfo) -> Tiered:
        if not _rules_deferred(info):
            _refuse(tier_rule_problems([tier.up_to for tier in self.tiers]))
        return self


Price = Annotated[FlatFee | PerUnit | Package | Tiered, Field(discriminator="model")]


class Plan(_Model):
    """A plan: currency, billing interval and its prices, in catalog order."""

    key: str = ""
    name: str = ""
    currency: str
    interval: Interval
    interval_count: int = 1
    prices: list[Price] = Field(default_factory=list)

    @field_validator("interval_count", mode="before")
    @classmethod
    def _interval_count(cls, value: Any) -> int:
        # Before pydantic's int: it would take "2" and word its range in its own terms.
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_INTERVAL_COUNT
        ):
            raise ValueError(f"must be an integer from 1 to {MAX_INTERVAL_COUNT}")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(
                f'must be an ISO 4217 code of 3 capital letters, like "USD", not {value!r}'
            )
        return value


class Catalog(_Model):
    """Every meter and plan of catalog.toml, keyed as written."""

    meters: dict[str, Meter] = Field(default_factory=dict)
    plans: dict[str, Plan] = Field(default_factory=dict)


# -- cross-field rules ------------------------------------------------------------------
#
# Pydantic runs a model validator only once every field of the model is valid, so a rule
# there hid behind any field problem of its object. The rules are plain functions instead:
# the models call them, and ``catalog.load`` calls them on the fields that are valid, so
# ``catalog check`` lists every problem of a catalog in one run.


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: A field that has a problem of its own: a rule reading it is skipped (no knock-on noise).
INVALID: Any = _Invalid()

#: The validation context under which the models leave their rules to the caller.
DEFER_RULES = {"defer_rules": True}


def meter_rule_problems(aggregation: Any, field: Any, multiplier: Any) -> list[str]:
    """Each broken rule between a meter's fields, as ``field: message``.

    ``None`` is an absent field, ``INVALID`` one with a problem of its own.
    """
    if aggregation is INVALID:  # every rule here depends on it
        return []
    problems = []
    if field is not INVALID:
        if aggregation != "count" and field is None:
            problems.append(f"field: required for aggregation {aggregation!r}")
        if aggregation == "count" and field is not None:
            # A silent ignore would let `count` + `field` pass for "events with the field".
            problems.append(
                "field: not used by aggregation 'count', which counts every matching event;"
                " remove it, or use count_unique to count distinct values"
            )
    if multiplier is not INVALID:
        if aggregation == "sum_with_multiplier":
            if multiplier is None or multiplier <= 0:
                problems.append("multiplier: must be a decimal > 0 for sum_with_multiplier")
        elif multiplier is not None:
            problems.append("multiplier: only for aggregation 'sum_with_multiplier'")
    return problems


def tier_rule_problems(up_tos: list[Any]) -> list[str]:
    """Each broken rule of a tier list's bounds (one ``up_to`` per tier), as ``path: message``.

    ``None`` is an absent ``up_to``, ``INVALID`` one with a problem of its own; a tier is
    compared only with the tier just before it, when both bounds are valid.
    """
    *bounded, last = up_tos
    problems = []
    if last is not None and last is not INVALID:
        problems.append("tiers: the last tier must have no up_to (unbounded)")
    previous: Decimal | None = None
    for index, up_to in enumerate(bounded):
        if up_to is None:
            problems.append(f"tiers[{index}].up_to: required on every tier but the last")
        elif up_to is not INVALID and previous is not None and up_to <= previous:
            problems.append(f"tiers[{index}].up_to: must be greater than the tier before")
        previous = None if up_to is INVALID else up_to
    return problems


def _rules_deferred(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get("defer_rules"))


def _refuse(problems: list[str]) -> None:
    """Raise the first problem: a model validator reports one error."""
    if problems:
        raise ValueError(problems[0])
