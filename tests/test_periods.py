"""Billing periods: anniversary clamping, calendar alignment, proration by days."""

from datetime import UTC, datetime, time

import pytest

from meterbill.periods import iter_periods, local_midnight, period_at, periods_through


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def starts(start: datetime, count: int, **kw: object) -> list[str]:
    options = {
        "end": None,
        "interval": "month",
        "interval_count": 1,
        "cycle": "anniversary",
        "timezone": "UTC",
    }
    options.update(kw)
    periods = iter_periods(start=start, **options)  # type: ignore[arg-type]
    return [f"{next(periods).start:%Y-%m-%d}" for _ in range(count)]


@pytest.mark.parametrize(
    ("start", "kw", "expected"),
    [
        (utc(2028, 1, 31), {}, ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]),
        (utc(2026, 1, 31), {}, ["2026-01-31", "2026-02-28", "2026-03-31"]),
        (
            utc(2028, 2, 29),
            {"interval": "year"},
            ["2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"],
        ),
        (utc(2026, 10, 1), {}, ["2026-10-01", "2026-11-01", "2026-12-01"]),
        (utc(2026, 11, 15), {"interval": "quarter"}, ["2026-11-15", "2027-02-15", "2027-05-15"]),
        (utc(2026, 3, 15), {"cycle": "calendar"}, ["2026-03-15", "2026-04-01", "2026-05-01"]),
        (
            utc(2026, 3, 15),
            {"cycle": "calendar", "interval": "quarter"},
            ["2026-03-15", "2026-04-01", "2026-07-01"],
        ),
        (
            utc(2026, 3, 18),
            {"cycle": "calendar", "interval": "week"},
            ["2026-03-18", "2026-03-23", "2026-03-30"],
        ),
        (
            utc(2026, 3, 15),
            {"cycle": "calendar", "interval": "year"},
            ["2026-03-15", "2027-01-01", "2028-01-01"],
        ),
        (
            utc(2026, 3, 15),
            {"interval": "day", "interval_count": 2},
            ["2026-03-15", "2026-03-17", "2026-03-19"],
        ),
        (  # counted from the start's own boundary (Mar 1), not from January
            utc(2026, 3, 15),
            {"cycle": "calendar", "interval_count": 2},
            ["2026-03-15", "2026-05-01", "2026-07-01"],
        ),
    ],
)
def test_period_starts(start: datetime, kw: dict[str, object], expected: list[str]) -> None:
    assert starts(start, len(expected), **kw) == expected


def test_calendar_first_period_prorated_by_days() -> None:
    first = next(
        iter_periods(
            start=utc(2026, 3, 15),
            end=None,
            interval="month",
            interval_count=1,
            cycle="calendar",
            timezone="UTC",
        )
    )
    assert (first.start, first.end, first.days, first.full_days) == (
        utc(2026, 3, 15),
        utc(2026, 4, 1),
        17,
        31,
    )
    assert first.is_partial


def test_end_clips_last_period() -> None:
    periods = list(
        iter_periods(
            start=utc(2026, 10, 1),
            end=utc(2026, 11, 16),
            interval="month",
            interval_count=1,
            cycle="anniversary",
            timezone="UTC",
        )
    )
    assert [(p.start, p.end, p.days, p.full_days) for p in periods] == [
        (utc(2026, 10, 1), utc(2026, 11, 1), 31, 31),
        (utc(2026, 11, 1), utc(2026, 11, 16), 15, 30),
    ]


def test_periods_through_only_complete() -> None:
    periods = periods_through(
        start=utc(2026, 10, 1),
        end=None,
        interval="month",
        interval_count=1,
        cycle="anniversary",
        timezone="UTC",
        through=utc(2026, 11, 1),
    )
    assert [(p.start, p.end) for p in periods] == [(utc(2026, 10, 1), utc(2026, 11, 1))]
    assert (
        periods_through(
            start=utc(2026, 10, 1),
            end=None,
            interval="month",
            interval_count=1,
            cycle="anniversary",
            timezone="UTC",
            through=utc(2026, 10, 31),
        )
        == ()
    )


