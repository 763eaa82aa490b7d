"""The event lake on disk: listing its files, de-duplicating against it, writing to it.

Layout: ``lake/events/date=YYYY-MM-DD/<ingest_id>-<n>.parquet``, one file per UTC event
date per ingest (``n`` counts the ingest's files from 0). A file is part of the lake only
once ``lake_files`` lists it: files are written first and listed in the ingest's one
transaction, so a crash between the two leaves debris that no reader ever opens.

Each file has the core columns, then ``p__K``/``n__K`` for each property key present in
that file (sorted by key), rows sorted by (timestamp, event_id). Files are fsynced before
the transaction commits: the manifest must never name a file the disk has not got.

De-duplication and writing run in DuckDB over the ingest's staged candidate files
(``batches``), never over a Python set: the first copy of each event_id within the
ingest (by read order) is kept unless the ``event_id`` column of the existing lake files
already has it (only that one column is read). The work database is on disk in the
ingest's staging folder with a memory limit, so an ingest larger than memory spills
rather than fails.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb

from meterbill.compiler.sqlvalues import ident, lit
from meterbill.errors import IngestError
from meterbill.events.batches import FILE, RAW, RECORD, SEQ
from meterbill.events.schema import (
    CORE_COLUMNS,
    EVENT_ID,
    INGEST_ID,
    NUMBER_TYPE,
    TEXT_TYPE,
    TIMESTAMP,
    property_columns,
    property_key,
)

#: The lake's folder for events, relative to the workspace (forward slashes).
EVENTS_DIR: Final = "lake/events"
#: Parquet compression: zstd is ~30% smaller than snappy here and read by DuckDB and Spark.
_COMPRESSION: Final = "zstd"
#: DuckDB's memory for an ingest's dedup and writes; beyond it, DuckDB spills to disk.
_WORK_MEMORY_LIMIT: Final = "1GB"
#: The first copy of each event_id in read order (a hash aggregate: it spills).
_FIRSTS_SQL: Final = """
CREATE TABLE firsts AS
SELECT min(_seq) AS _seq, event_id
FROM read_parquet($files, union_by_name = true)
GROUP BY event_id
"""
#: Drop the firsts whose id the lake already has (only its event_id column is read).
_LAKE_HITS_SQL: Final = """
DELETE FROM firsts WHERE event_id IN (
    SELECT lake.event_id FROM read_parquet($lake) AS lake SEMI JOIN firsts USING (event_id)
)
"""


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One Parquet file written by an ingest, as ``lake_files`` lists it."""

    path: str  # relative to the workspace, forward slashes
    event_date: date
    row_count: int
    min_timestamp: datetime
    max_timestamp: datetime
    columns: tuple[tuple[str, str], ...]  # (name, SQL type), in file order


