"""The columnar fast path for CSV files of every event shape, in Arrow.

The exact path reads a CSV file with Python's ``csv`` module, one row at a time
(``readers.CsvSource.records``). A file whose header this module reads (``fast_layout``:
the columns of one shape's fields, ``fastpath.file_layout``, as for Parquet, with
``properties.<key>`` columns and a JSON properties column, a CloudEvent's ``data``; no
column of another shape, and no ``properties.<key>`` column in a CloudEvent, whose
exact path merges them with ``data``) is read in chunks of whole lines instead. In a chunk with no
NUL and no CR but those of CRLF line ends, a line without a quote character is a row
whose every comma separates two cells, exactly as ``csv`` reads it. A line with one is
a whole row only if it is one of ``_ROW`` (cells separated by commas, each either
quoted, ``"..."`` with ``""`` for a quote and no line end inside, or not starting with
a quote and holding no comma), a grammar that parses a line one way only; Arrow's CSV
reader (``_quoted_cells``) then reads its cells as ``csv`` does (a quote inside an
unquoted cell is text to both; a line starting with a BOM, which Arrow would drop, goes
exact). A chunk with a line of neither kind (a quoted cell
across lines, ``"a"b``), a NUL, a lone CR or bytes that are not UTF-8 hands the rest of
the file to the exact reader, which picks up at that chunk's first line
(``CsvSource.read_exactly_from``).

In a chunk it reads, a row is proved when it has the header's number of cells, its
event name and customer hold a character ``str.strip`` keeps (a given id too; an
empty native one is absent, as an empty ``source`` is; a CloudEvent's or Lago event's
is required; a Lago subscription's customer is looked up), its timestamp is
``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)`` or an epoch number (digits, at most 15, or
``fastpath.EPOCH_NUMBER``: 6 places at most, so whole microseconds) and an instant in
years 1-9999, and every property cell converts as ``schema.property_value`` converts a
string (``fastpath.text_numbers``); an empty property cell is absent. A JSON
``properties`` cell is proved as Parquet's JSON text is (``fastpath.json_properties``,
empty: absent), and must not name (even as null) a key a ``properties.<key>`` cell of
its row gives.
Every other non-blank line goes through the exact path (``CsvSource.line_record``),
which gives it its value or reject reason as always. A row's raw text is its line.

``tests/events/test_csv_fast.py`` checks that both paths give identical lake rows,
rejects and duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from meterbill.events.batches import FILE, RAW, RECORD, SEQ
from meterbill.events.fastpath import (
    EPOCH_NUMBER,
    ISO_TIMESTAMP,
    NATIVE,
    Layout,
    absent_if_empty,
    file_layout,
    json_properties,
    json_property_column,
    not_blank,
    split_lines,
    subscription_customers,
    text_numbers,
)
from meterbill.events.readers import CsvLayout
from meterbill.events.schema import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_NAME,
    MAX_MICROS,
    MIN_MICROS,
    PROPERTIES,
    SOURCE,
    TEXT_ARROW,
    TIMESTAMP,
    TIMESTAMP_ARROW,
    property_columns,
)
from meterbill.events.shapes import Shape, Subscriptions

#: Bytes read per chunk (cut after its last newline).
CHUNK_BYTES: Final = 16 << 20

#: One cell as ``csv`` reads it without looking at the next line: quoted, or not
#: starting with a quote (a quote later in it is text).
_CELL: Final = r'(?:"(?:[^"\r\n]|"")*"|(?:[^",\r\n][^,\r\n]*)?)'
#: A line that is a whole row (of any width).
_ROW: Final = f"^{_CELL}(?:,{_CELL})*$"
#: A byte order mark, which Arrow's CSV reader drops where its data starts.
_BOM: Final = "\ufeff"
#: Arrow's CSV reader's block (its unit of parallel work) for quoted lines.
_BLOCK_BYTES: Final = 4 << 20
#: Widths the per-width grammar spells out (RE2 repeats a group at most 1000 times).
_MAX_WIDTH: Final = 1000
#: The ISO 8601 timestamps ``datetime.fromisoformat`` and Arrow's cast read alike.
_ISO_TIMESTAMP: Final = f"^{ISO_TIMESTAMP}$"
#: Epoch digits, or a number of the JSON lines grammar (at most 15 digits and 6 places:
#: whole microseconds; ``schema.epoch_micros``: from 1e11 on milliseconds, else seconds).
_EPOCH: Final = f"^(?:[0-9]{{1,15}}|{EPOCH_NUMBER})$"
_EPOCH_ARROW: Final = pa.decimal128(21, 6)
_MILLISECONDS_FROM: Final = pa.scalar(Decimal(10**11), _EPOCH_ARROW)
#: Microseconds in a millisecond, in a second.
_SCALES: Final = tuple(pa.scalar(Decimal(n), pa.decimal128(7, 0)) for n in (1_000, 1_000_000))
#: Days of each month in a common year (index 0: no month).
_MONTH_DAYS: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class CsvFastLayout:
    """Where the fast path finds each native field and property in a row's cells.

    Attributes:
        width: the header's cells.
        fields: the native name of each field the shape reads -> its cell's index.
        properties: ``(index, key)`` of each ``properties.<key>`` cell.
        shape: the shape's field names (``fastpath.file_layout``).
    """

    width: int
    fields: dict[str, int]
    properties: tuple[tuple[int, str], ...]
    shape: Layout = NATIVE


def fast_layout(layout: CsvLayout | None, shape: Shape = "auto") -> CsvFastLayout | None:
    """The fast path's reading of a header, or None when the file takes the exact path."""
    if layout is None or layout.problem is not None:
        return None
    cells = {name: index for index, name in layout.fields}
    shaped = file_layout(cells, shape)
    if shaped is None:
        return None
    if layout.property_cells and shaped.properties != PROPERTIES:
        return None  # a CloudEvent's exact path merges them with ``data``
    if any(not key or "\x00" in key for _, key in layout.property_cells):
        return None
    native = {shaped.event_id: EVENT_ID, shaped.event_name: EVENT_NAME,
              shaped.customer_id: CUSTOMER_ID, shaped.timestamp: TIMESTAMP,
              shaped.properties: PROPERTIES}  # fmt: skip
    if shaped.source is not None:
        native[shaped.source] = SOURCE
    fields = {native[name]: index for name, index in cells.items() if name in native}
    return CsvFastLayout(layout.width, fields, layout.property_cells, shaped)


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
    subscriptions: Subscriptions,
) -> CsvChunk | None:
    """Prove and convert one chunk of whole lines; None if the chunk is not one the
    fast path reads (see the module docstring).

    Args:
        seq_base: the ingest's records before this chunk.
        number_base: the file's data rows before this chunk.
        derive_id: the event id of a record without one, by its record number.
        subscriptions: the workspace's subscriptions (``layout.shape.by_subscription``).
    """
    if b"\x00" in data:
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
    read = _rows(text, data_row, layout.width)
    if read is None:
        return None
    rows, cell = read
    fields = {name: cell(index) for name, index in layout.fields.items()}
    proved = pc.and_(not_blank(fields[EVENT_NAME]), not_blank(fields[CUSTOMER_ID]))
    if layout.shape.by_subscription:  # the subscription's customer; an unknown one: exact
        fields[CUSTOMER_ID] = subscription_customers(fields[CUSTOMER_ID], subscriptions)
        proved = pc.and_(proved, pc.is_valid(fields[CUSTOMER_ID]))
    event_id = fields.get(EVENT_ID)
    if layout.shape.id_required:  # given, and not empty (a required field's "" is given)
        proved = pc.and_(proved, not_blank(event_id))
    elif event_id is not None:
        proved = pc.and_(proved, pc.or_(pc.equal(event_id, ""), not_blank(event_id)))
    micros = _micros(fields[TIMESTAMP])
    in_range = pc.and_(pc.greater_equal(micros, MIN_MICROS), pc.less_equal(micros, MAX_MICROS))
    proved = pc.and_(proved, in_range.fill_null(fill_value=False))
    properties: dict[str, tuple[pa.Array, pa.Array]] = {}
    for index, key in layout.properties:
        values = absent_if_empty(cell(index))
        number, fine = text_numbers(values)
        proved = pc.and_(proved, fine)
        properties[key] = (values.cast(TEXT_ARROW), number)
    if PROPERTIES in fields:
        proved = _json_cells(fields[PROPERTIES], properties, proved)
    taken = pc.indices_nonzero(proved)
    everything = len(taken) == len(text)

    def take(values: pa.Array) -> pa.Array:
        """The proved rows' values (``values`` is per row of ``ok``)."""
        return values if everything else values.take(taken)

    fast_lines = rows.take(taken)
    is_fast = pc.is_in(pc.indices_nonzero(data_row), fast_lines)
    slow_lines = pc.indices_nonzero(data_row).filter(pc.invert(is_fast)).to_pylist()
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
            take(absent_if_empty(source)).cast(TEXT_ARROW)
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