def test_local_midnights_in_a_time_zone() -> None:
    start = local_midnight(datetime(2026, 10, 1).date(), "America/New_York")
    assert start == utc(2026, 10, 1, 4)
    first = next(
        iter_periods(
            start=start,
            end=None,
            interval="month",
            interval_count=1,
            cycle="anniversary",
            timezone="America/New_York",
        )
    )
    # November 1 2026 is still daylight time in New York (DST ends November 1 at 2:00).
    assert (first.start, first.end) == (utc(2026, 10, 1, 4), utc(2026, 11, 1, 4))


def test_period_at() -> None:
    kw = {
        "start": utc(2026, 10, 1),
        "end": None,
        "interval": "month",
        "interval_count": 1,
        "cycle": "anniversary",
        "timezone": "UTC",
    }
    found = period_at(at=utc(2026, 11, 5), **kw)  # type: ignore[arg-type]
    assert found is not None and (found.start, found.end) == (utc(2026, 11, 1), utc(2026, 12, 1))
    assert period_at(at=utc(2026, 9, 5), **kw) is None  # type: ignore[arg-type]


# -- table-driven: every interval, interval_count, cycle, clamping, time zones, DST ---------


def local(text: str, timezone: str) -> datetime:
    """A local wall-clock time (``2026-03-08T00:00``) in a zone, as a UTC instant."""
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def bounds(
    start: datetime,
    count: int,
    *,
    end: datetime | None = None,
    interval: str = "month",
    interval_count: int = 1,
    cycle: str = "anniversary",
    timezone: str = "UTC",
) -> list[tuple[str, str, int, int]]:
    """The first ``count`` periods as (UTC start, UTC end, days, full_days)."""
    periods = iter_periods(
        start=start,
        end=end,
        interval=interval,  # type: ignore[arg-type]
        interval_count=interval_count,
        cycle=cycle,  # type: ignore[arg-type]
        timezone=timezone,
    )
    out = []
    for period in periods:
        out.append(
            (
                period.start.strftime("%Y-%m-%dT%H:%M"),
                period.end.strftime("%Y-%m-%dT%H:%M"),
                period.days,
                period.full_days,
            )
        )
        if len(out) == count:
            break
    return out


