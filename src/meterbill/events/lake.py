"""The event lake on disk: listing its files, de-duplicating against it, writing to it.

Layout: ``lake/events/date=YYYY-MM-DD/<ingest_id>-<n>.parquet``, one file per UTC event
date per ingest (``n`` counts the ingest's files from 0). A file is part of the lake only
once ``lake_files`` lists it: files are written first and listed in the ingest's one
transaction, so a crash between the two leaves debris that no reader ever opens.

Each file has the core columns, then ``p__K``/``n__K`` for each property key present in
that file (sorted by key), rows sorted by (timestamp, event_id). Files are fsynced before
the transaction commits: the manifest must never name a file the disk has not got.

De-duplication is an anti-join in DuckDB, never a Python set of the lake: the first
copy of each event_id within the ingest (by read order) is kept unless the ``event_id``
column of the existing lake files already has it. Only that one column is read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from meterbill.errors import IngestError
from meterbill.events.batches import SEQ
from meterbill.events.schema import (
    CORE_ARROW_SCHEMA,
    CORE_COLUMNS,
    EVENT_ID,
    INGEST_ID,
    NUMBER_ARROW,
    NUMBER_PREFIX,
    NUMBER_TYPE,
    TEXT_ARROW,
    TEXT_PREFIX,
    TEXT_TYPE,
    TIMESTAMP,
    constant_text,
    property_columns,
    property_key,
)

#: The lake's folder for events, relative to the workspace (forward slashes).
EVENTS_DIR: Final = "lake/events"
#: Parquet compression: zstd is ~30% smaller than snappy here and read by DuckDB and Spark.
_COMPRESSION: Final = "zstd"

#: The anti-join: first copy per event_id in read order, minus ids the lake has.
_ACCEPTED_SQL: Final = """
WITH firsts AS (
    SELECT _seq, event_id FROM candidates
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _seq) = 1
), lake_hits AS (
    SELECT DISTINCT lake.event_id
    FROM read_parquet($files) AS lake
    JOIN firsts USING (event_id)
)
SELECT _seq FROM firsts ANTI JOIN lake_hits USING (event_id)
"""
_LAKE_FILES_SQL: Final = """
SELECT path FROM lake_files
WHERE ($first_day IS NULL OR event_date >= $first_day)
  AND ($end_day IS NULL OR event_date < $end_day)
ORDER BY event_date, path
"""
_FIRSTS_SQL: Final = """
SELECT _seq FROM candidates
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _seq) = 1
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


def lake_file_paths(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
) -> list[str]:
    """Return the absolute paths of the lake's files, by event date then path.

    Args:
        con: the state connection.
        root: the workspace folder.
        start: keep files whose event date ends after this instant (inclusive bound).
        end: keep files whose event date starts before this instant (exclusive bound).
            A ``date`` means that day's midnight UTC; a naive ``datetime`` is read as UTC.
    """
    first_day = _as_utc(start).date() if start is not None else None
    end_day: date | None = None
    if end is not None:
        end_utc = _as_utc(end)
        end_day = end_utc.date()
        if end_utc != datetime.combine(end_day, datetime.min.time(), UTC):
            end_day += timedelta(days=1)  # the end's own date overlaps [start, end)
    rows = con.execute(_LAKE_FILES_SQL, {"first_day": first_day, "end_day": end_day}).fetchall()
    base = os.path.abspath(root)
    return [os.path.join(base, *str(path).split("/")) for (path,) in rows]


