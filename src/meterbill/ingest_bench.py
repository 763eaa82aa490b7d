"""``meterbill bench --ingest``: ingest of an events file timed against DuckDB's own COPY.

PRODUCT.md's bar for ingest: ``meterbill ingest FILE`` costs at most 2x DuckDB's
``COPY (SELECT * FROM read_json(FILE)) TO 'x.parquet'`` of the same file, while
de-duplicating against a lake that already holds 20M events. This module builds that
setup in one folder and measures the ratio (``--format parquet`` or ``csv`` times the
same events as a Parquet or CSV file instead, against DuckDB's ``read_parquet`` or
``read_csv`` COPY of it: the bar is for JSON lines, the other two show their fast paths):

* ``<dir>/base``: a workspace with a 20M-event lake, written by ``bench.generate_workspace``
  (DuckDB SQL straight to Parquet, ~1 minute; generated once and reused);
* ``<dir>/events-<N>.jsonl``: N native events written by DuckDB (generated once); one
  event in 100 repeats an ``event_id`` the lake already has, so dedup has work to do;
  ``events-<N>.parquet`` (properties a struct) and ``events-<N>.csv`` (``properties.<key>``
  columns) are the same events, converted by DuckDB when first asked for.

Each timed ingest runs as a whole process (``python -m meterbill ingest``) against the
base workspace, which is put back as it was after each run (the state file is restored
from a copy, the run's lake files deleted). Both sides are whole processes, wall clock,
best of N after one warm-up each: the bar is process against process, as a user sees it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import duckdb

from meterbill.bench import child_environment, generate_workspace, timed
from meterbill.compiler.sqlvalues import lit
from meterbill.errors import MeterbillError
from meterbill.state import STATE_FILE

Progress = Callable[[str], None]
Format = Literal["jsonl", "parquet", "csv"]
FORMATS: Final = ("jsonl", "parquet", "csv")
#: DuckDB's reader of each format, for the COPY the ingest is timed against.
_READERS: Final = {"jsonl": "read_json", "parquet": "read_parquet", "csv": "read_csv"}
_NAMES: Final = {"jsonl": "JSON lines", "parquet": "Parquet", "csv": "CSV"}
#: The events file in another format, from the JSON lines one (``$source``).
_CONVERSIONS: Final = {
    "parquet": "SELECT * FROM read_json($source)",
    "csv": """
SELECT event_id, event_name, customer_id,
       strftime("timestamp", '%Y-%m-%dT%H:%M:%S.%fZ') AS "timestamp",
       properties.model AS "properties.model", properties.tokens AS "properties.tokens",
       properties.cost AS "properties.cost"
FROM read_json($source)
""",
}

#: PRODUCT.md's bar: ingest costs at most this many DuckDB COPYs of the same file.
TARGET_RATIO: Final = 2.0
#: The lake the ingest de-duplicates against (the base workspace's size).
LAKE_EVENTS: Final = 20_000_000
#: One generated event in this many repeats an event_id of the base lake.
DUPLICATE_EVERY: Final = 100
_BASE: Final = "base"
_STATE_COPY: Final = "state.duckdb.bench-original"

_EVENTS_SQL: Final = """
SELECT CASE WHEN i % $every = 0 THEN 'bench-' || i ELSE 'ingest-' || i END AS event_id,
       CASE WHEN i % 20 = 0 THEN 'api.request' ELSE 'llm.usage' END AS event_name,
       'cust_' || lpad((1 + hash(i, 1) % 10000)::VARCHAR, 5, '0') AS customer_id,
       strftime(TIMESTAMPTZ '2026-10-01 00:00:00+00'
                + to_microseconds((hash(i, 2) % 2678400000000)::BIGINT),
                '%Y-%m-%dT%H:%M:%S.%fZ') AS "timestamp",
       {'model': CASE i % 3 WHEN 0 THEN 'OpenAI O1' WHEN 1 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END,
        'tokens': 1 + hash(i, 3) % 20000,
        'cost': ((hash(i, 4) % 1000000) / 1000000)::DECIMAL(12, 6)} AS properties