PERIOD_CASES = [
    # id, start, options, expected (UTC start, UTC end, days, full days)
    (
        "day x3",
        utc(2026, 1, 30),
        {"interval": "day", "interval_count": 3},
        [
            ("2026-01-30T00:00", "2026-02-02T00:00", 3, 3),
            ("2026-02-02T00:00", "2026-02-05T00:00", 3, 3),
        ],
    ),
    (
        "week x2 anniversary (a Wednesday)",
        utc(2026, 3, 18),
        {"interval": "week", "interval_count": 2},
        [
            ("2026-03-18T00:00", "2026-04-01T00:00", 14, 14),
            ("2026-04-01T00:00", "2026-04-15T00:00", 14, 14),
        ],
    ),
    (
        "week calendar: partial to Monday",
        utc(2026, 3, 18),
        {"interval": "week", "cycle": "calendar"},
        [
            ("2026-03-18T00:00", "2026-03-23T00:00", 5, 7),
            ("2026-03-23T00:00", "2026-03-30T00:00", 7, 7),
        ],
    ),
    (
        "month x2 anniversary",
        utc(2026, 11, 30),
        {"interval_count": 2},
        [
            ("2026-11-30T00:00", "2027-01-30T00:00", 61, 61),
            ("2027-01-30T00:00", "2027-03-30T00:00", 59, 59),
        ],
    ),
    (
        "Jan 31 -> Feb 29 -> Mar 31 (leap year)",
        utc(2028, 1, 31),
        {},
        [
            ("2028-01-31T00:00", "2028-02-29T00:00", 29, 29),
            ("2028-02-29T00:00", "2028-03-31T00:00", 31, 31),
            ("2028-03-31T00:00", "2028-04-30T00:00", 30, 30),
        ],
    ),
    (
        "Jan 31 -> Feb 28 -> Mar 31",
        utc(2026, 1, 31),
        {},
        [
            ("2026-01-31T00:00", "2026-02-28T00:00", 28, 28),
            ("2026-02-28T00:00", "2026-03-31T00:00", 31, 31),
        ],
    ),
    (
        "Feb 29 yearly -> Feb 28 in other years -> Feb 29 again",
        utc(2028, 2, 29),
        {"interval": "year"},
        [
            ("2028-02-29T00:00", "2029-02-28T00:00", 365, 365),
            ("2029-02-28T00:00", "2030-02-28T00:00", 365, 365),
            ("2030-02-28T00:00", "2031-02-28T00:00", 365, 365),
            ("2031-02-28T00:00", "2032-02-29T00:00", 366, 366),
        ],
    ),
    (
        "month calendar: partial first period Mar 15 -> Apr 1",
        utc(2026, 3, 15),
        {"cycle": "calendar"},
        [
            ("2026-03-15T00:00", "2026-04-01T00:00", 17, 31),
            ("2026-04-01T00:00", "2026-05-01T00:00", 30, 30),
        ],
    ),
    (
        "quarter calendar: partial to Apr 1, then quarter starts",
        utc(2026, 2, 10),
        {"interval": "quarter", "cycle": "calendar"},
        [
            ("2026-02-10T00:00", "2026-04-01T00:00", 50, 90),
            ("2026-04-01T00:00", "2026-07-01T00:00", 91, 91),
            ("2026-07-01T00:00", "2026-10-01T00:00", 92, 92),
        ],
    ),
    (
        "quarter x2 anniversary",
        utc(2026, 8, 31),
        {"interval": "quarter", "interval_count": 2},
        [
            ("2026-08-31T00:00", "2027-02-28T00:00", 181, 181),
            ("2027-02-28T00:00", "2027-08-31T00:00", 184, 184),
        ],
    ),
    (
        "year calendar: partial to Jan 1",
        utc(2026, 7, 1),
        {"interval": "year", "cycle": "calendar"},
        [
            ("2026-07-01T00:00", "2027-01-01T00:00", 184, 365),
            ("2027-01-01T00:00", "2028-01-01T00:00", 365, 365),
        ],
    ),
    (
        "day calendar with a start time: partial day",
        utc(2026, 5, 1, 12),
        {"interval": "day", "cycle": "calendar"},
        [
            ("2026-05-01T12:00", "2026-05-02T00:00", 0, 1),
            ("2026-05-02T00:00", "2026-05-03T00:00", 1, 1),
        ],
    ),
    (
        "end clips the last period (anniversary)",
        utc(2026, 10, 1),
        {"end": utc(2026, 11, 16)},
        [
            ("2026-10-01T00:00", "2026-11-01T00:00", 31, 31),
            ("2026-11-01T00:00", "2026-11-16T00:00", 15, 30),
        ],
    ),
    (
        "end on a boundary: no empty period after it",
        utc(2026, 3, 15),
        {"cycle": "calendar", "end": utc(2026, 5, 1)},
        [
            ("2026-03-15T00:00", "2026-04-01T00:00", 17, 31),
            ("2026-04-01T00:00", "2026-05-01T00:00", 30, 30),
        ],
    ),
    (
        "end inside the calendar first period",
        utc(2026, 3, 15),
        {"cycle": "calendar", "end": utc(2026, 3, 20)},
        [("2026-03-15T00:00", "2026-03-20T00:00", 5, 31)],
    ),
    # DST: bounds are local midnights; the days around the change are 23 or 25 hours.
    (
        "New York: 23-hour day (DST starts Mar 8 2026)",
        local("2026-03-07T00:00", "America/New_York"),
        {"interval": "day", "timezone": "America/New_York"},
        [
            ("2026-03-07T05:00", "2026-03-08T05:00", 1, 1),
            ("2026-03-08T05:00", "2026-03-09T04:00", 1, 1),
            ("2026-03-09T04:00", "2026-03-10T04:00", 1, 1),
        ],
    ),
    (
        "New York: 25-hour day (DST ends Nov 1 2026)",
        local("2026-11-01T00:00", "America/New_York"),
        {"interval": "day", "timezone": "America/New_York"},
        [
            ("2026-11-01T04:00", "2026-11-02T05:00", 1, 1),
            ("2026-11-02T05:00", "2026-11-03T05:00", 1, 1),
        ],
    ),
    (
        "New York: a month across DST end keeps local midnights",
        local("2026-10-15T00:00", "America/New_York"),
        {"timezone": "America/New_York", "cycle": "calendar"},
        [
            ("2026-10-15T04:00", "2026-11-01T04:00", 17, 31),
            ("2026-11-01T04:00", "2026-12-01T05:00", 30, 30),
        ],
    ),
    (
        "Berlin: 23-hour day (DST starts Mar 29 2026)",
        local("2026-03-29T00:00", "Europe/Berlin"),
        {"interval": "day", "timezone": "Europe/Berlin"},
        [
            ("2026-03-28T23:00", "2026-03-29T22:00", 1, 1),
            ("2026-03-29T22:00", "2026-03-30T22:00", 1, 1),
        ],
    ),
    (
        "Berlin: 25-hour day (DST ends Oct 25 2026)",
        local("2026-10-25T00:00", "Europe/Berlin"),
        {"interval": "day", "timezone": "Europe/Berlin"},
        [("2026-10-24T22:00", "2026-10-25T23:00", 1, 1)],
    ),
    (
        "Berlin: calendar week containing the DST change is 167 hours",
        local("2026-03-23T00:00", "Europe/Berlin"),
        {"interval": "week", "cycle": "calendar", "timezone": "Europe/Berlin"},
        [
            ("2026-03-22T23:00", "2026-03-29T22:00", 7, 7),
            ("2026-03-29T22:00", "2026-04-05T22:00", 7, 7),
        ],
    ),
    (
        "Santiago: midnight that does not exist (clocks jump 00:00 -> 01:00 on Sep 6 2026)",
        local("2026-09-05T00:00", "America/Santiago"),
        {"interval": "day", "cycle": "calendar", "timezone": "America/Santiago"},
        [
            ("2026-09-05T04:00", "2026-09-06T04:00", 1, 1),
            ("2026-09-06T04:00", "2026-09-07T03:00", 1, 1),
        ],
    ),
    (
        "Santiago: a calendar month starting on a day without midnight counts it whole",
        local_midnight(datetime(2026, 9, 6).date(), "America/Santiago"),
        {"cycle": "calendar", "timezone": "America/Santiago", "end": utc(2026, 9, 20, 3)},
        [("2026-09-06T04:00", "2026-09-20T03:00", 14, 30)],
    ),
    (
        "Kolkata: midnight is 18:30 UTC the day before",
        local("2026-10-01T00:00", "Asia/Kolkata"),
        {"timezone": "Asia/Kolkata"},
        [
            ("2026-09-30T18:30", "2026-10-31T18:30", 31, 31),
            ("2026-10-31T18:30", "2026-11-30T18:30", 30, 30),
        ],
    ),
    (
        "Kolkata: calendar quarter",
        local("2026-11-20T00:00", "Asia/Kolkata"),
        {"timezone": "Asia/Kolkata", "interval": "quarter", "cycle": "calendar"},
        [
            ("2026-11-19T18:30", "2026-12-31T18:30", 42, 92),
            ("2026-12-31T18:30", "2027-03-31T18:30", 90, 90),
        ],
    ),
]