def _as_utc(moment: datetime | date) -> datetime:
    if not isinstance(moment, datetime):
        return datetime.combine(moment, datetime.min.time(), UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def lake_column_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the names of every column some lake file has."""
    return [name for (name,) in con.execute("SELECT name FROM lake_columns").fetchall()]


def accepted_sequence_numbers(candidates: pa.Table, lake_paths: Sequence[str]) -> pa.Array:
    """Return the ``_seq`` of the candidates to accept: the anti-join against the lake.

    Runs in a private in-memory DuckDB, so nothing touches the state connection.

    Raises:
        IngestError: a lake file listed in the state cannot be read.
    """
    with duckdb.connect() as work:
        work.register("candidates", candidates.select([SEQ, EVENT_ID]))
        try:
            if lake_paths:
                result = work.sql(_ACCEPTED_SQL, params={"files": list(lake_paths)})
            else:
                result = work.sql(_FIRSTS_SQL)
            accepted = result.to_arrow_table()
        except duckdb.IOException as exc:
            raise IngestError(f"cannot read the lake's event ids: {exc}") from None
    return accepted.column(SEQ).combine_chunks().cast(pa.int64())


def lake_table(events: pa.Table, ingest_id: str) -> pa.Table:
    """Select the lake columns of accepted candidates, rows sorted by (timestamp, event_id).

    Core columns first, then ``p__K``, ``n__K`` per property key, sorted by key.
    """
    keys = sorted(key for key in map(property_key, events.column_names) if key is not None)
    arrays: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for field in CORE_ARROW_SCHEMA:
        if field.name == INGEST_ID:
            arrays.append(constant_text(ingest_id, events.num_rows))
        else:
            arrays.append(events.column(field.name).cast(field.type))
        fields.append(field)
    for key in keys:
        for name, dtype in zip(property_columns(key), (TEXT_ARROW, NUMBER_ARROW), strict=True):
            arrays.append(events.column(name))
            fields.append(pa.field(name, dtype))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    return table.sort_by([(TIMESTAMP, "ascending"), (EVENT_ID, "ascending")])


def write_lake_files(root: Path, ingest_id: str, table: pa.Table) -> list[LakeFile]:
    """Write a ``lake_table`` as one Parquet file per UTC event date.

    On any failure, the files written so far are deleted before the error propagates.
    """
    if table.num_rows == 0:
        return []
    days = pc.cast(pc.cast(table.column(TIMESTAMP), pa.timestamp("us")), pa.date32())
    runs = pc.value_counts(days)  # the table is sorted, so runs come in date order
    written: list[LakeFile] = []
    attempted: list[Path] = []
    offset = 0
    try:
        for index, run in enumerate(runs.to_pylist()):
            day, count = run["values"], run["counts"]
            part = _without_absent_properties(table.slice(offset, count))
            offset += count
            relative = f"{EVENTS_DIR}/date={day.isoformat()}/{ingest_id}-{index}.parquet"
            path = root.joinpath(*relative.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            attempted.append(path)
            pq.write_table(part, path, compression=_COMPRESSION)
            _fsync(path)
            timestamps = part.column(TIMESTAMP)
            written.append(
                LakeFile(
                    path=relative,
                    event_date=day,
                    row_count=part.num_rows,
                    min_timestamp=timestamps[0].as_py(),
                    max_timestamp=timestamps[-1].as_py(),
                    columns=column_types(part.schema),
                )
            )
        for folder in {path.parent for path in attempted}:
            _fsync(folder)
    except BaseException:
        _remove(attempted)
        raise
    return written


def _without_absent_properties(part: pa.Table) -> pa.Table:
    """Drop the ``p__K``/``n__K`` pairs of keys no row of this file has."""
    absent = [
        name
        for column in part.column_names
        if (key := property_key(column)) is not None
        and part.column(column).null_count == part.num_rows
        for name in property_columns(key)
    ]
    return part.drop_columns(absent) if absent else part


def column_types(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    """The (name, SQL type) of each column of a lake file's schema."""
    core = dict(CORE_COLUMNS)
    types = []
    for name in schema.names:
        if name in core:
            types.append((name, core[name]))
        elif name.startswith(TEXT_PREFIX):
            types.append((name, TEXT_TYPE))
        elif name.startswith(NUMBER_PREFIX):
            types.append((name, NUMBER_TYPE))
        else:  # pragma: no cover - lake_table builds only the columns above
            raise AssertionError(f"not a lake column: {name!r}")
    return tuple(types)


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
