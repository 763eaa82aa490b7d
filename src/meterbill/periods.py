"""Billing periods and flat-fee proration: pure functions over dates and time zones.

A subscription's periods are half-open ``[start, end)`` instants, computed on the
customer's local wall clock and then converted to UTC, so a daylight-saving change makes
a 23- or 25-hour day rather than shifting the boundary.

- ``anniversary``: periods start on the start's day (and time of day), every
  ``interval_count`` intervals; a day past the month's end is clamped (Jan 31 -> Feb 28
  or 29 -> Mar 31), always counted from the original start so the day comes back.
- ``calendar``: periods align to local midnight (day), Monday (week), the 1st (month),
  Jan/Apr/Jul/Oct 1 (quarter) and Jan 1 (year); the first period is the partial one from
  the start.

A subscription ``end`` clips the period it falls in. Proration of a flat fee is by whole
local days: days in the partial period / days in the full period it is part of.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

Interval = Literal["day", "week", "month", "quarter", "year"]
Cycle = Literal["anniversary", "calendar"]

_MONTHS = {"month": 1, "quarter": 3, "year": 12}
#: A guard against a runaway loop (a daily plan over 200 years).
_MAX_PERIODS = 100_000


@dataclass(frozen=True, slots=True)
class Period:
    """One billing period in UTC, with what a flat fee needs to prorate it."""

    start: datetime
    end: datetime
    #: Whole local days actually in the period / in the full-length period it belongs to.
    days: int
    full_days: int

    @property
    def is_partial(self) -> bool:
        """True when a flat fee for this period is prorated."""
        return self.days != self.full_days


def _add_months(anchor: datetime, months: int) -> datetime:
    """The anchor moved by whole months on the wall clock, day clamped to the month."""
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def _step(anchor: datetime, interval: Interval, count: int) -> datetime:
    """``anchor`` + ``count`` intervals, on the local wall clock (naive datetimes)."""
    if interval == "day":
        return anchor + timedelta(days=count)
    if interval == "week":
        return anchor + timedelta(weeks=count)
    return _add_months(anchor, _MONTHS[interval] * count)


def _calendar_floor(local: datetime, interval: Interval) -> datetime:
    """The start of the calendar interval containing ``local`` (naive wall clock)."""
    midnight = datetime.combine(local.date(), time())
    if interval == "day":
        return midnight
    if interval == "week":
        return midnight - timedelta(days=midnight.weekday())
    if interval == "month":
        return midnight.replace(day=1)
    if interval == "quarter":
        return midnight.replace(month=(midnight.month - 1) // 3 * 3 + 1, day=1)
    return midnight.replace(month=1, day=1)


def _whole_days(start: datetime, end: datetime) -> int:
    """Whole days between two wall-clock times (DST does not make a day shorter)."""
    return (end - start).days


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def _wall_clock(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an instant, for counting days.

    An instant that is its date's local midnight reads as 00:00 even when the clock
    showed 01:00 (a DST jump at midnight), so that day still counts whole.
    """
    local = instant.astimezone(zone).replace(tzinfo=None)
    midnight = datetime.combine(local.date(), time())
    return midnight if _to_utc(midnight, zone) == instant else local


def iter_periods(
    *,
    start: datetime,
    end: datetime | None,
    interval: Interval,
    interval_count: int,
    cycle: Cycle,
    timezone: str,
) -> Iterator[Period]:
    """Yield a subscription's periods in order, forever unless ``end`` stops them.

    Args:
        start: the subscription start, an aware instant.
        end: the subscription end (exclusive), an aware instant, or None.
        interval: the plan's interval.
        interval_count: intervals per period (>= 1).
        cycle: ``anniversary`` or ``calendar``.
        timezone: the customer's IANA time zone.
    """
    zone = ZoneInfo(timezone)
    start, end = start.astimezone(UTC), None if end is None else end.astimezone(UTC)
    # A start at its day's local midnight anchors at 00:00, even on a day whose midnight
    # the clock skipped (America/Santiago): later periods then start at midnight too.
    local_start = _wall_clock(start, zone)
    anchor = local_start if cycle == "anniversary" else _calendar_floor(local_start, interval)
    for index in range(_MAX_PERIODS):
        try:
            full_start = _step(anchor, interval, interval_count * index)
            full_end = _step(anchor, interval, interval_count * (index + 1))
            # Bounds are compared as UTC instants: a local midnight that does not exist (a
            # DST jump at 00:00) and the exact start/end instants stay exact.
            full_start_utc, full_end_utc = _to_utc(full_start, zone), _to_utc(full_end, zone)
        except (OverflowError, ValueError):  # a period ending after year 9999: none is left
            return
        period_start = max(full_start_utc, start)
        period_end = full_end_utc if end is None else min(full_end_utc, end)
        if period_start >= period_end:
            return
        yield Period(
            start=period_start,
            end=period_end,
            days=_whole_days(
                full_start if period_start > start else _wall_clock(period_start, zone),
                full_end if end is None or period_end < end else _wall_clock(period_end, zone),
            ),
            full_days=_whole_days(full_start, full_end),
        )


@cache
def periods_through(
    *,
    start: datetime,
    end: datetime | None,
    interval: Interval,
    interval_count: int,
    cycle: Cycle,
    timezone: str,
    through: datetime,
) -> tuple[Period, ...]:
    """The complete periods: those whose end is at or before ``through``.

    Memoized: subscriptions that share a start, plan interval, cycle and time zone (a
    calendar plan's customers, a cohort signed up on one day) share their periods, so an
    invoice run over many subscriptions computes each distinct schedule once.
    """
    out = []
    for period in iter_periods(
        start=start,
        end=end,
        interval=interval,
        interval_count=interval_count,
        cycle=cycle,
        timezone=timezone,
    ):
        if period.end > through:
            break
        out.append(period)
    return tuple(out)


def period_at(
    *,
    start: datetime,
    end: datetime | None,
    interval: Interval,
    interval_count: int,
    cycle: Cycle,
    timezone: str,
    at: datetime,
) -> Period | None:
    """The period containing the instant ``at``, if the subscription is active then."""
    for period in iter_periods(
        start=start,
        end=end,
        interval=interval,
        interval_count=interval_count,
        cycle=cycle,
        timezone=timezone,
    ):
        if period.start > at:
            return None
        if at < period.end:
            return period
    return None


def whole_local_days(start: datetime, end: datetime, timezone: str) -> int:
    """Whole local days between two instants on ``timezone``'s wall clock (as a partial
    period counts them for proration)."""
    zone = ZoneInfo(timezone)
    return _whole_days(_wall_clock(start, zone), _wall_clock(end, zone))


def local_midnight(day: date, timezone: str) -> datetime:
    """That date's midnight in the time zone, as a UTC instant (``--through DATE``)."""
    return _to_utc(datetime.combine(day, time()), ZoneInfo(timezone))
