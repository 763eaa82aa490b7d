"""Invoices through the real pipeline (Workspace API): proration, plan changes, time zones,
the ledger's idempotency, numbering, atomicity, watermarks and late events."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from meterbill import Workspace
from meterbill.errors import WorkspaceError
from meterbill.export import write_frame
from meterbill.invoices import ledger
from tests.invoices.helpers import call, ingest, make_workspace

CUSTOMERS = [
    {"customer_id": "c1", "name": "One", "email": "", "timezone": "UTC"},
    {"customer_id": "c2", "name": "Two", "email": "", "timezone": "UTC"},
    {"customer_id": "c3", "name": "Three", "email": "", "timezone": "UTC"},
    {"customer_id": "c4", "name": "Four", "email": "", "timezone": "Asia/Kolkata"},
]
SUBSCRIPTIONS = [
    # calendar, starting mid-month: first period Mar 15 -> Apr 1 is 17/31
    {"subscription_id": "s1", "customer_id": "c1", "plan": "basic", "start": "2026-03-15",
     "end": "", "billing_cycle": "calendar"},
    # ends mid-period: April 1 -> 16 is 15/30
    {"subscription_id": "s2", "customer_id": "c2", "plan": "basic", "start": "2026-03-01",
     "end": "2026-04-16", "billing_cycle": "anniversary"},
    # a plan change on March 11: basic until then, pro from then
    {"subscription_id": "s3a", "customer_id": "c3", "plan": "basic", "start": "2026-03-01",
     "end": "2026-03-11", "billing_cycle": "calendar"},
    {"subscription_id": "s3b", "customer_id": "c3", "plan": "pro", "start": "2026-03-11",
     "end": "", "billing_cycle": "calendar"},
    # Kolkata: periods run from 18:30 UTC the day before
    {"subscription_id": "s4", "customer_id": "c4", "plan": "basic", "start": "2026-03-01",
     "end": "", "billing_cycle": "anniversary"},
]  # fmt: skip
EVENTS = [
    *[call(f"c3-a{i}", "c3", f"2026-03-0{5 + i}T12:00:00Z") for i in range(3)],
    call("c3-a-last", "c3", "2026-03-10T23:59:59.999999Z"),
    call("c3-b-first", "c3", "2026-03-11T00:00:00Z"),  # the boundary belongs to the new plan
    call("c3-b1", "c3", "2026-03-20T00:00:00Z", tokens=600),
    call("c3-b2", "c3", "2026-03-21T00:00:00Z", tokens=600),
    call("c4-march", "c4", "2026-03-31T18:00:00Z"),  # 23:30 in Kolkata: March
    call("c4-april", "c4", "2026-03-31T19:00:00Z"),  # 00:30 April 1 in Kolkata
    call("c4-early", "c4", "2026-02-28T18:00:00Z"),  # before the subscription starts
    call("c1-march", "c1", "2026-03-20T00:00:00Z"),
]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path, customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS, events=EVENTS)


def totals(frame: pl.DataFrame) -> dict[tuple[str, str], str]:
    """{(subscription, UTC period start): total} of an invoices frame."""
    return {
        (
            row["subscription_id"],
            row["period_start"].strftime("%Y-%m-%dT%H:%M"),
        ): f"{row['total']:.2f}"
        for row in frame.iter_rows(named=True)
    }


def test_proration_plan_change_and_time_zones(workspace: Workspace) -> None:
    result = workspace.invoice_run(through="2026-04-01")
    assert totals(result.invoices) == {
        ("s1", "2026-03-15T00:00"): "17.01",  # 31.00 x 17/31 = 17.00, + 1 call
        ("s2", "2026-03-01T00:00"): "31.00",
        ("s3a", "2026-03-01T00:00"): "10.04",  # 31.00 x 10/31 + 4 calls x 0.01
        ("s3b", "2026-03-11T00:00"): "44.06",  # 62.00 x 21/31 + 3 x 0.02 + 2 packages
        ("s4", "2026-02-28T18:30"): "31.01",  # the 23:30 IST event only
    }
    lines = result.line_items.filter(pl.col("subscription_id") == "s1")
    fixed = lines.filter(pl.col("line_type") == "fixed").row(0, named=True)
    assert (fixed["quantity"], fixed["amount"]) == (Decimal("0.548387096774"), Decimal("17.00"))
    # the plan change: each subscription on its own invoice, for its own part of March
    c3 = result.invoices.filter(pl.col("customer_id") == "c3")
    assert c3.select("plan", "period_start", "period_end").rows() == [
        ("basic", *utc_pair("2026-03-01", "2026-03-11")),
        ("pro", *utc_pair("2026-03-11", "2026-04-01")),
    ]

    later = workspace.invoice_run(through="2026-05-01")
    assert totals(later.invoices) == {
        ("s1", "2026-03-15T00:00"): "17.01",
        ("s1", "2026-04-01T00:00"): "31.00",
        ("s2", "2026-03-01T00:00"): "31.00",
        ("s2", "2026-04-01T00:00"): "15.50",  # 31.00 x 15/30, ended April 16
        ("s3a", "2026-03-01T00:00"): "10.04",
        ("s3b", "2026-03-11T00:00"): "44.06",
        ("s3b", "2026-04-01T00:00"): "62.00",
        ("s4", "2026-02-28T18:30"): "31.01",
        ("s4", "2026-03-31T18:30"): "31.01",  # the 00:30 IST April 1 event
    }


def utc_pair(start: str, end: str) -> tuple[datetime, datetime]:
    return (
        datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )


def test_through_timestamp_is_that_instant(workspace: Workspace) -> None:
    """Kolkata's March ends at 18:30 UTC on March 31: a minute before, it is not complete."""
    early = workspace.invoice_run(through="2026-03-31T18:29:00+00:00")
    assert "s4" not in set(early.invoices["subscription_id"])
    on_time = workspace.invoice_run(through="2026-04-01T00:00:00+05:30")
    assert "s4" in set(on_time.invoices["subscription_id"])


