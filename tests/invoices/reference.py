"""An independent model of a whole invoice run, written from PRODUCT.md and docs/decisions.md.

Pure Python (``decimal``, ``fractions``, ``datetime``, ``zoneinfo``), one event at a time,
and deliberately naive: no code from ``meterbill`` is imported or copied. It answers
"what must the invoices be?" for a small scenario (customers, subscriptions, a catalog,
events as they were written to a JSON lines file), so that
``tests/invoices/test_reference.py`` can compare every line of a real run with it.

What it follows, word for word:

- events: the first copy of an ``event_id`` wins; a property's text is the JSON string,
  ``true``/``false``, or the JSON number's literal; a value is a number when it is a JSON
  number or a string matching decisions.md's pattern (below 1e26); null is absent;
  numbers are kept rounded half-up to 12 places.
- meters: ``event_name`` equality, filters (keys AND, values OR, on the text, a missing
  key never matches), ``group_by`` (a missing key is null), the nine aggregations with
  their rounding, invalid values left out, empty periods at 0.
- periods: anniversary and calendar cycles on the customer's wall clock, ``[start, end)``,
  an ``end`` clipping its period, complete when the end is at or before ``through`` (an
  instant, or a date's local midnight); flat fees prorated by whole local days.
- prices and money: the four models, each line rounded once half away from zero to the
  currency's minor unit, the subtotal the sum of the rounded lines.
"""

from __future__ import annotations

import calendar
import dataclasses
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

TWELVE = Decimal("1e-12")
#: decisions.md, "Numeric strings".
NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
#: decisions.md, "Numeric strings": from this magnitude a value is text only.
LARGEST = Decimal("1e26")
#: ISO 4217 minor units of the currencies the scenarios use (unknown ones: 2).
MINOR_UNITS = {"USD": 2, "JPY": 0, "KWD": 3, "CLF": 4}


@dataclass(frozen=True)
class Num:
    """A JSON number, kept as the literal written in the file (``2.50``, ``1e2``)."""

    literal: str


#: A property value as written: JSON string, boolean, number or null.
Value = str | bool | Num | None


@dataclass(frozen=True)
class Event:
    event_id: str
    event_name: str
    customer_id: str
    timestamp: datetime  # an aware instant
    properties: dict[str, Value]


@dataclass(frozen=True)
class Meter:
    key: str
    event_name: str
    aggregation: str
    field: str | None = None
    multiplier: Decimal | None = None
    #: key -> the filter values as the catalog writes them (str, int or bool)
    filters: dict[str, tuple[str | int | bool, ...]] = dataclasses.field(default_factory=dict)
    group_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class Price:
    model: str  # flat_fee, per_unit, package, tiered
    meter: str | None = None
    amount: Decimal = Decimal(0)  # flat_fee and package
    unit_amount: Decimal = Decimal(0)  # per_unit
    free_units: Decimal = Decimal(0)  # per_unit and package
    package_size: int = 1
    round: str = "up"
    mode: str = "graduated"
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class Plan:
    key: str
    currency: str
    interval: str  # day, week, month, quarter, year
    interval_count: int
    prices: tuple[Price, ...]


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    customer_id: str
    plan: str
    start: str  # a date or a local timestamp (the customer's wall clock)
    end: str | None
    billing_cycle: str  # anniversary or calendar


@dataclass(frozen=True)
class Line:
    subscription_id: str
    period_start: datetime
    period_end: datetime
    line_type: str
    meter: str | None
    group: str | None
    price_model: str
    quantity: Decimal
    billable_quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    subscription_id: str
    customer_id: str
    plan: str
    currency: str
    period_start: datetime
    period_end: datetime
    subtotal: Decimal
    line_count: int


# -- values -------------------------------------------------------------------------------


def text_of(value: Value) -> str | None:
    """The text filters, ``group_by`` and ``count_unique`` compare (None: absent)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Num):
        return value.literal
    return value


def number_of(value: Value) -> Decimal | None:
    """The value as a number, rounded half-up to 12 places, or None when it is not one."""
    if isinstance(value, Num):
        text = value.literal
    elif isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        text = value
    else:
        return None
    number = Decimal(text)
    if abs(number) >= LARGEST:  # decisions.md: such magnitudes keep only their text
        return None
    return number.quantize(TWELVE, rounding=ROUND_HALF_UP)


def round12(value: Decimal | Fraction) -> Decimal:
    """A quantity: half-up (away from zero) to 12 decimal places, exactly."""
    return Decimal(_round_fraction(Fraction(value), 12)) / Decimal(10) ** 12


def money(value: Decimal | Fraction, currency: str) -> Decimal:
    """One line's amount: half away from zero to the currency's minor unit."""
    places = MINOR_UNITS.get(currency, 2)
    return Decimal(_round_fraction(Fraction(value), places)) / Decimal(10) ** places


def _round_fraction(value: Fraction, places: int) -> int:
    """``value * 10**places`` rounded half away from zero, as an integer."""
    scaled = value * 10**places
    sign = -1 if scaled < 0 else 1
    whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    return sign * whole


# -- meters -------------------------------------------------------------------------------


def matches(meter: Meter, event: Event) -> bool:
    """The meter's event name and every filter key (values OR, compared as text)."""
    if event.event_name != meter.event_name:
        return False
    for key, wanted in meter.filters.items():
        text = text_of(event.properties.get(key))
        if text is None or text not in {_filter_text(v) for v in wanted}:
            return False
    return True