@pytest.mark.parametrize(
    ("start", "options", "expected"),
    [case[1:] for case in PERIOD_CASES],
    ids=[case[0] for case in PERIOD_CASES],
)
def test_periods_table(
    start: datetime, options: dict[str, object], expected: list[tuple[str, str, int, int]]
) -> None:
    assert bounds(start, len(expected), **options) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "timezone", "expected"),
    [
        ("2026-11-01", "UTC", utc(2026, 11, 1)),
        ("2026-11-01", "America/New_York", utc(2026, 11, 1, 4)),  # still EDT at midnight
        ("2026-11-02", "America/New_York", utc(2026, 11, 2, 5)),  # EST
        ("2026-03-29", "Europe/Berlin", utc(2026, 3, 28, 23)),  # CET at midnight
        ("2026-03-30", "Europe/Berlin", utc(2026, 3, 29, 22)),  # CEST
        ("2026-11-01", "Asia/Kolkata", utc(2026, 10, 31, 18, 30)),
        ("2026-11-01", "Pacific/Kiritimati", utc(2026, 10, 31, 10)),  # +14:00
    ],
)
def test_through_date_is_local_midnight(day: str, timezone: str, expected: datetime) -> None:
    from datetime import date

    assert local_midnight(date.fromisoformat(day), timezone) == expected