def exports(workspace: Workspace, folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    out = {}
    for fmt in ("csv", "json", "parquet"):
        for name, frame in (("invoices", workspace.invoices()), ("lines", workspace.line_items())):
            path = folder / f"{name}.{fmt}"
            write_frame(frame, fmt=fmt, out=path)  # type: ignore[arg-type]
            out[path.name] = path.read_bytes()
    return out


def test_rerun_with_no_new_events_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    workspace.invoice_run(through="2026-05-01")
    first = exports(workspace, tmp_path / "first")
    workspace.invoice_run(through="2026-05-01")
    assert exports(workspace, tmp_path / "second") == first
    workspace.finalize()
    finalized = exports(workspace, tmp_path / "finalized")
    rerun = workspace.invoice_run(through="2026-05-01")
    assert rerun.invoices.height == 0  # every period is finalized: nothing to redo
    assert exports(workspace, tmp_path / "after") == finalized


def test_rerun_rewrites_only_the_drafts_that_changed(workspace: Workspace, tmp_path: Path) -> None:
    first = workspace.invoice_run(through="2026-05-01")
    runs = "SELECT invoice_id, run_id FROM invoices ORDER BY invoice_id"
    before = dict(workspace.sql(runs).rows())
    assert set(before.values()) == {first.run_id}
    workspace.invoice_run(through="2026-05-01")
    assert dict(workspace.sql(runs).rows()) == before  # no new events: nothing written
    ingest(workspace, tmp_path / "late.jsonl", [call("late-april", "c1", "2026-04-25T00:00:00Z")])
    third = workspace.invoice_run(through="2026-05-01")
    after = dict(workspace.sql(runs).rows())
    (changed,) = [i for i in after if after[i] != before[i]]
    assert after[changed] == third.run_id
    assert workspace.invoice(changed)[0]["subscription_id"].item() == "s1"
    # every draft, rewritten or not, records the newest watermark
    marks = workspace.sql("SELECT DISTINCT ingest_watermark FROM invoices").rows()
    assert marks == [(2,)]


def numbers(workspace: Workspace) -> dict[tuple[str, str], str | None]:
    return {
        (row["subscription_id"], f"{row['period_start']:%Y-%m-%d}"): row["invoice_number"]
        for row in workspace.invoices().iter_rows(named=True)
    }


def test_finalize_numbering_is_gapless_across_runs(workspace: Workspace) -> None:
    first = workspace.invoice_run(through="2026-04-01", finalize=True)
    assert first.finalized == 5
    # numbered in (period_start, customer, subscription) order
    assert sorted(first.invoices["invoice_number"]) == [f"INV-00000{i}" for i in range(1, 6)]
    assert first.invoices.sort("invoice_number")["subscription_id"].to_list() == [
        "s4", "s2", "s3a", "s3b", "s1",
    ]  # fmt: skip
    workspace.invoice_run(through="2026-05-01")
    # finalize --through: only drafts whose period ends by April 16 (s2's last period)
    assert workspace.finalize(through="2026-04-16") == 1
    assert workspace.finalize() == 3
    assert sorted(n for n in numbers(workspace).values() if n) == [
        f"INV-{i:06d}" for i in range(1, 10)
    ]
    assert numbers(workspace)[("s2", "2026-04-01")] == "INV-000006"
    assert workspace.finalize() == 0


def test_finalize_refuses_an_unknown_id_and_finalizes_nothing(workspace: Workspace) -> None:
    run = workspace.invoice_run(through="2026-04-01")
    first, second = run.invoices.sort("invoice_id")["invoice_id"].to_list()[:2]
    with pytest.raises(WorkspaceError, match=r"no invoice 'in_typo', 'x'; nothing was finalized"):
        workspace.finalize(invoice_ids=[first, "x", "in_typo"])
    assert set(numbers(workspace).values()) == {None}
    assert workspace.finalize(invoice_ids=[first]) == 1
    # a listed invoice already finalized is no error: only the drafts are numbered
    assert workspace.finalize(invoice_ids=[first, second]) == 1
    assert sorted(n for n in numbers(workspace).values() if n) == ["INV-000001", "INV-000002"]
    # an invoice number names a finalized invoice (as in `invoice show`): nothing to do
    assert workspace.finalize(invoice_ids=["INV-000001"]) == 0


def test_finalize_through_uses_each_customers_midnight(workspace: Workspace) -> None:
    workspace.invoice_run(through="2026-04-01")
    # 2026-04-01 is midnight in Kolkata 5.5 hours before UTC's: a timestamp between the
    # two finalizes Kolkata's March (and s3a, ended March 11) but no other UTC March.
    assert workspace.finalize(through="2026-03-31T20:00:00Z") == 2
    assert {k: v for k, v in numbers(workspace).items() if v} == {
        ("s4", "2026-02-28"): "INV-000001",
        ("s3a", "2026-03-01"): "INV-000002",
    }
    assert workspace.finalize(through="2026-04-01") == 3


def test_a_crash_during_a_run_leaves_the_ledger_as_it_was(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.invoice_run(through="2026-04-01", finalize=True)
    before = exports(workspace, tmp_path / "before")
    runs_before = workspace.sql("SELECT count(*) AS n FROM ingest_sequence").item()
    ingest(workspace, tmp_path / "more.jsonl", [call("c1-april", "c1", "2026-04-02T00:00:00Z")])
    save = ledger.save_drafts

    def save_then_crash(*args: object, **kwargs: object) -> None:
        save(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("power cut")

    monkeypatch.setattr(ledger, "save_drafts", save_then_crash)
    with pytest.raises(RuntimeError, match="power cut"):
        workspace.invoice_run(through="2026-05-01", finalize=True)
    assert exports(workspace, tmp_path / "after") == before
    with duckdb.connect(str(workspace.root / "state.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM invoice_runs").fetchall() == [(1,)]
    assert workspace.sql("SELECT count(*) AS n FROM ingest_sequence").item() == runs_before
    monkeypatch.undo()
    assert workspace.invoice_run(through="2026-05-01", finalize=True).finalized == 4


def test_watermark_records_the_ingests_each_invoice_saw(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.invoice_run(through="2026-04-01")
    ingest(workspace, tmp_path / "more.jsonl", [call("c1-april", "c1", "2026-04-02T00:00:00Z")])
    workspace.invoice_run(through="2026-05-01")
    rows = workspace.sql(
        "SELECT i.subscription_id, strftime(i.period_start, '%Y-%m-%d') AS start,"
        " i.ingest_watermark, i.last_ingest_id = s.ingest_id AS newest"
        " FROM invoices i JOIN ingest_sequence s ON s.seq = i.ingest_watermark"
        " WHERE subscription_id = 's1' ORDER BY start"
    ).rows()
    assert rows == [("s1", "2026-03-15", 2, True), ("s1", "2026-04-01", 2, True)]
    # which events an invoice billed: exactly those of ingests numbered <= its watermark
    ingests = workspace.sql("SELECT ingest_id, seq FROM ingest_sequence ORDER BY seq").rows()
    assert [seq for _, seq in ingests] == [1, 2]
    assert ingests == sorted(ingests)


def test_late_events_refresh_drafts_and_are_reported_for_finalized(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.invoice_run(through="2026-04-01", finalize=True)  # March, finalized
    workspace.invoice_run(through="2026-05-01")  # April, drafts
    march = exports(workspace, tmp_path / "march")
    ingest(
        workspace,
        tmp_path / "late.jsonl",
        [
            call("late-march", "c1", "2026-03-25T00:00:00Z"),  # a finalized period
            call("late-april", "c1", "2026-04-25T00:00:00Z"),  # a draft period
            call("late-kolkata", "c4", "2026-03-31T18:29:59Z"),  # finalized, just in time
        ],
    )
    # reported before any run (the ingest is not numbered yet) ...
    view = workspace.sql("SELECT event_id, invoice_number FROM late_events ORDER BY event_id")
    assert view.rows() == [("late-kolkata", "INV-000001"), ("late-march", "INV-000005")]
    result = workspace.invoice_run(through="2026-05-01")
    # ... and by the run: count in the result, rows in the view
    assert sorted(result.late_events["event_id"]) == ["late-kolkata", "late-march"]
    assert workspace.sql("SELECT count(*) FROM late_events").item() == 2
    invoices = workspace.invoices()
    finalized = invoices.filter(pl.col("status") == "finalized")
    assert totals(finalized) == {
        k: v
        for k, v in totals(pl.read_parquet(tmp_path / "march" / "invoices.parquet")).items()
        if k[1] < "2026-03-31T18:30"
    }
    assert totals(invoices)[("s1", "2026-04-01T00:00")] == "31.01"  # the draft refreshed
    assert march != exports(workspace, tmp_path / "after")


def test_no_late_events_without_finalized_invoices(workspace: Workspace, tmp_path: Path) -> None:
    workspace.invoice_run(through="2026-04-01")
    ingest(workspace, tmp_path / "more.jsonl", [call("more", "c1", "2026-03-25T00:00:00Z")])
    result = workspace.invoice_run(through="2026-04-01")
    assert result.late_events.height == 0
    assert totals(result.invoices)[("s1", "2026-03-15T00:00")] == "17.02"


def test_a_state_from_before_watermarks_is_brought_up_to_date(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Invoices finalized by a meterbill without watermarks saw every ingest until then:
    upgrading reports none of their events as late, and `sql` works on the old state."""
    workspace.invoice_run(through="2026-04-01", finalize=True)
    with duckdb.connect(str(workspace.root / "state.duckdb")) as con:  # the old schema
        con.execute("DROP TABLE ingest_sequence")
        con.execute("ALTER TABLE invoices DROP COLUMN ingest_watermark")
    assert workspace.sql("SELECT count(*) FROM late_events").item() == 0
    assert workspace.invoice_run(through="2026-05-01").late_events.height == 0
    ingest(workspace, tmp_path / "late.jsonl", [call("late", "c1", "2026-03-25T00:00:00Z")])
    assert workspace.sql("SELECT event_id FROM late_events").rows() == [("late",)]


def test_invalid_events_of_a_grouped_meter_add_up_across_groups(tmp_path: Path) -> None:
    catalog = (
        '[meters.tokens]\nevent_name = "api.call"\naggregation = "sum"\nfield = "tokens"\n'
        'group_by = ["region"]\n'
        '[plans.p]\ncurrency = "USD"\ninterval = "month"\n'
        '[[plans.p.prices]]\nmeter = "tokens"\nmodel = "per_unit"\nunit_amount = "1"\n'
    )
    events = []
    for region, tokens in [("eu", "x"), ("us", "y"), ("us", 5)]:
        event = call(f"{region}-{tokens}", "c1", "2026-03-20T00:00:00Z")
        event["properties"] = {"tokens": tokens, "region": region}
        events.append(event)
    ws = make_workspace(
        tmp_path,
        customers=CUSTOMERS[:1],
        subscriptions=[{**SUBSCRIPTIONS[0], "plan": "p", "billing_cycle": "anniversary"}],
        events=events,
        catalog=catalog,
    )
    result = ws.invoice_run(through="2026-04-15")
    assert result.invalid_usage.select("meter", "events").rows() == [("tokens", 2)]


def test_only_periods_that_have_ended_are_billed(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20:00 UTC on April 30: Kolkata's April ended at 18:30, UTC's ends at midnight
    monkeypatch.setattr("meterbill.workspace._now", lambda: datetime(2026, 4, 30, 20, tzinfo=UTC))
    result = workspace.invoice_run(through="2026-05-01")
    assert sorted(totals(result.invoices)) == [
        ("s1", "2026-03-15T00:00"),
        ("s2", "2026-03-01T00:00"),
        ("s2", "2026-04-01T00:00"),  # s2 ended on April 16
        ("s3a", "2026-03-01T00:00"),
        ("s3b", "2026-03-11T00:00"),
        ("s4", "2026-02-28T18:30"),
        ("s4", "2026-03-31T18:30"),
    ]
    # May 2 has not begun anywhere (at UTC+14 it begins at 10:00 UTC on May 1)
    with pytest.raises(WorkspaceError, match=r"^--through 2026-05-02: in the future"):
        workspace.invoice_run(through="2026-05-02")
    with pytest.raises(WorkspaceError, match="in the future"):
        workspace.invoice_run(through="2026-04-30T20:00:01Z")
    assert workspace.invoice_run(through="2026-04-30T20:00:00Z").invoices.height == 7


@pytest.mark.parametrize(
    ("through", "fragment"),
    [
        # the earliest date: its UTC+14 start is before datetime's range
        ("0001-01-01", "out of the supported range of dates"),  # Kolkata's midnight is too
        ("9999-12-31", "in the future"),
        ("9999-12-31T23:59:59+00:00", "in the future"),
    ],
)
def test_through_at_the_ends_of_the_calendar_is_one_error(
    workspace: Workspace, through: str, fragment: str
) -> None:
    with pytest.raises(WorkspaceError, match=fragment):
        workspace.invoice_run(through=through)


def test_the_earliest_through_bills_nothing(tmp_path: Path) -> None:
    utc_only = [s for s in SUBSCRIPTIONS if s["customer_id"] != "c4"]
    ws = make_workspace(tmp_path, customers=CUSTOMERS[:3], subscriptions=utc_only, events=[])
    assert ws.invoice_run(through="0001-01-01").invoices.height == 0
