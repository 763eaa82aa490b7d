"""The columnar fast path for JSON lines of every shape, in DuckDB.

The exact path (``readers.parse_json_record`` then ``shapes.shape_event``) costs ~30 us
of Python per record. This module reads a chunk of lines (~32 MB) at once, with no
Python per record:

1. Arrow's CSV reader (one column, no quoting, multi-threaded) splits the chunk into
   lines (``split_lines``; a plain split where it cannot, or where it lost a byte: it
   drops a BOM that starts its data, a later line's own, which the exact path keeps);
2. one DuckDB query over those lines (``_PROVE_SQL``, on all cores) marks the lines it
   can *prove* and parses them with ``json_transform`` into the top-level fields and
   each property's JSON text (``prepare_chunk``; ``prepared_chunks`` runs this one
   chunk ahead on a background thread);
3. pyarrow compute turns the property texts into ``p__K``/``n__K`` columns and builds
   the candidate table (``finish_chunk``).

A line takes the fast path only if it provably gives exactly what the exact path gives;
every other line goes through the exact path, which assigns reject reasons as always.
The proof rests on a strict grammar per shape (``grammar(layout)``, a whole-line regular
expression; a ``Layout`` names the shape's fields):

* one JSON object of the shape's fields (native: ``event_id``, ``event_name``,
  ``customer_id``, ``timestamp``, ``source``, ``properties``; Flexprice: the same with
  ``external_customer_id`` for ``customer_id``; CloudEvents: ``id``, ``type``,
  ``subject``, ``time``, ``source``, ``data`` and ``specversion``, any scalar; Lago:
  ``transaction_id``, ``code``, ``external_customer_id``, ``timestamp``,
  ``properties``), plus any field no shape reads (which the exact path ignores; a
  scalar or flat object here), never a field another shape reads
  (``shapes.SHAPE_FIELDS``: ``external_customer_id`` beside ``customer_id``,
  ``properties`` in a CloudEvent, ``source`` in a Lago event, ...); spaces and tabs
  as the only whitespace: JSON by RFC 8259, which Python's reader takes and DuckDB's
  lenient one (trailing commas, NaN) reads the same;
* strings hold no backslash and no control character: no escapes, so the decoded text
  is the raw text (and quotes never occur inside a string);
* the event name, the customer and a given id are strings holding a character
  ``str.strip`` keeps (a CloudEvent's ``id`` is required); ``source`` a string or null;
  the timestamp ISO 8601 ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)`` or an epoch
  number (``EPOCH_NUMBER``: at most 15 digits and 6 places; seconds below 1e11, else
  milliseconds), as a number or as text; the properties
  null or a flat object of scalars with non-empty keys;
* every number is *canonical* (no exponent, no leading zero, no trailing zero in the
  fraction, no ``-0``) with at most 15 digits, at most 12 of them after the point.
  DuckDB re-prints a number from its binary double (``json_transform`` to JSON text);
  a canonical literal with at most 15 significant digits survives that round trip
  (IEEE doubles hold 15 decimal digits), so when the re-printed text is itself canonical
  it *is* the literal: the lake's ``p__K`` text, with ``n__K`` its exact
  ``DECIMAL(38,12)`` cast. A value re-printed otherwise (``1e-12``) sends its line to
  the exact path.

The query then checks what a regular expression cannot: no key twice (``json_keys``: in
the line, its properties and the object of a field no shape reads, since Python's reader
refuses a duplicate key in any object),
the required fields given, the timestamp a real instant within range, and the property
keys among those it reads as columns (learned from chunk to chunk, at most
``MAX_KEYS``). A line is tried against each layout of its ``--shape`` in turn
(``LAYOUTS``; a grammar's line is not tried again), and reads as the exact path reads
it: a proved CloudEvent has no ``event_name`` and has ``type`` and ``subject``, so
``shapes.detect_shape`` takes it for a CloudEvent (a proved Lago line, with
``transaction_id`` and ``code``, for Lago's); a proved Flexprice line has
``event_name`` and no ``customer_id``, which the native shape reads from the alias
``external_customer_id`` as Flexprice's does.

``tests/events/test_fastpath.py`` checks that both paths give identical lake rows,
rejects and duplicates, for edge lines and for generated records, and which lines the
fast path takes.
"""

from __future__ import annotations

import bisect
import functools
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from meterbill.compiler.sqlvalues import lit
from meterbill.events.batches import FILE, RAW, RECORD, SEQ
from meterbill.events.readers import SourceRecord, json_line_record
from meterbill.events.schema import (
    CUSTOMER_ID,
    CUSTOMER_ID_ALIAS,
    EVENT_ID,
    EVENT_NAME,
    MAX_MICROS,
    MIN_MICROS,
    NUMBER_ARROW,
    SOURCE,
    TEXT_ARROW,
    TIMESTAMP,
    TIMESTAMP_ARROW,
    fold_column_name,
    property_columns,
)
from meterbill.events.shapes import (
    CE_DATA,
    CE_ID,
    CE_SPECVERSION,
    CE_SUBJECT,
    CE_TIME,
    CE_TYPE,
    LAGO_CODE,
    LAGO_SUBSCRIPTION,
    LAGO_TRANSACTION_ID,
    PROPERTIES,
    SHAPE_FIELDS,
    Shape,
    Subscriptions,
)

