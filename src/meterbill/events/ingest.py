"""The ingest stage: read event files, validate, de-duplicate, and commit atomically.

One ingest runs in four steps, and only the last one touches the workspace's state:

1. read: every record of every file (``readers``, streamed) is validated (``shapes``)
   into candidate or reject batches that are staged as Parquet files in
   ``lake/.staging/<ingest_id>/`` (``batches``), so memory holds one batch whatever the
   input's size; ``--strict`` stops here if anything was rejected, having written nothing.
   Files are read columnar where they can be, a chunk or batch at a time (JSON lines
   and JSON arrays of every shape by ``fastpath``; Parquet and CSV of the native and
   Flexprice shapes by ``parquet_fast`` and ``csv_fast``), with every record they
   cannot prove valid passed to the exact per-record path;
2. de-duplicate: in a private on-disk DuckDB (``lake.stage_accepted``) over the staged
   candidates and the lake's ``event_id`` column; the rest are the ingest's duplicates;
3. write: the accepted events as Parquet, one file per UTC date (``lake``);
4. commit: one state transaction lists the files, their columns, the rejects, the
   duplicates and the ingest row. On any failure it rolls back and the files of step 3
   are deleted, so the workspace is as it was (a kill between 3 and 4 leaves unlisted
   files, which nothing reads). The staging folder is removed at the end, and the next
   ingest removes any a killed ingest left.

Every record read is exactly one of accepted, duplicate or rejected, so
``accepted + duplicates + rejected == records_read`` holds by construction.

An event without ``event_id`` gets ``derive_event_id(file_sha256, record_number)``:
content-addressed (the file's bytes, decompressed when gzip'd), so re-ingesting the
same content, compressed or not, yields the same ids and only duplicates. Unknown
top-level fields are ignored (see ``shapes``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from uuid import uuid4

import duckdb
import pyarrow as pa

from meterbill.errors import IngestError
from meterbill.events.batches import EventBatches, RejectBatches
from meterbill.events.csv_fast import CHUNK_BYTES as CSV_CHUNK_BYTES
from meterbill.events.csv_fast import CsvFastLayout
from meterbill.events.csv_fast import fast_layout as csv_fast_layout
from meterbill.events.csv_fast import read_chunk as read_csv_chunk
from meterbill.events.fastpath import (
    CHUNK_BYTES,
    LAYOUTS,
    Prepared,
    finish_chunk,
    prepared_chunks,
)
from meterbill.events.json_arrays import is_json_array, json_array_runs, read_json_array
from meterbill.events.lake import (
    LakeFile,
    lake_column_names,
    open_work_database,
    register_lake_files,
    remove_lake_files,
    stage_accepted,
    stage_duplicates,
    write_lake_files,
)
from meterbill.events.parquet_fast import BATCH_ROWS, FastLayout, fast_layout, read_batch
from meterbill.events.paths import expand_paths
from meterbill.events.readers import (
    CsvSource,
    ParquetSource,
    SourceRecord,
    file_format,
    is_gzip,
    json_line_chunks,
    json_line_record,
    read_records,
)
from meterbill.events.rejects import RecordRejected, Reject
from meterbill.events.shapes import Event, Shape, Subscriptions, shape_event
from meterbill.state import connect_state, lake_file_paths, workspace_lock

ProgressCallback = Callable[[int, int], None]
"""``on_progress(bytes_done, bytes_total)`` over all files of an ingest."""

#: The ``--shape`` choices whose Parquet and CSV files may take their columnar fast paths
#: (``fastpath.file_layout``; a test switch: JSON lines take theirs for the shapes of
#: ``fastpath.LAYOUTS``).
FAST_SHAPES: Final = frozenset(LAYOUTS)
#: The prefix of derived event ids, so they are recognisable in the lake.
DERIVED_PREFIX: Final = "derived:"
_LAKE_FOLDER: Final = "lake"
#: Where an ingest stages its candidates and rejects (under the lake: never ingested).
_STAGING_FOLDER: Final = "lake/.staging"


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
    staging = _staging_folder(root, ingest_id)
    reading: _Reading | None = None
    try:
        reading = _Reading(
            staging,
            known_columns=lake_column_names(con),
            shape=shape,
            subscriptions=_subscriptions(con),
        )
        reading.read(files, on_progress=on_progress)
        if strict and len(reading.rejects):
            raise IngestError(_strict_message(reading.rejects, sources))
        candidates = reading.events.files()
        duplicates_file = staging / "duplicates.parquet"
        accepted = duplicates = 0
        written: list[LakeFile] = []
        if candidates:
            with open_work_database(staging) as work:
                accepted = stage_accepted(work, candidates, lake_file_paths(con, root))
                duplicates = stage_duplicates(
                    work,
                    candidates,
                    duplicates_file,
                    ingest_id=ingest_id,
                    sources=sources,
                    raw_texts=reading.raw_texts,
                )
                try:
                    written = write_lake_files(root, ingest_id, work)
                except (OSError, duckdb.IOException) as exc:  # disk full, permissions
                    raise IngestError(f"cannot write the lake: {exc}") from exc
        result = IngestResult(
            ingest_id=ingest_id,
            sources=sources,
            records_read=reading.records_read,
            accepted=accepted,
            duplicates=duplicates,
            rejected=len(reading.rejects),
        )
        try:
            _commit(
                con,
                result,
                written,
                rejects=reading.rejects.files(),
                duplicates=duplicates_file if duplicates else None,
            )
        except BaseException:
            remove_lake_files(root, written)
            raise
    finally:
        if reading is not None:
            reading.events.close()  # no background write may outlive the folder
        shutil.rmtree(staging, ignore_errors=True)
    return result


def ingest_workspace(
    root: Path,
    paths: Sequence[str],
    *,
    strict: bool = False,
    shape: Shape = "auto",
    on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """``ingest_paths`` under the workspace lock, on a state connection of its own: what
    ``Workspace.ingest`` and ``meterbill ingest`` run (``root``: an existing workspace)."""
    with workspace_lock(root):
        con = connect_state(root)
        try:
            return ingest_paths(
                root, con, paths, strict=strict, shape=shape, on_progress=on_progress
            )
        finally:
            con.close()


def _staging_folder(root: Path, ingest_id: str) -> Path:
    """A new staging folder for this ingest, after removing earlier ones.

    The caller holds the workspace lock, so any other staging folder is debris of an
    ingest that was killed. Staging lives under ``lake/``, which ingest never reads.
    """
    parent = root / _STAGING_FOLDER
    try:
        if parent.is_dir():
            for debris in parent.iterdir():
                shutil.rmtree(debris, ignore_errors=True)
        folder = parent / ingest_id
        folder.mkdir(parents=True)
    except OSError as exc:  # a read-only workspace, a full disk, a file in the way
        raise IngestError(f"cannot create {parent / ingest_id}: {exc.strerror or exc}") from None
    return folder


class _Reading:
    """Step 1: every record of every file, sorted into candidates and rejects."""

    def __init__(
        self,
        staging: Path,
        *,
        known_columns: Sequence[str],
        shape: Shape,
        subscriptions: Subscriptions,
    ) -> None:
        self.events = EventBatches(staging, known_columns=known_columns)
        self.shape = shape
        self.subscriptions = subscriptions
        self.rejects = RejectBatches(staging)
        self.records_read = 0
        # Parquet files read by the fast path (file index -> path and what it was when
        # read), whose staged rows carry no raw text: ``raw_texts`` reads it back
        self._parquet: dict[int, tuple[Path, tuple[int, int, str]]] = {}

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
        file_sha256 = _FileDigest(path)
        fmt = file_format(path)
        if fmt == "jsonl" and is_json_array(path):
            if self.shape in LAYOUTS:
                self._read_json_array_fast(index, path, file_sha256, progress)
            else:
                self._take(index, read_json_array(path, progress=progress), file_sha256)
            return
        if fmt == "jsonl" and self.shape in LAYOUTS:
            self._read_json_lines_fast(index, path, file_sha256, progress)
            return
        if fmt == "parquet" and self.shape in FAST_SHAPES:
            self._read_parquet_fast(index, path, file_sha256, progress)
            return
        if fmt == "csv" and self.shape in FAST_SHAPES:
            self._read_csv_fast(index, path, file_sha256, progress)
            return
        self._take(index, read_records(path, progress=progress), file_sha256)

    def _take(self, index: int, records: Iterable[SourceRecord], file_sha256: _FileDigest) -> None:
        """Validate records (the exact path) into candidates or rejects, in order."""
        for record in records:
            self.records_read += 1
            self._add(index, self.records_read, record, self._shape(record, file_sha256.event_id))

    def _shape(
        self, record: SourceRecord, derive: Callable[[int], str]
    ) -> tuple[str, Event] | Reject:
        """The record as an event with its id (given, else derived), or why it is not one."""
        if isinstance(record.value, Reject):
            return record.value
        try:
            event = shape_event(record.value, self.shape, self.subscriptions)
        except RecordRejected as exc:
            return exc.reject
        return event.event_id or derive(record.record_number), event

    def _add(
        self, index: int, seq: int, record: SourceRecord, shaped: tuple[str, Event] | Reject
    ) -> None:
        """Stage a shaped record as a candidate, or as a reject (its own, or a property
        key clash found on staging)."""
        if not isinstance(shaped, Reject):
            event_id, event = shaped
            try:
                self.events.append(
                    seq=seq,
                    file_index=index,
                    record_number=record.record_number,
                    raw=record.raw,
                    event_id=event_id,
                    event=event,
                )
            except RecordRejected as exc:
                shaped = exc.reject
            else:
                return
        self._reject(index, record.record_number, shaped, record.raw)

    def _read_json_lines_fast(
        self,
        index: int,
        path: Path,
        file_sha256: _FileDigest,
        progress: Callable[[int], None] | None,
    ) -> None:
        """JSON lines through ``fastpath``: provable records columnar, the rest exact.

        Only the order of property keys is order-dependent (the first spelling of keys
        that differ in ASCII case wins): if a chunk's keys would clash at all, the whole
        chunk is read again by the exact path, in order.
        """

        chunks = json_line_chunks(path, chunk_bytes=CHUNK_BYTES, progress=progress)
        for prepared in prepared_chunks(chunks, LAYOUTS[self.shape], self.subscriptions):
            assert isinstance(prepared, Prepared)  # JSON lines come in chunks only
            self._take_prepared(index, prepared, file_sha256)

    def _read_json_array_fast(
        self,
        index: int,
        path: Path,
        file_sha256: _FileDigest,
        progress: Callable[[int], None] | None,
    ) -> None:
        """A JSON array document through ``fastpath``: its runs of one-line elements
        as chunks of JSON lines, every other element exactly (``json_array_runs``)."""
        items = json_array_runs(path, run_bytes=CHUNK_BYTES, progress=progress)
        for item in prepared_chunks(items, LAYOUTS[self.shape], self.subscriptions):
            if isinstance(item, SourceRecord):
                self._take(index, [item], file_sha256)
            else:
                self._take_prepared(index, item, file_sha256)

    def _take_prepared(self, index: int, prepared: Prepared, sha: _FileDigest) -> None:
        """Stage a chunk the fast path prepared (or, if its keys clash, read it again
        exactly)."""
        derive = sha.event_id
        chunk = finish_chunk(
            prepared, seq_base=self.records_read, file_index=index, derive_id=derive
        )
        if not self._stage(index, chunk.table, chunk.keys, chunk.slow, derive):
            self._read_chunk_exactly(index, prepared.first_line, prepared.data, sha)
        else:
            self.records_read += chunk.records

    def _read_chunk_exactly(
        self, index: int, first_line: int, data: bytes, sha: _FileDigest
    ) -> None:
        """Every line of a chunk through the exact path, in order."""
        lines = [line + b"\n" for line in data.split(b"\n")]
        lines[-1] = lines[-1][:-1]  # after the last newline: the final line without one
        records = (json_line_record(first_line + offset, line) for offset, line in enumerate(lines))
        self._take(index, (record for record in records if record is not None), sha)

    def _read_parquet_fast(
        self,
        index: int,
        path: Path,
        file_sha256: _FileDigest,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Parquet through ``parquet_fast``: provable rows columnar, the rest exact (a
        whole batch exact if its property keys would clash, as for JSON lines)."""
        with ParquetSource(path) as source:
            layout = (
                fast_layout(source.schema, self.shape) if source.layout.problem is None else None
            )
            if layout is not None:
                self._parquet[index] = (path, _identity(path))
            for first, batch in source.batches(batch_size=BATCH_ROWS, progress=progress):
                if layout is None or not self._take_parquet_batch(
                    index, source, layout, first, batch, file_sha256
                ):
                    numbers = range(first, first + batch.num_rows)
                    self._take(index, source.records(batch, numbers), file_sha256)

    def _take_parquet_batch(
        self,
        index: int,
        source: ParquetSource,
        layout: FastLayout,
        first: int,
        batch: pa.RecordBatch,
        file_sha256: _FileDigest,
    ) -> bool:
        """Stage one Parquet batch: provable rows columnar, the rest exact; False
        (nothing staged) if its property keys would clash (as for JSON lines)."""
        fast = read_batch(
            batch,
            layout,
            first_record=first,
            seq_base=self.records_read,
            file_index=index,
            derive_id=file_sha256.event_id,
            subscriptions=self.subscriptions,
        )
        slow_rows = batch.take(pa.array(fast.slow, pa.int64()))
        slow_records = source.records(slow_rows, [first + i for i in fast.slow])
        slow = [(i + 1, record) for i, record in zip(fast.slow, slow_records, strict=True)]
        if not self._stage(index, fast.table, fast.keys, slow, file_sha256.event_id):
            return False
        self.records_read += batch.num_rows
        return True

    def _read_csv_fast(
        self,
        index: int,
        path: Path,
        file_sha256: _FileDigest,
        progress: Callable[[int], None] | None,
    ) -> None:
        """CSV through ``csv_fast``, chunk by chunk, until a chunk it cannot read (a
        quote, ...): from there on, the rest of the file exactly."""
        with CsvSource(path) as source:
            layout = csv_fast_layout(source.layout, self.shape)
            if layout is not None:
                for data in source.chunks(CSV_CHUNK_BYTES, progress=progress):
                    if not self._take_csv_chunk(index, source, layout, data, file_sha256):
                        source.read_exactly_from(data)
                        break
            self._take(index, source.records(progress=progress), file_sha256)

    def _take_csv_chunk(
        self,
        index: int,
        source: CsvSource,
        layout: CsvFastLayout,
        data: bytes,
        file_sha256: _FileDigest,
    ) -> bool:
        """Stage one CSV chunk: provable rows columnar, the rest exact; False (nothing
        staged) if the chunk is to be read exactly: ``csv_fast`` cannot read it, or its
        property keys would clash (as for JSON lines)."""
        chunk = read_csv_chunk(
            data,
            layout,
            seq_base=self.records_read,
            number_base=source.number,
            file_index=index,
            derive_id=file_sha256.event_id,
            subscriptions=self.subscriptions,
        )
        if chunk is None:
            return False
        slow = [
            (ordinal, source.line_record(source.number + ordinal, line))
            for ordinal, line in chunk.slow
        ]
        if not self._stage(index, chunk.table, chunk.keys, slow, file_sha256.event_id):
            return False
        self.records_read += chunk.records
        source.number += chunk.records
        return True

    def _stage(
        self,
        index: int,
        table: pa.Table | None,
        keys: frozenset[str],
        slow: Sequence[tuple[int, SourceRecord]],
        derive: Callable[[int], str],
    ) -> bool:
        """Stage a fast path's chunk: its proved rows (``table``, with property ``keys``)
        and its other records through the exact path (``slow``: ``(ordinal, record)``,
        ordinal 1-based after the ingest's records so far). False, staging nothing, if
        their property keys would clash: the first spelling must win in read order, so
        the caller reads the chunk again exactly."""
        shaped = [(ordinal, record, self._shape(record, derive)) for ordinal, record in slow]
        all_keys = set(keys)
        for _, _, one in shaped:
            if not isinstance(one, Reject):
                all_keys.update(one[1].properties)
        if self.events.conflicts(all_keys):
            return False
        if table is not None:
            self.events.append_table(table, keys)
        for ordinal, record, one in shaped:
            self._add(index, self.records_read + ordinal, record, one)
        return True

    def raw_texts(self, index: int, numbers: Sequence[int]) -> dict[int, str]:
        """The raw text of records of file ``index`` staged without one (see
        ``_read_parquet_fast``), read back from the file.

        Raises:
            IngestError: the file changed since it was read.
        """
        path, identity = self._parquet[index]
        try:
            unchanged = _identity(path) == identity
        except OSError:
            unchanged = False
        if not unchanged:
            raise IngestError(f"{path} changed while it was being ingested; ingest it again")
        with ParquetSource(path) as source:
            return source.raw_texts(numbers)

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


