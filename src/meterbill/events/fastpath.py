"""The columnar fast path for JSON lines of the native shape.

The exact path (``readers.parse_json_record`` then ``shapes.shape_event``) costs ~30 us
of Python per record. This module handles a whole chunk of lines (~16 MB) at once and
keeps Python per record to a handful of C-level list comprehensions:

1. Arrow splits the chunk into lines and checks each line's first and last byte;
2. ``msgspec`` decodes the lines into a typed ``_Native`` struct in C (properties as
   ``msgspec.Raw``: each value's exact JSON text, so numbers are never floats);
3. pyarrow compute checks and converts whole columns (the garbage collector paused:
   nothing here makes cycles): non-blank strings, ISO 8601
   timestamps with an offset, property values classified by their JSON text, numbers
   cast from that text to ``DECIMAL(38,12)`` when they need no rounding.

A line takes the fast path only if it can be *proved* to give exactly what the exact
path gives; every other line (and every line of a chunk where proof fails) goes through
the exact path, which assigns reject reasons as always. The proofs:

* the line starts with ``{``, ends with ``}``, and has no backslash and no CR: so no
  string holds an escape (decoded text == raw text, no lone surrogates) and the line is
  one object;
* msgspec accepted it as ``_Native`` (it refuses NaN, control characters in strings,
  trailing data and invalid UTF-8 in ``str`` fields; the raw column is UTF-8 validated
  for the rest), with no ``external_customer_id`` (alias rules stay in ``shapes``);
* no duplicate keys: msgspec keeps the last of two equal keys, so we count. Outside
  strings a colon only follows a key, so the line's colons equal the keys msgspec kept
  plus the colons inside the strings it kept iff no key was dropped (an unknown
  top-level field also makes the counts differ, which just sends the line slow);
* every value is in the simple subset the vectorized rules cover: ``event_name``,
  ``customer_id``, a given ``event_id`` hold a character Python's ``str.strip`` keeps;
  the timestamp is ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`` within range; a number
  (JSON, or a string ``NUMBER_PATTERN`` accepts) has at most 26 integer and 12
  fraction digits and no exponent (so the DECIMAL(38,12) cast needs no rounding);
  property values are scalars and keys are non-empty.

``tests/events/test_fastpath.py`` checks that both paths give identical lake rows,
rejects and duplicates, for edge lines and for generated records.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from meterbill.events.batches import FILE, RAW, RECORD, SEQ
from meterbill.events.readers import SourceRecord, json_line_record
from meterbill.events.schema import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_NAME,
    MAX_MICROS,
    MIN_MICROS,
    NUMBER_ARROW,
    SOURCE,
    TEXT_ARROW,
    TIMESTAMP,
    TIMESTAMP_ARROW,
    property_columns,
)

#: Bytes read per chunk (the chunk is cut after its last newline): ~85k bench events.
CHUNK_BYTES: Final = 16 << 20

#: The ``--shape`` choices whose records the fast path reads (as native).
FAST_SHAPES: Final = frozenset({"auto", "native"})

_UNSET: Final = msgspec.UNSET
_NO_RAW: Final = msgspec.Raw(b"")
#: Above this many distinct property keys in a chunk, pivot record by record.
_WIDE_KEYS: Final = 64


class _Native(msgspec.Struct, gc=False):
    """The native-shape fields the fast path reads (unknown fields are ignored).

    ``gc=False``: a chunk decodes into ~1M objects, none in a reference cycle; tracking
    them made the garbage collector cost as much as decoding."""

    event_name: str
    customer_id: str
    timestamp: str
    event_id: str | msgspec.UnsetType | None = _UNSET
    source: str | msgspec.UnsetType | None = _UNSET
    properties: dict[str, msgspec.Raw] | msgspec.UnsetType | None = _UNSET
    external_customer_id: msgspec.Raw | msgspec.UnsetType = _UNSET


_DECODER: Final = msgspec.json.Decoder(_Native)

# Regular expressions (RE2, as pyarrow runs them) over whole columns.
#: Holds a character that ``str.strip()`` keeps (the complement of ``str.isspace``).
_NOT_BLANK: Final = (
    r"[^\x{09}-\x{0d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
    r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
_ISO_TIMESTAMP: Final = (
    r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-"
    r"(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
#: A JSON number literal the DECIMAL(38,12) cast takes exactly.
_SIMPLE_JSON_NUMBER: Final = r"^-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,12})?$"
#: ``schema.NUMBER_PATTERN`` (whole match, ASCII digits).
_TEXT_NUMBER: Final = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
#: A number string the DECIMAL(38,12) cast takes exactly.
_SIMPLE_TEXT_NUMBER: Final = r"^[+-]?([0-9]{1,26}(\.[0-9]{0,12})?|\.[0-9]{1,12})$"


@dataclass(frozen=True, slots=True)
class Lines:
    """The lines of one chunk (newline dropped) and which may take the fast path."""

    data: bytes
    lines: pa.LargeBinaryArray
    candidate: pa.BooleanArray  # starts with {, ends with }, no backslash, no CR

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> bytes:
        """Line ``index`` as read: with its newline, unless it is a final line without."""
        text = self.lines[index].as_py()
        return (
            text if index == len(self.lines) - 1 and not self.data.endswith(b"\n") else text + b"\n"
        )


def split_lines(data: bytes) -> Lines:
    """Split a chunk into lines (in Arrow) and mark the fast-path candidates."""
    whole = pa.array([data], pa.large_binary())
    lines = pc.split_pattern(whole, b"\n").values
    if data.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    candidate = pc.and_(pc.starts_with(lines, "{"), pc.ends_with(lines, "}"))
    for byte in ("\\", "\r"):
        if byte.encode() in data:
            candidate = pc.and_(candidate, pc.equal(pc.count_substring(lines, byte), 0))
    return Lines(data, lines, candidate)


def raw_column(lines: Lines) -> pa.LargeStringArray | None:
    """Every line's text as one Arrow column (no Python per line); None if not UTF-8."""
    try:
        return lines.lines.cast(pa.large_string())  # the cast validates UTF-8
    except pa.ArrowInvalid:
        return None