#: Bytes read per chunk (the chunk is cut after its last newline): ~170k bench events.
CHUNK_BYTES: Final = 32 << 20

#: At most this many records are read ahead between chunks (``prepared_chunks``).
_RECORDS_AHEAD: Final = 1024

#: Rows per Arrow batch handed to DuckDB (its unit of parallel work).
_BATCH_ROWS: Final = 16_384


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one shape keeps an event's fields in a JSON line.

    Attributes:
        event_id, event_name, customer_id, timestamp, properties: the fields' names.
        id_required: whether a line without an id is refused (else its id is derived).
        others: fields read only to tell the shape (any scalar).
        source: the source field's name; None if the shape has none.
        by_subscription: ``customer_id`` names a field holding a subscription id: the
            customer is that subscription's (a line naming one the workspace does not
            know is left to the exact path, which rejects it).
    """

    event_id: str
    event_name: str
    customer_id: str
    timestamp: str
    properties: str
    id_required: bool
    others: tuple[str, ...] = ()
    source: str | None = SOURCE
    by_subscription: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the shape reads, the properties last."""
        source = () if self.source is None else (self.source,)
        return (
            self.event_id,
            self.event_name,
            self.customer_id,
            self.timestamp,
            *source,
            *self.others,
            self.properties,
        )


NATIVE: Final = Layout(EVENT_ID, EVENT_NAME, CUSTOMER_ID, TIMESTAMP, PROPERTIES, id_required=False)
#: Flexprice's events: native, the customer in ``external_customer_id`` (the native
#: shape's alias, so a native line with only the alias reads the same).
FLEXPRICE: Final = Layout(
    EVENT_ID, EVENT_NAME, CUSTOMER_ID_ALIAS, TIMESTAMP, PROPERTIES, id_required=False
)
CLOUDEVENTS: Final = Layout(
    CE_ID, CE_TYPE, CE_SUBJECT, CE_TIME, CE_DATA, id_required=True, others=(CE_SPECVERSION,)
)
#: Lago's events, naming the customer (``external_customer_id``) or, more often, the
#: subscription (``external_subscription_id``; a line with both: the exact path).
LAGO: Final = Layout(
    LAGO_TRANSACTION_ID,
    LAGO_CODE,
    CUSTOMER_ID_ALIAS,
    TIMESTAMP,
    PROPERTIES,
    id_required=True,
    source=None,
)
LAGO_BY_SUBSCRIPTION: Final = Layout(
    LAGO_TRANSACTION_ID,
    LAGO_CODE,
    LAGO_SUBSCRIPTION,
    TIMESTAMP,
    PROPERTIES,
    id_required=True,
    source=None,
    by_subscription=True,
)
#: The ``--shape`` choices whose JSON lines the fast path reads, and the layouts it tries.
LAYOUTS: Final[dict[str, tuple[Layout, ...]]] = {
    "auto": (NATIVE, FLEXPRICE, CLOUDEVENTS, LAGO_BY_SUBSCRIPTION, LAGO),
    "native": (NATIVE, FLEXPRICE),
    "flexprice": (FLEXPRICE,),
    "cloudevents": (CLOUDEVENTS,),
    "lago": (LAGO_BY_SUBSCRIPTION, LAGO),
}

# -- the grammar of a provable line ------------------------------------------------------

_WS: Final = r"[ \t]*"
_CHAR: Final = r'[^"\\\x00-\x1f]'  # in a string without escapes
_STRING: Final = f'"{_CHAR}*"'
#: A string holding a character ``str.strip()`` keeps (the complement of ``str.isspace``).
_NOT_BLANK_STRING: Final = (
    f'"{_CHAR}*'
    r'[^"\\\x00-\x20\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]'
    f'{_CHAR}*"'
)
#: ISO 8601 with an offset, ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM)``: the instants
#: ``datetime.fromisoformat``, DuckDB's and Arrow's casts read alike (unanchored).
ISO_TIMESTAMP: Final = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


def _epoch_number() -> str:
    """An epoch timestamp the fast path reads: a canonical number of at most 15 digits
    (seconds below 1e11, else milliseconds, as ``schema.epoch_micros`` reads it), its
    fraction (if any) at most 6 places, so that it is a whole number of microseconds,
    and a whole part of at least 1 (DuckDB re-prints smaller numbers with an exponent)."""
    fractions = [
        f"[1-9][0-9]{{{digits - 1}}}\\.[0-9]{{0,{min(6, 15 - digits) - 1}}}[1-9]"
        for digits in range(1, 15)
    ]
    return "-?(?:[1-9][0-9]{0,14}|" + "|".join(fractions) + ")|0"


EPOCH_NUMBER: Final = _epoch_number()


def _canonical_number() -> str:
    """A canonical JSON number of at most 15 digits, at most 12 after the point."""
    branches = []
    for integer_digits in range(1, 16):
        fraction = min(12, 15 - integer_digits)
        branch = f"[1-9][0-9]{{{integer_digits - 1}}}"
        if fraction:
            branch += f"(?:\\.[0-9]{{0,{fraction - 1}}}[1-9])?"
        branches.append(branch)
    branches.append(r"0\.[0-9]{0,11}[1-9]")
    return "(?:-?(?:" + "|".join(branches) + ")|0)"


