"""Ingest watermarks: exactly which ingests an invoice saw, and the late events it missed.

Ingest ids are time-sortable, but a wall clock can step backwards, so they are not used
as the order. Instead each invoice run, under the workspace lock and inside its
transaction, numbers the ingests committed since the previous run (``ingest_sequence``:
1, 2, 3, ...) and stamps its invoices with the highest number, their
``ingest_watermark``. An ingest also takes the workspace lock, so no ingest commits while
a run is computing: an invoice billed exactly the lake files whose ingest has
``seq <= ingest_watermark``; an ingest with a higher number, or none yet (committed after
the last run), came later.

A **late event** is an event in the period of a finalized invoice (same customer,
``period_start <= timestamp < period_end``) whose ingest that invoice did not see. Finding
them reads only the lake files of ingests after the oldest finalized watermark whose
time range (from the manifest) overlaps a finalized period, never the whole lake again:
files of new ingests holding only current events are not opened at all.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from meterbill.state import scalar

#: The columns of ``late_events`` (run summary, ``meterbill sql`` view).
LATE_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "invoice_id": pl.String(),
    "invoice_number": pl.String(),
    "subscription_id": pl.String(),
    "customer_id": pl.String(),
    "period_start": pl.Datetime("us", "UTC"),
    "period_end": pl.Datetime("us", "UTC"),
    "ingest_watermark": pl.Int64(),
    "event_id": pl.String(),
    "event_name": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "ingest_id": pl.String(),
}


def advance(con: duckdb.DuckDBPyConnection) -> int:
    """Number the ingests no run has seen yet; return the watermark (0: no ingest).

    Call inside the run's transaction, under the workspace lock.
    """
    con.execute(
        "INSERT INTO ingest_sequence (ingest_id, seq)"
        " SELECT i.ingest_id, (SELECT coalesce(max(seq), 0) FROM ingest_sequence)"
        " + row_number() OVER (ORDER BY i.committed_at, i.ingest_id)"
        " FROM ingests AS i ANTI JOIN ingest_sequence AS s USING (ingest_id)"
    )
    return int(scalar(con, "SELECT coalesce(max(seq), 0) FROM ingest_sequence"))  # type: ignore[arg-type]


def newest_ingest(con: duckdb.DuckDBPyConnection, watermark: int) -> str | None:
    """The id of the ingest numbered ``watermark`` (None when there is none)."""
    return scalar(con, "SELECT ingest_id FROM ingest_sequence WHERE seq = ?", [watermark])  # type: ignore[return-value]


def late_files(con: duckdb.DuckDBPyConnection, *, schema: str = "") -> list[str]:
    """Lake files (relative paths) that may hold late events, in path order.

    Those of ingests after the oldest finalized watermark (or not numbered yet) whose
    time range overlaps a finalized period that did not see them; none when nothing is
    finalized. ``schema`` prefixes the state tables (``"ws.main."``).
    """
    rows = con.execute(
        "WITH oldest AS (SELECT min(coalesce(ingest_watermark, 0)) AS mark"  # noqa: S608 (our names)
        f" FROM {schema}invoices WHERE status = 'finalized'),"
        " candidates AS ("
        f" SELECT f.path, f.min_timestamp, f.max_timestamp, s.seq FROM {schema}lake_files AS f"
        f" CROSS JOIN oldest LEFT JOIN {schema}ingest_sequence AS s USING (ingest_id)"
        " WHERE oldest.mark IS NOT NULL AND (s.seq IS NULL OR s.seq > oldest.mark))"
        " SELECT c.path FROM candidates AS c WHERE EXISTS ("
        f" SELECT 1 FROM {schema}invoices AS i WHERE i.status = 'finalized'"
        " AND c.min_timestamp < i.period_end AND c.max_timestamp >= i.period_start"
        " AND (c.seq IS NULL OR c.seq > coalesce(i.ingest_watermark, 0)))"
        " ORDER BY c.path"
    ).fetchall()
    return [row[0] for row in rows]


#: Late events, given a relation ``late_candidates`` (the events of ``late_files``) and
#: the state tables; ``{schema}`` is the state's schema prefix (``""`` or ``"ws.main."``).
LATE_EVENTS_SQL = """
SELECT i.invoice_id, i.invoice_number, i.subscription_id, i.customer_id,
       i.period_start, i.period_end, i.ingest_watermark,
       e.event_id, e.event_name, e."timestamp", e.ingest_id
FROM late_candidates AS e
JOIN {schema}invoices AS i
  ON i.status = 'finalized'
  AND i.customer_id = e.customer_id
  AND e."timestamp" >= i.period_start
  AND e."timestamp" < i.period_end
LEFT JOIN {schema}ingest_sequence AS s ON s.ingest_id = e.ingest_id
WHERE s.seq IS NULL OR s.seq > coalesce(i.ingest_watermark, 0)
"""
_CANDIDATE_COLUMNS = 'event_id, event_name, customer_id, "timestamp", ingest_id'


def bind_candidates(con: duckdb.DuckDBPyConnection, root: Path, files: list[str]) -> None:
    """Create the ``late_candidates`` view over ``files`` (an empty one when none)."""
    if files:
        source = con.read_parquet([str(root / f) for f in files], union_by_name=True)
        source.select(_CANDIDATE_COLUMNS).create_view("late_candidates")
    else:
        con.execute(
            "CREATE OR REPLACE VIEW late_candidates AS SELECT NULL::VARCHAR AS event_id,"
            " NULL::VARCHAR AS event_name, NULL::VARCHAR AS customer_id,"
            ' NULL::TIMESTAMPTZ AS "timestamp", NULL::VARCHAR AS ingest_id WHERE false'
        )


def late_events(con: duckdb.DuckDBPyConnection, root: Path) -> pl.DataFrame:
    """Every late event, with the finalized invoice whose period it falls in."""
    files = late_files(con)
    if not files:
        return pl.DataFrame(schema=LATE_EVENT_SCHEMA)
    bind_candidates(con, root, files)
    try:
        query = LATE_EVENTS_SQL.format(schema="") + " ORDER BY i.invoice_id, e.event_id"
        return con.sql(query).pl().cast(LATE_EVENT_SCHEMA)  # type: ignore[arg-type]
    finally:
        con.execute("DROP VIEW IF EXISTS late_candidates")
