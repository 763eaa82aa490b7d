"""The columnar fast path for Parquet files of every event shape, in Arrow.

The exact path turns every Parquet row into Python objects (``readers.read_parquet``,
then ``shapes.native_event``): ~30 us a row. A file whose columns all have a form this
module reads (``fast_layout``) is read a batch at a time with no Python per row; a row
it cannot prove identical to the exact path's result goes through the exact path,
which gives it its reject reason or its exact value as always. Readable forms:

* the columns of one shape's fields as a JSON line names them (``fastpath.LAYOUTS``
  under the ingest's ``--shape``: ``fastpath.file_layout``), and no column another shape
  reads, which auto-detection would read: native (``event_name``, ``customer_id``,
  ``timestamp``, ``event_id``, ``source``, ``properties``), Flexprice's
  (``external_customer_id`` for ``customer_id``, which the native shape reads as its
  alias), CloudEvents (``id``, ``type``, ``subject``, ``time``, ``source``, ``data``,
  ``specversion``) or Lago's (``transaction_id``, ``code``, ``external_customer_id``
  or ``external_subscription_id``, whose subscription's customer is looked up as for
  JSON lines, ``timestamp``, ``properties``); a proved CloudEvent has ``type`` and
  ``subject``, and a proved Lago event ``code``, so auto-detection reads each row as
  that shape;
* the event name, customer and id (required for CloudEvents and Lago) and the
  source: string columns (an optional one may be of type null, the same as none);
  the timestamp: a timestamp column (naive means UTC, nanoseconds are truncated as the
  exact path truncates them) in a time zone Python knows (the exact path rejects every
  row of another), or an integer column of epoch seconds (below 1e11, else
  milliseconds, as ``schema.epoch_micros`` reads them);
* properties (a CloudEvent's ``data``) as a STRUCT column, a MAP of string keys, or
  ``properties.<key>`` columns (not both; not in a CloudEvent, whose exact path merges
  them with ``data``), each value a string, boolean, integer, float64 or decimal (at most 12
  places and 26 integer digits); not float32, date or binary (those files take the
  exact path); or as JSON text, each row's object proved as a JSON line's properties
  are (``fastpath.json_properties``: a flat object of the strict grammar, no key twice;
  any other text leaves its row to the exact path). A MAP's or JSON text's keys are
  learned per batch (at most ``MAX_KEYS``, else the batch is read exactly); a row whose
  map holds a key twice, or an empty key or one with NUL, goes exact (``duplicate_key``,
  ``bad_property_key``).

A row is proved when its required strings hold a character ``str.strip`` keeps, a given
``event_id`` too, its timestamp is within years 1-9999 (a day less at each end in a
zone other than UTC, whose local time may leave them), and every property value
converts as ``schema.property_value`` converts it: a float64 only when Arrow prints it
without an exponent and with magnitude at least 1e-4 (then Python's ``repr`` is that
text, with ``.0`` added to an integral one), a decimal as ``format(value, "f")``
(``_decimal_text``), strings that read as
numbers only when the ``DECIMAL(38,12)`` cast takes them exactly
(``fastpath.text_numbers``).

A row's raw text (kept for the duplicates store) is not computed here: it costs more
than reading the row, and only duplicates need it. The rows are staged with ``_raw``
NULL, and ``lake.stage_duplicates`` gets the text of those that turned out to be
duplicates from the file (``readers.ParquetSource.raw_texts``, through the ingest,
which first checks that the file has not changed).

``tests/events/test_parquet_fast.py`` checks that both paths give identical lake rows,
rejects and duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from meterbill.events.batches import CANDIDATE_SCHEMA, FILE, RAW, RECORD, SEQ
from meterbill.events.fastpath import (
    MAX_KEYS,
    NATIVE,
    Layout,
    absent_if_empty,
    file_layout,
    json_properties,
    json_property_column,
    not_blank,
    subscription_customers,
    text_numbers,
)
from meterbill.events.schema import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_NAME,
    MAX_MICROS,
    MIN_MICROS,
    NUMBER_ARROW,
    PROPERTIES,
    SOURCE,
    TEXT_ARROW,
    TIMESTAMP,
    TIMESTAMP_ARROW,
    property_columns,
)
from meterbill.events.shapes import Shape, Subscriptions

#: Rows per batch (DuckDB writes row groups of 122,880 rows).
BATCH_ROWS: Final = 131_072

_PROPERTY_PREFIX: Final = PROPERTIES + "."
#: Python prints a float without an exponent from 1e-4 up (to 1e16: Arrow switches first).
_PLAIN_FLOAT_FROM: Final = 1e-4
#: Integer epoch timestamps: milliseconds from 1e11 on (``schema.epoch_micros``), and
#: beyond 1e15 (milliseconds) far out of years 1-9999, whose rows go exact.
_MILLISECONDS_FROM: Final = 10**11
_EPOCH_LIMIT: Final = 10**15
#: A day in microseconds (a time zone's offset from UTC is less).
_DAY_MICROS: Final = 86_400_000_000
#: A float's exact decimal: up to 17 digits, 4 zeros after the point before them.
_FLOAT_DECIMAL: Final = pa.decimal128(38, 22)


@dataclass(frozen=True, slots=True)
class FastLayout:
    """Which columns of a Parquet file the fast path reads, and as what.

    Attributes:
        columns: the batch's columns it reads, in file order (an ``event_id`` or
            ``source`` column of type null is the same as none, and left out).
        properties: ``(column, key)`` per property: the STRUCT's fields (column
            ``shape.properties``) or the ``properties.<key>`` columns.
        struct: whether the properties are one STRUCT column.
        shape: the shape's field names (``fastpath.file_layout``).
        map: whether the properties are one MAP column (keys learned per batch:
            ``_map_values``).
        json: whether the properties are one column of JSON text (keys learned per
            batch: ``fastpath.json_properties``).
    """

    columns: list[str]
    properties: tuple[tuple[str, str], ...]
    struct: bool
    shape: Layout = NATIVE
    map: bool = False
    json: bool = False


def fast_layout(schema: pa.Schema, shape: Shape = "auto") -> FastLayout | None:
    """The fast path's reading of a file, or None when the file takes the exact path."""
    names = schema.names
    if len(set(names)) < len(names):
        return None  # the exact path rejects every row
    shaped = file_layout(names, shape)
    if shaped is None:
        return None
    columns = [name for name in names if name in shaped.fields]
    required = [shaped.event_name, shaped.customer_id]
    optional = [*shaped.others, *(() if shaped.source is None else (shaped.source,))]
    (required if shaped.id_required else optional).append(shaped.event_id)
    if not all(_is_text(schema.field(name).type) for name in required):
        return None
    for name in optional:  # a column of nulls is the same as none
        if name in columns and not _is_text(schema.field(name).type):
            if not pa.types.is_null(schema.field(name).type):
                return None
            columns.remove(name)
    if not _readable_timestamp(schema.field(shaped.timestamp).type):
        return None
    prefixed = [name for name in names if name.startswith(_PROPERTY_PREFIX)]
    if prefixed and shaped.properties != PROPERTIES:
        return None  # a CloudEvent's exact path merges them with ``data``
    properties = shaped.properties
    if properties in columns and pa.types.is_map(schema.field(properties).type):
        mapped = schema.field(properties).type
        if prefixed or not _is_text(mapped.key_type):
            return None
        if not _readable_value_type(mapped.item_type):
            return None
        return FastLayout(columns, (), struct=False, shape=shaped, map=True)
    if properties in columns and _is_text(schema.field(properties).type):
        if prefixed:
            return None
        return FastLayout(columns, (), struct=False, shape=shaped, json=True)
    if properties in columns:
        struct = schema.field(properties).type
        if prefixed or not pa.types.is_struct(struct):
            return None
        fields = [struct.field(i) for i in range(struct.num_fields)]
        pairs = tuple((properties, field.name) for field in fields)
        types = [field.type for field in fields]
    else:
        pairs = tuple((name, name[len(_PROPERTY_PREFIX) :]) for name in prefixed)
        types = [schema.field(name).type for name in prefixed]
        columns = [name for name in names if name in columns or name in prefixed]
    keys = [key for _, key in pairs]
    if len(set(keys)) < len(keys) or any(not key or "\x00" in key for key in keys):
        return None
    if not all(map(_readable_value_type, types)):
        return None
    return FastLayout(columns, pairs, properties in columns, shaped)