#: A number whose DuckDB re-printed text equals its literal (see the module docstring).
CANONICAL_NUMBER: Final = _canonical_number()
_SCALAR: Final = f"(?:{_STRING}|{CANONICAL_NUMBER}|true|false|null)"
_MEMBER: Final = f'"{_CHAR}+"{_WS}:{_WS}{_SCALAR}'  # a non-empty key
_FLAT_OBJECT: Final = f"\\{{{_WS}(?:{_MEMBER}{_WS}(?:,{_WS}{_MEMBER}{_WS})*)?\\}}"


def _field(name: str, value: str) -> str:
    return f'"{name}"{_WS}:{_WS}(?:{value})'


def _key_except(words: Iterable[str]) -> str:
    """A non-empty key (a string without escapes) that is none of ``words`` (ASCII
    letters and underscores), built from their trie: RE2 has no lookahead."""
    children: dict[str, set[str]] = {}
    for word in words:
        for end in range(len(word)):
            children.setdefault(word[:end], set()).add(word[end])
    ends = set(words)

    def after(prefix: str) -> str:
        nexts = sorted(children.get(prefix, ()))
        other = f'[^"\\\\\\x00-\\x1f{"".join(nexts)}]{_CHAR}*'  # leave the trie
        branches = [other] + [char + after(prefix + char) for char in nexts]
        if prefix and prefix not in ends:
            branches.append("")  # the key is a proper prefix of a word
        return "(?:" + "|".join(branches) + ")"

    return f'"{after("")}"'


@functools.cache
def grammar(layout: Layout) -> str:
    """A whole line the fast path may read as ``layout`` (the strict subset of JSON
    described above), anchored."""
    member = "|".join(
        [
            _field(layout.event_id, _NOT_BLANK_STRING + ("" if layout.id_required else "|null")),
            _field(layout.event_name, _NOT_BLANK_STRING),
            _field(layout.customer_id, _NOT_BLANK_STRING),
            _field(layout.timestamp, f'"(?:{ISO_TIMESTAMP}|{EPOCH_NUMBER})"|{EPOCH_NUMBER}'),
            *([] if layout.source is None else [_field(layout.source, f"{_STRING}|null")]),
            *(_field(name, _SCALAR) for name in layout.others),
            _field(layout.properties, f"{_FLAT_OBJECT}|null"),
            # a field no shape reads (the exact path ignores it): a scalar or flat object
            f"{_key_except(SHAPE_FIELDS)}{_WS}:{_WS}(?:{_SCALAR}|{_FLAT_OBJECT})",
        ]
    )
    return f"^{_WS}\\{{{_WS}(?:{member}){_WS}(?:,{_WS}(?:{member}){_WS})*\\}}{_WS}$"


#: Every character ``str.isspace`` holds (``str.strip`` removes exactly these); a test
#: checks the list against Python's own.
WHITESPACE: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: ``money.NUMBER_PATTERN`` (whole match, ASCII digits), for string values.
_TEXT_NUMBER: Final = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
#: A number string the DECIMAL(38,12) cast takes exactly.
_SIMPLE_TEXT_NUMBER: Final = r"^[+-]?([0-9]{1,26}(\.[0-9]{0,12})?|\.[0-9]{1,12})$"

#: At most this many property keys are read into columns per chunk; lines with other
#: keys take the exact path (the query's cost grows with the keys it checks, but wide
#: events read record by record cost far more: 200k events of 60 keys, 61 s exactly
#: against 6-10 s here; 100k of 200 keys, 93 s against 9 s).
MAX_KEYS: Final = 256

#: Every line of ``chunk_lines`` (i, line, g0, g1, ...: which grammar took it), parsed
#: if ``{grammatical}`` took it (never otherwise: DuckDB's JSON reader is lenient), with
#: ``ok`` where it is provable. The grammar has checked the types and the text of the
#: fields; the query checks that no key appears twice (in the line, its properties or
#: the object of a field no shape reads: Python's reader refuses any), that the
#: properties (at ``{properties}``) are among the keys read (``{structure}``, their JSON
#: text as ``{values}``; ``unknown`` lists the keys of a line that has others), that the
#: required fields are given and that the timestamp is a real instant within range. The
#: fields come out under their native names. No WHERE clause: DuckDB would push it down
#: and parse once per condition.
_PROVE_SQL: Final = """
WITH checked AS (
    SELECT i, CASE WHEN {grammatical} THEN line END AS line FROM chunk_lines
), parsed AS (
    SELECT i, line, json_keys(line) AS top, json_keys(line, {properties}) AS keys,
           json_transform(line, {structure}) AS f
    FROM checked
), epochs AS (  -- an epoch number (the grammar's: at most 15 digits, 6 places) exactly
    SELECT *, try_cast(f.{timestamp} AS DECIMAL(21, 6)) AS epoch FROM parsed
), fields AS (
    SELECT i, line, top, keys, f.{event_id} AS event_id, f.{event_name} AS event_name,
           f.{customer_id} AS customer_id,
           coalesce(timezone('UTC', make_timestamp(CAST(epoch * CASE
                        WHEN abs(epoch) >= 100000000000 THEN 1000
                        ELSE 1000000 END AS BIGINT))),  -- epoch seconds, else milliseconds
                    try_cast(f.{timestamp} AS TIMESTAMPTZ)) AS ts,
           {source} AS source{values},
           coalesce(len(keys) = {count_known}, true) AS known_keys
    FROM epochs
)
SELECT i,
       coalesce(CASE WHEN len(top) = {count_top} THEN true  -- else unknown fields:
                     ELSE len(top) = list_unique(top)  -- checked only then, and
                          AND list_bool_and(list_transform(  -- the keys of their objects
                              json_extract(line, '$.*'),
                              lambda v: len(json_keys(v)) = list_unique(json_keys(v))))
                END
                AND known_keys{required_id}
                AND event_name IS NOT NULL AND customer_id IS NOT NULL
                AND epoch_us(ts) BETWEEN $min_micros AND $max_micros, false) AS ok,
       CASE WHEN NOT known_keys THEN keys END AS unknown,
       event_id, event_name, customer_id, ts AS "timestamp",
       nullif(source, '') AS source{columns}
FROM fields
"""