def _rows(
    text: pa.Array, data_row: pa.BooleanArray, width: int
) -> tuple[pa.Array, Callable[[int], pa.Array]] | None:
    """The lines that are rows of the header's width (their indexes, ascending) and a
    column's cells of those rows by the column's index; None if a line with a quote
    may not be a whole row (see the module docstring)."""
    quoted = pc.match_substring(text, '"')
    any_quoted = pc.any(quoted).as_py() is True
    if any_quoted:
        whole = pc.match_substring_regex(text.filter(quoted), _ROW)
        if width > _MAX_WIDTH or not pc.all(whole).as_py():
            return None
    plain = pc.and_(data_row, pc.invert(quoted)) if any_quoted else data_row
    cells = pc.split_pattern(pc.if_else(plain, text, "") if any_quoted else text, ",")
    rows = pc.indices_nonzero(pc.and_(plain, pc.equal(pc.list_value_length(cells), width)))
    if len(rows) < len(cells):  # most chunks have every line a row of the header's width
        cells = cells.take(rows)
    more = None
    if any_quoted:
        of_width = f"^{_CELL}(?:,{_CELL}){{{width - 1}}}$"
        # Arrow drops a BOM that starts its data (the first line's own, which csv keeps)
        readable = pc.and_(quoted, pc.invert(pc.starts_with(text, _BOM)))
        more = pc.indices_nonzero(pc.and_(readable, pc.match_substring_regex(text, of_width)))
    if more is None or not len(more):  # Arrow refuses to read no line
        return rows, lambda index: pc.list_element(cells, index)
    table = _quoted_cells(text.take(more), width)
    both = pa.concat_arrays([rows, more])
    order = pc.sort_indices(both)

    def cell(index: int) -> pa.Array:
        parts = [pc.list_element(cells, index), table.column(index).combine_chunks()]
        return pa.concat_arrays([part.cast(pa.large_string()) for part in parts]).take(order)

    return both.take(order), cell


