"""``Workspace.preview``: the period in progress, priced as the final invoice will be."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from meterbill import Workspace
from meterbill.errors import WorkspaceError
from tests.invoices.helpers import call, make_workspace

CUSTOMERS = [{"customer_id": "c1", "name": "One", "email": "", "timezone": "Europe/Berlin"}]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "customer_id": "c1", "plan": "pro", "start": "2026-03-15",
     "end": "", "billing_cycle": "calendar"},
]  # fmt: skip
EVENTS = [
    call("a", "c1", "2026-03-16T10:00:00Z", tokens=700),
    call("b", "c1", "2026-03-20T10:00:00Z", tokens=700),
    call("c", "c1", "2026-03-28T10:00:00Z", tokens=700),
    call("outside", "c1", "2026-04-02T10:00:00Z", tokens=5000),
]
COMPARED = ["invoice_id", "customer_id", "subscription_id", "plan", "currency",
            "period_start", "period_end", "subtotal", "total", "line_count"]  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path, customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS, events=EVENTS)


def test_preview_equals_the_final_invoice_once_the_period_closes(workspace: Workspace) -> None:
    invoices, lines = workspace.preview("c1", at="2026-03-30T00:00:00Z")
    assert invoices["status"].to_list() == ["preview"]
    assert workspace.invoices().height == 0  # nothing written
    result = workspace.invoice_run(through="2026-04-01")
    final = result.invoices.filter(pl.col("period_start") == invoices["period_start"][0])
    assert invoices.select(COMPARED).equals(final.select(COMPARED))
    final_lines = result.line_items.filter(pl.col("invoice_id") == invoices["invoice_id"][0])
    assert lines.equals(final_lines)
    # 62.00 x 17/31 (Berlin midnights) + 3 calls x 0.02 + ceil(2100/1000) = 3 packages
    assert f"{invoices['total'][0]:.2f}" == "37.06"


def test_preview_counts_only_events_before_at(workspace: Workspace) -> None:
    invoices, lines = workspace.preview("c1", at="2026-03-21")  # Berlin midnight
    usage = dict(lines.filter(pl.col("line_type") == "usage").select("meter", "quantity").rows())
    assert {k: int(v) for k, v in usage.items()} == {"calls": 2, "tokens": 1400}
    # the flat fee is the period's, as it will be billed (prorated first period)
    fixed = lines.filter(pl.col("line_type") == "fixed")["amount"].to_list()
    assert [f"{a:.2f}" for a in fixed] == ["34.00"]
    assert f"{invoices['total'][0]:.2f}" == "36.04"


def test_preview_errors(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="no customer 'nobody'"):
        workspace.preview("nobody")
    with pytest.raises(WorkspaceError, match="no subscription active"):
        workspace.preview("c1", at="2026-03-01")
    with pytest.raises(WorkspaceError, match="--at: not a date"):
        workspace.preview("c1", at="soon")