def _epoch_micros(stamps: pa.Array) -> pa.Array:
    """Epoch microseconds of integer epoch seconds (below 1e11, else milliseconds);
    null for a value far beyond years 1-9999 (whose microseconds int64 cannot hold)."""
    if stamps.type.bit_width == 64:  # narrower values all fit
        inside = pc.less(stamps, pa.scalar(_EPOCH_LIMIT, stamps.type))
        if pa.types.is_signed_integer(stamps.type):
            inside = pc.and_(inside, pc.greater(stamps, pa.scalar(-_EPOCH_LIMIT, stamps.type)))
        stamps = pc.if_else(inside, stamps, None)
    values = stamps.cast(pa.int64())
    seconds = pc.and_(pc.greater(values, -_MILLISECONDS_FROM), pc.less(values, _MILLISECONDS_FROM))
    return pc.multiply(values, pc.if_else(seconds, 1_000_000, 1_000))


def _readable_timestamp(dtype: pa.DataType) -> bool:
    """An integer type (epoch seconds or milliseconds), or a timestamp type whose time
    zone Python knows: the exact path rejects every row of a zone it does not
    (``datetime`` cannot hold its values)."""
    if pa.types.is_integer(dtype):
        return True
    if not pa.types.is_timestamp(dtype):
        return False
    try:
        pa.array([0], pa.int64()).cast(dtype).to_pylist()
    except (pa.ArrowException, ValueError):
        return False
    return True


