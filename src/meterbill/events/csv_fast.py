"""The columnar fast path for CSV files of the native (and Flexprice) shape, in Arrow.

The exact path reads a CSV file with Python's ``csv`` module, one row at a time
(``readers.CsvSource.records``). A file whose header this module reads (``fast_layout``:
the native columns and ``properties.<key>`` columns, no JSON ``properties`` column and
no column of another shape) is read in chunks of whole lines instead. In a chunk with
no quote character, no NUL and no CR but those of CRLF line ends, every line is a row
and every comma separates two cells, exactly as ``csv`` reads it; a chunk with any of
those (or not UTF-8) hands the rest of the file to the exact reader, which picks up at
that chunk's first line (``CsvSource.read_exactly_from``).

In a chunk it reads, a row is proved when it has the header's number of cells, its
``event_name`` and ``customer_id`` hold a character ``str.strip`` keeps (a given
``event_id`` too; an empty one is absent, as an empty ``source`` is), its timestamp is
``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)`` or epoch digits (at most 15) and an instant in
years 1-9999, and every property cell converts as ``schema.property_value`` converts a
string (``fastpath.text_numbers``); an empty property cell is absent. Every other
non-blank line goes through the exact path (``CsvSource.line_record``), which gives it
its value or reject reason as always. A row's raw text is its line.

``tests/events/test_csv_fast.py`` checks that both paths give identical lake rows,
rejects and duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from meterbill.events.batches import FILE, RAW, RECORD, SEQ
from meterbill.events.fastpath import (
    ISO_TIMESTAMP,
    customer_field,
    not_blank,
    split_lines,
    text_numbers,
)
from meterbill.events.readers import CsvLayout
from meterbill.events.schema import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_NAME,
    MAX_MICROS,
    MIN_MICROS,
    SOURCE,
    TEXT_ARROW,
    TIMESTAMP,
    TIMESTAMP_ARROW,
    property_columns,
)
from meterbill.events.shapes import Shape

#: Bytes read per chunk (cut after its last newline).
CHUNK_BYTES: Final = 16 << 20

_FIELDS: Final = frozenset({EVENT_ID, EVENT_NAME, CUSTOMER_ID, TIMESTAMP, SOURCE})
#: The ISO 8601 timestamps ``datetime.fromisoformat`` and Arrow's cast read alike.
_ISO_TIMESTAMP: Final = f"^{ISO_TIMESTAMP}$"
#: Epoch digits (``schema.epoch_micros``: from 1e11 on milliseconds, else seconds).
_EPOCH_DIGITS: Final = r"^[0-9]{1,15}$"
_MILLISECONDS_FROM: Final = 10**11


@dataclass(frozen=True, slots=True)
class CsvFastLayout:
    """Where the fast path finds each native field and property in a row's cells."""

    width: int
    fields: dict[str, int]
    properties: tuple[tuple[int, str], ...]


def fast_layout(layout: CsvLayout | None, shape: Shape = "auto") -> CsvFastLayout | None:
    """The fast path's reading of a header, or None when the file takes the exact path
    (the customer's cell as ``fastpath.customer_field`` chooses it)."""
    if layout is None or layout.problem is not None:
        return None
    fields = {name: index for index, name in layout.fields}
    customer = customer_field(fields, shape)
    if customer is None or customer not in fields:
        return None
    fields[CUSTOMER_ID] = fields.pop(customer)
    if not set(fields) <= _FIELDS or not {EVENT_NAME, CUSTOMER_ID, TIMESTAMP} <= set(fields):
        return None
    if any(not key or "\x00" in key for _, key in layout.property_cells):
        return None
    return CsvFastLayout(layout.width, fields, layout.property_cells)


@dataclass(frozen=True, slots=True)
class CsvChunk:
    """One chunk read: the proved rows as a candidate table, and the lines left over.

    Attributes:
        records: the chunk's non-blank lines (data rows).
        table: the proved rows (``batches.CANDIDATE_SCHEMA`` then ``p__K``/``n__K`` per
            key with a value), or None.
        keys: the property keys with a value in ``table``.
        slow: ``(ordinal, line)`` of every other data row, in order (ordinal: 1-based
            among the chunk's data rows).
    """

    records: int
    table: pa.Table | None
    keys: frozenset[str]
    slow: list[tuple[int, str]]