def _prove_sql(layout: Layout, grammatical: str, keys: Sequence[str]) -> str:
    """``_PROVE_SQL`` for the lines of ``layout`` (those the column ``grammatical``
    marks), reading the property ``keys`` as columns ``v0``, ``v1``, ..."""
    read = [layout.event_id, layout.event_name, layout.customer_id, layout.timestamp]
    if layout.source is not None:
        read.append(layout.source)
    top = ",".join(f'"{name}":"VARCHAR"' for name in read)
    if keys:
        inner = ",".join(f'{json.dumps(key, ensure_ascii=False)}:"JSON"' for key in keys)
        top += f',"{layout.properties}":{{{inner}}}'
    properties = f'f."{layout.properties}"'
    values = "".join(
        f",\n           struct_extract({properties}, {lit(key)})::VARCHAR AS v{n}"
        for n, key in enumerate(keys)
    )
    columns = "".join(f", v{n}" for n in range(len(keys)))
    return _PROVE_SQL.format(
        grammatical=grammatical,
        properties=lit(f"$.{layout.properties}"),
        structure=lit("{" + top + "}"),
        event_id=f'"{layout.event_id}"',
        event_name=f'"{layout.event_name}"',
        customer_id=f'"{layout.customer_id}"',  # a subscription id: resolved in Arrow
        timestamp=f'"{layout.timestamp}"',
        source="NULL::VARCHAR" if layout.source is None else f'f."{layout.source}"',
        values=values,
        columns=columns,
        count_top=_count_distinct("top", layout.fields),
        count_known=_count_distinct("keys", keys),
        required_id="\n                AND event_id IS NOT NULL" if layout.id_required else "",
    )


def _count_distinct(column: str, names: Sequence[str]) -> str:
    """SQL: how many of ``names`` the list ``column`` holds. It equals the list's length
    exactly when the list's items are distinct and all among ``names`` (and it costs a
    tenth of ``list_unique``)."""
    terms = [f"list_contains({column}, {lit(name)})::INTEGER" for name in names]
    return " + ".join(terms) if terms else "0"


@functools.cache
def _database() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB for the fast path (in memory, empty): each chunk is proved
    on a cursor of its own, so ingests on several threads never share a registration.
    (No time zone setting matters: every timestamp proved carries its offset.)"""
    return duckdb.connect()


@dataclass(frozen=True, slots=True)
class Lines:
    """The lines of one chunk (newline dropped), as bytes and, if UTF-8, as text."""

    data: bytes
    lines: pa.LargeBinaryArray
    text: pa.LargeStringArray | None  # None: some line is not UTF-8
    crlf: pa.BooleanArray | None = None  # the lines that ended CRLF (None: none did)

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> bytes:
        """Line ``index`` as the exact path reads it: with its newline (LF, or CRLF where
        the CR was dropped), unless it is a final line without."""
        text = self.lines[index].as_py()
        if index == len(self.lines) - 1 and not self.data.endswith(b"\n"):
            return text
        return text + (b"\r\n" if self.crlf is not None and self.crlf[index].as_py() else b"\n")


def split_lines(data: bytes) -> Lines:
    """Split a chunk into lines: Arrow's CSV reader, or a plain split where it cannot."""
    newlines = data.count(b"\n")
    expected = newlines + (0 if data.endswith(b"\n") else 1)
    lines = None
    crlf = None
    if b"\r" not in data and b"\x01" not in data:  # CSV ends lines at CR; \x01 delimits
        try:
            table = pa_csv.read_csv(
                pa.BufferReader(pa.py_buffer(data)),
                read_options=pa_csv.ReadOptions(column_names=["line"], block_size=4 << 20),
                parse_options=pa_csv.ParseOptions(
                    delimiter="\x01",
                    quote_char=False,
                    escape_char=False,
                    ignore_empty_lines=False,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types={"line": pa.large_binary()}, strings_can_be_null=False
                ),
            )
        except pa.ArrowInvalid:
            table = None
        if table is not None and table.num_rows == expected:
            split = table.column("line").combine_chunks()
            # every byte kept: Arrow drops a BOM that starts the data (a line's own,
            # which the exact path keeps and refuses, when a chunk starts there)
            if pc.sum(pc.binary_length(split)).as_py() == len(data) - newlines:
                lines = split
    if lines is None:
        whole = pa.array([data], pa.large_binary())
        lines = pc.split_pattern(whole, b"\n").values.slice(0, expected)
        if b"\r\n" in data:  # CRLF ends: drop the CR as ``readers._strip_newline`` does
            ended = len(lines) if data.endswith(b"\n") else len(lines) - 1
            head = lines.slice(0, ended)
            crlf = pc.ends_with(head, pattern=b"\r")
            crlf = pa.concat_arrays([crlf, pa.repeat(pa.scalar(value=False), len(lines) - ended)])
            head = pc.replace_substring_regex(head, r"\r$", b"", max_replacements=1)
            lines = pa.concat_arrays([head, lines.slice(ended)])
    try:
        text = lines.cast(pa.large_string())  # the cast validates UTF-8
    except pa.ArrowInvalid:
        text = None
    return Lines(data, lines, text, crlf)


