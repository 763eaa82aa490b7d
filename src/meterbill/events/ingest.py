"""The ingest stage: read event files, validate, de-duplicate, and commit atomically.

One ingest runs in four steps, and only the last one touches the workspace:

1. read: every record of every file (``readers``) is validated (``shapes``) into the
   ingest's candidate columns or its rejects (``batches``); ``--strict`` stops here if
   anything was rejected, having written nothing;
2. de-duplicate: an anti-join in DuckDB against the lake's ``event_id`` column
   (``lake.accepted_sequence_numbers``); the rest are the ingest's duplicates;
3. write: the accepted events as Parquet, one file per UTC date (``lake``);
4. commit: one state transaction lists the files, their columns, the rejects, the
   duplicates and the ingest row. On any failure it rolls back and the files of step 3
   are deleted, so the workspace is as it was (a kill between 3 and 4 leaves unlisted
   files, which nothing reads).

Every record read is exactly one of accepted, duplicate or rejected, so
``accepted + duplicates + rejected == records_read`` holds by construction.

An event without ``event_id`` gets ``derive_event_id(file_sha256, record_number)``:
content-addressed, so re-ingesting the same bytes yields the same ids and only
duplicates. Unknown top-level fields are ignored (see ``shapes``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from uuid import uuid4

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from meterbill.errors import IngestError
from meterbill.events.batches import FILE, RAW, RECORD, SEQ, EventBatches, RejectBatches
from meterbill.events.lake import (
    LakeFile,
    accepted_sequence_numbers,
    lake_column_names,
    lake_file_paths,
    lake_table,
    remove_lake_files,
    write_lake_files,
)
from meterbill.events.paths import expand_paths
from meterbill.events.readers import read_records
from meterbill.events.rejects import RecordRejected, Reject
from meterbill.events.schema import EVENT_ID, constant_text
from meterbill.events.shapes import Shape, Subscriptions, shape_event

ProgressCallback = Callable[[int, int], None]
"""``on_progress(bytes_done, bytes_total)`` over all files of an ingest."""

#: The prefix of derived event ids, so they are recognisable in the lake.
DERIVED_PREFIX: Final = "derived:"
_LAKE_FOLDER: Final = "lake"
_REJECTS_VIEW: Final = "_meterbill_ingest_rejects"
_DUPLICATES_VIEW: Final = "_meterbill_ingest_duplicates"


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one committed ingest did.

    Attributes:
        ingest_id: time-sortable id of the ingest (``20240131T120000123456-1a2b3c4d``).
        sources: the absolute paths of the files read, in reading order.
        records_read: non-blank records read; the three counts below add up to it.
        accepted: events added to the lake.
        duplicates: events whose event_id the lake (or this ingest) already had.
        rejected: records that could not be events (see ``rejected_events``).
    """

    ingest_id: str
    sources: tuple[str, ...]
    records_read: int
    accepted: int
    duplicates: int
    rejected: int


def new_ingest_id() -> str:
    """A new ingest id: UTC time to the microsecond, then 8 random hex digits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid4().hex[:8]}"


def derive_event_id(file_sha256: str, record_number: int) -> str:
    """The event id of a record that has none: its file's hash and its position."""
    digest = hashlib.sha256(f"{file_sha256}:{record_number}".encode()).hexdigest()
    return DERIVED_PREFIX + digest[:32]


