"""The workspace's state database: one DuckDB file, its schema, and the workspace lock.

DuckDB lets one process hold a database file for writing, so every command that opens
the state takes an exclusive ``flock`` on ``WORKSPACE/.lock`` first: two ingests at once
wait for each other instead of failing or interleaving. Writes happen in one transaction
per command, so a crash leaves the state as it was before the command.

Instants are stored as ``TIMESTAMPTZ`` with the session time zone fixed to UTC.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from meterbill.errors import WorkspaceError

STATE_FILE = "state.duckdb"
LOCK_FILE = ".lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    email VARCHAR,
    timezone VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    subscription_id VARCHAR PRIMARY KEY,
    customer_id VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    start_at TIMESTAMPTZ NOT NULL,
    end_at TIMESTAMPTZ,
    billing_cycle VARCHAR NOT NULL
);
-- The wall clock of a start or end given without offset (NULL when given with one): the
-- customer's time zone may be set or corrected later (a subscription may come first and
-- create its customer in UTC), and such a start moves with it.
CREATE TABLE IF NOT EXISTS subscription_wall_clocks (
    subscription_id VARCHAR PRIMARY KEY,
    start_local TIMESTAMP,
    end_local TIMESTAMP
);
-- One row per committed ingest; the three counts always add up to records_read.
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id VARCHAR PRIMARY KEY,
    committed_at TIMESTAMPTZ NOT NULL,
    sources VARCHAR NOT NULL,
    records_read BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    rejected BIGINT NOT NULL
);
-- The lake's manifest: only files listed here are part of the lake. A file on disk that
-- is not listed is debris of an ingest that never committed and is never read.
CREATE TABLE IF NOT EXISTS lake_files (
    path VARCHAR PRIMARY KEY,          -- relative to the workspace
    ingest_id VARCHAR NOT NULL,
    event_date DATE NOT NULL,
    row_count BIGINT NOT NULL,
    min_timestamp TIMESTAMPTZ NOT NULL,
    max_timestamp TIMESTAMPTZ NOT NULL
);
-- Every column some lake file has (property columns come and go between files).
CREATE TABLE IF NOT EXISTS lake_columns (
    name VARCHAR PRIMARY KEY,
    type VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected_events (
    ingest_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    record_number BIGINT NOT NULL,     -- 1-based line (JSONL/CSV) or row (Parquet)
    reason VARCHAR NOT NULL,           -- a short code, e.g. missing_field
    message VARCHAR NOT NULL,
    raw VARCHAR
);
CREATE TABLE IF NOT EXISTS duplicate_events (
    ingest_id VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    record_number BIGINT NOT NULL,
    raw VARCHAR
);
-- The order invoice runs first saw each ingest (invoices/watermark.py): a run numbers the
-- ingests committed since the last run, under the workspace lock, so "seq <= watermark"
-- is exactly the set of ingests that were in the lake when an invoice was computed.
CREATE TABLE IF NOT EXISTS ingest_sequence (
    ingest_id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS invoice_runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    through TIMESTAMPTZ NOT NULL,
    engine VARCHAR NOT NULL,
    sql_path VARCHAR NOT NULL,
    invoices BIGINT NOT NULL,
    invalid_events BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id VARCHAR PRIMARY KEY,
    invoice_number VARCHAR UNIQUE,
    status VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    subscription_id VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    subtotal DECIMAL(38, 4) NOT NULL,
    total DECIMAL(38, 4) NOT NULL,
    line_count BIGINT NOT NULL,
    run_id VARCHAR NOT NULL,
    last_ingest_id VARCHAR,            -- the newest ingest the run saw (by ingest_sequence)
    ingest_watermark BIGINT,           -- the run saw exactly the ingests with seq <= this
    finalized_at TIMESTAMPTZ
);
-- Workspaces created before invoices had a watermark number: their invoices saw every
-- ingest up to their last_ingest_id, so number the ingests (once) and stamp them.
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS ingest_watermark BIGINT;
INSERT INTO ingest_sequence (ingest_id, seq)
SELECT ingest_id, row_number() OVER (ORDER BY committed_at, ingest_id) FROM ingests
WHERE NOT EXISTS (SELECT 1 FROM ingest_sequence)
  AND EXISTS (SELECT 1 FROM invoices WHERE ingest_watermark IS NULL);
UPDATE invoices SET ingest_watermark = coalesce(
    (SELECT s.seq FROM ingest_sequence AS s WHERE s.ingest_id = invoices.last_ingest_id), 0)
WHERE ingest_watermark IS NULL;
CREATE TABLE IF NOT EXISTS line_items (
    invoice_id VARCHAR NOT NULL,
    line_number INTEGER NOT NULL,
    customer_id VARCHAR NOT NULL,
    subscription_id VARCHAR NOT NULL,
    plan VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    line_type VARCHAR NOT NULL,
    meter VARCHAR,
    "group" VARCHAR,
    price_model VARCHAR NOT NULL,
    quantity DECIMAL(38, 12) NOT NULL,
    billable_quantity DECIMAL(38, 12) NOT NULL,
    unit_amount DECIMAL(38, 12),
    amount DECIMAL(38, 4) NOT NULL,
    description VARCHAR NOT NULL,
    PRIMARY KEY (invoice_id, line_number)
);
-- Events a run could not aggregate (field missing or not a number), per run and meter.
CREATE TABLE IF NOT EXISTS invalid_usage (
    run_id VARCHAR NOT NULL,
    invoice_id VARCHAR NOT NULL,
    meter VARCHAR NOT NULL,
    events BIGINT NOT NULL
);
-- Events of a run's window that no subscription period contains (customer without a
-- subscription then, before its start, after its end): not billed, reported per customer.
CREATE TABLE IF NOT EXISTS unbilled_events (
    run_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    events BIGINT NOT NULL,
    first_timestamp TIMESTAMPTZ NOT NULL,
    last_timestamp TIMESTAMPTZ NOT NULL
);
-- Periods a run did not bill because finalized invoices of their subscription cover them
-- whole (invoices/frozen.py), each recorded by the first run that skipped it: the run
-- warns about new ones only.
CREATE TABLE IF NOT EXISTS skipped_periods (
    run_id VARCHAR NOT NULL,
    invoice_id VARCHAR NOT NULL,
    subscription_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL
);
-- Each plan's interval as catalog.toml last gave it to an invoice run or a subscriptions
-- import: invoice finalize checks drafts against the subscriptions' periods with these,
-- without the catalog (which may have lost a plan since the run priced its drafts).
CREATE TABLE IF NOT EXISTS plan_cadences (
    plan VARCHAR PRIMARY KEY,
    plan_interval VARCHAR NOT NULL,
    interval_count INTEGER NOT NULL
);
-- Meters two subscriptions of one customer price at once (their events billed on both),
-- per run: invoices/overlaps.py.
CREATE TABLE IF NOT EXISTS shared_meters (
    run_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    meter VARCHAR NOT NULL,
    subscription_id VARCHAR NOT NULL,
    other_subscription_id VARCHAR NOT NULL,
    overlap_start TIMESTAMPTZ NOT NULL,
    overlap_end TIMESTAMPTZ
);
"""