def _quoted_cells(lines: pa.Array, width: int) -> pa.Table:
    """The cells of lines of ``_ROW`` with ``width`` cells, as ``csv`` reads them: a
    column per cell, a row per line (Arrow's CSV reader, which reads such a line as
    ``csv`` does: ``tests/events/test_csv_fast.py``)."""
    names = [f"c{index}" for index in range(width)]
    one = pa.ListArray.from_arrays([0, len(lines)], lines)
    joined = pc.binary_join(one, pa.scalar("\n", lines.type))[0]
    longest = pc.max(pc.binary_length(lines)).as_py() or 0
    block = max(_BLOCK_BYTES, longest + 1)  # Arrow refuses a line longer than a block
    return pa_csv.read_csv(
        pa.BufferReader(joined.as_buffer()),
        read_options=pa_csv.ReadOptions(column_names=names, block_size=block),
        parse_options=pa_csv.ParseOptions(
            quote_char='"', double_quote=True, escape_char=False, ignore_empty_lines=False
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.large_string()), strings_can_be_null=False
        ),
    )


def _json_cells(
    cells: pa.Array, properties: dict[str, tuple[pa.Array, pa.Array]], proved: pa.BooleanArray
) -> pa.BooleanArray:
    """Add the keys of JSON ``properties`` cells to ``properties`` (the ``(p__K, n__K)``
    of the ``properties.<key>`` cells, per key), returning which rows stay proved: a
    cell ``json_properties`` proves, giving no key its row's own cell gives."""
    read = json_properties(absent_if_empty(cells))
    if read is None:  # too many keys, or keys DuckDB cannot tell apart: every row exact
        return pa.repeat(pa.scalar(value=False), len(cells))
    fine, by_key = read
    proved = pc.and_(proved, fine)
    for key, raw in by_key:
        text, number, value_fine = json_property_column(raw)
        proved = pc.and_(proved, value_fine)
        if key in properties:  # both give it: only a row where one of them does is proved
            cell_text, cell_number = properties[key]
            # a key the object holds, even as null, is one csv's record has twice; a
            # proved object's strings hold no quote, so its key shows as "key" (a value
            # "key" sends its row exact too)
            named = pc.match_substring(cells, f'"{key}"').fill_null(fill_value=False)
            proved = pc.and_(proved, pc.invert(pc.and_(named, pc.is_valid(cell_text))))
            given = pc.is_valid(text)
            text = pc.if_else(given, text, cell_text)
            number = pc.if_else(given, number, cell_number)
        properties[key] = (text, number)
    return proved


