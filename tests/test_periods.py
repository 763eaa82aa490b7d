"""Billing periods: anniversary clamping, calendar alignment, proration by days."""

from datetime import UTC, datetime

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
        == []
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