def decode(lines: Lines, indexes: list[int]) -> list[_Native | None]:
    """Decode the candidate lines ``indexes``; None where msgspec refuses one."""
    if len(indexes) == len(lines) and indexes:
        try:
            records = _DECODER.decode_lines(lines.data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            records = None
        # one object per line: each starts with { and ends with }, so a line cannot be
        # empty or continue the previous one, and two objects on a line make one more
        if records is not None and len(records) == len(lines):
            return records
    return [_decode_one(lines.line(index)) for index in indexes]


def _decode_one(line: bytes) -> _Native | None:
    try:
        return _DECODER.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


@dataclass(frozen=True, slots=True)
class Columns:
    """The decoded records of a chunk as lake columns, and which took the fast path."""

    ok: pa.BooleanArray  # per decoded record: provably what the exact path gives
    event_id: pa.Array  # NULL where it must be derived
    event_name: pa.Array
    customer_id: pa.Array
    timestamp: pa.Array
    source: pa.Array
    properties: dict[str, tuple[pa.Array, pa.Array]]  # key -> (p__K, n__K)


def build_columns(records: list[_Native], lines: pa.Array, total_colons: int) -> Columns:
    """Check and convert decoded records column by column.

    Args:
        records: the decoded records.
        lines: the text of each record's line.
        total_colons: the colons of all those lines.
    """
    count = len(records)
    ok = pa.array([r.external_customer_id is _UNSET for r in records], pa.bool_())
    event_name = pa.array([r.event_name for r in records], TEXT_ARROW)
    customer_id = pa.array([r.customer_id for r in records], TEXT_ARROW)
    timestamp_text = pa.array([r.timestamp for r in records], TEXT_ARROW)
    raw_ids = [r.event_id for r in records]
    raw_sources = [r.source for r in records]
    raw_props = [r.properties for r in records]
    seen = pa.array(
        [
            3 + (i is not _UNSET) + (s is not _UNSET) + (p is not _UNSET)
            for i, s, p in zip(raw_ids, raw_sources, raw_props, strict=True)
        ],
        pa.int64(),
    )
    event_id = pa.array([i if i.__class__ is str else None for i in raw_ids], TEXT_ARROW)
    source = pa.array([s if s.__class__ is str else None for s in raw_sources], TEXT_ARROW)

    ok = _and(ok, pc.match_substring_regex(event_name, _NOT_BLANK))
    ok = _and(ok, pc.match_substring_regex(customer_id, _NOT_BLANK))
    ok = _and(
        ok, pc.or_kleene(pc.is_null(event_id), pc.match_substring_regex(event_id, _NOT_BLANK))
    )
    for column in (event_name, customer_id, timestamp_text, event_id, source):
        seen = pc.add(seen, pc.count_substring(column, ":").fill_null(0))
    ok = _and(ok, pc.match_substring_regex(timestamp_text, _ISO_TIMESTAMP))
    timestamp = _timestamps(timestamp_text, ok)
    micros = timestamp.cast(pa.int64())
    ok = _and(ok, pc.and_(pc.greater_equal(micros, MIN_MICROS), pc.less_equal(micros, MAX_MICROS)))
    source = pc.if_else(pc.equal(source, ""), pa.scalar(None, TEXT_ARROW), source)

    dicts = [p if p.__class__ is dict else {} for p in raw_props]
    properties: dict[str, tuple[pa.Array, pa.Array]] = {}
    for key, values in _pivot(dicts, count).items():
        text, number, fine, key_colons = _property_column(key, values)
        ok = _and(ok, fine)
        seen = pc.add(seen, key_colons)
        if text.null_count < count:
            properties[key] = (text, number)
    # a line never has fewer colons than msgspec kept, so equal sums prove every line
    if pc.sum(seen).as_py() != total_colons:
        ok = _and(ok, pc.equal(seen, pc.count_substring(lines, ":")))
    return Columns(ok, event_id, event_name, customer_id, timestamp, source, properties)


def _pivot(dicts: list[dict[str, msgspec.Raw]], count: int) -> dict[str, list[msgspec.Raw]]:
    """Per property key, each record's raw value (``_NO_RAW`` where absent)."""
    keys = set().union(*dicts)
    if len(keys) <= _WIDE_KEYS:
        return {key: [d.get(key, _NO_RAW) for d in dicts] for key in keys}
    columns: dict[str, list[msgspec.Raw]] = {}
    for row, d in enumerate(dicts):
        for key, value in d.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [_NO_RAW] * count
            column[row] = value
    return columns


def _property_column(
    key: str, values: list[msgspec.Raw]
) -> tuple[pa.Array, pa.Array, pa.BooleanArray, pa.Array]:
    """(p__K, n__K, provable per row, colons per row) of one key's raw JSON values."""
    lengths = pa.array(map(len, values), pa.int64(), size=len(values))
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(lengths)])
    raw = pa.LargeStringArray.from_buffers(
        len(values), offsets.buffers()[1], pa.py_buffer(b"".join(values))
    )
    present = pc.greater(lengths, 0)
    first = pc.utf8_slice_codeunits(raw, 0, 1)
    is_string = pc.equal(first, '"')
    nested = pc.is_in(first, pa.array(["{", "["]))
    is_null = pc.equal(raw, "null")
    has_value = pc.and_(present, pc.invert(is_null))
    is_bool = pc.is_in(raw, pa.array(["true", "false"]))
    is_number = pc.and_(has_value, pc.invert(pc.or_(pc.or_(is_string, nested), is_bool)))
    inner = pc.utf8_slice_codeunits(raw, 1, -1)
    none = pa.nulls(len(values), pa.bool_()).fill_null(fill_value=False)
    text_is_number = simple_text = simple_json = none  # skip regexes a column cannot need
    if pc.any(is_string).as_py():
        text_is_number = pc.and_(is_string, pc.match_substring_regex(inner, _TEXT_NUMBER))
        if pc.any(text_is_number).as_py():
            simple = pc.match_substring_regex(inner, _SIMPLE_TEXT_NUMBER)
            simple_text = pc.and_(text_is_number, simple)
    if pc.any(is_number).as_py():
        simple_json = pc.and_(is_number, pc.match_substring_regex(raw, _SIMPLE_JSON_NUMBER))
    numeric = pc.or_(simple_json, simple_text)
    # provable: not nested, and every number is one the cast takes exactly
    fine = pc.and_(
        pc.invert(nested),
        pc.invert(pc.or_(pc.xor(is_number, simple_json), pc.xor(text_is_number, simple_text))),
    )
    if key == "" or "\x00" in key:  # bad_property_key, whatever the value (null too)
        fine = pc.and_(fine, pc.invert(present))
    text = pc.if_else(is_string, inner, pc.if_else(has_value, raw, None)).cast(TEXT_ARROW)
    number_text = pc.if_else(pc.and_(numeric, fine), text, None)
    number = number_text.cast(NUMBER_ARROW)
    key_colons = pc.add(
        pc.multiply(present.cast(pa.int64()), 1 + key.count(":")), pc.count_substring(raw, ":")
    )
    return text, number, fine, key_colons


