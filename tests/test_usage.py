"""``Workspace.usage``: the same meters and aggregations as invoices, over UTC windows."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from meterbill import Workspace
from meterbill.errors import WorkspaceError
from tests.invoices.helpers import write_csv

AGGREGATIONS = {
    "n_count": ("count", ""),
    "n_sum": ("sum", 'field = "v"'),
    "n_unique": ("count_unique", 'field = "v"'),
    "n_max": ("max", 'field = "v"'),
    "n_min": ("min", 'field = "v"'),
    "n_avg": ("avg", 'field = "v"'),
    "n_latest": ("latest", 'field = "v"'),
    "n_mult": ("sum_with_multiplier", 'field = "v"\nmultiplier = "1.5"'),
    "n_weighted": ("weighted_sum", 'field = "v"'),
}
CATALOG = "".join(
    f'[meters.{key}]\nevent_name = "e"\naggregation = "{agg}"\n{extra}\n\n'
    for key, (agg, extra) in AGGREGATIONS.items()
) + (
    '[meters.by_region]\nevent_name = "e"\naggregation = "sum"\nfield = "v"\n'
    'group_by = ["region"]\n\n'
    '[plans.p]\ncurrency = "USD"\ninterval = "month"\n\n'
    + "".join(
        f'[[plans.p.prices]]\nmeter = "{key}"\nmodel = "per_unit"\nunit_amount = "1"\n\n'
        for key in [*AGGREGATIONS, "by_region"]
    )
)
EVENTS = [
    ("c1", "2026-10-03T10:15:00Z", "1.5", "eu"),
    ("c1", "2026-10-03T10:45:00Z", "2", "us"),
    ("c1", "2026-10-03T11:05:00Z", "abc", "eu"),  # not a number: invalid for numeric meters
    ("c1", "2026-10-20T00:00:00Z", "7.25", "eu"),
    ("c1", "2026-11-02T00:00:00Z", "4", None),
    ("c2", "2026-10-05T00:00:00Z", "10", "us"),
]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "catalog.toml").write_text(CATALOG)
    ws.import_customers(
        write_csv(tmp_path / "c.csv", [{"customer_id": c, "timezone": "UTC"} for c in ("c1", "c2")])
    )
    ws.import_subscriptions(
        write_csv(
            tmp_path / "s.csv",
            [
                {"subscription_id": f"s_{c}", "customer_id": c, "plan": "p",
                 "start": "2026-10-01", "billing_cycle": "calendar"}
                for c in ("c1", "c2")
            ],
        )
    )  # fmt: skip
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps(
                {"event_id": f"e{i}", "event_name": "e", "customer_id": c, "timestamp": t,
                 "properties": {"v": v, **({"region": r} if r else {})}}
            )
            + "\n"
            for i, (c, t, v, r) in enumerate(EVENTS)
        )
    )  # fmt: skip
    ws.ingest([str(events)])
    return ws


def test_monthly_usage_equals_the_invoice_quantities(workspace: Workspace) -> None:
    """Every aggregation (and group_by): a UTC month of usage is what a calendar-month
    invoice in UTC bills."""
    result = workspace.invoice_run(through="2026-11-01")
    billed = {
        (r["customer_id"], r["meter"], r["group"]): r["quantity"]
        for r in result.line_items.iter_rows(named=True)
    }
    usage = workspace.usage(window="month", end="2026-11-01")
    measured = {
        (r["customer_id"], r["meter"], r["group"]): r["quantity"]
        for r in usage.iter_rows(named=True)
    }
    assert measured == billed
    assert measured[("c1", "n_avg", None)] == Decimal("3.583333333333")  # 10.75 / 3
    assert measured[("c1", "n_count", None)] == 4
    assert measured[("c1", "by_region", '{"region": "eu"}')] == Decimal("8.75")
    invalid = usage.filter(pl.col("meter") == "n_sum", pl.col("customer_id") == "c1")
    assert invalid.select("events", "invalid_events").row(0) == (4, 1)


def test_hourly_windows_and_filters(workspace: Workspace) -> None:
    usage = workspace.usage(
        customer="c1", meters=["n_sum"], start="2026-10-03", end="2026-10-04", window="hour"
    )
    assert [
        (f"{r['window_start']:%H:%M}", f"{r['window_end']:%H:%M}", r["quantity"], r["events"])
        for r in usage.iter_rows(named=True)
    ] == [("10:00", "11:00", Decimal("3.5"), 2), ("11:00", "12:00", Decimal(0), 1)]
    daily = workspace.usage(meters=["n_count"], window="day")
    assert [
        (r["customer_id"], f"{r['window_start']:%m-%d}", int(r["quantity"]))
        for r in daily.iter_rows(named=True)
    ] == [("c1", "10-03", 3), ("c1", "10-20", 1), ("c1", "11-02", 1), ("c2", "10-05", 1)]


def test_windows_are_cut_to_from_and_to(workspace: Workspace) -> None:
    usage = workspace.usage(
        customer="c1",
        meters=["n_count"],
        start="2026-10-03T10:30:00+00:00",
        end="2026-10-25",
        window="month",
    )
    assert [
        (r["window_start"].isoformat(), r["window_end"].isoformat(), int(r["quantity"]))
        for r in usage.iter_rows(named=True)
    ] == [("2026-10-03T10:30:00+00:00", "2026-10-25T00:00:00+00:00", 3)]  # 10:45, 11:05, 10-20
    whole = workspace.usage(customer="c1", meters=["n_count"], window="month")
    assert [
        (f"{r['window_start']:%m-%d}", f"{r['window_end']:%m-%d}", int(r["quantity"]))
        for r in whole.iter_rows(named=True)
    ] == [("10-01", "11-01", 4), ("11-01", "12-01", 1)]


def test_usage_errors(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="unknown meter 'nope'"):
        workspace.usage(meters=["nope"])
    with pytest.raises(WorkspaceError, match="unknown window"):
        workspace.usage(window="week")
    with pytest.raises(WorkspaceError, match="--from: not a date"):
        workspace.usage(start="yesterday")