def test_periods_through_in_a_time_zone() -> None:
    """``--through 2026-11-01`` in Kolkata is 2026-10-31 18:30 UTC: October is complete."""
    kw = {
        "start": local("2026-10-01T00:00", "Asia/Kolkata"),
        "end": None,
        "interval": "month",
        "interval_count": 1,
        "cycle": "anniversary",
        "timezone": "Asia/Kolkata",
    }
    through = local_midnight(datetime(2026, 11, 1).date(), "Asia/Kolkata")
    assert len(periods_through(through=through, **kw)) == 1  # type: ignore[arg-type]
    # a UTC instant 29 minutes earlier is still inside October's Kolkata period
    early = utc(2026, 10, 31, 18, 1)
    assert periods_through(through=early, **kw) == ()  # type: ignore[arg-type]


# -- properties over random subscriptions --------------------------------------------------

import itertools  # noqa: E402
from datetime import date as _date  # noqa: E402
from datetime import timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "America/Santiago"]


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=_date(2024, 1, 1), max_value=_date(2030, 12, 31)),
    interval=st.sampled_from(["day", "week", "month", "quarter", "year"]),
    interval_count=st.integers(1, 3),
    cycle=st.sampled_from(["anniversary", "calendar"]),
    timezone=st.sampled_from(ZONES),
    end_after=st.one_of(st.none(), st.integers(1, 800)),
)
def test_periods_tile_time_at_local_midnights(
    day: _date,
    interval: str,
    interval_count: int,
    cycle: str,
    timezone: str,
    end_after: int | None,
) -> None:
    """Periods are contiguous from start to end, start at local midnights, and a partial
    period never has more days than the full one."""
    start = local_midnight(day, timezone)
    end = None if end_after is None else local_midnight(day + timedelta(days=end_after), timezone)
    periods = []
    for period in iter_periods(
        start=start,
        end=end,
        interval=interval,  # type: ignore[arg-type]
        interval_count=interval_count,
        cycle=cycle,  # type: ignore[arg-type]
        timezone=timezone,
    ):
        periods.append(period)
        if len(periods) == 8:
            break
    zone = ZoneInfo(timezone)
    assert periods[0].start == start
    for previous, current in itertools.pairwise(periods):
        assert previous.end == current.start
    for period in periods:
        assert period.start < period.end
        assert 0 < period.days <= period.full_days
        local_start = period.start.astimezone(zone)
        # a local midnight, or the first instant of a day whose midnight does not exist
        assert (
            local_start.time() == time()
            or local_midnight(local_start.date(), timezone) == period.start
        )
        if not (period is periods[0] or period is periods[-1]):
            assert not period.is_partial
    if end is not None and len(periods) < 8:
        assert periods[-1].end == end