def _identity(path: Path) -> tuple[int, int, str]:
    """What tells a Parquet file changed: its size, modification time and footer (the
    metadata that places every row group and holds its statistics)."""
    with path.open("rb") as handle:
        status = os.fstat(handle.fileno())
        handle.seek(max(status.st_size - 8, 0))
        footer_length = int.from_bytes(handle.read(4), "little")
        handle.seek(max(status.st_size - 8 - footer_length, 0))
        footer = hashlib.sha256(handle.read(footer_length + 8)).hexdigest()
    return status.st_size, status.st_mtime_ns, footer


class _FileDigest:
    """A file's SHA-256, computed on first use: only records without ``event_id`` need
    it, and hashing a 5 GB file costs seconds."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._hex: str | None = None

    def event_id(self, record_number: int) -> str:
        """The derived event id of the file's record ``record_number``."""
        if self._hex is None:
            self._hex = _file_sha256(self._path)
        return derive_event_id(self._hex, record_number)


def _file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content: its bytes, decompressed when gzip'd (one content,
    two encodings: ``events.jsonl`` and its gzip'd copy derive the same ids). Read once
    more; the OS cache makes it cheap."""
    with path.open("rb") as handle:
        if not is_gzip(path):
            return hashlib.file_digest(handle, "sha256").hexdigest()
        with gzip.GzipFile(fileobj=handle) as content:
            return hashlib.file_digest(content, "sha256").hexdigest()


def _strict_message(rejects: RejectBatches, sources: Sequence[str]) -> str:
    count = len(rejects)
    noun = "record" if count == 1 else "records"
    message = f"{count} {noun} rejected; nothing was committed (--strict)"
    if rejects.first is not None:
        index, record_number, reject = rejects.first
        message += f"; first: {sources[index]}:{record_number}: {reject.reason}: {reject.message}"
    return message


def _commit(
    con: duckdb.DuckDBPyConnection,
    result: IngestResult,
    written: Sequence[LakeFile],
    *,
    rejects: Sequence[Path],
    duplicates: Path | None,
) -> None:
    """Step 4: record the whole ingest in one state transaction (or nothing)."""
    con.begin()
    try:
        register_lake_files(con, result.ingest_id, written)
        if rejects:
            con.execute(
                "INSERT INTO rejected_events (ingest_id, source_file, record_number, reason, "
                "message, raw) SELECT $ingest_id, $sources[_file + 1], record_number, reason, "
                "message, raw FROM read_parquet($files) ORDER BY _file, record_number",
                {
                    "ingest_id": result.ingest_id,
                    "sources": list(result.sources),
                    "files": [str(path) for path in rejects],
                },
            )
        if duplicates is not None:
            con.execute(
                "INSERT INTO duplicate_events (ingest_id, event_id, source_file, "
                "record_number, raw) SELECT ingest_id, event_id, source_file, record_number, "
                "raw FROM read_parquet($file)",
                {"file": str(duplicates)},
            )
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