def read_chunk(
    data: bytes,
    layout: CsvFastLayout,
    *,
    seq_base: int,
    number_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
) -> CsvChunk | None:
    """Prove and convert one chunk of whole lines; None if the chunk is not one the
    fast path reads (see the module docstring).

    Args:
        seq_base: the ingest's records before this chunk.
        number_base: the file's data rows before this chunk.
        derive_id: the event id of a record without one, by its record number.
    """
    if b'"' in data or b"\x00" in data:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    lines = split_lines(data)
    text = lines.text
    if text is None:
        return None
    data_row = not_blank(text)
    ordinals = pc.cumulative_sum(data_row.cast(pa.int64()))
    records = ordinals[-1].as_py() if len(ordinals) else 0
    cells = pc.split_pattern(text, ",")
    ok = pc.and_(data_row, pc.equal(pc.list_value_length(cells), layout.width))
    rows = pc.indices_nonzero(ok)
    if len(rows) < len(cells):  # most chunks have every line a row of the header's width
        cells = cells.take(rows)
    fields = {name: pc.list_element(cells, index) for name, index in layout.fields.items()}
    proved = pc.and_(not_blank(fields[EVENT_NAME]), not_blank(fields[CUSTOMER_ID]))
    event_id = fields.get(EVENT_ID)
    if event_id is not None:
        proved = pc.and_(proved, pc.or_(pc.equal(event_id, ""), not_blank(event_id)))
    micros = _micros(fields[TIMESTAMP])
    in_range = pc.and_(pc.greater_equal(micros, MIN_MICROS), pc.less_equal(micros, MAX_MICROS))
    proved = pc.and_(proved, in_range.fill_null(fill_value=False))
    properties: dict[str, tuple[pa.Array, pa.Array]] = {}
    for index, key in layout.properties:
        values = pc.list_element(cells, index)
        values = pc.if_else(pc.equal(values, ""), None, values)  # an empty cell is absent
        number, fine = text_numbers(values)
        proved = pc.and_(proved, fine)
        properties[key] = (values.cast(TEXT_ARROW), number)
    taken = pc.indices_nonzero(proved)
    everything = len(taken) == len(text)

    def take(values: pa.Array) -> pa.Array:
        """The proved rows' values (``values`` is per row of ``ok``)."""
        return values if everything else values.take(taken)

    fast_lines = rows.take(taken)
    nothing = pa.nulls(len(text), pa.bool_()).fill_null(fill_value=False)
    is_fast = pc.replace_with_mask(nothing, ok, proved)  # ``proved`` is per row of ``ok``
    slow_lines = pc.indices_nonzero(pc.and_(data_row, pc.invert(is_fast))).to_pylist()
    slow = [(ordinals[i].as_py(), text[i].as_py()) for i in slow_lines]
    if not len(taken):
        return CsvChunk(records, None, frozenset(), slow)
    numbers = pc.add(ordinals.take(fast_lines), number_base)
    ids = _ids(take(event_id) if event_id is not None else None, numbers, derive_id)
    source = fields.get(SOURCE)
    columns: dict[str, pa.Array] = {
        SEQ: pc.add(ordinals.take(fast_lines), seq_base),
        FILE: pa.nulls(len(taken), pa.int32()).fill_null(file_index),
        RECORD: numbers,
        RAW: text if everything else text.take(fast_lines),
        EVENT_ID: ids,
        EVENT_NAME: take(fields[EVENT_NAME]).cast(TEXT_ARROW),
        CUSTOMER_ID: take(fields[CUSTOMER_ID]).cast(TEXT_ARROW),
        TIMESTAMP: take(micros).cast(pa.timestamp("us")).cast(TIMESTAMP_ARROW),
        SOURCE: (
            take(pc.if_else(pc.equal(source, ""), None, source)).cast(TEXT_ARROW)
            if source is not None
            else pa.nulls(len(taken), TEXT_ARROW)
        ),
    }
    keys = []
    for key, (values, number) in properties.items():
        values = take(values)
        if values.null_count == len(taken):
            continue
        keys.append(key)
        text_name, number_name = property_columns(key)
        columns[text_name] = values
        columns[number_name] = take(number)
    return CsvChunk(records, pa.table(columns), frozenset(keys), slow)


def _micros(stamps: pa.Array) -> pa.Array:
    """Epoch microseconds of the timestamps the fast path reads (else null)."""
    iso = pc.match_substring_regex(stamps, _ISO_TIMESTAMP)
    epoch = pc.match_substring_regex(stamps, _EPOCH_DIGITS)
    try:
        instants = pc.if_else(iso, stamps, None).cast(pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:  # a day the calendar has not (02-30): the exact path says so
        instants = pa.nulls(len(stamps), pa.timestamp("us", tz="UTC"))
    digits = pc.if_else(epoch, stamps, None).cast(pa.int64())
    scale = pc.if_else(pc.greater_equal(digits, _MILLISECONDS_FROM), 1_000, 1_000_000)
    return pc.if_else(iso, instants.cast(pa.int64()), pc.multiply(digits, scale))


def _ids(event_id: pa.Array | None, numbers: pa.Array, derive_id: Callable[[int], str]) -> pa.Array:
    """The proved rows' event ids: given, or (empty) derived from the record number."""
    given = (
        pc.if_else(pc.equal(event_id, ""), None, event_id).cast(TEXT_ARROW)
        if event_id is not None
        else pa.nulls(len(numbers), TEXT_ARROW)
    )
    if not given.null_count:
        return given
    return pa.array(
        [
            value if value is not None else derive_id(number)
            for value, number in zip(given.to_pylist(), numbers.to_pylist(), strict=True)
        ],
        TEXT_ARROW,
    )
