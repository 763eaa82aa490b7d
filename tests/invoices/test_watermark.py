"""Ingest watermarks: numbering in commit order, and which lake files late events need."""

from __future__ import annotations

from pathlib import Path

from meterbill import state
from meterbill.invoices import watermark
from tests.invoices.helpers import call, ingest, make_workspace

CUSTOMERS = [{"customer_id": "c1", "name": "", "email": "", "timezone": "UTC"}]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "customer_id": "c1", "plan": "basic", "start": "2026-03-01",
     "billing_cycle": "anniversary"},
]  # fmt: skip


def test_late_files_reads_only_new_ingests_overlapping_finalized_periods(tmp_path: Path) -> None:
    ws = make_workspace(
        tmp_path,
        customers=CUSTOMERS,
        subscriptions=SUBSCRIPTIONS,
        events=[call("m1", "c1", "2026-03-05T00:00:00Z")],
    )
    with state.workspace_lock(ws.root), state.connect_state(ws.root) as con:
        assert watermark.late_files(con) == []  # nothing finalized
    ws.invoice_run(through="2026-04-01", finalize=True)
    ingest(ws, tmp_path / "current.jsonl", [call("a1", "c1", "2026-04-05T00:00:00Z")])
    ingest(ws, tmp_path / "late.jsonl", [call("m2", "c1", "2026-03-06T00:00:00Z")])
    with state.workspace_lock(ws.root), state.connect_state(ws.root) as con:
        files = watermark.late_files(con)
        assert [Path(f).parent.name for f in files] == ["date=2026-03-06"]
        assert watermark.late_events(con, ws.root)["event_id"].to_list() == ["m2"]
        # a run numbers the two new ingests after the first, in commit order
        assert watermark.advance(con) == 3
        numbered = con.execute("SELECT ingest_id FROM ingest_sequence ORDER BY seq").fetchall()
        committed = con.execute("SELECT ingest_id FROM ingests ORDER BY committed_at").fetchall()
        assert numbered == committed
        assert watermark.advance(con) == 3  # idempotent: nothing new