@dataclass(frozen=True, slots=True)
class Proved:
    """The provable lines of a chunk, parsed.

    Attributes:
        table: their rows (``_PROVE_SQL``'s columns), in line order.
        keys: the property keys read (columns ``v0``, ``v1``, ...).
        layouts: the layouts whose grammar took lines of the chunk.
    """

    table: pa.Table
    keys: list[str]
    layouts: tuple[Layout, ...]


def _prove(
    lines: Lines,
    hint: Iterable[str],
    layouts: Sequence[Layout],
    subscriptions: Subscriptions | None = None,
) -> Proved | None:
    """The provable lines, parsed; None when no line can be proved.

    Each line is tried against the grammars of ``layouts`` in turn (a line one grammar
    took is not tried again); the lines each took are proved by one query.
    The keys are learned: the query reads ``hint`` (the previous chunk's keys); if some
    line has others, it runs once more with those added (unless they would clash with
    a known key in DuckDB's case-insensitive names, or pass ``MAX_KEYS``).
    """
    if lines.text is None:
        return None
    taken = _grammatical(lines.text, layouts)
    if not taken:
        return None
    con = _database().cursor()
    indexes = pc.subtract(pc.cumulative_sum(pa.nulls(len(lines), pa.int64()).fill_null(1)), 1)
    columns = {f"g{n}": lines_taken for n, (_, lines_taken) in enumerate(taken)}
    table = pa.table({"i": indexes, "line": lines.text} | columns)
    # in batches: DuckDB scans an Arrow table one batch per thread
    con.register("chunk_lines", pa.Table.from_batches(table.to_batches(_BATCH_ROWS)))
    keys = sorted(set(hint))
    if len(keys) > MAX_KEYS or _clash(keys):
        keys = []
    try:
        while True:
            tables = [
                con.sql(
                    _prove_sql(layout, column, keys),
                    params={"min_micros": MIN_MICROS, "max_micros": MAX_MICROS},
                ).to_arrow_table()
                for column, (layout, _) in zip(columns, taken, strict=True)
            ]
            unknown = (pc.list_flatten(table.column("unknown")).to_pylist() for table in tables)
            more = set().union(*unknown) - set(keys)
            wider = sorted(set(keys) | more)
            if not more or len(wider) > MAX_KEYS or _clash(wider):
                break
            keys = wider
    finally:
        con.close()
    tables = [
        _by_subscription(table, subscriptions or {}) if layout.by_subscription else table
        for (layout, _), table in zip(taken, tables, strict=True)
    ]
    table = pa.concat_tables(tables)
    table = table.filter(table.column("ok"))
    if len(tables) > 1:
        table = table.sort_by("i")
    took = tuple(layout for layout, _ in taken)
    return Proved(table, keys, took) if table.num_rows else None


def _by_subscription(table: pa.Table, subscriptions: Subscriptions) -> pa.Table:
    """Proved rows whose ``customer_id`` holds a subscription id, with that subscription's
    customer instead; a row naming an unknown subscription is not ``ok`` (a 10k-entry
    lookup in Arrow costs ~5 ms a chunk; a join in the query ~0.07 s)."""
    customers = subscription_customers(table.column(CUSTOMER_ID), subscriptions)
    ok = pc.and_(table.column("ok"), pc.is_valid(customers))
    table = table.set_column(table.schema.get_field_index(CUSTOMER_ID), CUSTOMER_ID, customers)
    return table.set_column(table.schema.get_field_index("ok"), "ok", ok)


def subscription_customers(ids: pa.Array, subscriptions: Subscriptions) -> pa.Array:
    """The customer of each subscription id (null: not a subscription of ``subscriptions``)."""
    known = pa.array(list(subscriptions), ids.type)
    return pc.take(pa.array(list(subscriptions.values()), ids.type), pc.index_in(ids, known))


def _grammatical(
    text: pa.LargeStringArray, layouts: Sequence[Layout]
) -> list[tuple[Layout, pa.BooleanArray]]:
    """``(layout, the lines its grammar took)`` for the layouts whose grammar took some
    line; each grammar is tried only on the lines the ones before it refused."""
    taken_by: list[tuple[Layout, pa.BooleanArray]] = []
    untaken: pa.BooleanArray | None = None  # None: every line
    for layout in layouts:
        if untaken is None:
            # the grammar in Arrow: its regular expressions run ~3x faster than DuckDB's
            taken = pc.match_substring_regex(text, grammar(layout))
        elif pc.any(untaken).as_py():
            matched = pc.match_substring_regex(text.filter(untaken), grammar(layout))
            none = pa.repeat(pa.scalar(value=False), len(text))
            taken = pc.replace_with_mask(none, untaken, matched)
        else:
            break
        if pc.any(taken).as_py():
            taken_by.append((layout, taken))
        refused = pc.invert(taken)
        untaken = refused if untaken is None else pc.and_(untaken, refused)
    return taken_by