FROM range($events) AS t(i)
"""


@dataclass(frozen=True, slots=True)
class IngestBenchResult:
    """Timings of one ``bench --ingest`` (seconds, best of ``repeat``)."""

    events: int
    file_format: Format
    file_bytes: int
    lake_events: int
    ingest_seconds: float
    duckdb_seconds: float
    counts: tuple[int, int, int, int]  # read, accepted, duplicates, rejected (last run)

    @property
    def ratio(self) -> float:
        """Ingest time over DuckDB's COPY time."""
        return self.ingest_seconds / self.duckdb_seconds


def generate_events(path: Path, *, events: int) -> None:
    """Write ``events`` native events as JSON lines (numbers as JSON numbers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")  # the bench reports its own steps
        con.execute(
            f"COPY ({_EVENTS_SQL}) TO {lit(str(partial))} (FORMAT json)",
            {"events": events, "every": DUPLICATE_EVERY},
        )
    partial.replace(path)  # a complete file or none: a killed run regenerates it


def prepare(
    directory: Path,
    *,
    events: int,
    lake_events: int = LAKE_EVENTS,
    file_format: Format = "jsonl",
    on_progress: Progress,
) -> tuple[Path, Path]:
    """The base workspace and the events file in ``directory``, generated if missing."""
    base = directory / _BASE
    if not (base / "catalog.toml").exists():
        if base.exists():
            shutil.rmtree(base)  # an interrupted generation: start over
        on_progress(f"generating a lake of {lake_events:,} events in {base} (once)")
        generate_workspace(base, events=lake_events, on_progress=on_progress)
    events_file = directory / f"events-{events}.jsonl"
    if not events_file.exists():
        on_progress(f"generating {events:,} events in {events_file} (once)")
        generate_events(events_file, events=events)
    if file_format == "jsonl":
        return base, events_file
    converted = events_file.with_suffix(f".{file_format}")
    if not converted.exists():
        on_progress(f"converting {events_file} to {converted} (once)")
        partial = converted.with_name(converted.name + ".partial")
        options = "FORMAT parquet" if file_format == "parquet" else "FORMAT csv, HEADER"
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            con.execute(
                f"COPY ({_CONVERSIONS[file_format]}) TO {lit(str(partial))} ({options})",
                {"source": str(events_file)},
            )
        partial.replace(converted)
    return base, converted


def run_ingest_bench(
    directory: Path,
    *,
    events: int,
    lake_events: int = LAKE_EVENTS,
    repeat: int = 3,
    file_format: Format = "jsonl",
    on_progress: Progress,
) -> IngestBenchResult:
    """Time ``meterbill ingest`` and DuckDB's COPY of the same file, best of ``repeat``."""
    if events < 1 or repeat < 1:
        raise MeterbillError("bench --ingest: need events >= 1 and repeat >= 1")
    base, events_file = prepare(
        directory,
        events=events,
        lake_events=lake_events,
        file_format=file_format,
        on_progress=on_progress,
    )
    lake_events = _lake_events(base)  # a reused base may hold another size
    env = child_environment()
    ingest = [sys.executable, "-m", "meterbill", "ingest", str(events_file), "-w", str(base)]
    target = directory / "duckdb-copy.parquet"
    copy_sql = (
        f"COPY (SELECT * FROM {_READERS[file_format]}({lit(str(events_file))})) "  # noqa: S608 (paths via lit)
        f"TO {lit(str(target))} (FORMAT parquet)"
    )
    copy = [sys.executable, "-c", "import duckdb, sys; duckdb.sql(sys.argv[1])", copy_sql]
    ingest_times: list[float] = []
    copy_times: list[float] = []
    counts = (0, 0, 0, 0)
    _save_state(base)
    try:
        for run in range(repeat + 1):  # run 0 warms both up and is not counted
            on_progress(f"run {run}/{repeat}: meterbill ingest")
            elapsed = timed(ingest, env=env, what="ingest")
            counts = _last_counts(base)
            _restore(base)
            on_progress(f"run {run}/{repeat}: duckdb COPY {_READERS[file_format]} -> parquet")
            copy_elapsed = timed(copy, env=env, what="duckdb COPY")
            target.unlink(missing_ok=True)
            if run:
                ingest_times.append(elapsed)
                copy_times.append(copy_elapsed)
    finally:
        _restore(base)
    return IngestBenchResult(
        events=events,
        file_format=file_format,
        file_bytes=events_file.stat().st_size,
        lake_events=lake_events,
        ingest_seconds=min(ingest_times),
        duckdb_seconds=min(copy_times),
        counts=counts,
    )


