"""Per-format record readers: JSON lines, CSV and Parquet, each yielding ``SourceRecord``.

A reader owns a format and nothing else: it splits a file into records, numbers them
(1-based line for JSON lines, data row for CSV, row for Parquet), keeps each record's
raw text for the rejects and duplicates stores, and parses it into a mapping keyed by
the native field names, or a ``Reject``. Field rules live in ``shapes``, so a new event
shape needs no new reader, and a new format needs no new rules.

JSON is parsed exactly: numbers become ``JsonNumber`` (the literal text, never a binary
float), ``NaN``/``Infinity`` and duplicate keys are rejected, and a lone surrogate
escape (``"\\ud800"``, which no UTF-8 file can hold) is ``bad_encoding``.

Choices the contract left open, made here:

* ``.json`` files are JSON lines like ``.jsonl`` (a single JSON array document is not
  a supported shape; it is one ``not_an_object`` record);
* ``.gz`` after a JSON lines or CSV suffix (``events.jsonl.gz``) is read through gzip;
  a corrupt or truncated gzip stream fails the whole ingest (``IngestError``);
* CSV and Parquet keep the columns of every shape (``shapes.SHAPE_FIELDS``), so a CSV
  of CloudEvents or Lago events works; ``properties.<key>`` columns go to
  ``properties``, and ``properties``/``data`` text cells are JSON;
* a CSV record number counts data rows, not lines: the header and blank lines are not
  data rows, and a quoted field may span lines;
* CSV cells are strings; an empty cell is an absent value for ``event_id``, ``source``,
  ``properties``, the ``properties.<key>`` columns, for ``customer_id`` and
  ``external_customer_id`` when the header has both, and in every column when the
  header has columns of two shapes (``shapes.SHAPE_ONLY_FIELDS``: a file of mixed
  shapes); header names are trimmed;
* a Parquet reject's raw text is the row's recognised columns as JSON (other columns
  are never read); nanosecond times are truncated to microseconds; a BINARY column
  (byte arrays without the UTF8 annotation, as some writers store text) is UTF-8 text,
  as a BINARY property value already is;
* an unreadable file (missing, not Parquet, a CSV header that does not parse) fails the
  whole ingest with ``IngestError``: its records cannot even be counted.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import IO, Final, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from meterbill.errors import IngestError
from meterbill.events.parquet_values import python_batch
from meterbill.events.rejects import RecordRejected, Reject
from meterbill.events.schema import PROPERTIES, JsonNumber, type_name
from meterbill.events.shapes import (
    CUSTOMER_FIELDS,
    OBJECT_FIELDS,
    OPTIONAL_FIELDS,
    SHAPE_FIELDS,
    SHAPE_ONLY_FIELDS,
)

Format = Literal["jsonl", "csv", "parquet"]

#: File name suffixes read by ingest (compared lower-case), and their formats.
SUFFIX_FORMATS: Final[dict[str, Format]] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
#: A compressed file: ``events.jsonl.gz`` (JSON lines and CSV only).
GZIP_SUFFIX: Final = ".gz"
#: Parquet rows per batch: bounds the Python objects alive at once (~100k records).
BATCH_SIZE: Final = 100_000
#: Records between two progress reports inside one file.
PROGRESS_EVERY: Final = 10_000

_BOM: Final = b"\xef\xbb\xbf"
_JSON_WHITESPACE: Final = " \t\r\n"
_TOP_LEVEL_FIELDS: Final = SHAPE_FIELDS
_PROPERTY_COLUMN_PREFIX: Final = PROPERTIES + "."
#: CSV fields can be long (a JSON ``properties`` cell); the stdlib default is 128 KiB.
_CSV_FIELD_LIMIT: Final = 1 << 30

Progress = Callable[[int], None]
"""Called with the bytes of the current file consumed so far."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record of a source file.

    Attributes:
        record_number: 1-based line (JSON lines), data row (CSV) or row (Parquet).
        raw: the record's text as read (a Parquet row: its columns as JSON).
        value: the parsed record keyed by native field names, or why it is not one.
    """

    record_number: int
    raw: str
    value: Mapping[str, object] | Reject


def file_format(path: Path) -> Format | None:
    """Return the format of a file by its suffix, or None if ingest does not read it."""
    suffix = path.suffix.lower()
    if suffix == GZIP_SUFFIX:
        inner = SUFFIX_FORMATS.get(Path(path.stem).suffix.lower())
        return inner if inner in ("jsonl", "csv") else None
    return SUFFIX_FORMATS.get(suffix)


def is_gzip(path: Path) -> bool:
    """Whether a file is read through gzip (by its suffix)."""
    return path.suffix.lower() == GZIP_SUFFIX


class ByteSource:
    """A JSON lines, JSON array or CSV file opened for reading bytes, gzip'd or not.

    ``position()`` is the bytes of the file on disk consumed so far (compressed bytes for
    gzip), so progress compares with the file's size.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.handle: IO[bytes] = gzip.GzipFile(fileobj=self._file) if is_gzip(path) else self._file

    def position(self) -> int:
        return self._file.tell()

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        self._file.close()