@contextmanager
def workspace_lock(root: Path) -> Iterator[None]:
    """Hold the workspace's exclusive lock (blocking until other commands finish).

    Raises:
        WorkspaceError: the lock file cannot be opened (a read-only workspace, say).
    """
    try:
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WorkspaceError(
            f"cannot lock the workspace ({root / LOCK_FILE}): {exc.strerror or exc}"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # say why nothing happens, then wait
            sys.stderr.write(
                f"meterbill: waiting for another meterbill command on {root} to finish\n"
            )
            sys.stderr.flush()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def connect_state(root: Path) -> duckdb.DuckDBPyConnection:
    """Open the state database (creating its tables if needed), time zone UTC.

    Raises:
        WorkspaceError: the file is not a DuckDB database (corrupt), or another process
            (not a meterbill command, which waits on the workspace lock) holds it open.
    """
    try:
        con = duckdb.connect(str(root / STATE_FILE))
    except duckdb.Error as exc:
        raise WorkspaceError(f"cannot open the workspace state: {_first_line(exc)}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(SCHEMA)
    except duckdb.Error as exc:
        con.close()
        raise WorkspaceError(f"cannot open the workspace state: {_first_line(exc)}") from exc
    return con


def _first_line(exc: Exception) -> str:
    """A DuckDB error's first line, without its ``IO Error: `` style prefix."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return re.sub(r"^[A-Za-z ]*Error: ", "", lines[0])


def scalar(
    con: duckdb.DuckDBPyConnection, query: str, params: list[object] | None = None
) -> object:
    """The first column of a query's first row (``None`` when it has no rows).

    Fetches the whole result: DuckDB refuses further work on a connection while a result
    is only partly fetched.
    """
    rows = con.execute(query, params or []).fetchall()
    return rows[0][0] if rows else None


_LAKE_FILES_SQL = """
SELECT path FROM lake_files
WHERE ($start::TIMESTAMPTZ IS NULL OR max_timestamp >= $start)
  AND ($end::TIMESTAMPTZ IS NULL OR min_timestamp < $end)
ORDER BY event_date, path
"""


def lake_file_paths(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
) -> list[str]:
    """Return the absolute paths of the lake files that can hold events in ``[start, end)``.

    The one way every stage picks lake files (ingest's dedup, invoice runs, preview,
    usage): by each file's manifest time range, so a file is read only when its events'
    ``[min_timestamp, max_timestamp]`` meets the range. Ordered by event date, then path.

    Args:
        con: the state connection.
        root: the workspace folder.
        start: the range's first instant (None: unbounded).
        end: the instant after the range (None: unbounded). A ``date`` means that day's
            midnight UTC; a naive ``datetime`` is read as UTC.
    """
    rows = con.execute(
        _LAKE_FILES_SQL,
        {
            "start": None if start is None else _as_utc(start),
            "end": None if end is None else _as_utc(end),
        },
    ).fetchall()
    base = os.path.abspath(root)
    return [os.path.join(base, *str(path).split("/")) for (path,) in rows]


def _as_utc(moment: datetime | date) -> datetime:
    if not isinstance(moment, datetime):
        return datetime.combine(moment, datetime.min.time(), UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