def ingest_paths(
    root: Path,
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str],
    *,
    strict: bool = False,
    shape: Shape = "auto",
    on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """Ingest event files into the workspace's lake, atomically.

    Args:
        root: the workspace folder.
        con: an open state connection; the caller holds ``workspace_lock``.
        paths: files, folders (searched recursively) or globs.
        strict: refuse the whole ingest, committing nothing, if any record is rejected.
        shape: the records' shape (``shapes.SHAPES``); ``auto`` detects it per record.
        on_progress: called with (bytes done, bytes total) per file and per batch.

    Returns:
        The ingest's id, sources and counts.

    Raises:
        IngestError: a path matches nothing or cannot be read, or ``strict`` and some
            record was rejected. Nothing was committed.
    """
    files = expand_paths(paths, skip=root / _LAKE_FOLDER)
    sources = tuple(str(path) for path in files)
    ingest_id = new_ingest_id()
    reading = _Reading(
        known_columns=lake_column_names(con), shape=shape, subscriptions=_subscriptions(con)
    )
    reading.read(files, on_progress=on_progress)
    if strict and len(reading.rejects):
        raise IngestError(_strict_message(reading.rejects, sources))

    candidates = reading.events.table()
    accepted_seq = accepted_sequence_numbers(candidates, lake_file_paths(con, root))
    if len(accepted_seq) == candidates.num_rows:  # no duplicates: the common case
        accepted, duplicates = candidates, candidates.slice(0, 0)
    else:
        is_accepted = pc.is_in(candidates.column(SEQ), value_set=accepted_seq)
        accepted = candidates.filter(is_accepted)
        duplicates = candidates.filter(pc.invert(is_accepted))
    del candidates

    try:
        written = write_lake_files(root, ingest_id, lake_table(accepted, ingest_id))
    except OSError as exc:  # disk full, permissions: the files written so far are gone
        raise IngestError(f"cannot write the lake: {exc}") from exc
    result = IngestResult(
        ingest_id=ingest_id,
        sources=sources,
        records_read=reading.records_read,
        accepted=accepted.num_rows,
        duplicates=duplicates.num_rows,
        rejected=len(reading.rejects),
    )
    try:
        _commit(
            con,
            result,
            written,
            rejects=_reject_rows(reading.rejects.table(), ingest_id, sources),
            duplicates=_duplicate_rows(duplicates, ingest_id, sources),
        )
    except BaseException:
        remove_lake_files(root, written)
        raise
    return result