def _timestamps(text: pa.Array, ok: pa.BooleanArray) -> pa.Array:
    """Cast ISO 8601 text to UTC instants; rows not ``ok`` (or invalid dates) are NULL."""
    masked = pc.if_else(ok, text, None)
    try:
        return masked.cast(TIMESTAMP_ARROW)
    except pa.ArrowInvalid:  # a day the month has not got (2026-02-30): row by row
        micros: list[int | None] = []
        for item in masked.to_pylist():
            try:
                one = pa.array([item], TEXT_ARROW).cast(TIMESTAMP_ARROW).cast(pa.int64())
            except pa.ArrowInvalid:
                micros.append(None)
            else:
                micros.append(one[0].as_py())
        return pa.array(micros, pa.int64()).cast(TIMESTAMP_ARROW)


def _and(mask: pa.BooleanArray, condition: pa.Array) -> pa.BooleanArray:
    """``mask AND condition``, a NULL condition counting as False."""
    return pc.and_(mask, condition.fill_null(fill_value=False))


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk read: the fast rows as a candidate table, and the records left over.

    Attributes:
        records: the chunk's non-blank records (fast and slow).
        table: the fast rows, columns as ``batches.CANDIDATE_SCHEMA`` then ``p__K``,
            ``n__K`` per key with a value; None if no row took the fast path.
        keys: the property keys with a value in ``table``.
        slow: ``(ordinal, record)`` of every other record, in order (ordinal: 1-based
            among the chunk's records, so its ``_seq`` is the records before plus it).
    """

    records: int
    table: pa.Table | None
    keys: frozenset[str]
    slow: list[tuple[int, SourceRecord]]


def read_chunk(
    data: bytes,
    *,
    first_line: int,
    seq_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
) -> Chunk:
    """Read a chunk of JSON lines: the provable records columnar, the rest as records.

    Args:
        data: whole lines (the last one may lack its newline), BOM removed.
        first_line: the file line number of the chunk's first line.
        seq_base: the ingest's records before this chunk.
        file_index: the file's index in the ingest.
        derive_id: the event id of a record without one, by its line number.
    """
    with _collector_paused():
        return _read_chunk(
            data,
            first_line=first_line,
            seq_base=seq_base,
            file_index=file_index,
            derive_id=derive_id,
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a chunk allocates millions of acyclic objects,
    and the collections they trigger cost ~25% of the chunk's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_chunk(
    data: bytes,
    *,
    first_line: int,
    seq_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
) -> Chunk:
    lines = split_lines(data)
    raw = raw_column(lines)
    candidate = lines.candidate.to_pylist() if raw is not None else [False] * len(lines)
    slow: list[tuple[int, SourceRecord]] = []
    if all(candidate):
        ordinals = range(1, len(lines) + 1)
        records = len(lines)
        indexes = list(range(len(lines)))
    else:
        ordinals_list = [0] * len(lines)
        indexes = []
        records = 0
        for index, is_candidate in enumerate(candidate):
            if is_candidate:
                records += 1
                ordinals_list[index] = records
                indexes.append(index)
                continue
            record = json_line_record(first_line + index, lines.line(index))
            if record is not None:
                records += 1
                slow.append((records, record))
        ordinals = ordinals_list
    decoded = decode(lines, indexes)
    kept = [i for i, record in zip(indexes, decoded, strict=True) if record is not None]
    if len(kept) < len(indexes):
        for index, record in zip(indexes, decoded, strict=True):
            if record is None:
                slow_record = json_line_record(first_line + index, lines.line(index))
                assert slow_record is not None  # a candidate line is not blank
                slow.append((ordinals[index], slow_record))
        decoded = [record for record in decoded if record is not None]
    table: pa.Table | None = None
    keys: frozenset[str] = frozenset()
    if kept:
        kept_lines = lines.lines if len(kept) == len(lines) else lines.lines.take(kept)
        total_colons = (
            lines.data.count(b":")
            if len(kept) == len(lines)
            else pc.sum(pc.count_substring(kept_lines, ":")).as_py()
        )
        try:
            columns: Columns | None = build_columns(decoded, kept_lines, total_colons)
        except pa.ArrowException:  # not expected; the exact path decides, as always
            columns = None
        ok = columns.ok.to_pylist() if columns is not None else [False] * len(kept)
        rows = [row for row, fine in enumerate(ok) if fine]
        for row, fine in enumerate(ok):
            if not fine:
                index = kept[row]
                slow_record = json_line_record(first_line + index, lines.line(index))
                assert slow_record is not None
                slow.append((ordinals[index], slow_record))
        if rows:
            assert raw is not None
            assert columns is not None
            table, keys = _fast_table(
                columns,
                pa.array(rows, pa.int64()),
                [kept[row] for row in rows],
                ordinals=ordinals,
                raw=raw,
                first_line=first_line,
                seq_base=seq_base,
                file_index=file_index,
                derive_id=derive_id,
            )
    slow.sort(key=lambda item: item[0])
    return Chunk(records, table, keys, slow)


def _fast_table(
    columns: Columns,
    rows: pa.Array,
    line_indexes: list[int],
    *,
    ordinals: Sequence[int],
    raw: pa.Array,
    first_line: int,
    seq_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
) -> tuple[pa.Table, frozenset[str]]:
    """The candidate table of the fast rows (``rows`` of ``columns``)."""
    count = len(line_indexes)
    record_numbers = [first_line + index for index in line_indexes]
    event_id = columns.event_id.take(rows)
    if event_id.null_count:
        ids = event_id.to_pylist()
        event_id = pa.array(
            [
                given if given is not None else derive_id(number)
                for given, number in zip(ids, record_numbers, strict=True)
            ],
            TEXT_ARROW,
        )
    table: dict[str, pa.Array] = {
        SEQ: pa.array([seq_base + ordinals[index] for index in line_indexes], pa.int64()),
        FILE: pa.array([file_index] * count, pa.int32()),
        RECORD: pa.array(record_numbers, pa.int64()),
        RAW: raw.take(pa.array(line_indexes, pa.int64())),
        EVENT_ID: event_id,
        EVENT_NAME: columns.event_name.take(rows),
        CUSTOMER_ID: columns.customer_id.take(rows),
        TIMESTAMP: columns.timestamp.take(rows),
        SOURCE: columns.source.take(rows),
    }
    keys = []
    for key, (text, number) in columns.properties.items():
        text = text.take(rows)
        if text.null_count == count:
            continue
        text_name, number_name = property_columns(key)
        table[text_name] = text
        table[number_name] = number.take(rows)
        keys.append(key)
    return pa.table(table), frozenset(keys)