def format_ingest_bench(result: IngestBenchResult) -> str:
    """The result as the few lines ``bench --ingest`` prints."""
    read, accepted, duplicates, rejected = result.counts
    rate = result.events / result.ingest_seconds
    copy = f"duckdb COPY {_READERS[result.file_format]}->parquet"
    width = len(copy) + 1
    if result.file_format == "jsonl":
        verdict = "meets" if result.ratio <= TARGET_RATIO else "misses"
        target = f" ({verdict} the target of {TARGET_RATIO:g}x)"
    else:
        target = " (PRODUCT.md's target is for JSON lines)"
    return "\n".join(
        [
            f"ingest: {result.events:,} events ({result.file_bytes / 1e6:,.0f} MB "
            f"{_NAMES[result.file_format]}) into a lake of {result.lake_events:,} events",
            f"  counts: read {read:,}, accepted {accepted:,}, duplicates {duplicates:,}, "
            f"rejected {rejected:,}",
            f"  {'meterbill ingest:':<{width}} {result.ingest_seconds:8.2f} s "
            f"({rate:,.0f} events/s)",
            f"  {copy + ':':<{width}} {result.duckdb_seconds:8.2f} s",
            f"  ratio: {result.ratio:.1f}x{target}",
        ]
    )


def _save_state(base: Path) -> None:
    """Keep a copy of the base state (or put back the copy a killed run left)."""
    copy = base / _STATE_COPY
    if copy.exists():
        _restore(base)
    else:
        shutil.copy2(base / STATE_FILE, copy)


def _restore(base: Path) -> None:
    """Put the base workspace back: the saved state, and no lake file it does not list."""
    copy = base / _STATE_COPY
    if not copy.exists():
        return
    shutil.copy2(copy, base / STATE_FILE)
    (base / (STATE_FILE + ".wal")).unlink(missing_ok=True)
    with duckdb.connect(str(base / STATE_FILE), read_only=True) as con:
        listed = {path for (path,) in con.execute("SELECT path FROM lake_files").fetchall()}
    for path in (base / "lake").rglob("*.parquet"):
        if path.relative_to(base).as_posix() not in listed:
            path.unlink()


def _lake_events(base: Path) -> int:
    """The number of events in the base workspace's lake."""
    with duckdb.connect(str(base / STATE_FILE), read_only=True) as con:
        row = con.execute("SELECT coalesce(sum(row_count), 0) FROM lake_files").fetchone()
    return int(row[0]) if row is not None else 0


def _last_counts(base: Path) -> tuple[int, int, int, int]:
    """The counts of the latest ingest in the base workspace."""
    with duckdb.connect(str(base / STATE_FILE), read_only=True) as con:
        row = con.execute(
            "SELECT records_read, accepted, duplicates, rejected FROM ingests "
            "ORDER BY ingest_id DESC LIMIT 1"
        ).fetchone()
    if row is None:
        raise MeterbillError("bench --ingest: the ingest left no ingest log row")
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))