def _micros(stamps: pa.Array) -> pa.Array:
    """Epoch microseconds of the timestamps the fast path reads (else null)."""
    iso = pc.match_substring_regex(stamps, _ISO_TIMESTAMP)
    epoch = pc.match_substring_regex(stamps, _EPOCH)
    try:
        instants = pc.if_else(iso, stamps, None).cast(pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:  # a day the calendar has not (02-30): its row goes exact
        iso = pc.and_(
            iso, _calendar_days(pc.if_else(iso, stamps, None)).fill_null(fill_value=False)
        )
        instants = pc.if_else(iso, stamps, None).cast(pa.timestamp("us", tz="UTC"))
    numbers = pc.if_else(epoch, stamps, None).cast(_EPOCH_ARROW)
    milliseconds = pc.greater_equal(pc.abs(numbers), _MILLISECONDS_FROM)
    scale = pc.if_else(milliseconds, _SCALES[0], _SCALES[1])
    epoch_micros = pc.multiply(numbers, scale).cast(pa.int64())  # whole: at most 6 places
    return pc.if_else(iso, instants.cast(pa.int64()), epoch_micros)


def _calendar_days(stamps: pa.Array) -> pa.BooleanArray:
    """Whether each ``YYYY-MM-DD...`` (or null) names a day of the calendar (year 1 on)."""
    year, month, day = (
        pc.utf8_slice_codeunits(stamps, start, stop).cast(pa.int32())
        for start, stop in ((0, 4), (5, 7), (8, 10))
    )
    leap = pc.and_(
        pc.equal(pc.bit_wise_and(year, 3), 0),
        pc.or_(pc.not_equal(pc.remainder(year, 100), 0), pc.equal(pc.remainder(year, 400), 0)),
    )
    months = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
    days = pc.take(pa.array(_MONTH_DAYS, pa.int32()), pc.if_else(months, month, 0))
    days = pc.add(days, pc.and_(leap, pc.equal(month, 2)).cast(pa.int32()))
    real = pc.and_(pc.greater_equal(year, 1), months)
    return pc.and_(real, pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, days)))


def _ids(event_id: pa.Array | None, numbers: pa.Array, derive_id: Callable[[int], str]) -> pa.Array:
    """The proved rows' event ids: given, or (empty) derived from the record number."""
    given = (
        absent_if_empty(event_id).cast(TEXT_ARROW)
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
