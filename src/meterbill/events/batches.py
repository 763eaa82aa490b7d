"""The accepted and rejected records of one ingest, staged as Parquet files on disk.

Readers hand over one record at a time, and a Python object per value costs ~50-100
bytes, so records are buffered in per-column lists for at most ``BATCH_SIZE`` rows
(fewer when they are wide: at most ``BATCH_VALUES`` property values and ``BATCH_CHARS``
characters of raw text), then turned into one Arrow table and written to the ingest's
staging folder. An
ingest's memory is therefore one batch, whatever the size of its input (a 5 GB file
streams through); de-duplication and writing then run in DuckDB over the staged files
(``lake``).

Candidate tables carry bookkeeping columns beside the event columns: ``_seq`` (global
read order: files in ingest order, then records), ``_file`` (index into the ingest's
sources), ``_record`` (record number) and ``_raw`` (the raw text, needed if the record
turns out to be a duplicate).

This is also where a property key is refused when its column would clash with another
key's in DuckDB, which ignores ASCII case in identifiers (``schema.fold_column_name``):
the first spelling seen (in the lake, else in this ingest) wins, and later records using
another spelling are rejected as ``property_key_conflict`` rather than silently merged.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from meterbill.events.readers import BATCH_SIZE
from meterbill.events.rejects import RecordRejected, Reject
from meterbill.events.schema import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_NAME,
    NUMBER_ARROW,
    SOURCE,
    TEXT_ARROW,
    TEXT_PREFIX,
    TIMESTAMP,
    TIMESTAMP_ARROW,
    fold_column_name,
    property_columns,
    property_key,
)
from meterbill.events.shapes import Event

#: A batch is flushed at this many property values (100k events of 200 keys held ~6 GB)
#: or characters of raw text, if it reaches them before ``BATCH_SIZE`` rows.
BATCH_VALUES: Final = 1_000_000
BATCH_CHARS: Final = 64 << 20

SEQ: Final = "_seq"
FILE: Final = "_file"
RECORD: Final = "_record"
RAW: Final = "_raw"

#: The columns of a candidate table before any property column.
CANDIDATE_SCHEMA: Final = pa.schema(
    [
        (SEQ, pa.int64()),
        (FILE, pa.int32()),
        (RECORD, pa.int64()),
        (RAW, pa.large_string()),
        (EVENT_ID, TEXT_ARROW),
        (EVENT_NAME, TEXT_ARROW),
        (CUSTOMER_ID, TEXT_ARROW),
        (TIMESTAMP, TIMESTAMP_ARROW),
        (SOURCE, TEXT_ARROW),
    ]
)
REJECT_SCHEMA: Final = pa.schema(
    [
        (FILE, pa.int32()),
        ("record_number", pa.int64()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("raw", pa.large_string()),
    ]
)


class EventBatches:
    """The accepted candidates of one ingest (before de-duplication), columnar."""

    def __init__(
        self, folder: Path, *, known_columns: Iterable[str] = (), batch_size: int = BATCH_SIZE
    ) -> None:
        """Start empty; staged files go to ``folder``; ``known_columns`` are the lake's."""
        self._folder = folder
        self._batch_size = batch_size
        self._files: list[Path] = []
        self._count = 0
        self._keys: set[str] = set()
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None
        self._folded: dict[str, str] = {
            fold_column_name(name): name for name in known_columns if property_key(name) is not None
        }
        self._reset()

    def _reset(self) -> None:
        self._seq: list[int] = []
        self._file: list[int] = []
        self._record: list[int] = []
        self._raw: list[str] = []
        self._event_id: list[str] = []
        self._event_name: list[str] = []
        self._customer_id: list[str] = []
        self._timestamp: list[int] = []
        self._source: list[str | None] = []
        # key -> (row indexes in this batch, texts, numbers): sparse, densified on flush
        self._properties: dict[str, tuple[list[int], list[str], list[Decimal | None]]] = {}
        self._values = self._chars = 0  # property values and raw characters buffered

    def __len__(self) -> int:
        """The number of rows appended so far."""
        return self._count

    def append(
        self,
        *,
        seq: int,
        file_index: int,
        record_number: int,
        raw: str,
        event_id: str,
        event: Event,
    ) -> None:
        """Add one validated event.

        Raises:
            RecordRejected: ``property_key_conflict``; nothing was added.
        """
        self._admit_keys(event)
        row = len(self._seq)
        self._seq.append(seq)
        self._file.append(file_index)
        self._record.append(record_number)
        self._raw.append(raw)
        self._event_id.append(event_id)
        self._event_name.append(event.event_name)
        self._customer_id.append(event.customer_id)
        self._timestamp.append(event.timestamp_us)
        self._source.append(event.source)
        for key, (text, number) in event.properties.items():
            slot = self._properties.get(key)
            if slot is None:
                slot = self._properties[key] = ([], [], [])
            slot[0].append(row)
            slot[1].append(text)
            slot[2].append(number)
        self._count += 1
        self._values += len(event.properties)
        self._chars += len(raw)
        if (
            len(self._seq) >= self._batch_size
            or self._values >= BATCH_VALUES
            or self._chars >= BATCH_CHARS
        ):
            self._flush()

    def _admit_keys(self, event: Event) -> None:
        """Register the event's new keys, or refuse the event if one clashes."""
        new = [key for key in event.properties if key not in self._keys]
        if not new:
            return
        pending: dict[str, str] = {}
        for key in new:
            column = TEXT_PREFIX + key
            folded = fold_column_name(column)
            other = self._folded.get(folded) or pending.get(folded)
            if other is not None and other != column:
                raise RecordRejected(
                    "property_key_conflict",
                    f"property key {key!r} differs only in letter case from the key "
                    f"{property_key(other)!r} (column names ignore ASCII case)",
                )
            pending[folded] = column
        self._folded.update(pending)
        self._keys.update(new)

    def conflicts(self, keys: Iterable[str]) -> bool:
        """Whether admitting ``keys`` would refuse some key (see ``_admit_keys``)."""
        pending: dict[str, str] = {}
        for key in keys:
            if key in self._keys:
                continue
            column = TEXT_PREFIX + key
            folded = fold_column_name(column)
            other = self._folded.get(folded) or pending.get(folded)
            if other is not None and other != column:
                return True
            pending[folded] = column
        return False

    def append_table(self, table: pa.Table, keys: Iterable[str]) -> None:
        """Stage a whole candidate table (the fast path's rows) as one batch.

        The caller has checked that ``keys`` (the table's property keys with a value)
        do not ``conflict``; they are admitted here.
        """
        pending = {fold_column_name(TEXT_PREFIX + key): TEXT_PREFIX + key for key in keys}
        self._folded.update(pending)
        self._keys.update(keys)
        self._wait()  # at most one table in flight: memory stays bounded
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meterbill-stage")
        path = _stage_path(self._folder, "events", len(self._files))
        self._writing = self._writer.submit(_write, table, path)
        self._files.append(path)
        self._count += table.num_rows

    def close(self) -> None:
        """Stop the background writer, waiting for its write (errors ignored: called on
        the way out, before the staging folder is removed)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._writing = None

    def _wait(self) -> None:
        """Wait for the staged table being written (re-raising its error)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _flush(self) -> None:
        rows = len(self._seq)
        if not rows:
            return
        columns: dict[str, pa.Array] = {
            SEQ: pa.array(self._seq, pa.int64()),
            FILE: pa.array(self._file, pa.int32()),
            RECORD: pa.array(self._record, pa.int64()),
            RAW: pa.array(self._raw, pa.large_string()),
            EVENT_ID: pa.array(self._event_id, TEXT_ARROW),
            EVENT_NAME: pa.array(self._event_name, TEXT_ARROW),
            CUSTOMER_ID: pa.array(self._customer_id, TEXT_ARROW),
            TIMESTAMP: pa.array(self._timestamp, pa.int64()).cast(TIMESTAMP_ARROW),
            SOURCE: pa.array(self._source, TEXT_ARROW),
        }
        for key, (indexes, texts, numbers) in self._properties.items():
            text_name, number_name = property_columns(key)
            if len(indexes) < rows:
                dense_texts: list[str | None] = [None] * rows
                dense_numbers: list[Decimal | None] = [None] * rows
                for index, text, number in zip(indexes, texts, numbers, strict=True):
                    dense_texts[index] = text
                    dense_numbers[index] = number
                columns[text_name] = pa.array(dense_texts, TEXT_ARROW)
                columns[number_name] = pa.array(dense_numbers, NUMBER_ARROW)
            else:
                columns[text_name] = pa.array(texts, TEXT_ARROW)
                columns[number_name] = pa.array(numbers, NUMBER_ARROW)
        self._files.append(_stage(pa.table(columns), self._folder, "events", len(self._files)))
        self._reset()

    def files(self) -> list[Path]:
        """The staged Parquet files of all rows so far (columns as ``CANDIDATE_SCHEMA``,
        then ``p__K``/``n__K`` for the keys of each batch)."""
        self._flush()
        self._wait()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        return list(self._files)


