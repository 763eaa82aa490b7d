"""Unbilled events: found by the invoice run's one scan, recorded, shown, never billed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from meterbill import Workspace
from meterbill.cli.main import cli

CATALOG = """
[meters.calls]
event_name = "api.call"
aggregation = "count"

[plans.p]
currency = "USD"
interval = "month"
[[plans.p.prices]]
model = "per_unit"
meter = "calls"
unit_amount = "1"
"""
# c_early starts Sep 1 (so the first run's window opens then); c_late starts Sep 15 and
# c_ended ends Sep 20; c_none has no subscription at all.
SUBSCRIPTIONS = """subscription_id,customer_id,plan,start,end,billing_cycle
s_early,c_early,p,2026-09-01,,calendar
s_late,c_late,p,2026-09-15,,calendar
s_ended,c_ended,p,2026-09-01,2026-09-20,calendar
"""
CUSTOMERS = "customer_id,name,email,timezone\n" + "".join(
    f"{c},{c},{c}@x.example,UTC\n" for c in ("c_early", "c_late", "c_ended", "c_none")
)


def _event(n: int, customer: str, timestamp: str, name: str = "api.call") -> dict[str, object]:
    return {
        "event_id": f"e{n}",
        "event_name": name,
        "customer_id": customer,
        "timestamp": timestamp,
        "properties": {},
    }


EVENTS = [
    _event(1, "c_early", "2026-09-02T00:00:00Z"),  # billed (Sep)
    _event(2, "c_none", "2026-09-03T00:00:00Z"),  # no subscription: unbilled
    _event(3, "c_none", "2026-09-25T12:00:00Z", "other.event"),  # any event name counts
    _event(4, "c_late", "2026-09-10T00:00:00Z"),  # before c_late's start: unbilled
    _event(5, "c_late", "2026-09-16T00:00:00Z"),  # billed (Sep 15 - Oct 1)
    _event(6, "c_ended", "2026-09-19T23:59:59Z"),  # billed (last second of its span)
    _event(7, "c_ended", "2026-09-20T00:00:00Z"),  # at its end (exclusive): unbilled
    _event(8, "c_none", "2026-10-10T00:00:00Z"),  # after the run's window: not reported
]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "catalog.toml").write_text(CATALOG)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    ws.import_customers(tmp_path / "customers.csv")
    ws.import_subscriptions(tmp_path / "subscriptions.csv")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    ws.ingest([str(events)])
    return ws


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_events_in_no_period_are_reported_not_billed(workspace: Workspace) -> None:
    result = workspace.invoice_run(through="2026-10-01")
    assert result.unbilled.rows() == [
        ("c_ended", 1, _at("2026-09-20T00:00:00"), _at("2026-09-20T00:00:00")),
        ("c_late", 1, _at("2026-09-10T00:00:00"), _at("2026-09-10T00:00:00")),
        ("c_none", 2, _at("2026-09-03T00:00:00"), _at("2026-09-25T12:00:00")),
    ]
    quantities = dict(result.line_items.select("customer_id", "quantity").iter_rows())
    assert quantities == {"c_early": 1, "c_late": 1, "c_ended": 1}
    recorded = workspace.sql(
        "SELECT run_id, customer_id, events FROM unbilled_events ORDER BY customer_id"
    )
    assert recorded.rows() == [
        (result.run_id, "c_ended", 1),
        (result.run_id, "c_late", 1),
        (result.run_id, "c_none", 2),
    ]


def test_events_in_finalized_or_running_periods_are_not_unbilled(workspace: Workspace) -> None:
    workspace.invoice_run(through="2026-10-01", finalize=True)
    # A late event in c_early's finalized September, and events in October, a period
    # no run has priced yet (c_late's) or that is still running (everyone's).
    late = workspace.root.parent / "late.jsonl"
    late.write_text(
        json.dumps(_event(20, "c_early", "2026-09-05T00:00:00Z"))
        + "\n"
        + json.dumps(_event(21, "c_late", "2026-11-03T00:00:00Z"))
        + "\n"
    )
    workspace.ingest([str(late)])
    # Only c_early's and c_late's October periods are priced now; their window is
    # October, so September's events (finalized) are outside it, and c_late's November
    # event is in its running period.
    result = workspace.invoice_run(through="2026-11-01")
    assert result.unbilled.rows() == [
        ("c_none", 1, _at("2026-10-10T00:00:00"), _at("2026-10-10T00:00:00")),
    ]


def test_finalized_period_inside_the_window_is_covered(tmp_path: Path) -> None:
    """A finalized period, and a period still running, inside the window: covered."""
    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "catalog.toml").write_text(CATALOG)
    (tmp_path / "c.csv").write_text(CUSTOMERS)
    (tmp_path / "s.csv").write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        "s_a,c_early,p,2026-09-01,calendar\n"
        "s_b,c_late,p,2026-09-01,calendar\n"
        "s_c,c_ended,p,2026-09-10,anniversary\n"  # Sep 10 - Oct 10: running on Oct 1
    )
    ws.import_customers(tmp_path / "c.csv")
    ws.import_subscriptions(tmp_path / "s.csv")
    ws.invoice_run(through="2026-10-01")
    september_a = ws.invoices().filter(customer_id="c_early")["invoice_id"].item()
    ws.finalize(invoice_ids=[september_a])
    events = tmp_path / "e.jsonl"
    events.write_text(
        json.dumps(_event(1, "c_early", "2026-09-09T00:00:00Z"))  # in the finalized period
        + "\n"
        + json.dumps(_event(2, "c_late", "2026-09-09T00:00:00Z"))  # priced: s_b is a draft
        + "\n"
        + json.dumps(_event(3, "c_ended", "2026-09-12T00:00:00Z"))  # in s_c's running period
        + "\n"
    )
    ws.ingest([str(events)])
    result = ws.invoice_run(through="2026-10-01")
    assert result.unbilled.is_empty()
    assert result.invoices["customer_id"].to_list() == ["c_late"]
    assert result.line_items["quantity"].to_list() == [1]


def test_events_a_finalized_invoice_billed_stay_covered_after_a_reimport(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Finalized September billed e1 (Sep 2); s_early re-imported to start Sep 10 no
    longer covers Sep 2, but the event was billed, so it is not reported unbilled."""
    workspace.invoice_run(through="2026-10-01")
    september = workspace.invoices().filter(customer_id="c_early")["invoice_id"].item()
    workspace.finalize(invoice_ids=[september])
    moved = tmp_path / "moved.csv"
    moved.write_text("subscription_id,customer_id,plan,start,billing_cycle\n"
                     "s_early,c_early,p,2026-09-10,calendar\n")  # fmt: skip
    workspace.import_subscriptions(moved)
    result = workspace.invoice_run(through="2026-10-01")
    assert result.unbilled["customer_id"].to_list() == ["c_ended", "c_late", "c_none"]


def test_invoice_run_prints_the_unbilled_count(workspace: Workspace) -> None:
    result = CliRunner().invoke(
        cli, ["invoice", "run", "--through", "2026-10-01", "-w", str(workspace.root)]
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "warning: 4 events of 3 customers in no subscription period, not billed; see the "
        "unbilled_events view" in " ".join(result.stderr.split())
    )
    assert "unbilled" not in result.stdout
