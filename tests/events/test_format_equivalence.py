"""The same events in every format and layout give the same lake, rejects and counts.

A differential test across formats: hypothesis draws a few events of one shape
(native, Flexprice, CloudEvents or Lago) or of several (one file mixing shapes), with
awkward values (numbers as JSON literals, epoch and ISO timestamps at the edges, keys
with dots, quotes, semicolons, commas and unicode, blank and multi-line strings),
writes them (LF or CRLF line ends, with or without a BOM) as JSON lines, gzip'd JSON
lines, a JSON array document, CSV with ``properties.<key>`` columns (plain and
gzip'd), CSV with a JSON properties column, and Parquet with the properties as a
STRUCT, a MAP, JSON text and ``properties.<key>`` columns (all text: a Parquet string
reads as the JSON value whose text it is; and with a TIMESTAMP column when every
timestamp is an instant), then ingests all the files in ONE ingest (each file's event
ids carry its format's tag, so nothing is a duplicate across files) and requires every
file's records to end alike: the same lake row, the same reject reason or the same
duplicate, record by record, detected per record or with ``--shape``. The JSON lines,
CSV and Parquet fast paths and the exact path all take part (the writers give both
kinds of record).

Left out because the formats cannot say them alike: an empty string (a CSV cell that
is empty is an absent value), nested values and non-string required fields (a CSV cell
is text), JSON escapes of control characters (a lone CR, which ``csv.writer`` leaves
unquoted with LF line ends: not CSV), and property keys that differ only in ASCII
case (the first spelling seen wins, across files too). Typed Parquet columns are
tested with explicit tables below.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbill.events.ingest import derive_event_id
from meterbill.events.rejects import RecordRejected
from meterbill.events.schema import JsonNumber, parse_timestamp
from meterbill.events.shapes import Shape
from meterbill.state import connect_state

from .helpers import Workspace, ingest_outcome

Value = tuple[str, Any]
"""A property or timestamp value: ("s", text), ("n", JSON number literal), ("b", bool)."""


@dataclass(frozen=True)
class Record:
    """One event as drawn, in no format yet."""

    shape: str  # its fields' names: a key of SHAPE_FIELDS
    event_id: str | None  # None: absent (derived; CloudEvents and Lago always have one)
    name: str
    customer: str
    timestamp: Value
    source: str | None
    properties: dict[str, Value | None] | None  # a None value is JSON null


#: Field names per shape: (id, name, customer, timestamp, properties).
SHAPE_FIELDS = {
    "native": ("event_id", "event_name", "customer_id", "timestamp", "properties"),
    "flexprice": ("event_id", "event_name", "external_customer_id", "timestamp", "properties"),
    "cloudevents": ("id", "type", "subject", "time", "data"),
    "lago": ("transaction_id", "code", "external_customer_id", "timestamp", "properties"),
}
LAGO_SUBSCRIPTION = "sub-1"  # in the workspace, for the customer "cust-9"

_STRINGS = st.sampled_from(
    ["llm.usage", "c1", " ", "\u3000", "a,b", 'q"uote', "semi;colon", "ユーザー", "line\nbreak"]
)
_KEYS = st.sampled_from(
    ["tokens", "model", "a.b", 'q"k', "semi;colon", "c,omma", "ключ", "sp ace", "x:y"]
)
_NUMBER_LITERALS = st.one_of(
    st.sampled_from(
        [
            "0", "-0", "1e3", "1E+2", "0.10", "-12.000", "12345678901234567890.5",
            "123456789012345678901234567", "0.0000000000001", "1.5e-13", "2.5e-12",
            "99999999999999999999999999.9999999999995", "1e-400", "1e400",
        ]
    ),
    st.integers(min_value=-(10**28), max_value=10**28).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=14).map(lambda d: format(d, "f")),
)  # fmt: skip
_TEXT_VALUES = st.sampled_from(
    [" ", "abc", "12.5", "1e3", "-0", "0.10", "٣", "true", "null", " 1", "+2", ".5", "1_000"]
)
_PROPERTY_VALUES: st.SearchStrategy[Value | None] = st.one_of(
    _NUMBER_LITERALS.map(lambda n: ("n", n)),
    st.one_of(_TEXT_VALUES, _STRINGS).map(lambda s: ("s", s)),
    st.sampled_from(["1", "12.5", "0.1"]).map(lambda n: ("n", n)),
    st.booleans().map(lambda b: ("b", b)),
    st.none(),
)
_EPOCHS = st.one_of(
    st.sampled_from(
        [
            "1709294400", "1709294400123", "1709294400.5", "1.7092944e9", "99999999999",
            "100000000000", "-1", "-0", "0", "253402300799", "253402300799999",
            "-62135596800", "-62135596801", "1e17", "1e400", "1709294400.0000019",
        ]
    ),
    st.integers(min_value=-(10**14), max_value=10**14).map(str),
)  # fmt: skip
_ISO = st.one_of(
    st.sampled_from(
        [
            "2024-03-01T12:00:00Z", "2024-03-01T12:00:00.123456+05:30", "2024-03-01T12:00:00",
            "2024-02-30T00:00:00Z", "2024-03-01T12:00:00z", "2024-03-01 12:00:00-01:00",
            "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z",
            "9999-12-31T23:59:59-01:00", "2024-03-01T12:00:00.1234567Z", "noon", " ",
        ]
    ),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat()),
)  # fmt: skip
_TIMESTAMPS: st.SearchStrategy[Value] = st.one_of(
    st.just(("s", "2024-03-01T12:00:00Z")),  # plain values, so that the fast paths take part
    _EPOCHS.map(lambda n: ("n", n)),
    _EPOCHS.map(lambda s: ("s", s)),
    _ISO.map(lambda s: ("s", s)),
)
#: A required string: plain half the time (the fast paths read it), else awkward.
_PLAIN_OR_NOT = st.one_of(st.sampled_from(["llm.usage", "c1"]), _STRINGS)


@st.composite
def _examples(draw: st.DrawFn) -> list[Record]:
    """Records of one shape, or of a shape drawn per record ("mixed")."""
    shapes = sorted(SHAPE_FIELDS)
    chosen = draw(st.sampled_from([*shapes, "mixed"]))
    ids = st.sampled_from(["a", "b", " "])  # repeats are duplicates
    records = []
    for _ in range(draw(st.integers(1, 5))):
        shape = draw(st.sampled_from(shapes)) if chosen == "mixed" else chosen
        event_id = draw(ids if shape in ("cloudevents", "lago") else st.one_of(st.none(), ids))
        customer = draw(_PLAIN_OR_NOT)
        if shape == "lago" and draw(st.booleans()):
            customer = draw(st.sampled_from([LAGO_SUBSCRIPTION, "sub-unknown"]))
        properties = None
        if draw(st.booleans()):
            keys = draw(st.lists(_KEYS, max_size=3, unique=True))
            properties = {key: draw(_PROPERTY_VALUES) for key in keys}
        records.append(
            Record(
                shape=shape,
                event_id=event_id,
                name=draw(_PLAIN_OR_NOT),
                customer=customer,
                timestamp=draw(_TIMESTAMPS),
                source=None if shape == "lago" else draw(st.sampled_from([None, "", "api", " "])),
                properties=properties,
            )
        )
    return records


# -- writers -----------------------------------------------------------------------------


def _json_value(value: Value | None) -> str:
    if value is None:
        return "null"
    kind, item = value
    if kind == "s":
        return json.dumps(item, ensure_ascii=False)
    if kind == "b":
        return "true" if item else "false"
    return str(item)


def _text(value: Value | None) -> str | None:
    """The value as a CSV cell or a Parquet string (None: empty cell, null)."""
    if value is None:
        return None
    kind, item = value
    if kind == "b":
        return "true" if item else "false"
    return str(item)


def _tagged(tag: str, event_id: str | None) -> str | None:
    """The event id as written in the file of format ``tag``: unique across files."""
    return f"{tag}:{event_id}" if event_id is not None and event_id.strip() else event_id


def _customer_field(shape: str, customer: str) -> str:
    if shape == "lago" and customer.startswith("sub-"):
        return "external_subscription_id"
    return SHAPE_FIELDS[shape][2]


def _fields(tag: str, record: Record) -> dict[str, Value | None]:
    """The record's top-level fields (properties apart) as values, absent ones left out."""
    shape = record.shape
    id_field, name_field, _, time_field, _ = SHAPE_FIELDS[shape]
    fields: dict[str, Value | None] = {}
    if shape == "cloudevents":
        fields["specversion"] = ("s", "1.0")
    event_id = _tagged(tag, record.event_id)
    if event_id is not None:
        fields[id_field] = ("s", event_id)
    fields[name_field] = ("s", record.name)
    fields[_customer_field(shape, record.customer)] = ("s", record.customer)
    fields[time_field] = record.timestamp
    if record.source is not None:
        fields["source"] = ("s", record.source)
    return fields