class RejectBatches:
    """The rejected records of one ingest, columnar (see ``REJECT_SCHEMA``)."""

    def __init__(self, folder: Path, *, batch_size: int = BATCH_SIZE) -> None:
        """Start empty; staged files go to ``folder``."""
        self._folder = folder
        self._batch_size = batch_size
        self._files: list[Path] = []
        self._rows: list[tuple[int, int, str, str, str]] = []
        self._chars = 0  # raw characters buffered
        self._count = 0
        self.first: tuple[int, int, Reject] | None = None
        """(file index, record number, reject) of the first reject, for ``--strict``."""

    def __len__(self) -> int:
        """The number of rejects so far."""
        return self._count

    def append(self, *, file_index: int, record_number: int, reject: Reject, raw: str) -> None:
        """Add one rejected record."""
        if self.first is None:
            self.first = (file_index, record_number, reject)
        self._rows.append((file_index, record_number, reject.reason, reject.message, raw))
        self._count += 1
        self._chars += len(raw)
        if len(self._rows) >= self._batch_size or self._chars >= BATCH_CHARS:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            columns = zip(*self._rows, strict=True)
            arrays = [
                pa.array(column, field.type)
                for column, field in zip(columns, REJECT_SCHEMA, strict=True)
            ]
            table = pa.Table.from_arrays(arrays, schema=REJECT_SCHEMA)
            self._files.append(_stage(table, self._folder, "rejects", len(self._files)))
            self._rows = []
            self._chars = 0

    def files(self) -> list[Path]:
        """The staged Parquet files of all rejects so far (``REJECT_SCHEMA``)."""
        self._flush()
        return list(self._files)


def _stage(table: pa.Table, folder: Path, kind: str, number: int) -> Path:
    """Write one batch to the staging folder."""
    path = _stage_path(folder, kind, number)
    _write(table, path)
    return path


def _stage_path(folder: Path, kind: str, number: int) -> Path:
    return folder / f"{kind}-{number:06}.parquet"


def _write(table: pa.Table, path: Path) -> None:
    """Write a staged table (lz4: fast, and raw text compresses well; no dictionaries:
    most staged columns are unique per row, and trying costs ~30%; no statistics: staged
    files are always read whole, and computing them costs ~10%)."""
    pq.write_table(table, path, compression="lz4", use_dictionary=False, write_statistics=False)