def lake_column_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the names of every column some lake file has."""
    return [name for (name,) in con.execute("SELECT name FROM lake_columns").fetchall()]


def open_work_database(staging: Path) -> duckdb.DuckDBPyConnection:
    """A private DuckDB database in the ingest's staging folder, for dedup and writing.

    On disk (not in memory) and with a memory limit, so that an ingest larger than memory
    spills to the staging folder instead of failing: that is what bounds ingest's memory.
    """
    work = duckdb.connect(str(staging / "work.duckdb"))
    work.execute("SET TimeZone = 'UTC'")
    work.execute(f"SET memory_limit = {lit(_WORK_MEMORY_LIMIT)}")
    work.execute(f"SET temp_directory = {lit(str(staging / 'spill'))}")
    return work


def stage_accepted(
    work: duckdb.DuckDBPyConnection, candidate_files: Sequence[Path], lake_paths: Sequence[str]
) -> int:
    """De-duplicate the candidates into the work table ``accepted``; return its row count.

    ``accepted`` holds the candidate rows (all columns but the raw text) to add to the
    lake: the first copy of each event_id in read order, minus the ids the lake has.

    Raises:
        IngestError: a lake file listed in the state cannot be read.
    """
    files = [str(path) for path in candidate_files]
    try:
        work.execute(_FIRSTS_SQL, {"files": files})
        if lake_paths:
            work.execute(_LAKE_HITS_SQL, {"lake": list(lake_paths)})
    except duckdb.IOException as exc:
        raise IngestError(f"cannot read the lake's event ids: {exc}") from None
    work.execute(
        f"CREATE TABLE accepted AS SELECT * EXCLUDE ({RAW}, {FILE}, {RECORD}) "  # noqa: S608 (names via ident, values via lit)
        "FROM read_parquet($files, union_by_name = true) "
        f"SEMI JOIN firsts USING ({SEQ}) ORDER BY {ident(TIMESTAMP)}",  # days stay apart
        {"files": files},
    )
    return int(work.execute("SELECT count(*) FROM accepted").fetchall()[0][0])


def stage_duplicates(
    work: duckdb.DuckDBPyConnection,
    candidate_files: Sequence[Path],
    target: Path,
    *,
    ingest_id: str,
    sources: Sequence[str],
) -> int:
    """Write the candidates not accepted, in read order, as ``duplicate_events`` rows."""
    work.execute(
        f"COPY (SELECT $ingest_id::VARCHAR AS ingest_id, {EVENT_ID}, "  # noqa: S608 (names via ident, values via lit)
        f"$sources[{FILE} + 1] AS source_file, {RECORD} AS record_number, {RAW} AS raw "
        "FROM read_parquet($files, union_by_name = true) "
        f"ANTI JOIN accepted USING ({SEQ}) ORDER BY {SEQ}) TO {lit(str(target))} "
        "(FORMAT parquet)",
        {
            "ingest_id": ingest_id,
            "sources": list(sources),
            "files": [str(path) for path in candidate_files],
        },
    )
    count = work.execute("SELECT count(*) FROM read_parquet(?)", [str(target)]).fetchall()
    return int(count[0][0])


def write_lake_files(root: Path, ingest_id: str, work: duckdb.DuckDBPyConnection) -> list[LakeFile]:
    """Write the work table ``accepted`` as one Parquet file per UTC event date.

    Each file has the core columns, then ``p__K``, ``n__K`` for the keys (sorted) that
    some row of that date has; rows sorted by (timestamp, event_id). On any failure, the
    files written so far are deleted before the error propagates.
    """
    names = [row[0] for row in work.execute("DESCRIBE accepted").fetchall()]
    keys = sorted(key for key in map(property_key, names) if key is not None)
    day = f"CAST({ident(TIMESTAMP)} AS DATE)"
    counts = "".join(f", count({ident(property_columns(key)[0])})" for key in keys)
    stats = work.execute(
        f"SELECT {day} AS day, count(*), min({ident(TIMESTAMP)}), max({ident(TIMESTAMP)})"  # noqa: S608 (names via ident, values via lit)
        f"{counts} FROM accepted GROUP BY day ORDER BY day"
    ).fetchall()
    written: list[LakeFile] = []
    attempted: list[Path] = []
    try:
        for index, (event_date, row_count, first, last, *present) in enumerate(stats):
            day_keys = [key for key, count in zip(keys, present, strict=True) if count]
            file_columns = list(CORE_COLUMNS)
            for key in day_keys:
                text, number = property_columns(key)
                file_columns += [(text, TEXT_TYPE), (number, NUMBER_TYPE)]
            selected = [
                f"{lit(ingest_id)}::VARCHAR AS {ident(INGEST_ID)}"
                if name == INGEST_ID
                else ident(name)
                for name, _ in file_columns
            ]
            relative = f"{EVENTS_DIR}/date={event_date.isoformat()}/{ingest_id}-{index}.parquet"
            path = root.joinpath(*relative.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            attempted.append(path)
            work.execute(
                f"COPY (SELECT {', '.join(selected)} FROM accepted "  # noqa: S608 (names via ident, values via lit)
                f"WHERE {ident(TIMESTAMP)} BETWEEN $first AND $last "
                f"ORDER BY {ident(TIMESTAMP)}, {ident(EVENT_ID)}) TO {lit(str(path))} "
                f"(FORMAT parquet, COMPRESSION {_COMPRESSION})",
                _day_bounds(event_date),
            )
            _fsync(path)
            written.append(
                LakeFile(
                    path=relative,
                    event_date=event_date,
                    row_count=int(row_count),
                    min_timestamp=first,
                    max_timestamp=last,
                    columns=tuple(file_columns),
                )
            )
        for folder in {path.parent for path in attempted}:
            _fsync(folder)
    except BaseException:
        _remove(attempted)
        raise
    return written


def _day_bounds(day: date) -> dict[str, datetime]:
    """The first and last microsecond of a UTC date (a range filter uses the row
    groups' min/max; ``accepted`` is sorted by timestamp, so each day reads only its
    own row groups, and sorts only its own rows by (timestamp, event_id))."""
    first = datetime.combine(day, datetime.min.time(), UTC)
    return {"first": first, "last": first + timedelta(days=1, microseconds=-1)}


def remove_lake_files(root: Path, files: Sequence[LakeFile]) -> None:
    """Delete files of an ingest that did not commit (and their folders, if now empty)."""
    _remove([root.joinpath(*file.path.split("/")) for file in files])


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
    for folder in {path.parent for path in paths}:
        try:
            folder.rmdir()  # only succeeds when empty: other ingests' files stay
        except OSError:
            continue


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