def read_records(path: Path, *, progress: Progress | None = None) -> Iterator[SourceRecord]:
    """Yield every non-blank record of a file, in order, by its format.

    Raises:
        IngestError: the suffix is not a supported format, or the file cannot be read
            as that format at all.
        OSError: the file cannot be opened or read.
    """
    fmt = file_format(path)
    if fmt == "jsonl":
        return read_json_lines(path, progress=progress)
    if fmt == "csv":
        return read_csv(path, progress=progress)
    if fmt == "parquet":
        return read_parquet(path, progress=progress)
    raise IngestError(f"unsupported file type: {path}")


# -- JSON --------------------------------------------------------------------------------


def parse_json(text: str) -> object:
    """Parse JSON text exactly (numbers as ``JsonNumber``).

    Raises:
        RecordRejected: ``bad_json``, ``duplicate_key`` or ``bad_encoding``.
    """
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise RecordRejected("bad_json", f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RecordRejected("bad_json", "invalid JSON: nested too deeply") from None
    if "\\u" in text:  # only a \u escape can smuggle a lone surrogate into a str
        _check_no_surrogates(value)
    return value


def parse_json_record(text: str) -> Mapping[str, object] | Reject:
    """Parse one JSON record: an object, or the reason it is not one."""
    try:
        value = parse_json(text)
    except RecordRejected as exc:
        return exc.reject
    if not isinstance(value, dict):
        return Reject("not_an_object", f"a record must be a JSON object, got {type_name(value)}")
    return value


def _refuse_constant(name: str) -> object:
    """``parse_constant`` hook: JSON has no NaN or Infinity."""
    raise RecordRejected("bad_json", f"invalid JSON: {name} is not a JSON number")


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``object_pairs_hook``: build the dict, refusing a key given twice."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RecordRejected("duplicate_key", f"key {key!r} appears twice in one object")
            seen.add(key)
    return obj


#: One decoder for every record (``json.loads`` with hooks builds a new one per call).
_DECODER: Final = json.JSONDecoder(
    parse_float=JsonNumber,
    parse_int=JsonNumber,
    parse_constant=_refuse_constant,
    object_pairs_hook=_object_without_duplicates,
)


def _check_no_surrogates(value: object) -> None:
    """Refuse strings (keys included) holding a lone UTF-16 surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise RecordRejected(
                    "bad_encoding", "a \\u escape is a lone surrogate, not a character"
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _strip_newline(line: bytes) -> bytes:
    """Drop one trailing LF or CRLF."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return line


def encoding_reject(exc: UnicodeDecodeError) -> Reject:
    """The reject of a record whose bytes are not UTF-8 (the byte counts within it)."""
    return Reject("bad_encoding", f"not UTF-8: {exc.reason} at byte {exc.start}")


def read_json_lines(path: Path, *, progress: Progress | None = None) -> Iterator[SourceRecord]:
    """Yield the records of a JSON lines file; blank lines are skipped, not numbered away."""
    with ByteSource(path) as source:
        for number, line in enumerate(source.handle, start=1):
            record = json_line_record(
                number, line[len(_BOM) :] if number == 1 and line.startswith(_BOM) else line
            )
            if record is None:
                continue
            yield record
            if progress is not None and number % PROGRESS_EVERY == 0:
                progress(source.position())


def json_line_record(number: int, line: bytes) -> SourceRecord | None:
    """The record of one JSON lines line (its newline optional); None for a blank line.

    The caller removes a BOM from line 1.
    """
    body = _strip_newline(line)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = body.decode("utf-8", "backslashreplace")
        return SourceRecord(number, raw, encoding_reject(exc))
    if not text.strip(_JSON_WHITESPACE):
        return None
    return SourceRecord(number, text, parse_json_record(text))


def json_line_chunks(
    path: Path, *, chunk_bytes: int, progress: Progress | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(number of its first line, chunk)``: the file in pieces of whole lines.

    The BOM of line 1 is removed; the last chunk's last line may lack its newline.
    """
    with ByteSource(path) as source:
        number = 1
        rest = source.handle.read(len(_BOM))  # whatever ``chunk_bytes`` is
        if rest == _BOM:
            rest = b""
        while True:
            block = source.handle.read(chunk_bytes)
            if not block:
                if rest:
                    yield number, rest
                return
            data = rest + block if rest else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            chunk, rest = data[:cut], data[cut:]
            yield number, chunk
            number += chunk.count(b"\n")
            if progress is not None:
                progress(source.position())


# -- CSV ---------------------------------------------------------------------------------


class _LineFeed:
    """Feeds decoded lines to ``csv.reader`` and keeps the raw text of the current row.

    ``csv.reader`` pulls exactly the lines one row needs, so the lines fed since the last
    ``take`` are that row's raw text (several lines for a quoted multi-line field).
    """

    def __init__(self, lines: Iterable[bytes], *, at_start: bool = True) -> None:
        self._lines = iter(lines)
        self._first = at_start  # a BOM is dropped from the file's first line only
        self._pieces: list[str] = []
        self._bad: UnicodeDecodeError | None = None

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if self._first:
            self._first = False
            if line.startswith(_BOM):
                line = line[len(_BOM) :]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._bad = self._bad or exc
            self._pieces.append(line.decode("utf-8", "backslashreplace"))
            return line.decode("utf-8", "replace")
        self._pieces.append(text)
        return text

    def take(self) -> tuple[str, UnicodeDecodeError | None]:
        """Return (raw text, first decoding error) of the lines fed since the last take."""
        raw = "".join(self._pieces)
        if raw.endswith("\n"):
            raw = raw[:-2] if raw.endswith("\r\n") else raw[:-1]
        bad = self._bad
        self._pieces = []
        self._bad = None
        return raw, bad


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """Where each native field sits in a CSV header."""

    width: int
    fields: tuple[tuple[int, str], ...]
    property_cells: tuple[tuple[int, str], ...]
    empty_is_absent: frozenset[str]
    problem: Reject | None

    @classmethod
    def from_header(cls, header: list[str]) -> CsvLayout:
        names = [name.strip() for name in header]
        fields: list[tuple[int, str]] = []
        property_cells: list[tuple[int, str]] = []
        seen: set[str] = set()
        problem: Reject | None = None
        for index, name in enumerate(names):
            if name in _TOP_LEVEL_FIELDS:
                fields.append((index, name))
            elif name.startswith(_PROPERTY_COLUMN_PREFIX):
                property_cells.append((index, name[len(_PROPERTY_COLUMN_PREFIX) :]))
            else:
                continue  # unknown columns are ignored, like unknown JSON fields
            if name in seen and problem is None:
                problem = Reject("duplicate_key", f"column {name!r} appears twice in the header")
            seen.add(name)
        absent = set(OPTIONAL_FIELDS)
        if len(CUSTOMER_FIELDS & seen) >= 2:
            absent |= CUSTOMER_FIELDS
        if sum(1 for only in SHAPE_ONLY_FIELDS if only & seen) >= 2:  # mixed shapes
            absent |= SHAPE_FIELDS
        return cls(len(names), tuple(fields), tuple(property_cells), frozenset(absent), problem)

    def record(self, row: list[str]) -> Mapping[str, object] | Reject:
        """The native-shape mapping of one data row."""
        if self.problem is not None:
            return self.problem
        if len(row) != self.width:
            return Reject("bad_csv", f"row has {len(row)} fields, the header has {self.width}")
        record: dict[str, object] = {}
        for index, name in self.fields:
            cell = row[index]
            if not cell and name in self.empty_is_absent:
                continue
            if name in OBJECT_FIELDS:
                try:
                    record[name] = parse_json(cell)
                except RecordRejected as exc:
                    return Reject(exc.reject.reason, f"{name} column: {exc.reject.message}")
            else:
                record[name] = cell
        if self.property_cells:
            cells = {key: row[index] for index, key in self.property_cells if row[index]}
            return _merge_properties(record, cells)
        return record


def _merge_properties(
    record: dict[str, object], columns: Mapping[str, object]
) -> Mapping[str, object] | Reject:
    """Add ``properties.<key>`` column values to a record's (JSON) properties."""
    if not columns:
        return record
    given = record.get(PROPERTIES)
    if given is None:
        record[PROPERTIES] = dict(columns)
    elif isinstance(given, dict):
        for key in columns:
            if key in given:
                return Reject(
                    "duplicate_key", f"property {key!r} is both a column and in properties"
                )
        record[PROPERTIES] = {**given, **columns}
    # else: properties is not an object; the shape rejects it as such
    return record


class CsvSource:
    """An open CSV file with a header row: its ``layout``, then its records, read
    exactly (``records``) or as chunks of whole lines (``chunks``) with a hand-over to
    the exact reader at any chunk (``read_exactly_from``).

    Raises:
        IngestError: the header row cannot be read.
    """

    def __init__(self, path: Path) -> None:
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        self.path = path
        self._source = ByteSource(path)
        self.number = 0
        """Data rows read so far (a record's number is its data row)."""
        self._rest = b""
        self._feed = _LineFeed(self._source.handle)
        self._rows = csv.reader(self._feed, strict=True)
        try:
            header = next(self._rows)
        except StopIteration:
            header = None  # an empty file has no records
        except csv.Error as exc:
            self.close()
            raise IngestError(f"cannot read the CSV header of {path}: {exc}") from None
        if self._feed.take()[1] is not None:
            self.close()
            raise IngestError(f"cannot read the CSV header of {path}: not UTF-8")
        self.layout = CsvLayout.from_header(header) if header is not None else None

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._source.__exit__()

    def records(self, *, progress: Progress | None = None) -> Iterator[SourceRecord]:
        """The records from here on, as the exact reader reads them."""
        if self.layout is None:
            return
        while True:
            try:
                row = next(self._rows)
            except StopIteration:
                break
            except csv.Error as exc:
                self.number += 1
                reject = Reject("bad_csv", f"malformed CSV: {exc}")
                yield SourceRecord(self.number, self._feed.take()[0], reject)
                continue
            raw, bad = self._feed.take()
            if not raw.strip():
                continue  # a blank line is not a data row
            self.number += 1
            value = encoding_reject(bad) if bad is not None else self.layout.record(row)
            yield SourceRecord(self.number, raw, value)
            if progress is not None and self.number % PROGRESS_EVERY == 0:
                progress(self._source.position())

    def chunks(self, chunk_bytes: int, *, progress: Progress | None = None) -> Iterator[bytes]:
        """The lines after the header, ``chunk_bytes`` at a time, cut after a newline."""
        handle = self._source.handle
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                if self._rest:
                    chunk, self._rest = self._rest, b""
                    yield chunk
                return
            data = self._rest + block
            cut = data.rfind(b"\n") + 1
            chunk, self._rest = data[:cut], data[cut:]
            if chunk:
                yield chunk
                if progress is not None:
                    progress(self._source.position())

    def read_exactly_from(self, chunk: bytes) -> None:
        """Make ``records`` read from ``chunk`` (the one ``chunks`` gave last, not read)
        on, to the end of the file."""
        self._rest += self._source.handle.readline()  # end on a whole line
        lines = chain(io.BytesIO(chunk + self._rest), self._source.handle)
        self._rest = b""
        self._feed = _LineFeed(lines, at_start=False)
        self._rows = csv.reader(self._feed, strict=True)

    def line_record(self, number: int, text: str) -> SourceRecord:
        """Record ``number``, a non-blank line that is a whole row (no CR or NUL, no
        quoted cell open at its end), as ``records`` reads it."""
        assert self.layout is not None
        (row,) = csv.reader([text], strict=True)
        return SourceRecord(number, text, self.layout.record(row))


def read_csv(path: Path, *, progress: Progress | None = None) -> Iterator[SourceRecord]:
    """Yield the records of a CSV file with a header row.

    Raises:
        IngestError: the header row cannot be read.
    """
    with CsvSource(path) as source:
        yield from source.records(progress=progress)


# -- Parquet -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ParquetLayout:
    """Which Parquet columns are native fields, and how ``properties`` is typed."""

    columns: list[str] | None  # None: read every column (no native field was found)
    fields: tuple[str, ...]
    property_columns: tuple[tuple[str, str], ...]
    map_fields: frozenset[str]
    problem: Reject | None

    @classmethod
    def from_schema(cls, schema: pa.Schema) -> _ParquetLayout:
        fields: list[str] = []
        property_columns: list[tuple[str, str]] = []
        seen: set[str] = set()
        problem: Reject | None = None
        for name in schema.names:
            if name in _TOP_LEVEL_FIELDS:
                fields.append(name)
            elif name.startswith(_PROPERTY_COLUMN_PREFIX):
                property_columns.append((name, name[len(_PROPERTY_COLUMN_PREFIX) :]))
            else:
                continue
            if name in seen and problem is None:
                problem = Reject("duplicate_key", f"column {name!r} appears twice in the file")
            seen.add(name)
        maps = frozenset(
            name for name in OBJECT_FIELDS & set(fields) if pa.types.is_map(schema.field(name).type)
        )
        for name in sorted(OBJECT_FIELDS & set(fields)):
            dtype = schema.field(name).type  # Arrow allows a struct two fields of one name
            keys = (
                [dtype.field(i).name for i in range(dtype.num_fields)]
                if pa.types.is_struct(dtype)
                else []
            )
            twice = sorted({key for key in keys if keys.count(key) > 1})
            if twice and problem is None:
                problem = Reject("duplicate_key", f"{name} has the field {twice[0]!r} twice")
        columns = sorted(seen, key=schema.names.index) if seen and problem is None else None
        return cls(columns, tuple(fields), tuple(property_columns), maps, problem)

    def record(self, row: Mapping[str, object]) -> Mapping[str, object] | Reject:
        """The native-shape mapping of one row (as ``to_pylist`` gives it)."""
        if self.problem is not None:
            return self.problem
        record: dict[str, object] = {}
        for name in self.fields:
            value = row[name]
            if isinstance(value, bytes):  # BINARY without the UTF8 annotation: text
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return Reject("bad_encoding", f"{name} is not UTF-8: {exc.reason}")
            if name in OBJECT_FIELDS and value is not None:
                try:
                    value = self._properties(name, value)
                except RecordRejected as exc:
                    return exc.reject
            record[name] = value
        if self.property_columns:
            cells = {key: row[name] for name, key in self.property_columns if row[name] is not None}
            return _merge_properties(record, cells)
        return record

    def _properties(self, name: str, value: object) -> object:
        """A STRUCT is a dict already; a MAP is a list of pairs; text is JSON."""
        if isinstance(value, str):
            try:
                return parse_json(value)
            except RecordRejected as exc:
                raise RecordRejected(
                    exc.reject.reason, f"{name} column: {exc.reject.message}"
                ) from None
        if name in self.map_fields and isinstance(value, list):
            pairs: dict[object, object] = {}
            for key, item in value:
                if key in pairs:
                    raise RecordRejected("duplicate_key", f"map key {key!r} appears twice")
                pairs[key] = item
            return pairs
        return value


class ParquetSource:
    """An open Parquet file read as records: its batches (``batches``), their rows as
    ``SourceRecord`` (``records``), and the raw text of given rows (``raw_texts``).

    Raises:
        IngestError: the file is not Parquet (on opening) or a part of it cannot be
            decoded (while reading).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise IngestError(f"cannot read {path} as Parquet: {exc}") from None
        self.schema: pa.Schema = self._file.schema_arrow
        self.layout = _ParquetLayout.from_schema(self.schema)

    def __enter__(self) -> ParquetSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def batches(
        self, *, batch_size: int = BATCH_SIZE, progress: Progress | None = None
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        """``(record number of the first row, batch)`` of the recognised columns, in
        order, as Python reads them alike (``python_batch``)."""
        total_rows = max(self._file.metadata.num_rows, 1)
        size = self.path.stat().st_size
        number = 0
        batches = self._file.iter_batches(batch_size=batch_size, columns=self.layout.columns)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise IngestError(f"cannot read {self.path} as Parquet: {exc}") from None
            yield number + 1, python_batch(batch)
            number += batch.num_rows
            if progress is not None:
                progress(size * number // total_rows)

    def records(self, batch: pa.RecordBatch, numbers: Sequence[int]) -> Iterator[SourceRecord]:
        """The rows of a batch (from ``batches``) as records numbered ``numbers``."""
        for number, row in zip(numbers, _batch_rows(batch), strict=True):
            if isinstance(row, Reject):  # unreadable: the file's own problem, if any, says why
                yield SourceRecord(number, "", self.layout.problem or row)
            else:
                yield SourceRecord(number, _row_json(row), self.layout.record(row))

    def raw_texts(self, numbers: Iterable[int]) -> dict[int, str]:
        """The raw text of the records ``numbers`` (readable rows), as ``records`` gives
        it; only the row groups holding them are read."""
        wanted = sorted(set(numbers))
        texts: dict[int, str] = {}
        start = 0
        for group in range(self._file.num_row_groups):
            rows = self._file.metadata.row_group(group).num_rows
            inside = [number for number in wanted if start < number <= start + rows]
            if inside:
                table = self._file.read_row_group(group, columns=self.layout.columns)
                rows_inside = pa.array([number - start - 1 for number in inside], pa.int64())
                (batch,) = table.take(rows_inside).combine_chunks().to_batches()
                for record in self.records(python_batch(batch), inside):
                    texts[record.record_number] = record.raw
            start += rows
        return texts


def read_parquet(
    path: Path, *, progress: Progress | None = None, batch_size: int = BATCH_SIZE
) -> Iterator[SourceRecord]:
    """Yield the rows of a Parquet file, read in batches of ``batch_size`` rows.

    Raises:
        IngestError: the file is not Parquet or a part of it cannot be decoded.
    """
    with ParquetSource(path) as source:
        for first, batch in source.batches(batch_size=batch_size, progress=progress):
            yield from source.records(batch, range(first, first + batch.num_rows))


def _batch_rows(batch: pa.RecordBatch) -> Sequence[Mapping[str, object] | Reject]:
    """Convert a batch to Python rows; a row Python cannot hold becomes a Reject."""
    try:
        return batch.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):  # includes UnicodeDecodeError
        rows: list[Mapping[str, object] | Reject] = []
        for index in range(batch.num_rows):
            try:
                rows.append(batch.slice(index, 1).to_pylist()[0])
            except UnicodeDecodeError as exc:
                rows.append(encoding_reject(exc))
            except (pa.ArrowException, ValueError, OverflowError) as exc:
                rows.append(Reject("bad_type", f"cannot read the row: {exc}"))
        return rows


def _row_json(row: Mapping[str, object]) -> str:
    """A Parquet row as JSON text for the rejects and duplicates stores."""
    return json.dumps(row, ensure_ascii=False, default=_jsonable)


def _jsonable(value: object) -> object:
    """``json.dumps`` fallback for the Python types Parquet values arrive as."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)
