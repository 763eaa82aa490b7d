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
already has it (only that one column is read). The staged files are read three times:
their ids once (into a work table), their event columns once (into the sorted work
table ``accepted`` that every day's file is cut from) and, for the duplicates only, their
raw text. The work database is in memory with a memory limit and a temporary folder in
the ingest's staging folder, so an ingest larger than memory spills rather than fails.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

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
#: Parquet compression: zstd is ~30% smaller than snappy here and read by DuckDB and Spark;
#: level 1 writes a day's file ~25% faster than the default level 3 for ~13% more bytes
#: (measured on the ingest benchmark's files; reading them costs the same).
_COMPRESSION: Final = "zstd"
_COMPRESSION_LEVEL: Final = 1
#: DuckDB's memory for an ingest's dedup and writes; beyond it, DuckDB spills to disk.
_WORK_MEMORY_LIMIT: Final = "1GB"
#: Duplicates' raw texts are read back from their files this many at a time.
_FILL_ROWS: Final = 100_000
#: At most this many day files are written at once (each buffers a row group in memory).
_MAX_WRITERS: Final = 4
#: The candidates' ids, read once from the staged files (two narrow columns).
_IDS_SQL: Final = """
CREATE TABLE ids AS SELECT _seq, event_id FROM read_parquet($files, union_by_name = true)
"""
#: Every candidate that is not accepted: a later copy of an id seen earlier in this
#: ingest (read order), or an id the lake already has (only its event_id column is read).
_DROPPED_SQL: Final = """
CREATE TABLE dropped AS
SELECT _seq FROM ids
WHERE event_id IN (SELECT event_id FROM ids GROUP BY event_id HAVING count(*) > 1)
QUALIFY _seq > min(_seq) OVER (PARTITION BY event_id)
UNION
SELECT _seq FROM ids SEMI JOIN read_parquet($lake) AS lake USING (event_id)
"""
#: The same without a lake to compare with.
_DROPPED_NO_LAKE_SQL: Final = """
CREATE TABLE dropped AS
SELECT _seq FROM ids
WHERE event_id IN (SELECT event_id FROM ids GROUP BY event_id HAVING count(*) > 1)
QUALIFY _seq > min(_seq) OVER (PARTITION BY event_id)
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


def register_lake_files(
    con: duckdb.DuckDBPyConnection, ingest_id: str, files: Sequence[LakeFile]
) -> None:
    """List ``files`` and their columns in the manifest (``lake_files``, ``lake_columns``),
    inside the caller's transaction: until then, no reader opens them."""
    if not files:
        return
    con.executemany(
        "INSERT INTO lake_files (path, ingest_id, event_date, row_count, "
        "min_timestamp, max_timestamp) VALUES (?, ?, ?, ?, ?, ?)",
        [
            [f.path, ingest_id, f.event_date, f.row_count, f.min_timestamp, f.max_timestamp]
            for f in files
        ],
    )
    columns = {name: sql_type for file in files for name, sql_type in file.columns}
    con.executemany(
        "INSERT INTO lake_columns (name, type) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        [[name, sql_type] for name, sql_type in columns.items()],
    )


def lake_column_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the names of every column some lake file has."""
    return [name for (name,) in con.execute("SELECT name FROM lake_columns").fetchall()]


def open_work_database(staging: Path) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for the ingest's dedup and writing.

    With a memory limit and a temporary directory in the staging folder, so that an
    ingest larger than memory spills its tables and sorts there instead of failing: that
    is what bounds ingest's memory. (In memory rather than a database file: nothing in it
    outlives the ingest, and writing its tables to a file cost ~0.35 s per 1M events.)
    """
    work = duckdb.connect()
    work.execute("SET TimeZone = 'UTC'")
    work.execute("SET enable_progress_bar = false")  # the CLI draws its own
    work.execute("SET preserve_insertion_order = true")  # _copy_day relies on it
    work.execute(f"SET memory_limit = {lit(_WORK_MEMORY_LIMIT)}")
    work.execute(f"SET temp_directory = {lit(str(staging / 'spill'))}")
    return work


def stage_accepted(
    work: duckdb.DuckDBPyConnection, candidate_files: Sequence[Path], lake_paths: Sequence[str]
) -> int:
    """De-duplicate the candidates into the work table ``accepted``; return its row count.

    ``accepted`` holds the candidate rows (event columns only) to add to the lake: the
    first copy of each event_id in read order, minus the ids the lake has, sorted by
    (timestamp, event_id). The work table ``dropped`` holds the ``_seq`` of every other
    candidate (``stage_duplicates``).

    Raises:
        IngestError: a lake file listed in the state cannot be read.
    """
    files = [str(path) for path in candidate_files]
    work.execute(_IDS_SQL, {"files": files})
    try:
        if lake_paths:
            work.execute(_DROPPED_SQL, {"lake": list(lake_paths)})
        else:
            work.execute(_DROPPED_NO_LAKE_SQL)
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:  # missing, damaged
        first = str(exc).strip().splitlines()[0]
        raise IngestError(f"cannot read the lake's event ids: {first}") from None
    work.execute(
        f"CREATE TABLE accepted AS SELECT * EXCLUDE ({SEQ}, {RAW}, {FILE}, {RECORD}) "  # noqa: S608 (names via ident, values via lit)
        "FROM read_parquet($files, union_by_name = true) "
        f"ANTI JOIN dropped USING ({SEQ}) "
        f"ORDER BY {ident(TIMESTAMP)}, {ident(EVENT_ID)}",  # days stay apart, in file order
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
    raw_texts: Callable[[int, Sequence[int]], Mapping[int, str]],
) -> int:
    """Write the candidates not accepted (``dropped``), in read order, as
    ``duplicate_events`` rows to ``target``; return their count (nothing is written
    when there are none).

    A candidate staged without its raw text (a Parquet row of the fast path) gets it
    from ``raw_texts(file index, record numbers)``.
    """
    count = int(work.execute("SELECT count(*) FROM dropped").fetchall()[0][0])
    if not count:
        return 0
    work.execute(
        f"CREATE TABLE duplicate_rows AS SELECT {SEQ}, {EVENT_ID}, {FILE}, {RECORD}, {RAW} "  # noqa: S608 (names via ident, values via lit)
        f"FROM read_parquet($files, union_by_name = true) SEMI JOIN dropped USING ({SEQ})",
        {"files": [str(path) for path in candidate_files]},
    )
    _fill_raw(work, raw_texts)
    work.execute(
        f"COPY (SELECT $ingest_id::VARCHAR AS ingest_id, {EVENT_ID}, "  # noqa: S608 (names via ident, values via lit)
        f"$sources[{FILE} + 1] AS source_file, {RECORD} AS record_number, {RAW} AS raw "
        f"FROM duplicate_rows ORDER BY {SEQ}) TO {lit(str(target))} (FORMAT parquet)",
        {"ingest_id": ingest_id, "sources": list(sources)},
    )
    return count


def _fill_raw(
    work: duckdb.DuckDBPyConnection,
    raw_texts: Callable[[int, Sequence[int]], Mapping[int, str]],
) -> None:
    """Give the rows of ``duplicate_rows`` staged without raw text their text, asked of
    ``raw_texts`` ``_FILL_ROWS`` records at a time (a re-ingested file can make every
    row a duplicate: the texts go to a work table, not to Python memory)."""
    missing_sql = f"SELECT {FILE}, {RECORD} FROM duplicate_rows WHERE {RAW} IS NULL"  # noqa: S608 (names via ident, values via lit)
    if not work.execute(f"SELECT count(*) FROM ({missing_sql})").fetchall()[0][0]:  # noqa: S608
        return  # no fast-path Parquet row among them (JSON lines, CSV: raw text staged)
    work.execute(f"CREATE TABLE filled_raw ({FILE} INTEGER, {RECORD} BIGINT, {RAW} VARCHAR)")
    with work.cursor() as reading:
        missing = reading.sql(f"{missing_sql} ORDER BY {FILE}, {RECORD}")
        for batch in missing.to_arrow_reader(_FILL_ROWS):
            rows = zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
            files: list[int] = []
            numbers: list[int] = []
            texts: list[str] = []
            for file_index, group in groupby(rows, key=itemgetter(0)):
                filled = raw_texts(file_index, [number for _, number in group])
                files += [file_index] * len(filled)
                numbers += filled.keys()
                texts += filled.values()
            work.register(
                "filled_batch",
                pa.table(
                    {
                        FILE: pa.array(files, pa.int32()),
                        RECORD: pa.array(numbers, pa.int64()),
                        RAW: pa.array(texts, pa.large_string()),
                    }
                ),
            )
            work.execute("INSERT INTO filled_raw SELECT * FROM filled_batch")
            work.unregister("filled_batch")
    work.execute(
        f"UPDATE duplicate_rows SET {RAW} = f.{RAW} FROM filled_raw AS f "  # noqa: S608 (names via ident, values via lit)
        f"WHERE duplicate_rows.{FILE} = f.{FILE} AND duplicate_rows.{RECORD} = f.{RECORD}"
    )


def write_lake_files(root: Path, ingest_id: str, work: duckdb.DuckDBPyConnection) -> list[LakeFile]:
    """Write the work table ``accepted`` as one Parquet file per UTC event date.

    Each file has the core columns, then ``p__K``, ``n__K`` for the keys (sorted) that
    some row of that date has; rows sorted by (timestamp, event_id). A day's file is one
    row group, which DuckDB writes on one thread, so the days are written by as many
    threads as DuckDB has, up to ``_MAX_WRITERS`` (each on its own cursor), and each
    file is fsynced by the thread that wrote it. On any failure, the files written so
    far are deleted before the error propagates.
    """
    names = [row[0] for row in work.execute("DESCRIBE accepted").fetchall()]
    keys = sorted(key for key in map(property_key, names) if key is not None)
    day = f"CAST({ident(TIMESTAMP)} AS DATE)"
    counts = "".join(f", count({ident(property_columns(key)[0])})" for key in keys)
    stats = work.execute(
        f"SELECT {day} AS day, count(*), min({ident(TIMESTAMP)}), max({ident(TIMESTAMP)})"  # noqa: S608 (names via ident, values via lit)
        f"{counts} FROM accepted GROUP BY day ORDER BY day"
    ).fetchall()
    planned: list[tuple[LakeFile, Path]] = []
    for index, (event_date, row_count, first, last, *present) in enumerate(stats):
        day_keys = [key for key, count in zip(keys, present, strict=True) if count]
        file_columns = list(CORE_COLUMNS)
        for key in day_keys:
            text, number = property_columns(key)
            file_columns += [(text, TEXT_TYPE), (number, NUMBER_TYPE)]
        relative = f"{EVENTS_DIR}/date={event_date.isoformat()}/{ingest_id}-{index}.parquet"
        lake_file = LakeFile(
            path=relative,
            event_date=event_date,
            row_count=int(row_count),
            min_timestamp=first,
            max_timestamp=last,
            columns=tuple(file_columns),
        )
        planned.append((lake_file, root.joinpath(*relative.split("/"))))
    attempted = [path for _, path in planned]
    try:
        for path in attempted:
            path.parent.mkdir(parents=True, exist_ok=True)
        _write_days(work, ingest_id, planned)
        for folder in {path.parent for path in attempted}:
            _fsync(folder)
    except BaseException:
        _remove(attempted)
        raise
    return [lake_file for lake_file, _ in planned]


def _write_days(
    work: duckdb.DuckDBPyConnection, ingest_id: str, planned: Sequence[tuple[LakeFile, Path]]
) -> None:
    """COPY each planned day of ``accepted`` to its file (fsynced), on parallel cursors."""
    threads = int(work.execute("SELECT current_setting('threads')").fetchall()[0][0])
    workers = max(1, min(threads, _MAX_WRITERS, len(planned)))
    queue = list(reversed(planned))  # list.pop() is atomic: the threads share it
    failures: list[BaseException] = []

    def drain(cursor: duckdb.DuckDBPyConnection) -> None:
        with cursor:
            while queue and not failures:
                try:
                    lake_file, path = queue.pop()
                except IndexError:
                    return
                try:
                    _copy_day(cursor, ingest_id, lake_file, path)
                except BaseException as exc:  # reported by the calling thread
                    failures.append(exc)

    if workers == 1:
        drain(work.cursor())
    else:
        helpers = [
            threading.Thread(target=drain, args=(work.cursor(),), name=f"meterbill-lake-{n}")
            for n in range(workers - 1)
        ]
        for helper in helpers:
            helper.start()
        try:
            drain(work.cursor())
        finally:
            for helper in helpers:
                helper.join()
    if failures:
        raise failures[0]


def _copy_day(
    cursor: duckdb.DuckDBPyConnection, ingest_id: str, lake_file: LakeFile, path: Path
) -> None:
    selected = [
        f"{lit(ingest_id)}::VARCHAR AS {ident(INGEST_ID)}" if name == INGEST_ID else ident(name)
        for name, _ in lake_file.columns
    ]
    # No ORDER BY: ``accepted`` was inserted sorted, and a filtered scan of one table
    # keeps insertion order (DuckDB's documented order preservation, on by default).
    cursor.execute(
        f"COPY (SELECT {', '.join(selected)} FROM accepted "  # noqa: S608 (names via ident, values via lit)
        f"WHERE {ident(TIMESTAMP)} BETWEEN $first AND $last) TO {lit(str(path))} "
        f"(FORMAT parquet, COMPRESSION {_COMPRESSION}, COMPRESSION_LEVEL {_COMPRESSION_LEVEL})",
        _day_bounds(lake_file.event_date),
    )
    _fsync(path)


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