#: Properties given as JSON text (a Parquet column) that the fast path reads: the
#: grammar's flat object, alone.
_WHOLE_FLAT_OBJECT: Final = f"^{_WS}{_FLAT_OBJECT}{_WS}$"
#: The keys of each object ``json_properties`` took, and whether none appears twice.
_JSON_KEYS_SQL: Final = """
SELECT i, keys, len(keys) = list_unique(keys) AS distinct_keys
FROM (SELECT i, json_keys(CASE WHEN g THEN t END) AS keys FROM texts)
"""


def json_properties(texts: pa.Array) -> tuple[pa.BooleanArray, list[tuple[str, pa.Array]]] | None:
    """Properties given as JSON text, one object a row (NULL: none): which rows are
    provable, and ``(key, each row's value as JSON text)`` per key, for
    ``json_property_column``; None when the rows hold more than ``MAX_KEYS`` keys or
    keys DuckDB cannot tell apart (the caller reads them exactly).

    A row is provable when its text is NULL, or a flat object of the strict grammar
    (``_FLAT_OBJECT``: strings without escapes, canonical numbers, no nesting) with no
    key twice; it then reads as ``readers.parse_json`` reads it.
    """
    if not len(texts):
        return pa.array([], pa.bool_()), []
    text = texts.cast(pa.large_string())
    grammatical = pc.match_substring_regex(text, _WHOLE_FLAT_OBJECT).fill_null(fill_value=False)
    indexes = pc.subtract(pc.cumulative_sum(pa.nulls(len(text), pa.int64()).fill_null(1)), 1)
    table = pa.table({"i": indexes, "t": text, "g": grammatical})
    con = _database().cursor()
    try:
        con.register("texts", pa.Table.from_batches(table.to_batches(_BATCH_ROWS)))
        found = con.sql(_JSON_KEYS_SQL).to_arrow_table().sort_by("i").combine_chunks()
        distinct = found.column("distinct_keys").combine_chunks().fill_null(fill_value=False)
        ok = pc.or_(pc.and_(grammatical, distinct), pc.is_null(text))
        kept = pc.list_flatten(found.column("keys").combine_chunks().filter(ok))
        keys = pc.unique(kept).to_pylist()
        if len(keys) > MAX_KEYS or _clash(keys):
            return None
        if not keys:
            return ok, []
        con.register("kept", pa.table({"i": indexes, "t": pc.if_else(ok, text, None)}))
        inner = ",".join(f'{json.dumps(key, ensure_ascii=False)}:"JSON"' for key in keys)
        values = ", ".join(
            f"struct_extract(f, {lit(key)})::VARCHAR AS v{n}" for n, key in enumerate(keys)
        )
        rows = con.sql(
            f"SELECT i, {values} FROM (SELECT i, json_transform(t, {lit('{' + inner + '}')}) AS f "  # noqa: S608 (keys as literals)
            "FROM kept) ORDER BY i"
        ).to_arrow_table()
    finally:
        con.close()
    return ok, [(key, rows.column(f"v{n}").combine_chunks()) for n, key in enumerate(keys)]


def _clash(keys: Sequence[str]) -> bool:
    """Whether two keys are one name to DuckDB (a struct's field names ignore case)."""
    return len({fold_column_name(key) for key in keys}) < len(keys)


def file_layout(names: Collection[str], shape: Shape) -> Layout | None:
    """The layout among ``shape``'s whose fields a Parquet or CSV file's columns are
    (its required ones there, no column another shape reads), for their columnar fast
    paths; None if the file takes the exact path. At most one fits: each layout has a
    field the others must not have. Under ``auto`` a row proved to have the layout's
    required fields is one auto-detection reads as that shape (``shapes.detect_shape``:
    a native row has ``event_name``; a CloudEvent ``type`` and ``subject`` and no
    ``event_name``; a Lago event ``code`` and neither)."""
    for layout in LAYOUTS.get(shape, ()):
        required = {layout.event_name, layout.customer_id, layout.timestamp}
        if layout.id_required:
            required.add(layout.event_id)
        foreign = any(name in SHAPE_FIELDS and name not in layout.fields for name in names)
        if required <= set(names) and not foreign:
            return layout
    return None


def absent_if_empty(strings: pa.Array) -> pa.Array:
    """An empty string is an absent value (null)."""
    return pc.if_else(pc.equal(strings, ""), None, strings)


def not_blank(strings: pa.Array) -> pa.BooleanArray:
    """Strings holding a character ``str.strip`` keeps (null: False)."""
    rest = pc.utf8_ltrim(strings, characters=WHITESPACE)
    return pc.not_equal(rest, "").fill_null(fill_value=False)