def _filter_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def group_json(meter: Meter, event: Event) -> str | None:
    """The line's ``group``: JSON text of the group_by values (missing is null)."""
    if not meter.group_by:
        return None
    return json.dumps({key: text_of(event.properties.get(key)) for key in meter.group_by})


def aggregate(meter: Meter, events: list[Event], start: datetime, end: datetime) -> Decimal:
    """The meter's quantity over these (matching) events of the period ``[start, end)``."""
    agg = meter.aggregation
    if agg == "count":
        return Decimal(len(events))
    assert meter.field is not None
    if agg == "count_unique":
        texts = {text_of(e.properties.get(meter.field)) for e in events}
        return Decimal(len(texts - {None}))
    valid = [(e, n) for e in events if (n := number_of(e.properties.get(meter.field))) is not None]
    numbers = [n for _, n in valid]
    if not numbers:
        return Decimal(0)
    if agg == "sum":
        return sum(numbers, Decimal(0))
    if agg == "max":
        return max(numbers)
    if agg == "min":
        return min(numbers)
    if agg == "avg":
        return round12(Fraction(sum(numbers, Decimal(0))) / len(numbers))
    if agg == "latest":
        return max(valid, key=lambda pair: (pair[0].timestamp, pair[0].event_id))[1]
    if agg == "sum_with_multiplier":
        assert meter.multiplier is not None
        return round12(sum(numbers, Decimal(0)) * meter.multiplier)
    if agg == "weighted_sum":
        length = micros(end - start)
        total = sum((Fraction(n) * micros(end - e.timestamp) for e, n in valid), Fraction(0))
        return round12(total / length)
    raise ValueError(agg)


def micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- prices -------------------------------------------------------------------------------


def price_usage(price: Price, q: Decimal) -> tuple[Decimal, Decimal]:
    """(billable_quantity, exact amount) of a usage price at quantity q."""
    if price.model == "per_unit":
        billable = max(q - price.free_units, Decimal(0))
        return billable, billable * price.unit_amount
    if price.model == "package":
        over = Fraction(max(q - price.free_units, Decimal(0))) / price.package_size
        packages = Decimal(math.ceil(over) if price.round == "up" else math.floor(over))
        return packages, packages * price.amount
    if price.model == "tiered":
        return q, _tiered(price, q)
    raise ValueError(price.model)


def unit_amount(price: Price, q: Decimal) -> Decimal | None:
    """The line's unit price: the price's own, the volume tier q falls in, none for
    graduated (README, "Prices"), nor for volume at q = 0 (no tier prices it)."""
    if price.model == "flat_fee" or price.model == "package":
        return price.amount
    if price.model == "per_unit":
        return price.unit_amount
    if price.mode == "graduated" or q == 0:
        return None
    return next(t.unit_amount for t in price.tiers if t.up_to is None or q <= t.up_to)


def _tiered(price: Price, q: Decimal) -> Decimal:
    if q == 0:
        return Decimal(0)
    if price.mode == "volume":
        for tier in price.tiers:
            if tier.up_to is None or q <= tier.up_to:
                return q * tier.unit_amount + tier.flat_amount
        raise AssertionError("the last tier is unbounded")
    total, below = Decimal(0), Decimal(0)
    for tier in price.tiers:
        if q <= below:
            break
        top = q if tier.up_to is None else min(q, tier.up_to)
        total += (top - below) * tier.unit_amount + tier.flat_amount
        if tier.up_to is None:
            break
        below = tier.up_to
    return total


# -- periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime  # local wall clock, naive
    end: datetime
    full_start: datetime  # the whole period it is part of
    full_end: datetime