class _Reading:
    """Step 1: every record of every file, sorted into candidates and rejects."""

    def __init__(
        self, *, known_columns: Sequence[str], shape: Shape, subscriptions: Subscriptions
    ) -> None:
        self.events = EventBatches(known_columns=known_columns)
        self.shape = shape
        self.subscriptions = subscriptions
        self.rejects = RejectBatches()
        self.records_read = 0

    def read(self, files: Sequence[Path], *, on_progress: ProgressCallback | None) -> None:
        sizes = [_file_size(path) for path in files]
        total = sum(sizes)
        done = 0
        if on_progress is not None:
            on_progress(0, total)
        for index, path in enumerate(files):
            file_progress = None
            if on_progress is not None:
                file_progress = _offset_progress(on_progress, done, total)
            try:
                self._read_file(index, path, file_progress)
            except OSError as exc:
                raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None
            except (EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream
                raise IngestError(f"cannot read {path}: {exc}") from None
            done += sizes[index]
            if on_progress is not None:
                on_progress(done, total)

    def _read_file(self, index: int, path: Path, progress: Callable[[int], None] | None) -> None:
        file_sha256 = _file_sha256(path)
        for record in read_records(path, progress=progress):
            self.records_read += 1
            value = record.value
            if isinstance(value, Reject):
                self._reject(index, record.record_number, value, record.raw)
                continue
            try:
                event = shape_event(value, self.shape, self.subscriptions)
                event_id = event.event_id or derive_event_id(file_sha256, record.record_number)
                self.events.append(
                    seq=self.records_read,
                    file_index=index,
                    record_number=record.record_number,
                    raw=record.raw,
                    event_id=event_id,
                    event=event,
                )
            except RecordRejected as exc:
                self._reject(index, record.record_number, exc.reject, record.raw)

    def _reject(self, index: int, record_number: int, reject: Reject, raw: str) -> None:
        self.rejects.append(file_index=index, record_number=record_number, reject=reject, raw=raw)


def _subscriptions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """subscription_id -> customer_id, for Lago's ``external_subscription_id``."""
    rows = con.execute("SELECT subscription_id, customer_id FROM subscriptions").fetchall()
    return dict(rows)


def _offset_progress(on_progress: ProgressCallback, done: int, total: int) -> Callable[[int], None]:
    """Turn a file's bytes-consumed report into the ingest's (done, total) report."""

    def report(consumed: int) -> None:
        on_progress(done + consumed, total)

    return report


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None


def _file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (read once more; the OS cache makes it cheap)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _strict_message(rejects: RejectBatches, sources: Sequence[str]) -> str:
    count = len(rejects)
    noun = "record" if count == 1 else "records"
    message = f"{count} {noun} rejected; nothing was committed (--strict)"
    if rejects.first is not None:
        index, record_number, reject = rejects.first
        message += f"; first: {sources[index]}:{record_number}: {reject.reason}: {reject.message}"
    return message


def _source_files(indexes: pa.ChunkedArray | pa.Array, sources: Sequence[str]) -> pa.Array:
    """Map a column of source indexes to the source paths."""
    return pa.array(sources, pa.string()).take(indexes)


def _reject_rows(rejects: pa.Table, ingest_id: str, sources: Sequence[str]) -> pa.Table:
    """Rows for ``rejected_events``."""
    return pa.table(
        {
            "ingest_id": constant_text(ingest_id, rejects.num_rows),
            "source_file": _source_files(rejects.column(FILE), sources),
            "record_number": rejects.column("record_number"),
            "reason": rejects.column("reason"),
            "message": rejects.column("message"),
            "raw": rejects.column("raw"),
        }
    )


def _duplicate_rows(duplicates: pa.Table, ingest_id: str, sources: Sequence[str]) -> pa.Table:
    """Rows for ``duplicate_events``, in read order."""
    duplicates = duplicates.sort_by(SEQ)
    return pa.table(
        {
            "ingest_id": constant_text(ingest_id, duplicates.num_rows),
            "event_id": duplicates.column(EVENT_ID),
            "source_file": _source_files(duplicates.column(FILE), sources),
            "record_number": duplicates.column(RECORD),
            "raw": duplicates.column(RAW),
        }
    )


def _commit(
    con: duckdb.DuckDBPyConnection,
    result: IngestResult,
    written: Sequence[LakeFile],
    *,
    rejects: pa.Table,
    duplicates: pa.Table,
) -> None:
    """Step 4: record the whole ingest in one state transaction (or nothing)."""
    columns = {name: sql_type for file in written for name, sql_type in file.columns}
    con.begin()
    try:
        if written:
            con.executemany(
                "INSERT INTO lake_files (path, ingest_id, event_date, row_count, "
                "min_timestamp, max_timestamp) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    [
                        f.path,
                        result.ingest_id,
                        f.event_date,
                        f.row_count,
                        f.min_timestamp,
                        f.max_timestamp,
                    ]
                    for f in written
                ],
            )
            con.executemany(
                "INSERT INTO lake_columns (name, type) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                [[name, sql_type] for name, sql_type in columns.items()],
            )
        if rejects.num_rows:
            con.register(_REJECTS_VIEW, rejects)
            try:
                con.execute(
                    "INSERT INTO rejected_events (ingest_id, source_file, record_number, reason, "
                    "message, raw) SELECT ingest_id, source_file, record_number, reason, message, "
                    "raw FROM _meterbill_ingest_rejects"
                )
            finally:
                con.unregister(_REJECTS_VIEW)
        if duplicates.num_rows:
            con.register(_DUPLICATES_VIEW, duplicates)
            try:
                con.execute(
                    "INSERT INTO duplicate_events (ingest_id, event_id, source_file, "
                    "record_number, raw) SELECT ingest_id, event_id, source_file, record_number, "
                    "raw FROM _meterbill_ingest_duplicates"
                )
            finally:
                con.unregister(_DUPLICATES_VIEW)
        con.execute(
            "INSERT INTO ingests (ingest_id, committed_at, sources, records_read, accepted, "
            "duplicates, rejected) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                result.ingest_id,
                datetime.now(UTC),
                json.dumps(list(result.sources), ensure_ascii=False),
                result.records_read,
                result.accepted,
                result.duplicates,
                result.rejected,
            ],
        )
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
