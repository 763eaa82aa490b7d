"""Customer and subscription imports: a column the file lacks keeps the stored value."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from meterbill import Workspace
from meterbill.errors import SubscriptionError

CATALOG = '[plans.base]\ncurrency = "USD"\ninterval = "month"\nprices = []\n'


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.root / "catalog.toml").write_text(CATALOG)
    first = tmp_path / "c.csv"
    first.write_text("customer_id,name,email,timezone\nc1,One,o@x,Asia/Tokyo\nc2,Two,t@x,UTC\n")
    workspace.import_customers(first)
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,end,billing_cycle\n"
        "s1,c1,base,2026-03-01,2026-06-01,calendar\n"
    )
    workspace.import_subscriptions(subs)
    return workspace


def test_a_customers_file_without_timezone_keeps_each_zone(
    workspace: Workspace, tmp_path: Path
) -> None:
    names = tmp_path / "names.csv"
    names.write_text("customer_id,name\nc1,One Inc\nc3,Three\n")
    result = workspace.import_customers(names)
    assert (result.inserted, result.updated) == (1, 1)
    assert workspace.customers().rows() == [
        ("c1", "One Inc", "o@x", "Asia/Tokyo"),
        ("c2", "Two", "t@x", "UTC"),
        ("c3", "Three", None, "UTC"),
    ]
    # an empty cell in a column the file has is the default
    cleared = tmp_path / "cleared.csv"
    cleared.write_text("customer_id,email,timezone\nc1,,\n")
    workspace.import_customers(cleared)
    assert workspace.customers().row(0) == ("c1", "One Inc", None, "UTC")


def test_a_subscriptions_file_without_end_or_cycle_keeps_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    moved = tmp_path / "moved.csv"
    moved.write_text("subscription_id,customer_id,plan,start\ns1,c1,base,2026-03-15\n")
    workspace.import_subscriptions(moved)
    assert workspace.sql(
        "SELECT strftime(start_at, '%Y-%m-%dT%H:%M') AS s, strftime(end_at, '%Y-%m-%dT%H:%M')"
        " AS e, billing_cycle FROM subscriptions"
    ).rows() == [("2026-03-14T15:00", "2026-05-31T15:00", "calendar")]
    late = tmp_path / "late.csv"
    late.write_text("subscription_id,customer_id,plan,start\ns1,c1,base,2026-07-01\n")
    with pytest.raises(SubscriptionError, match="row 1: end: must be after start \\(the stored"):
        workspace.import_subscriptions(late)
    reopened = tmp_path / "reopened.csv"
    reopened.write_text("subscription_id,customer_id,plan,start,end\ns1,c1,base,2026-03-15,\n")
    workspace.import_subscriptions(reopened)
    assert workspace.sql("SELECT end_at, billing_cycle FROM subscriptions").rows() == [
        (None, "calendar")
    ]


def test_wall_clock_starts_follow_a_later_time_zone(tmp_path: Path) -> None:
    """Subscriptions first (their customer is created in UTC), then the customer's zone:
    a start or end given without offset is that wall clock in the customer's zone, so
    it moves with it; one given with an offset is an instant and stays."""
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.root / "catalog.toml").write_text(CATALOG)
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,end,billing_cycle\n"
        "local,c,base,2026-03-01,2026-06-01T12:00:00,calendar\n"
        "fixed,c,base,2026-03-01T00:00:00Z,2026-06-01,calendar\n"
    )
    workspace.import_subscriptions(subs)
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,timezone\nc,Asia/Tokyo\n")
    workspace.import_customers(customers)
    query = (
        "SELECT subscription_id, strftime(start_at, '%Y-%m-%dT%H:%M') AS s,"
        " strftime(end_at, '%Y-%m-%dT%H:%M') AS e FROM subscriptions ORDER BY 1"
    )
    assert workspace.sql(query).rows() == [
        ("fixed", "2026-03-01T00:00", "2026-05-31T15:00"),
        ("local", "2026-02-28T15:00", "2026-06-01T03:00"),
    ]
    result = workspace.invoice_run(through="2026-04-01")
    assert result.invoices.select("subscription_id", "period_start").sort(
        "subscription_id"
    ).rows() == [
        ("fixed", datetime(2026, 3, 1, tzinfo=UTC)),
        ("local", datetime(2026, 2, 28, 15, tzinfo=UTC)),
    ]
    # an offset given again drops the wall clock: the next zone change leaves it
    subs.write_text(
        "subscription_id,customer_id,plan,start\nlocal,c,base,2026-03-01T00:00:00+09:00\n"
    )
    workspace.import_subscriptions(subs)
    customers.write_text("customer_id,timezone\nc,UTC\n")
    workspace.import_customers(customers)
    assert workspace.sql(query).rows() == [
        ("fixed", "2026-03-01T00:00", "2026-06-01T00:00"),
        ("local", "2026-02-28T15:00", "2026-06-01T12:00"),
    ]


def test_a_time_zone_that_would_end_a_subscription_before_its_start_is_refused(
    tmp_path: Path,
) -> None:
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.root / "catalog.toml").write_text(CATALOG)
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,end\ns,c,base,2026-03-01T00:00:00Z,2026-03-01T05:00\n"
    )
    workspace.import_subscriptions(subs)
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,timezone\nc,Asia/Tokyo\n")
    with pytest.raises(SubscriptionError, match="subscription 's' would end before it starts"):
        workspace.import_customers(customers)
    assert workspace.customers().rows() == [("c", None, None, "UTC")]