def text_numbers(strings: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """(n__K, provable) of string property values (null: absent, provable).

    A string reads as a number when it matches ``money.NUMBER_PATTERN``; it is provable
    when it does not, or when the ``DECIMAL(38,12)`` cast takes it exactly (at most 26
    integer digits and 12 places: ``schema.text_number`` then needs no rounding).
    """
    is_number = pc.match_substring_regex(strings, _TEXT_NUMBER).fill_null(fill_value=False)
    if not pc.any(is_number).as_py():  # skip the second regex a column cannot need
        return pa.nulls(len(strings), NUMBER_ARROW), pc.invert(is_number)
    simple = pc.match_substring_regex(strings, _SIMPLE_TEXT_NUMBER).fill_null(fill_value=False)
    simple = pc.and_(is_number, simple)
    number = pc.if_else(simple, strings, None).cast(TEXT_ARROW).cast(NUMBER_ARROW)
    return number, pc.invert(pc.xor(is_number, simple))


def json_property_column(raw: pa.Array) -> tuple[pa.Array, pa.Array, pa.BooleanArray]:
    """(p__K, n__K, provable per row) of one key's values as JSON text (NULL: absent)."""
    first = pc.utf8_slice_codeunits(raw, 0, 1)
    is_string = pc.equal(first, '"').fill_null(fill_value=False)
    is_bool = pc.is_in(raw, pa.array(["true", "false"])).fill_null(fill_value=False)
    is_number = pc.and_(pc.is_valid(raw), pc.invert(pc.or_(is_string, is_bool)))
    inner = pc.utf8_slice_codeunits(raw, 1, -1)
    text = pc.if_else(is_string, inner, raw).cast(TEXT_ARROW)
    number, fine = text_numbers(pc.if_else(is_string, inner, None))
    if pc.any(is_number).as_py():
        whole = pc.match_substring_regex(raw, f"^{CANONICAL_NUMBER}$")
        canonical = pc.and_(is_number, whole.fill_null(fill_value=False))
        # provable: every number is one the re-print kept (so the cast is exact)
        fine = pc.and_(fine, pc.invert(pc.xor(is_number, canonical)))
        number = pc.if_else(canonical, pc.if_else(canonical, text, None).cast(NUMBER_ARROW), number)
    return text, number, fine


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


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk split into lines, its provable lines proved (``prepare_chunk``)."""

    first_line: int
    data: bytes
    lines: Lines
    proved: Proved | None


def prepare_chunk(
    first_line: int,
    data: bytes,
    hint: Iterable[str] = (),
    layouts: Sequence[Layout] = (NATIVE,),
    subscriptions: Subscriptions | None = None,
) -> Prepared:
    """Split a chunk of JSON lines and prove what can be (the part in native code).

    Args:
        first_line: the file line number of the chunk's first line.
        data: whole lines (the last one may lack its newline), BOM removed.
        hint: property keys the chunk probably has (the previous chunk's).
        layouts: the shapes a line may be proved as (``LAYOUTS[shape]``).
        subscriptions: subscription id -> customer, for Lago's subscription ids.
    """
    lines = split_lines(data)
    return Prepared(first_line, data, lines, _prove(lines, hint, layouts, subscriptions))


def prepared_chunks(
    chunks: Iterable[tuple[int, bytes] | SourceRecord],
    layouts: Sequence[Layout],
    subscriptions: Subscriptions | None = None,
) -> Iterator[Prepared | SourceRecord]:
    """``prepare_chunk`` over ``(first_line, data)`` chunks, one chunk ahead on a
    background thread (reading, Arrow and DuckDB release the GIL), so the next chunk is
    read and proved while the caller finishes this one. Records among the chunks (a
    JSON array's elements no line holds: ``json_arrays.json_array_runs``) pass through
    in order, read on the same thread. Each chunk's hint is the keys its predecessor
    was read with, and the layouts whose grammar took its lines are tried first (a
    file of one shape then costs one grammar pass a chunk; which lines are proved does
    not depend on the order: a provable line fits one grammar only)."""
    source = iter(chunks)
    keys: list[str] = []
    order = tuple(layouts)

    def prepare() -> list[Prepared | SourceRecord]:
        """The next items: records up to and with the next chunk prepared (or up to
        ``_RECORDS_AHEAD`` records); empty at the end."""
        nonlocal keys, order
        items: list[Prepared | SourceRecord] = []
        for item in source:
            if isinstance(item, SourceRecord):
                items.append(item)
                if len(items) < _RECORDS_AHEAD:
                    continue
                return items
            prepared = prepare_chunk(*item, hint=keys, layouts=order, subscriptions=subscriptions)
            if prepared.proved is not None:
                keys = prepared.proved.keys
                took = prepared.proved.layouts
                order = took + tuple(layout for layout in order if layout not in took)
            items.append(prepared)
            return items
        return items

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meterbill-prove") as pool:
        pending = pool.submit(prepare)
        while items := pending.result():
            pending = pool.submit(prepare)
            yield from items


def read_chunk(
    data: bytes,
    *,
    first_line: int,
    seq_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
    hint: Iterable[str] = (),
    shape: str = "auto",
    subscriptions: Subscriptions | None = None,
) -> Chunk:
    """Read one chunk of JSON lines (``prepare_chunk`` then ``finish_chunk``)."""
    return finish_chunk(
        prepare_chunk(first_line, data, hint, LAYOUTS[shape], subscriptions),
        seq_base=seq_base,
        file_index=file_index,
        derive_id=derive_id,
    )


def finish_chunk(
    prepared: Prepared, *, seq_base: int, file_index: int, derive_id: Callable[[int], str]
) -> Chunk:
    """A prepared chunk's provable records as a candidate table, the rest as records.

    Args:
        prepared: the chunk, split and proved.
        seq_base: the ingest's records before this chunk.
        file_index: the file's index in the ingest.
        derive_id: the event id of a record without one, by its line number.
    """
    lines, first_line = prepared.lines, prepared.first_line
    properties: dict[str, tuple[pa.Array, pa.Array]] = {}
    rows: pa.Table | None = None
    if prepared.proved is not None:
        rows = prepared.proved.table
        properties, fine = _property_columns(rows, prepared.proved.keys)
        if fine is not None:  # a value the re-print may have changed: exact path
            rows = rows.filter(fine) if pc.any(fine).as_py() else None
            properties = _filter_columns(properties, fine)
    fast = rows.num_rows if rows is not None else 0
    # every other line goes through the exact path (blank lines are not records)
    slow: list[tuple[int, SourceRecord]] = []
    blanks: list[int] = []
    if fast < len(lines):
        is_fast = set(rows.column("i").to_pylist()) if rows is not None else set()
        for index in range(len(lines)):
            if index in is_fast:
                continue
            record = json_line_record(first_line + index, lines.line(index))
            if record is None:
                blanks.append(index)
            else:
                slow.append((index + 1 - len(blanks), record))
    table: pa.Table | None = None
    if rows is not None:
        indexes = rows.column("i").combine_chunks()
        ordinals = pc.add(indexes, 1)  # 1-based among the chunk's records
        if blanks:
            before = [bisect.bisect_left(blanks, index) for index in indexes.to_pylist()]
            ordinals = pc.subtract(ordinals, pa.array(before, pa.int64()))
        table = _fast_table(
            rows,
            properties,
            lines,
            indexes=indexes,
            ordinals=ordinals,
            first_line=first_line,
            seq_base=seq_base,
            file_index=file_index,
            derive_id=derive_id,
        )
    return Chunk(len(lines) - len(blanks), table, frozenset(properties), slow)


def _property_columns(
    proved: pa.Table, keys: Sequence[str]
) -> tuple[dict[str, tuple[pa.Array, pa.Array]], pa.BooleanArray | None]:
    """(p__K, n__K) per key with a value, and which rows are provable (None: all)."""
    count = proved.num_rows
    columns: dict[str, tuple[pa.Array, pa.Array]] = {}
    fine: pa.BooleanArray | None = None
    for n, key in enumerate(keys):
        raw = proved.column(f"v{n}").combine_chunks()
        if raw.null_count == count:
            continue  # only nulls: the same as absent
        text, number, key_fine = json_property_column(raw)
        if not pc.all(key_fine).as_py():
            fine = key_fine if fine is None else pc.and_(fine, key_fine)
        columns[key] = (text, number)
    return columns, fine


def _filter_columns(
    columns: dict[str, tuple[pa.Array, pa.Array]], rows: pa.BooleanArray
) -> dict[str, tuple[pa.Array, pa.Array]]:
    """The columns' ``rows``, without keys left with no value."""
    kept = {
        key: (text.filter(rows), number.filter(rows)) for key, (text, number) in columns.items()
    }
    return {key: pair for key, pair in kept.items() if pair[0].null_count < len(pair[0])}


def _fast_table(
    proved: pa.Table,
    properties: dict[str, tuple[pa.Array, pa.Array]],
    lines: Lines,
    *,
    indexes: pa.Array,
    ordinals: pa.Array,
    first_line: int,
    seq_base: int,
    file_index: int,
    derive_id: Callable[[int], str],
) -> pa.Table:
    """The candidate table of the proved rows (``indexes``: their lines in the chunk)."""
    count = proved.num_rows
    record_numbers = pc.add(indexes, first_line)
    event_id = proved.column(EVENT_ID).combine_chunks().cast(TEXT_ARROW)
    if event_id.null_count:
        ids = event_id.to_pylist()
        numbers = record_numbers.to_pylist()
        event_id = pa.array(
            [
                given if given is not None else derive_id(number)
                for given, number in zip(ids, numbers, strict=True)
            ],
            TEXT_ARROW,
        )
    assert lines.text is not None  # proved rows exist only for UTF-8 chunks
    table: dict[str, pa.Array] = {
        SEQ: pc.add(ordinals, seq_base),
        FILE: pa.nulls(count, pa.int32()).fill_null(file_index),
        RECORD: record_numbers,
        RAW: lines.text.take(indexes),
        EVENT_ID: event_id,
        EVENT_NAME: proved.column(EVENT_NAME).combine_chunks().cast(TEXT_ARROW),
        CUSTOMER_ID: proved.column(CUSTOMER_ID).combine_chunks().cast(TEXT_ARROW),
        TIMESTAMP: proved.column(TIMESTAMP).combine_chunks().cast(TIMESTAMP_ARROW),
        SOURCE: proved.column(SOURCE).combine_chunks().cast(TEXT_ARROW),
    }
    for key, (text, number) in properties.items():
        text_name, number_name = property_columns(key)
        table[text_name] = text
        table[number_name] = number
    return pa.table(table)
