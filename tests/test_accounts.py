"""Customer and subscription imports: a column the file lacks keeps the stored value."""

from __future__ import annotations

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