def _properties_json(record: Record) -> str | None:
    if record.properties is None:
        return None
    pairs = (
        f"{json.dumps(key, ensure_ascii=False)}:{_json_value(value)}"
        for key, value in record.properties.items()
    )
    return "{" + ",".join(pairs) + "}"


def _properties_field(record: Record) -> str:
    return SHAPE_FIELDS[record.shape][4]


def _json_lines(tag: str, records: list[Record], newline: str) -> bytes:
    lines = []
    for record in records:
        members = [
            f"{json.dumps(name)}:{_json_value(value)}"
            for name, value in _fields(tag, record).items()
        ]
        properties = _properties_json(record)
        if properties is not None:
            members.append(f'"{_properties_field(record)}":{properties}')
        lines.append("{" + ",".join(members) + "}" + newline)
    return "".join(lines).encode()


def _columns(records: list[Record]) -> list[str]:
    """Every top-level field any record has, in a fixed order."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(_fields("t", record)))
    return list(names)


def _properties_fields(records: list[Record]) -> list[str]:
    """The fields holding the records' properties (``properties``, ``data``)."""
    return sorted({_properties_field(record) for record in records})


def _keys(records: list[Record]) -> list[str]:
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record.properties or {}))
    return list(keys)


def _csv(tag: str, records: list[Record], newline: str, *, json_column: bool) -> bytes:
    columns, keys = _columns(records), _keys(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    objects = _properties_fields(records)
    extra = objects if json_column else [f"properties.{key}" for key in keys]
    writer.writerow(columns + extra)
    for record in records:
        fields = _fields(tag, record)
        row = [_text(fields.get(name)) or "" for name in columns]
        if json_column:
            mine = _properties_field(record)
            row.extend(_properties_json(record) or "" if name == mine else "" for name in objects)
        else:
            given = record.properties or {}
            row.extend(_text(given.get(key)) or "" for key in keys)
        writer.writerow(row)
    return buffer.getvalue().encode()


def _parquet(
    tag: str, records: list[Record], layout: str, instants: list[int] | None = None
) -> bytes:
    """The records as Parquet: text columns, the properties in ``layout``, and the
    timestamp a TIMESTAMP column of ``instants`` (microseconds) if given."""
    columns, keys = _columns(records), _keys(records)
    table: dict[str, pa.Array] = {}
    rows = [_fields(tag, record) for record in records]
    for name in columns:
        table[name] = pa.array([_text(row.get(name)) for row in rows], pa.string())
    if instants is not None:
        for name in {SHAPE_FIELDS[record.shape][3] for record in records}:
            mine = [
                instant if SHAPE_FIELDS[record.shape][3] == name else None
                for record, instant in zip(records, instants, strict=True)
            ]
            table[name] = pa.array(mine, pa.timestamp("us", tz="UTC"))

    def given(field: str) -> list[dict[str, Value | None] | None]:
        """Each record's properties if it keeps them in ``field``, else None."""
        return [r.properties if _properties_field(r) == field else None for r in records]

    objects = _properties_fields(records)
    if layout == "struct" and keys:
        struct = pa.struct([(key, pa.string()) for key in keys])
        for field in objects:
            values = [
                None if p is None else {key: _text(p.get(key)) for key in keys}
                for p in given(field)
            ]
            table[field] = pa.array(values, struct)
    elif layout == "map":
        for field in objects:
            pairs = [
                None if p is None else [(key, _text(value)) for key, value in p.items()]
                for p in given(field)
            ]
            table[field] = pa.array(pairs, pa.map_(pa.string(), pa.string()))
    elif layout == "json":
        for field in objects:
            texts = [
                _properties_json(r) if _properties_field(r) == field else None for r in records
            ]
            table[field] = pa.array(texts, pa.string())
    elif layout == "columns":
        given_all = [record.properties for record in records]
        for key in keys:
            values = [None if p is None else _text(p.get(key)) for p in given_all]
            table[f"properties.{key}"] = pa.array(values, pa.string())
    sink = io.BytesIO()  # the tag in the metadata: never two files of the same bytes
    pq.write_table(pa.table(table).replace_schema_metadata({"tag": tag}), sink)
    return sink.getvalue()


def _instants(records: list[Record]) -> list[int] | None:
    """Each record's instant (microseconds), or None if some timestamp is not one."""
    try:
        return [
            parse_timestamp(JsonNumber(item) if kind == "n" else item)
            for kind, item in (record.timestamp for record in records)
        ]
    except RecordRejected:
        return None


def write_formats(
    folder: Path, records: list[Record], *, newline: str = "\n", bom: bool = False
) -> dict[str, Path]:
    """The records in every format and layout: tag -> file (the tag is in its ids); text
    files with lines ending in ``newline``, and a BOM first if ``bom``."""
    start = b"\xef\xbb\xbf" if bom else b""
    jsonl = start + _json_lines("jsonl", records, newline)
    # One blank line more (read as no record) gives the gzip'd files content of their
    # own: records without ids derive them from the content, compressed or not.
    jsonl_gz = start + _json_lines("jsonl.gz", records, newline) + newline.encode()
    csv_columns = start + _csv("csv", records, newline, json_column=False)
    csv_gz = start + _csv("csv.gz", records, newline, json_column=False) + newline.encode()
    csv_json = start + _csv("csv-json", records, newline, json_column=True)
    elements = _json_lines("json-array", records, "\n").decode().split("\n")[:-1]
    array = start + ("[" + ("," + newline).join(elements) + "]" + newline).encode()
    contents = {
        "jsonl": ("e.jsonl", jsonl),
        "json-array": ("a.json", array),
        "jsonl.gz": ("e.jsonl.gz", gzip.compress(jsonl_gz)),
        "csv": ("e.csv", csv_columns),
        "csv.gz": ("e.csv.gz", gzip.compress(csv_gz)),
        "csv-json": ("j.csv", csv_json),
    }
    for layout in ("struct", "map", "json", "columns"):
        tag = f"parquet-{layout}"
        contents[tag] = (f"{layout}.parquet", _parquet(tag, records, layout))
    instants = _instants(records)
    if instants is not None:  # every timestamp an instant: a TIMESTAMP column can say them
        for layout in ("struct", "columns"):  # the Parquet fast path's layouts
            tag = f"parquet-typed-{layout}"
            data = _parquet(tag, records, layout, instants)
            contents[tag] = (f"typed-{layout}.parquet", data)
    folder.mkdir(parents=True)
    paths = {}
    for tag, (name, data) in contents.items():
        paths[tag] = folder / name
        paths[tag].write_bytes(data)
    return paths


# -- outcomes ----------------------------------------------------------------------------


def outcomes(root: Path, paths: dict[str, Path], *, shape: Shape) -> dict[str, dict[int, Any]]:
    """Ingest every file at once into a new workspace; per tag, what became of each
    record (by record number): ("event", id, lake row), ("duplicate", id) or
    ("rejected", reason), ids without their tag (derived: "derived")."""
    root.mkdir()
    con = connect_state(root)
    try:
        con.execute(
            "INSERT INTO subscriptions VALUES (?, 'cust-9', 'basic', "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00', NULL, 'anniversary')",
            [LAGO_SUBSCRIPTION],
        )
        workspace = Workspace(root, con)
        result = workspace.ingest(*paths.values(), shape=shape)
        rejects = con.execute(
            "SELECT source_file, record_number, reason FROM rejected_events"
        ).fetchall()
        duplicates = con.execute(
            "SELECT source_file, record_number, event_id FROM duplicate_events"
        ).fetchall()
        rows = workspace.lake_rows()
    finally:
        con.close()
    tag_of = {str(path): tag for tag, path in paths.items()}
    derived: dict[str, tuple[str, int]] = {}
    for tag, path in paths.items():
        content = path.read_bytes()
        if path.suffix == ".gz":  # ids derive from the content, not its compression
            content = gzip.decompress(content)
        digest = hashlib.sha256(content).hexdigest()
        for number in range(1, result.records_read + 1):
            derived[derive_event_id(digest, number)] = (tag, number)
    found: dict[str, dict[int, Any]] = {tag: {} for tag in paths}

    def untagged(event_id: str) -> tuple[str, str]:
        if event_id in derived:
            return derived[event_id][0], "derived"
        tag, _, rest = event_id.partition(":")
        return tag, rest

    for source, number, reason in rejects:
        found[tag_of[source]][number] = ("rejected", reason)
    for source, number, event_id in duplicates:
        found[tag_of[source]][number] = ("duplicate", untagged(event_id)[1])
    for row in rows:
        event_id = row.pop("event_id")
        del row["ingest_id"]
        tag, plain = untagged(event_id)
        number = derived[event_id][1] if plain == "derived" else None
        key = number if number is not None else ("id", plain)
        found[tag][key] = ("event", plain, row)  # type: ignore[index]
    return found


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=_examples(),
    forced=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_every_format_gives_the_same_events(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[Record],
    forced: bool,
    newline: str,
    bom: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("formats")
    paths = write_formats(tmp / "in", records, newline=newline, bom=bom)
    # forced: the records' shape (mixed: the first one's, which rejects the others alike)
    forced_shape = records[0].shape if forced else "auto"
    found = outcomes(tmp / "ws", paths, shape=forced_shape)  # type: ignore[arg-type]
    reference = found.pop("jsonl")
    for tag, outcome in found.items():
        assert outcome == reference, tag


# -- typed Parquet columns ---------------------------------------------------------------

_IDS = pa.array(["a", "b", "c"])
_NAMES = pa.array(["llm.usage"] * 3)
_CUSTOMERS = pa.array(["c1"] * 3)
_NOON = pa.array(["2024-03-01T12:00:00Z"] * 3)


def _noon_json(**fields: str) -> list[str]:
    """Three JSON records like the typed rows: ids a, b, c, at noon, ``fields`` a JSON
    text per record (a list of three), others as in ``_typed``."""
    lines = []
    for i, event_id in enumerate("abc"):
        members = {
            "event_id": '"' + event_id + '"',
            "event_name": '"llm.usage"',
            "customer_id": '"c1"',
            "timestamp": '"2024-03-01T12:00:00Z"',
        }
        members.update({name: values[i] for name, values in fields.items()})
        lines.append("{" + ",".join(f'"{k}":{v}' for k, v in members.items()) + "}")
    return lines


def _typed(**columns: pa.Array) -> pa.Table:
    base = {"event_id": _IDS, "event_name": _NAMES, "customer_id": _CUSTOMERS, "timestamp": _NOON}
    return pa.table({**base, **columns})


_NEW_YORK = pa.timestamp("ms", tz="America/New_York")
_NOON_NAIVE = datetime(2024, 3, 1, 12)  # Arrow reads it as UTC

#: (typed Parquet table, the same records as JSON lines).
TYPED_CASES = {
    "int32 epoch seconds": (
        _typed(timestamp=pa.array([1709294400, 0, -1], pa.int32())),
        _noon_json(timestamp=["1709294400", "0", "-1"]),
    ),
    "int64 epoch milliseconds at the boundary": (
        _typed(timestamp=pa.array([1709294400123, 99999999999, 100000000000], pa.int64())),
        _noon_json(timestamp=["1709294400123", "99999999999", "100000000000"]),
    ),
    "decimal epoch": (
        _typed(
            timestamp=pa.array([Decimal("1709294400.5"), Decimal(1000), None], pa.decimal128(20, 3))
        ),
        _noon_json(timestamp=["1709294400.500", "1000.000", "null"]),
    ),
    "float64 epoch": (
        _typed(timestamp=pa.array([1709294400.5, 1e11, float("nan")], pa.float64())),
        _noon_json(timestamp=["1709294400.5", "100000000000.0", '"NaN"']),
    ),
    "timestamp in a zone": (
        _typed(timestamp=pa.array([_NOON_NAIVE] * 3, _NEW_YORK)),
        _noon_json(timestamp=['"2024-03-01T07:00:00-05:00"'] * 3),
    ),
    "nanosecond timestamps": (
        _typed(timestamp=pa.array([1, -1, 1709294400123456789], pa.timestamp("ns"))),
        _noon_json(
            timestamp=[
                '"1970-01-01T00:00:00Z"',
                '"1969-12-31T23:59:59.999999Z"',
                '"2024-03-01T12:00:00.123456Z"',
            ]
        ),
    ),
    "binary, large and dictionary strings": (
        _typed(
            event_name=pa.array([b"llm.usage", b"\xff", None], pa.binary()),
            customer_id=pa.array(["c1", "c1", "c1"], pa.large_string()),
            source=pa.array(["api", "", None]).dictionary_encode(),
        ),
        [
            *_noon_json(source=['"api"', '""', "null"])[:1],
            _noon_json(event_name=['"\\udcff"'] * 3)[1],  # as \xff, not text: bad_encoding
            _noon_json(event_name=["null"] * 3)[2],
        ],
    ),
    "decimal, integer, boolean and binary properties": (
        _typed(
            properties=pa.array(
                [
                    {"d": Decimal("0.10"), "i": -(2**63), "u": 2**64 - 1, "b": True, "s": b"x"},
                    {"d": Decimal(0), "i": 0, "u": 0, "b": False, "s": b"12.5"},
                    None,
                ],
                pa.struct(
                    [
                        ("d", pa.decimal128(10, 2)),
                        ("i", pa.int64()),
                        ("u", pa.uint64()),
                        ("b", pa.bool_()),
                        ("s", pa.binary()),
                    ]
                ),
            )
        ),
        _noon_json(
            properties=[
                '{"d":0.10,"i":-9223372036854775808,"u":18446744073709551615,"b":true,"s":"x"}',
                '{"d":0.00,"i":0,"u":0,"b":false,"s":"12.5"}',
                "null",
            ]
        ),
    ),
    "a struct with a field twice": (
        _typed(
            properties=pa.StructArray.from_arrays(
                [pa.array([1, 3, None]), pa.array([2, 4, None])],
                fields=[pa.field("a", pa.int64()), pa.field("a", pa.int64())],
            )
        ),
        _noon_json(properties=['{"a":1,"a":2}', '{"a":3,"a":4}', '{"a":null,"a":null}']),
    ),
    "list and struct values are nested": (
        _typed(
            **{
                "properties.l": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
                "properties.s": pa.array([None, None, {"x": 1}], pa.struct([("x", pa.int8())])),
            }
        ),
        _noon_json(properties=['{"l":[1,2]}', '{"l":[]}', '{"s":{"x":1}}']),
    ),
    "float32 and date properties": (
        _typed(
            **{
                "properties.f": pa.array([0.1, 16777217.0, -2.0], pa.float32()),
                "properties.d": pa.array([date(2024, 3, 1), None, None], pa.date32()),
            }
        ),
        # a float32 is its shortest text (0.1), as a float64 is; 16777217 has no float32
        _noon_json(properties=['{"f":0.1,"d":"2024-03-01"}', '{"f":16777216.0}', '{"f":-2.0}']),
    ),
}


@pytest.mark.parametrize(("table", "lines"), TYPED_CASES.values(), ids=TYPED_CASES.keys())
def test_typed_parquet_columns_read_as_the_json_values_they_hold(
    tmp_path: Path, table: pa.Table, lines: list[str]
) -> None:
    parquet = tmp_path / "typed.parquet"
    pq.write_table(table, parquet)
    jsonl = tmp_path / "same.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    typed = ingest_outcome(tmp_path / "typed", parquet)
    same = ingest_outcome(tmp_path / "same", jsonl)
    for outcome in (typed, same):  # (record number, reason); messages differ
        outcome["rejects"] = [(number, reason) for number, reason, *_ in outcome["rejects"]]
    assert typed == same