def wall_clock(text: str, timezone: str) -> datetime:
    """A subscription ``start``/``end`` on the customer's wall clock: a date is local
    midnight, a timestamp without offset is local, one with an offset is that instant."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def instant(wall: datetime, timezone: str) -> datetime:
    """A wall-clock time in the zone as a UTC instant (the first one when ambiguous)."""
    return wall.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _add_months(wall: datetime, months: int, day: int) -> datetime:
    year, month = divmod(wall.month - 1 + months, 12)
    year += wall.year
    month += 1
    return wall.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))


def _step(origin: datetime, interval: str, n: int) -> datetime:
    """The boundary n intervals after origin, on the wall clock (months clamp the day)."""
    if interval == "day":
        return origin + timedelta(days=n)
    if interval == "week":
        return origin + timedelta(weeks=n)
    months = {"month": 1, "quarter": 3, "year": 12}[interval]
    return _add_months(origin, months * n, origin.day)


def _calendar_origin(start: datetime, interval: str) -> datetime:
    midnight = datetime.combine(start.date(), datetime.min.time())
    if interval == "day":
        return midnight
    if interval == "week":
        return midnight - timedelta(days=midnight.weekday())
    if interval == "month":
        return midnight.replace(day=1)
    if interval == "quarter":
        return midnight.replace(month=(midnight.month - 1) // 3 * 3 + 1, day=1)
    return midnight.replace(month=1, day=1)


def periods(sub: Subscription, plan: Plan, timezone: str, through: date | datetime) -> list[Period]:
    """The subscription's complete periods: ending at or before ``through`` (an instant, or
    a date's local midnight)."""
    start = wall_clock(sub.start, timezone)
    end = wall_clock(sub.end, timezone) if sub.end else None
    if isinstance(through, datetime):
        limit = through
    else:
        limit = instant(datetime.combine(through, datetime.min.time()), timezone)
    if sub.billing_cycle == "anniversary":
        origin = start
    else:
        assert plan.interval_count == 1, "calendar cycles of several intervals: not modelled"
        origin = _calendar_origin(start, plan.interval)
    found = []
    k = 0
    while True:
        full_start = _step(origin, plan.interval, k * plan.interval_count)
        full_end = _step(origin, plan.interval, (k + 1) * plan.interval_count)
        k += 1
        if full_end <= start:
            continue
        period_start = max(full_start, start)
        if end is not None and period_start >= end:
            break
        period_end = full_end if end is None else min(full_end, end)
        if instant(period_end, timezone) > limit:
            break
        found.append(Period(period_start, period_end, full_start, full_end))
    return found


def whole_days(start: datetime, end: datetime) -> int:
    """Whole days between two wall-clock times (a DST change does not shorten a day)."""
    return (end - start) // timedelta(days=1)


@dataclass(frozen=True)
class Run:
    invoices: list[Invoice]
    lines: list[Line]
    #: (subscription, period start, meter) -> events the meter matched but left out
    invalid: dict[tuple[str, datetime, str], int]


def is_valid(meter: Meter, event: Event) -> bool:
    """Whether the meter can aggregate the event (a field present, a number if needed)."""
    if meter.aggregation == "count":
        return True
    assert meter.field is not None
    value = event.properties.get(meter.field)
    if meter.aggregation == "count_unique":
        return value is not None
    return number_of(value) is not None


# -- the run ------------------------------------------------------------------------------


def deduplicate(events: list[Event]) -> list[Event]:
    """The first copy of each ``event_id`` (in file order) wins."""
    seen: dict[str, Event] = {}
    for event in events:
        seen.setdefault(event.event_id, event)
    return list(seen.values())


def invoice_run(
    *,
    meters: dict[str, Meter],
    plans: dict[str, Plan],
    timezones: dict[str, str],
    subscriptions: list[Subscription],
    events: list[Event],
    through: date | datetime,
) -> Run:
    """Every complete period's invoice and line items, as the contract defines them."""
    events = deduplicate(events)
    invoices: list[Invoice] = []
    lines: list[Line] = []
    invalid: dict[tuple[str, datetime, str], int] = {}
    for sub in subscriptions:
        plan = plans[sub.plan]
        timezone = timezones.get(sub.customer_id, "UTC")
        for period in periods(sub, plan, timezone, through):
            start, end = instant(period.start, timezone), instant(period.end, timezone)
            own = [
                e for e in events if e.customer_id == sub.customer_id and start <= e.timestamp < end
            ]
            period_lines = []
            for price in plan.prices:
                if price.model == "flat_fee":
                    fraction = Fraction(
                        whole_days(period.start, period.end),
                        whole_days(period.full_start, period.full_end),
                    )
                    quantity = round12(fraction)
                    period_lines.append(
                        Line(sub.subscription_id, start, end, "fixed", None, None, "flat_fee",
                             quantity, quantity, price.amount,
                             money(Fraction(price.amount) * fraction, plan.currency))
                    )  # fmt: skip
                    continue
                assert price.meter is not None
                meter = meters[price.meter]
                matched = [e for e in own if matches(meter, e)]
                left_out = sum(not is_valid(meter, e) for e in matched)
                if left_out:
                    invalid[(sub.subscription_id, start, meter.key)] = left_out
                groups: dict[str | None, list[Event]] = {}
                for event in matched:
                    groups.setdefault(group_json(meter, event), []).append(event)
                if not meter.group_by:
                    groups = {None: matched}
                for group, members in groups.items():
                    quantity = aggregate(meter, members, start, end)
                    billable, amount = price_usage(price, quantity)
                    period_lines.append(
                        Line(sub.subscription_id, start, end, "usage", meter.key, group,
                             price.model, quantity, billable, unit_amount(price, quantity),
                             money(amount, plan.currency))
                    )  # fmt: skip
            lines += period_lines
            invoices.append(
                Invoice(sub.subscription_id, sub.customer_id, plan.key, plan.currency, start, end,
                        sum((line.amount for line in period_lines), Decimal(0)),
                        len(period_lines))
            )  # fmt: skip
    return Run(invoices, lines, invalid)