def _is_text(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _readable_value_type(dtype: pa.DataType) -> bool:
    """Whether a property column of this type converts here as ``property_value`` does."""
    if pa.types.is_decimal128(dtype):
        return 0 <= dtype.scale <= 12 and dtype.precision - dtype.scale <= 26
    return (
        _is_text(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_integer(dtype)
        or pa.types.is_float64(dtype)
        or pa.types.is_null(dtype)
    )


def _map_values(
    column: pa.MapArray, ok: pa.BooleanArray
) -> tuple[pa.BooleanArray, list[tuple[str, pa.Array]]] | None:
    """A MAP column as ``(key, values per row)`` pairs (keys in order of first
    appearance among the rows kept), and ``ok`` without the rows whose map holds a key
    twice, an empty key or one with NUL; None if the kept rows have more than
    ``MAX_KEYS`` keys."""
    count = len(column)
    # a batch's column may be a slice, and ``keys``/``items`` are the whole children
    offsets = column.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    keys, items = column.keys.slice(start, end - start), column.items.slice(start, end - start)
    entries = pa.nulls(end - start, pa.int8())
    rows = pc.list_parent_indices(pa.ListArray.from_arrays(pc.subtract(offsets, start), entries))
    pairs = pa.table({"row": rows, "key": keys})
    counted = pairs.group_by(["row", "key"]).aggregate([([], "count_all")])
    bad = counted.filter(pc.greater(counted.column("count_all"), 1)).column("row")
    bad_keys = pc.or_(pc.equal(keys, ""), pc.match_substring(keys, "\x00"))
    bad = pa.concat_arrays([bad.combine_chunks(), rows.filter(bad_keys)])
    every_row = pa.array(range(count), pa.int64())
    ok = pc.and_(ok, pc.invert(pc.is_in(every_row, value_set=bad)))
    kept = pc.is_in(rows, value_set=pc.indices_nonzero(pc.and_(ok, pc.is_valid(column))))
    rows, keys, items = rows.filter(kept), keys.filter(kept), items.filter(kept)
    distinct = pc.unique(keys).to_pylist()
    if len(distinct) > MAX_KEYS:
        return None
    nothing = pa.nulls(count, items.type)
    by_key = []
    for key in distinct:
        chosen = pc.equal(keys, key)
        at = pc.is_in(every_row, value_set=rows.filter(chosen))
        by_key.append((key, pc.replace_with_mask(nothing, at, items.filter(chosen))))
    return ok, by_key


@dataclass(frozen=True, slots=True)
class FastBatch:
    """One batch read: the proved rows as a candidate table, and the others' indexes.

    Attributes:
        table: the proved rows (``batches.CANDIDATE_SCHEMA`` then ``p__K``/``n__K`` per
            key with a value; ``_raw`` NULL, see the module docstring), or None.
        keys: the property keys with a value in ``table``.
        slow: the indexes (in the batch) of the rows left to the exact path, in order.
    """

    table: pa.Table | None
    keys: frozenset[str]
    slow: list[int]


def read_batch(
    batch: pa.RecordBatch,
    layout: FastLayout,
    *,
    first_record: int,
    seq_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
    subscriptions: Subscriptions,
) -> FastBatch:
    """Prove and convert one batch (nanoseconds already truncated, as the exact path
    truncates them: ``parquet_values.python_batch``).

    Args:
        batch: the file's ``layout.columns``.
        first_record: the record number (file row, 1-based) of the batch's first row.
        seq_base: the ingest's records before this batch.
        file_index: the file's index in the ingest.
        derive_id: the event id of a record without one, by its record number.
        subscriptions: the workspace's subscriptions (``layout.shape.by_subscription``).
    """
    count = batch.num_rows
    try:
        batch.validate(full=True)  # UTF-8 of every string: the exact path rejects others
    except pa.ArrowInvalid:
        return FastBatch(None, frozenset(), list(range(count)))
    shaped, names = layout.shape, layout.columns
    customer = batch.column(shaped.customer_id)
    ok = pc.and_(not_blank(batch.column(shaped.event_name)), not_blank(customer))
    if shaped.by_subscription:  # the subscription's customer; an unknown one goes exact
        customer = subscription_customers(customer, subscriptions)
        ok = pc.and_(ok, pc.is_valid(customer))
    given = shaped.event_id in names
    event_id = batch.column(shaped.event_id) if given else pa.nulls(count, TEXT_ARROW)
    if shaped.id_required:
        ok = pc.and_(ok, not_blank(event_id))
    else:
        ok = pc.and_(ok, pc.or_(pc.is_null(event_id), not_blank(event_id)))
    stamps = batch.column(shaped.timestamp)
    if pa.types.is_integer(stamps.type):
        micros, margin = _epoch_micros(stamps), 0
    else:
        try:
            micros = stamps.cast(pa.timestamp("us")).cast(pa.int64())
        except pa.ArrowInvalid:  # seconds beyond int64 microseconds: the exact path says so
            return FastBatch(None, frozenset(), list(range(count)))
        # a zone's local time can leave years 1-9999 within a day of the range's ends,
        # where the exact path cannot read the row (``datetime``): those rows go exact
        margin = 0 if stamps.type.tz in (None, "UTC") else _DAY_MICROS
    in_range = pc.and_(
        pc.greater_equal(micros, MIN_MICROS + margin), pc.less_equal(micros, MAX_MICROS - margin)
    ).fill_null(fill_value=False)
    ok = pc.and_(ok, in_range)
    properties: dict[str, tuple[pa.Array, pa.Array]] = {}
    convert = json_property_column if layout.json else _property_column
    if layout.json:
        read = json_properties(batch.column(shaped.properties))
        if read is None:
            return FastBatch(None, frozenset(), list(range(count)))
        proved, by_key = read
        ok = pc.and_(ok, proved)
    elif layout.map:
        mapped = _map_values(batch.column(shaped.properties), ok)
        if mapped is None:
            return FastBatch(None, frozenset(), list(range(count)))
        ok, by_key = mapped
    else:
        struct = batch.column(shaped.properties) if layout.struct else None
        by_key = [
            (
                key,
                pc.struct_field(struct, [struct.type.get_field_index(key)])
                if struct is not None
                else batch.column(column),
            )
            for column, key in layout.properties
        ]
    for key, values in by_key:
        if values.null_count == count:
            continue  # only nulls: the same as absent
        text, number, fine = convert(values)
        ok = pc.and_(ok, fine)
        properties[key] = (text, number)
    rows = pc.indices_nonzero(ok)
    slow = pc.indices_nonzero(pc.invert(ok)).to_pylist()
    if not len(rows):
        return FastBatch(None, frozenset(), slow)
    record_numbers = pc.add(rows, first_record)
    ids = event_id.take(rows).cast(TEXT_ARROW)
    if ids.null_count:
        numbers = record_numbers.to_pylist()
        ids = pa.array(
            [
                given if given is not None else derive_id(number)
                for given, number in zip(ids.to_pylist(), numbers, strict=True)
            ],
            TEXT_ARROW,
        )
    source = (
        absent_if_empty(batch.column(shaped.source))
        if shaped.source in names
        else pa.nulls(count, TEXT_ARROW)
    )
    table: dict[str, pa.Array] = {
        SEQ: pc.add(rows, seq_base + 1),
        FILE: pa.nulls(len(rows), pa.int32()).fill_null(file_index),
        RECORD: record_numbers,
        RAW: pa.nulls(len(rows), CANDIDATE_SCHEMA.field(RAW).type),
        EVENT_ID: ids,
        EVENT_NAME: batch.column(shaped.event_name).take(rows).cast(TEXT_ARROW),
        CUSTOMER_ID: customer.take(rows).cast(TEXT_ARROW),
        TIMESTAMP: micros.take(rows).cast(pa.timestamp("us")).cast(TIMESTAMP_ARROW),
        SOURCE: source.take(rows).cast(TEXT_ARROW),
    }
    keys = []
    for key, (text, number) in properties.items():
        text = text.take(rows)
        if text.null_count == len(rows):
            continue
        keys.append(key)
        text_name, number_name = property_columns(key)
        table[text_name] = text
        table[number_name] = number.take(rows)
    return FastBatch(pa.table(table), frozenset(keys), slow)


def _property_column(values: pa.Array) -> tuple[pa.Array, pa.Array, pa.BooleanArray]:
    """(p__K, n__K, provable per row) of one property's values, as ``property_value``
    converts them (a null is absent: provable, NULL text)."""
    dtype = values.type
    count = len(values)
    if pa.types.is_null(dtype):
        nothing = pa.nulls(count, TEXT_ARROW)
        return nothing, pa.nulls(count, NUMBER_ARROW), pc.is_null(values)
    if _is_text(dtype):
        number, fine = text_numbers(values)
        return values.cast(TEXT_ARROW), number, fine
    everywhere = pa.nulls(count, pa.bool_()).fill_null(fill_value=True)
    if pa.types.is_boolean(dtype):  # "true"/"false", not a number
        return values.cast(TEXT_ARROW), pa.nulls(count, NUMBER_ARROW), everywhere
    if pa.types.is_integer(dtype):  # str(int) is Arrow's text; it fits DECIMAL(38,12)
        return values.cast(TEXT_ARROW), values.cast(NUMBER_ARROW), everywhere
    if pa.types.is_decimal128(dtype):
        return _decimal_text(values), values.cast(NUMBER_ARROW), everywhere
    return _float_column(values)


def _decimal_text(values: pa.Array) -> pa.Array:
    """``format(Decimal, "f")`` of decimal128 values: Arrow's text, except that Arrow
    prints magnitudes below 1e-6 (0 too) at more than 6 places with an exponent
    (``0E-12``). Those are printed one away from zero instead (``1.000000000000``,
    ``-1.0000001``), whose leading 1 then becomes the 0 it stands for."""
    text = values.cast(TEXT_ARROW)
    exponent = pc.match_substring(text, "E").fill_null(fill_value=False)
    if not pc.any(exponent).as_py():
        return text
    scale = values.type.scale
    small = values.filter(exponent).cast(pa.decimal128(scale + 2, scale))  # |v| < 1e-6
    one = pa.scalar(1, small.type)
    negative = pc.less(small, pa.scalar(0, small.type))
    away = pc.if_else(negative, pc.subtract(small, one), pc.add(small, one))
    fixed = pc.replace_substring_regex(away.cast(TEXT_ARROW), "^(-?)1", r"\10", max_replacements=1)
    return pc.replace_with_mask(text, exponent, fixed)


def _float_column(values: pa.Array) -> tuple[pa.Array, pa.Array, pa.BooleanArray]:
    """float64 values: provable where ``repr`` is Arrow's text without an exponent."""
    printed = values.cast(TEXT_ARROW)
    plain = pc.invert(pc.match_substring(printed, "e"))
    magnitude = pc.abs(values)
    python_plain = pc.or_(pc.greater_equal(magnitude, _PLAIN_FLOAT_FROM), pc.equal(values, 0.0))
    # NaN and infinities are not provable: the exact path rejects them
    fine_value = pc.and_(pc.and_(plain, python_plain), pc.is_finite(values))
    integral = pc.invert(pc.match_substring(printed, "."))
    text = pc.if_else(integral, pc.binary_join_element_wise(printed, ".0", ""), printed)
    text = pc.if_else(fine_value, text, None)
    # at most 12 places: the cast is exact; more: round those (slow in Arrow) half-up
    places = pc.subtract(pc.binary_length(text), pc.find_substring(text, "."))
    long = pc.greater(places, 13).fill_null(fill_value=False)  # 13: the point, 12 digits
    number = pc.if_else(long, None, text).cast(NUMBER_ARROW)
    if pc.any(long).as_py():
        exact = text.filter(long).cast(_FLOAT_DECIMAL)
        rounded = pc.round(exact, ndigits=12, round_mode="half_towards_infinity")
        number = pc.replace_with_mask(number, long, rounded.cast(NUMBER_ARROW))
    fine = pc.or_(pc.is_null(values), fine_value).fill_null(fill_value=False)
    return text, number, fine
