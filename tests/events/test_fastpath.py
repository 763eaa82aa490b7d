"""The JSON lines fast path gives exactly what the exact (per-record) path gives.

Each case ingests the same file twice into fresh workspaces: once as shipped (fast path
on) and once with the fast path switched off, and compares counts, lake rows, rejects
(reason, message, raw) and duplicates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbill.events import fastpath, ingest, ingest_paths, json_arrays
from meterbill.events.readers import SourceRecord
from meterbill.events.rejects import Reject
from meterbill.events.schema import JsonNumber, parse_timestamp
from meterbill.events.shapes import SHAPES, Shape
from meterbill.state import connect_state

from .helpers import Workspace, ingest_outcome


def _both_paths(
    tmp: Path,
    data: bytes,
    monkeypatch: pytest.MonkeyPatch,
    *,
    chunk_bytes: int | None = None,
    shape: Shape = "auto",
    name: str = "in.jsonl",
) -> tuple[dict[str, Any], dict[str, Any]]:
    path = tmp / name
    path.write_bytes(data)
    with monkeypatch.context() as patch:
        if chunk_bytes is not None:
            patch.setattr(ingest, "CHUNK_BYTES", chunk_bytes)
        fast = ingest_outcome(tmp / "fast", path, shape=shape)
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "LAYOUTS", {})
        exact = ingest_outcome(tmp / "exact", path, shape=shape)
    return fast, exact


def _json(base: dict[str, object], fields: dict[str, object]) -> str:
    """One JSON line: ``base`` with ``fields`` over it (a field given as ``...`` is left
    out)."""
    record = {**base, **fields}
    return json.dumps({k: v for k, v in record.items() if v is not ...}, ensure_ascii=False)


_NATIVE: dict[str, object] = {
    "event_id": "e",
    "event_name": "llm.usage",
    "customer_id": "c1",
    "timestamp": "2024-03-01T12:00:00Z",
}


def _line(props: object = ..., **fields: object) -> str:
    return _json(_NATIVE, {"properties": props, **fields})


#: Lines at the edges of what the fast path may prove (each one a record of the file).
EDGE_LINES: list[str | bytes] = [
    _line({"tokens": 12, "cost": 0.191036, "model": "gpt-4o"}, event_id="ok-1"),
    _line({"a": 0.1, "b": 12345678901234567890.5, "c": -0, "d": 0.0}, event_id="numbers"),
    '{"event_id":"exp","event_name":"n","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
    '"properties":{"e":1E+2,"f":1e-13,"g":0.1234567890125,"h":123456789012345678901234567}}',
    _line({"s": "+1", "t": ".5", "u": "1.", "v": "007", "w": "1e5", "x": "٣", "y": "-.5"}),
    _line({"s": "0.12345678901234"}, event_id="long-fraction-text"),
    _line({"n": None, "b": True, "f": False, "nested": {"x": 1}}, event_id="nested"),
    _line({"n": None}, event_id="only-null"),
    _line([1, 2], event_id="props-array"),
    _line({"": 1}, event_id="empty-key"),
    _line({"": None}, event_id="empty-key-null"),
    _line({"s": "+.5", "t": "-0.", "u": "00.5"}, event_id="odd-number-texts"),
    _line({"k:ey": "v:a:l"}, event_id="colons", source="s:rc"),
    _line({"it's": 1, "a;b": "x'; DROP TABLE t; --", "a.b": 2, "a b": 3, "$[0]*": 4}),
    _line({f"k{n}": n for n in range(40)}, event_id="wide"),
    '{"event_id":"dup-top","event_name":"a","event_name":"b","customer_id":"c",'
    '"timestamp":"2024-03-01T00:00:00Z"}',
    '{"event_id":"dup-prop","event_name":"a","customer_id":"c",'
    '"timestamp":"2024-03-01T00:00:00Z","properties":{"k":"c","k":"a:b"}}',
    '{"event_id":"dup-prop2","event_name":"a","customer_id":"c",'
    '"timestamp":"2024-03-01T00:00:00Z","properties":{"k":"a:b","k":"c"}}',
    _line(event_id="unknown", extra="x"),
    _line(event_id="alias-same", external_customer_id="c1"),
    _line(event_id="alias-other", external_customer_id="c2"),
    _line(event_id="alias-only", customer_id=..., external_customer_id="c3"),
    _line(event_id="alias-blank", customer_id=..., external_customer_id=" "),
    _line(event_id="alias-null", customer_id=..., external_customer_id=None),
    _line(event_id="blank-name", event_name="  "),
    _line(event_id="ideographic-space", event_name="\u3000"),
    _line(event_id="unicode-name", event_name="ユーザー"),
    _line(event_id="", event_name="x"),
    _line(event_id=None),
    _line(event_id=...),
    _line(event_id=7),
    _line(event_id="src-empty", source=""),
    _line(event_id="src-null", source=None),
    _line(event_id="src-num", source=5),
    _line(event_id="cust-null", customer_id=None),
    _line(event_id="no-name", event_name=...),
    _line(event_id="no-customer", customer_id=...),
    _line(event_id="no-timestamp", timestamp=...),
    _line(event_id="props-null", properties=None),
    _line(event_id="props-text", properties="x"),
    _line({"a": 1.50, "b": 1e-7, "c": 0.000001, "d": 123456789012345678}, event_id="non-canonical"),
    _line({"a": 0.1, "b": 123456789012345, "c": -0.5, "d": 0.000000000001}, event_id="canonical"),
    _line(event_id="ts-lower-z", timestamp="2024-03-01T12:00:00z"),
    _line(event_id="ts-no-offset", timestamp="2024-03-01T12:00:00"),
    _line(event_id="ts-offset", timestamp="2024-03-01T12:00:00.5+05:30"),
    _line(event_id="ts-7-digits", timestamp="2024-03-01T12:00:00.1234567Z"),
    _line(event_id="ts-feb-30", timestamp="2026-02-30T00:00:00Z"),
    _line(event_id="ts-24", timestamp="2024-03-01T24:00:00Z"),
    _line(event_id="ts-year-1", timestamp="0001-01-01T00:30:00+01:00"),
    _line(event_id="ts-epoch", timestamp=1700000000),
    _line(event_id="ts-epoch-text", timestamp="1700000000000"),
    _line(event_id="ts-epoch-ms", timestamp=1700000000123),
    _line(event_id="ts-epoch-negative", timestamp=-86400),
    _line(event_id="ts-epoch-zero", timestamp=0),
    _line(event_id="ts-epoch-last-second", timestamp=99999999999),
    _line(event_id="ts-epoch-first-ms", timestamp=100000000000),
    _line(event_id="ts-epoch-min", timestamp=-62135596800),
    _line(event_id="ts-epoch-before-min", timestamp=-62135596801),
    _line(event_id="ts-epoch-after-max", timestamp=253402300800000),
    _line(event_id="ts-epoch-15-digits", timestamp=999999999999999),
    _line(event_id="ts-epoch-16-digits", timestamp=1000000000000000),
    _line(event_id="ts-epoch-fraction", timestamp=1700000000.5),
    _line(event_id="ts-epoch-fraction-ms", timestamp=1700000000123.25),
    _line(event_id="ts-epoch-fraction-negative", timestamp=-62135596799.999999),
    _line(event_id="ts-epoch-fraction-text", timestamp="1700000000.000001"),
    _line(event_id="ts-epoch-fraction-places", timestamp=12.123456),
    _line(event_id="ts-epoch-fraction-before-min", timestamp=-62135596800.5),
    _line(event_id="ts-epoch-fraction-last", timestamp=253402300799.999),
    '{"event_id":"ts-epoch-exponent","event_name":"a","customer_id":"c","timestamp":1.7e9}',
    '{"event_id":"ts-epoch-minus-zero","event_name":"a","customer_id":"c","timestamp":-0}',
    _line({"Model": "x"}, event_id="case-1"),
    _line({"model": "y"}, event_id="case-2"),
    _line(event_id="ok-1"),  # a duplicate of the first line
    '{"event_id":"esc","event_name":"a\\u0062","customer_id":"c","timestamp":"2024-03-01T00:00:00Z"}',
    b'{"event_id":"bad-utf8","event_name":"\xff","customer_id":"c","timestamp":"2024-03-01T00:00:00Z"}',
    b'{"event_id":"bad-utf8-prop","event_name":"a","customer_id":"c",'
    b'"timestamp":"2024-03-01T00:00:00Z","properties":{"k":"\xc0\x80"}}',
    _line(event_id="crlf") + "\r",
    _line(event_id="crlf-twice") + "\r\r",
    _line(event_id="crlf-twice-rejected", event_name=" ") + "\r\r",  # raw keeps one CR
    _line(event_id="cr-inside").replace(", ", ",\r", 1),
    "",
    "   ",
    _line(event_id="two-1") + _line(event_id="two-2"),
    '{"event_id":"nan","event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
    '"properties":{"x":NaN}}',
    "[1, 2]",
    # a key twice in the object of a field no shape reads: Python's reader refuses it
    '{"event_id":"dup-extra","event_name":"a","customer_id":"c",'
    '"timestamp":"2024-03-01T00:00:00Z","meta":{"k":1,"k":2}}',
    _line(event_id="extra-object", meta={"k": 1, "j": 2}, extra=1),
    _line({"deep": "DEEP"}, event_id="deep").replace('"DEEP"', "[" * 3000 + "]" * 3000),
    '{"event_name":"no-id-cloud","type":"t","specversion":"1.0"}',
    '{"id":"ce-1","type":"t","subject":"c","time":"2024-03-01T00:00:00Z","specversion":"1.0"}',
    _line(event_id="trunc")[:-3],
]


@pytest.mark.parametrize(
    ("chunk_bytes", "shape"), [(None, "auto"), (300, "auto"), (300, "native"), (300, "flexprice")]
)
def test_edge_lines_give_the_same_lake_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int | None, shape: Shape
) -> None:
    data = b"\xef\xbb\xbf" + b"\n".join(
        line if isinstance(line, bytes) else line.encode() for line in EDGE_LINES
    )
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=chunk_bytes, shape=shape)
    assert fast == exact
    accepted = {row["event_id"] for row in fast["rows"]}
    if shape == "flexprice":
        assert {"alias-only", "alias-same", "alias-other"} <= accepted
        assert "ok-1" not in accepted  # Flexprice's customer_id is its own internal id
    else:
        assert {"ok-1", "numbers", "colons", "ts-offset", "unicode-name", "alias-only"} <= accepted
    assert fast["counts"][0][0] == len(EDGE_LINES) - 2  # the blank lines are not records


@pytest.mark.parametrize("chunk_bytes", [None, 1, 3, 100])
def test_a_bom_beyond_the_first_one_is_part_of_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int | None
) -> None:
    # Arrow's CSV reader drops a BOM that starts its data: a chunk may start with the
    # BOM of a later line (or the file with two), which the exact path refuses; and the
    # file's own BOM is dropped whatever the chunk size
    bom = b"\xef\xbb\xbf"
    one, two = _line(event_id="one").encode(), _line(event_id="two").encode()
    data = bom + bom + one + b"\n" + bom + two + b"\r\n" + one
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=chunk_bytes)
    assert fast == exact
    assert [reason for _, reason, _, _ in fast["rejects"]] == ["bad_json", "bad_json"]
    assert [row["event_id"] for row in fast["rows"]] == ["one"]
    assert fastpath.split_lines(bom + one).lines.to_pylist() == [bom + one]


def test_crlf_files_give_the_same_lake_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"\r\n".join(line if isinstance(line, bytes) else line.encode() for line in EDGE_LINES)
    fast, exact = _both_paths(tmp_path, data + b"\r\n", monkeypatch)
    assert fast == exact
    assert {"ok-1", "numbers", "ts-offset"} <= {row["event_id"] for row in fast["rows"]}


def test_the_fast_path_takes_plain_native_lines() -> None:
    lines = [_line({"tokens": 12, "cost": 0.5, "model": "m"}, event_id=f"e{i}") for i in range(3)]
    chunk = fastpath.read_chunk(
        "\n".join(lines).encode(), first_line=1, seq_base=10, file_index=0, derive_id=str
    )
    assert chunk.records == 3
    assert chunk.slow == []
    assert chunk.table is not None
    assert chunk.table.column("_seq").to_pylist() == [11, 12, 13]
    assert chunk.table.column("p__cost").to_pylist() == ["0.5"] * 3
    assert str(chunk.table.column("n__cost")[0].as_py()) == "0.500000000000"
    assert chunk.keys == {"tokens", "cost", "model"}


#: (line, whether the fast path may take it): what the grammar and the query prove.
PROVABLE: list[tuple[str, bool]] = [
    ('{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z"}', True),
    (
        '{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z","properties":'
        '{"a":0.1,"b":123456789012345,"c":-0.5,"d":0.000001,"e":"x","f":0}}',
        True,
    ),
    (_line({"n": None, "t": True, "s": "12.5", "u": "ユ"}, source="", event_id=None), True),
    (_line(timestamp="2024-03-01T12:00:00.123456+05:30"), True),
    (_line() + "\r\n", True),  # a CRLF line end
    (_line() + "\r", False),  # a CR without LF is part of the line
    (_line({"a": 1.50}), True),  # json.dumps writes 1.5
    (
        '{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
        '"properties":{"a":1.50}}',
        False,
    ),  # a trailing zero: the re-print would drop it
    (_line({"a": 1e-7}), False),  # an exponent
    (
        '{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
        '"properties":{"a":0.000000000001}}',
        False,
    ),  # re-printed as 1e-12
    (_line({"a": 1234567890123456}), False),  # 16 digits
    (_line({"a": 0.1234567890123}), False),  # 13 places
    (_line({"a": {"b": 1}}), False),  # nested
    (_line({"": 1}), False),
    (_line(event_name=" "), False),
    (_line(event_id=""), False),
    (_line(timestamp="2024-03-01T12:00:00"), False),
    (_line(timestamp="2024-02-30T12:00:00Z"), False),
    (_line(timestamp=1700000000), True),  # epoch seconds
    (_line(timestamp=1700000000123), True),  # epoch milliseconds
    (_line(timestamp=-1), True),
    (_line(timestamp=1700000000.5), True),  # a fraction of at most 6 places, 15 digits
    (_line(timestamp=1700000000.12345), True),
    (_line(timestamp=1700000000.123456), False),  # 16 digits: the exact path
    (_line(timestamp=1.1234567), False),  # 7 places: not whole microseconds
    (_line(timestamp=0.5), False),  # below 1: DuckDB re-prints with an exponent
    (_line(timestamp=-1.5), True),
    (_line(timestamp=170000000012.5), True),  # milliseconds with a fraction
    ('{"event_name":"a","customer_id":"c","timestamp":1700000000.50}', False),  # not canonical
    (_line(timestamp="1700000000.25"), True),  # an epoch number as text reads alike
    (_line(timestamp="1700000000"), True),
    (_line(timestamp=" 1700000000"), False),
    (_line(timestamp=253402300800000), False),  # after 9999-12-31
    (_line(timestamp=True), False),
    (_line(extra=1, environment_id="env_1", meta={"a": 1}), True),  # fields no shape reads
    (_line({"it's": 1, "a;b": "x'; DROP TABLE t; --", "a.b": 2, "a b": 3, "$[0]*": 4}), True),
    (_line({f"k{n}": n for n in range(60)}), True),  # wide events
    (_line({f"k{n}": f"v{n}" for n in range(256)}), True),
    (_line({f"k{n}": n for n in range(260)}), False),  # more keys than the query reads
    (_line(extra=[1]), False),
    (
        '{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
        '"meta":{"k":1,"k":2}}',
        False,
    ),  # a key twice in an object the exact path ignores: still a duplicate_key
    (_line(extra={"a": {"b": 1}}), False),
    (_line(extra=1.50), True),  # json.dumps writes 1.5
    (_line(type="t"), False),  # a field some shape reads
    (
        '{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
        '"extra":1,"extra":2}',
        False,
    ),
    (_line(external_customer_id="c"), False),  # both: the exact path checks they agree
    (_line(customer_id=..., external_customer_id="c"), True),  # Flexprice's customer field
    (_line(event_name="a\tb"), False),  # an escape
    (
        '{"event_name":"a","event_name":"b","customer_id":"c","timestamp":"2024-03-01T00:00:00Z"}',
        False,
    ),
    (
        '{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
        '"properties":{"k":1,"k":2}}',
        False,
    ),
    ('{"event_name":"a","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",}', False),
]


@pytest.mark.parametrize(("line", "fast"), PROVABLE)
def test_what_the_fast_path_proves(line: str, fast: bool) -> None:
    chunk = fastpath.read_chunk(
        line.encode(), first_line=1, seq_base=0, file_index=0, derive_id=str
    )
    assert chunk.records == 1
    assert (chunk.table is not None, len(chunk.slow)) == (fast, 0 if fast else 1)


def test_property_keys_are_learned_from_chunk_to_chunk() -> None:
    first = fastpath.read_chunk(
        _line({"a": 1}).encode(), first_line=1, seq_base=0, file_index=0, derive_id=str
    )
    second = fastpath.read_chunk(
        (_line({"a": 2}) + "\n" + _line({"b": 3})).encode(),
        first_line=2,
        seq_base=1,
        file_index=0,
        derive_id=str,
        hint=first.keys,
    )
    assert (first.keys, second.keys, second.slow) == ({"a"}, {"a", "b"}, [])
    assert second.table is not None
    assert second.table.column("p__b").to_pylist() == [None, "3"]


_KEYS = st.sampled_from(["tokens", "cost", "model", "Model", "k:v", "", "ключ"])
#: Property values as JSON text (numbers as literals, never through float).
_VALUES = st.one_of(
    st.sampled_from(
        ["null", "true", "false", '{"x":1}', '{"x":1,"x":2}', "[1]", "1E+2", "1e-13", "-0"]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(0, 14)
    .flatmap(lambda places: st.decimals(allow_nan=False, allow_infinity=False, places=places))
    .map(lambda d: format(d, "f")),
    st.sampled_from(["", " ", "1.5", "+2", ".5", "1e3", "abc", "a:b", "٣", "0.1234567890123"]).map(
        json.dumps
    ),
    st.text(max_size=6).map(lambda t: json.dumps(t, ensure_ascii=False)),
)
_TIMESTAMPS = st.sampled_from(
    [
        "2024-03-01T12:00:00Z",
        "2024-03-01T12:00:00.123456+02:00",
        "2024-03-01T12:00:00",
        "2024-02-30T00:00:00Z",
        "2024-03-01T12:00:00z",
        "1700000000",
        "",
    ]
)


#: Epoch timestamps as JSON number literals (around the seconds/milliseconds threshold,
#: the range's ends, fractions and exponents).
_EPOCHS = st.one_of(
    st.sampled_from(
        [
            "0",
            "-0",
            "1.7e9",
            "1700000000.5",
            "99999999999",
            "100000000000",
            "-62135596801",
            "1700000000.12345",
            "1700000000.123456",
            "-1.000001",
            "0.5",
            "99999999999.99999",
            "253402300799.999",
            "253402300799.9999",
            "-62135596800.000001",
            "12.1234567",
        ]
    ),
    st.decimals(min_value=-(10**12), max_value=10**12, places=3).map(str),
    st.integers(min_value=-(10**16), max_value=10**16).map(str),
    st.integers(min_value=-(10**11), max_value=10**11).map(str),
)


def _properties(draw: st.DrawFn) -> str:
    """A properties object's text (a key drawn twice is a duplicate_key)."""
    keys = draw(st.lists(_KEYS, max_size=4))
    pairs = [f"{json.dumps(key, ensure_ascii=False)}:{draw(_VALUES)}" for key in keys]
    return "{" + ",".join(pairs) + "}"


def _shuffled_object(draw: st.DrawFn, fields: list[tuple[str, str]]) -> str:
    """A JSON object of ``(name, value text)`` fields, in a drawn order."""
    order = draw(st.permutations(fields))
    return "{" + ", ".join(f'"{name}": {value}' for name, value in order) + "}"


@st.composite
def _records(draw: st.DrawFn) -> str:
    fields: list[tuple[str, str]] = []
    if draw(st.booleans()):
        fields.append(("event_id", json.dumps(draw(st.sampled_from(["a", "b", "", " ", None])))))
    names = st.one_of(
        st.sampled_from(["llm.usage", "api", " ", "\u3000", "x:y"]), st.text(max_size=2)
    )
    fields.append(("event_name", json.dumps(draw(names), ensure_ascii=False)))
    customer = draw(st.sampled_from(["customer_id", "customer_id", "external_customer_id"]))
    fields.append((customer, json.dumps(draw(st.sampled_from(["c1", "c2", ""])))))
    fields.append(("timestamp", draw(st.one_of(_TIMESTAMPS.map(json.dumps), _EPOCHS))))
    if draw(st.booleans()):
        fields.append(("source", json.dumps(draw(st.sampled_from(["", "api", None])))))
    if draw(st.integers(0, 9)) > 0:
        fields.append(("properties", _properties(draw)))
    if draw(st.integers(0, 19)) == 0:
        fields.append(("event_name", '"again"'))
    if draw(st.integers(0, 9)) == 0:  # a field no shape reads, or one another shape reads
        extra = st.sampled_from(["extra", "ids", "Type", "type", "code", "external_customer_id"])
        fields.append((draw(extra), draw(_VALUES)))
    return _shuffled_object(draw, fields)


def test_numbers_in_the_lake_are_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"event_name":"n","customer_id":"c","timestamp":"2024-03-01T00:00:00Z",'
        '"properties":{"a":0.1,"b":12345678901234567890.5}}\n'
    )
    root = tmp_path / "ws"
    root.mkdir()
    con = connect_state(root)
    try:
        ingest_paths(root, con, [str(path)])
        (row,) = Workspace(root, con).lake_rows()
    finally:
        con.close()
    assert (row["p__a"], str(row["n__a"])) == ("0.1", "0.100000000000")
    assert (row["p__b"], str(row["n__b"])) == (
        "12345678901234567890.5",
        "12345678901234567890.500000000000",
    )


def test_whitespace_is_what_str_strip_removes() -> None:
    expected = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())
    assert expected == fastpath.WHITESPACE


# -- CloudEvents (OpenMeter's shape) and Lago's -----------------------------------------


_CLOUD: dict[str, object] = {
    "specversion": "1.0",
    "id": "ce",
    "type": "llm.usage",
    "source": "svc",
    "subject": "c1",
    "time": "2024-03-01T12:00:00Z",
}
_LAGO: dict[str, object] = {
    "transaction_id": "l",
    "code": "llm.usage",
    "external_customer_id": "c1",
    "timestamp": 1700000000,
}


def _cloud(data: object = ..., **fields: object) -> str:
    return _json(_CLOUD, {"data": data, **fields})


def _lago(**fields: object) -> str:
    return _json(_LAGO, fields)


#: CloudEvent and Lago lines at the edges of what the fast path may prove, and native
#: lines beside them (a file may mix shapes).
SHAPE_EDGE_LINES: list[str] = [
    _cloud({"tokens": 12, "model": "gpt-4o", "cost": 0.5}, id="ce-ok"),
    _cloud({"tokens": 7}, id="no-spec", specversion=...),
    _cloud(id="spec-number", specversion=1),
    _cloud(id="spec-null", specversion=None),
    _cloud(id="spec-object", specversion={"v": 1}),
    _cloud(id=None),
    _cloud(id=...),
    _cloud(id=""),
    _cloud(id=" "),
    _cloud(id=5),
    _cloud(id="no-type", type=...),
    _cloud(id="no-subject", subject=...),
    _cloud(id="no-subject-no-spec", subject=..., specversion=...),
    _cloud(id="blank-subject", subject="\u3000"),
    _cloud(id="no-time", time=...),
    _cloud(id="time-epoch", time=1700000000),
    _cloud(id="time-no-offset", time="2024-03-01T12:00:00"),
    _cloud(id="time-offset", time="2024-03-01T12:00:00.25-03:00"),
    _cloud(id="with-properties", properties={"a": 1}),
    _cloud({"a": 1}, id="data-and-properties", properties={"a": 2}),
    _cloud(id="with-event-name", event_name="x"),
    _cloud(id="with-customer", customer_id="c9"),
    _cloud(id="data-null", data=None),
    _cloud(id="data-text", data="x"),
    _cloud({"nested": {"x": 1}}, id="data-nested"),
    _cloud({"a": 1.50, "b": 1e-12, "c": "0.1"}, id="data-numbers"),
    _cloud({"": 1}, id="data-empty-key"),
    _cloud(id="extras", datacontenttype="application/json", dataschema=None, ID="x"),
    _cloud(id="src-empty", source=""),
    _cloud(id="src-number", source=5),
    '{"id":"dup-id","id":"again","type":"t","subject":"c","time":"2024-03-01T00:00:00Z"}',
    '{"id":"dup-data","type":"t","subject":"c","time":"2024-03-01T00:00:00Z","data":{"k":1,"k":2}}',
    _cloud({"tokens": 1}, id="ce-ok"),  # a duplicate of the first line
    _line({"tokens": 3}, event_id="native-1"),
    '{"id":"esc","type":"a\\u0062","subject":"c","time":"2024-03-01T00:00:00Z"}',
    _lago(transaction_id="lago-1"),
    _lago(transaction_id="lago-props", properties={"tokens": 5, "model": "m"}),
    _lago(transaction_id="lago-iso", timestamp="2024-03-01T00:00:00Z"),
    _lago(transaction_id="lago-fraction", timestamp=1700000000.25),
    _lago(transaction_id="lago-unknown-subscription", external_subscription_id="sub-x"),
    _lago(transaction_id="lago-sub", external_customer_id=..., external_subscription_id="s2"),
    _lago(
        transaction_id="lago-sub-hostile",
        external_customer_id=...,
        external_subscription_id="sub-ü '; --",
    ),
    _lago(
        transaction_id="lago-sub-unknown", external_customer_id=..., external_subscription_id="s9"
    ),
    _lago(transaction_id="lago-sub-blank", external_customer_id=..., external_subscription_id=" "),
    _lago(transaction_id="lago-sub-and-customer", external_subscription_id="s1"),
    _lago(transaction_id="lago-sub-other-customer", external_subscription_id="s2"),
    _lago(transaction_id="lago-source", source="s"),
    _lago(transaction_id="lago-customer-too", customer_id="other"),
    _lago(transaction_id=...),
    _lago(transaction_id=""),
    _lago(transaction_id="lago-no-code", code=...),
    _lago(transaction_id="lago-no-customer", external_customer_id=...),
    _lago(transaction_id="lago-1"),  # a duplicate
]


@pytest.mark.parametrize("shape", ["auto", "cloudevents", "native", "lago"])
def test_lines_of_other_shapes_give_the_same_lake_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: Shape
) -> None:
    data = "\n".join(SHAPE_EDGE_LINES).encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=400, shape=shape)
    assert fast == exact
    accepted = {row["event_id"] for row in fast["rows"]}
    lago = {"lago-1", "lago-props", "lago-iso", "lago-fraction", "lago-source", "lago-sub"}
    lago |= {"lago-sub-hostile", "lago-sub-and-customer"}
    expected = {
        "auto": {"ce-ok", "no-spec", "extras", "time-offset", "native-1"} | lago,
        "cloudevents": {"ce-ok", "no-spec", "extras", "time-offset"},
        "native": {"native-1"},
        "lago": lago,
    }[shape]
    assert expected <= accepted
    if shape in ("auto", "cloudevents"):
        (row,) = [row for row in fast["rows"] if row["event_id"] == "ce-ok"]
        assert (row["event_name"], row["customer_id"], row["source"]) == ("llm.usage", "c1", "svc")
        assert (row["p__cost"], str(row["n__cost"])) == ("0.5", "0.500000000000")
    if shape in ("auto", "lago"):
        customers = {row["event_id"]: row["customer_id"] for row in fast["rows"]}
        assert (customers["lago-sub"], customers["lago-sub-hostile"]) == ("c2", "c3")
        (row,) = [row for row in fast["rows"] if row["event_id"] == "lago-props"]
        assert (row["event_name"], row["customer_id"], row["source"], row["p__tokens"]) == (
            "llm.usage",
            "c1",
            None,
            "5",
        )


#: (line, shape, whether the fast path may take it).
SHAPE_PROVABLE: list[tuple[str, Shape, bool]] = [
    (_cloud({"tokens": 12}), "auto", True),
    (_cloud({"tokens": 12}), "cloudevents", True),
    (_cloud({"tokens": 12}), "native", False),
    (_line({"tokens": 12}), "cloudevents", False),
    (_line({"tokens": 12}), "auto", True),
    (_cloud(specversion=...), "auto", True),  # type and subject tell the shape
    (_cloud(specversion=2), "auto", True),
    (_cloud(id=...), "auto", False),  # a CloudEvent needs its id
    (_cloud(subject=...), "cloudevents", False),
    (_cloud(properties={"a": 1}), "auto", False),  # merged with data: the exact path
    (_cloud(event_name="x"), "auto", False),  # native then
    (_cloud(ID="x", Type="y"), "auto", True),  # fields no shape reads
    (_cloud({"a": {"b": 1}}), "auto", False),
    (_lago(properties={"tokens": 1}), "auto", True),
    (_lago(), "lago", True),
    (_lago(), "native", False),
    (_lago(timestamp=1700000000.5), "lago", True),  # a fraction (Lago's seconds)
    (_lago(timestamp="1700000000.123"), "lago", True),
    (_lago(timestamp=1700000000.1234567), "lago", False),  # 17 digits: the exact path
    (_lago(external_customer_id=..., external_subscription_id="s1"), "lago", True),
    (_lago(external_customer_id=..., external_subscription_id="s9"), "lago", False),  # unknown
    (_lago(external_subscription_id="s1"), "lago", False),  # both: the exact path checks
    (_lago(source="s"), "lago", False),  # Lago's shape has no source
    (_lago(transaction_id=...), "auto", False),
    (_cloud(time="2024-03-01T12:00:00"), "auto", False),
    ('{"id":"a","type":"t","subject":"c","time":"2024-03-01T00:00:00Z","id":"b"}', "auto", False),
]


@pytest.mark.parametrize(("line", "shape", "fast"), SHAPE_PROVABLE)
def test_what_the_fast_path_proves_of_other_shapes(line: str, shape: Shape, fast: bool) -> None:
    chunk = fastpath.read_chunk(
        line.encode(),
        first_line=1,
        seq_base=0,
        file_index=0,
        derive_id=str,
        shape=shape,
        subscriptions={"s1": "c1"},
    )
    assert chunk.records == 1
    assert (chunk.table is not None, len(chunk.slow)) == (fast, 0 if fast else 1)


def test_a_chunk_of_both_shapes_keeps_line_order() -> None:
    lines = [_line({"a": 1}, event_id="n1"), _cloud({"a": 2}, id="c1"), _line(event_id="n2")]
    chunk = fastpath.read_chunk(
        "\n".join(lines).encode(), first_line=5, seq_base=10, file_index=0, derive_id=str
    )
    assert chunk.slow == []
    assert chunk.table is not None
    assert chunk.table.column("event_id").to_pylist() == ["n1", "c1", "n2"]
    assert chunk.table.column("_seq").to_pylist() == [11, 12, 13]
    assert chunk.table.column("_record").to_pylist() == [5, 6, 7]
    assert chunk.table.column("p__a").to_pylist() == ["1", "2", None]


@st.composite
def _cloud_records(draw: st.DrawFn) -> str:
    fields: list[tuple[str, str]] = []
    if draw(st.integers(0, 9)) > 0:
        fields.append(("id", json.dumps(draw(st.sampled_from(["a", "b", "", " ", None, 3])))))
    if draw(st.booleans()):
        fields.append(("specversion", json.dumps(draw(st.sampled_from(["1.0", None, 1])))))
    for name, values in [
        ("type", ["llm.usage", "api", " ", None]),
        ("subject", ["c1", "c2", "", None]),
    ]:
        if draw(st.integers(0, 9)) > 0:
            fields.append((name, json.dumps(draw(st.sampled_from(values)))))
    if draw(st.integers(0, 9)) > 0:
        fields.append(("time", draw(st.one_of(_TIMESTAMPS.map(json.dumps), _EPOCHS))))
    if draw(st.booleans()):
        fields.append(("source", json.dumps(draw(st.sampled_from(["", "api", None])))))
    for name in ("data", "properties"):
        if draw(st.integers(0, 9)) > (1 if name == "data" else 8):
            fields.append((name, _properties(draw)))
    if draw(st.integers(0, 9)) == 0:
        extra = st.sampled_from(["ID", "Subject", "datacontenttype", "event_name", "id", "code"])
        fields.append((draw(extra), draw(_VALUES)))
    return _shuffled_object(draw, fields)


@st.composite
def _lago_records(draw: st.DrawFn) -> str:
    fields: list[tuple[str, str]] = []
    for name, values in [
        ("transaction_id", ["a", "b", "", None, 3]),
        ("code", ["llm.usage", " ", None]),
        ("external_customer_id", ["c1", "c2", "", None]),
        ("external_subscription_id", ["s1", "s2", "s9", " ", None]),
    ]:
        if draw(st.integers(0, 9)) > 3:
            fields.append((name, json.dumps(draw(st.sampled_from(values)))))
    if draw(st.integers(0, 9)) > 0:
        fields.append(("timestamp", draw(st.one_of(_EPOCHS, _TIMESTAMPS.map(json.dumps)))))
    if draw(st.integers(0, 9)) > 1:
        fields.append(("properties", _properties(draw)))
    if draw(st.integers(0, 9)) == 0:
        extra = st.sampled_from(["source", "customer_id", "Code", "event_name", "code"])
        fields.append((draw(extra), draw(_VALUES)))
    return _shuffled_object(draw, fields)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.one_of(
            _records(),
            _cloud_records(),
            _lago_records(),
            _records().map(lambda line: "\ufeff" + line),  # a BOM where no BOM belongs
        ),
        min_size=1,
        max_size=12,
    ),
    shape=st.sampled_from(SHAPES),
    chunk_bytes=st.sampled_from([None, 2, 100, 300]),
    end=st.sampled_from(["\n", "\r\n"]),
)
def test_generated_records_give_the_same_lake_and_rejects(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    shape: Shape,
    chunk_bytes: int | None,
    end: str,
) -> None:
    """Records of every shape, mixed in one file, under every ``--shape``."""
    tmp = tmp_path_factory.mktemp("gen")
    data = end.join(lines).encode() + end.encode()
    fast, exact = _both_paths(tmp, data, monkeypatch, chunk_bytes=chunk_bytes, shape=shape)
    assert fast == exact


def test_the_shape_that_took_lines_is_tried_first_in_the_next_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[tuple[fastpath.Layout, ...]] = []
    prepare = fastpath.prepare_chunk

    def spy(
        first_line: int,
        data: bytes,
        hint: Any,
        layouts: tuple[fastpath.Layout, ...],
        subscriptions: Any,
    ) -> fastpath.Prepared:
        tried.append(tuple(layouts))
        return prepare(first_line, data, hint, layouts, subscriptions)

    monkeypatch.setattr(fastpath, "prepare_chunk", spy)
    cloud, flex = _cloud(id="a").encode(), _line(customer_id=..., external_customer_id="c")
    chunks = [(1, cloud), (2, cloud), (3, flex.encode()), (4, b"[1]"), (5, cloud)]
    prepared = list(fastpath.prepared_chunks(chunks, fastpath.LAYOUTS["auto"]))
    native, flexprice, cloudevents, *lago = fastpath.LAYOUTS["auto"]
    assert tried == [
        (native, flexprice, cloudevents, *lago),
        (cloudevents, native, flexprice, *lago),
        (cloudevents, native, flexprice, *lago),
        (flexprice, cloudevents, native, *lago),
        (flexprice, cloudevents, native, *lago),  # a chunk with no provable line: the same
    ]
    assert [p.proved is not None for p in prepared] == [True, True, True, False, True]


# -- JSON array documents: runs of one-line elements through the fast path ---------------


def _array(elements: list[bytes], separator: bytes = b",\n") -> bytes:
    return b"\xef\xbb\xbf[" + separator.join(elements) + b"]\n"


@pytest.mark.parametrize("shape", ["auto", "native", "cloudevents"])
def test_json_arrays_give_the_same_lake_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: Shape
) -> None:
    lines = [line if isinstance(line, bytes) else line.encode() for line in EDGE_LINES]
    lines = [line for line in lines if b'"trunc' not in line]  # it would break the document
    elements = [
        *lines,
        *(line.encode() for line in SHAPE_EDGE_LINES),
        json.dumps(json.loads(_line({"tokens": 9}, event_id="pretty")), indent=2).encode(),
        b"",  # an empty element
        _line(event_id="after-empty").encode(),
    ]
    data = _array(elements) + b"\n"
    fast, exact = _both_paths(
        tmp_path, data, monkeypatch, chunk_bytes=500, shape=shape, name="batch.json"
    )
    assert fast == exact
    accepted = {row["event_id"] for row in fast["rows"]}
    expected = {"ok-1", "pretty", "after-empty"} if shape != "cloudevents" else {"ce-ok"}
    assert expected <= accepted


def test_a_broken_array_after_runs_of_elements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elements = [_line(event_id=f"e{n}").encode() for n in range(20)]
    data = _array(elements)[:-2] + b', {"v": [1}, ' + _line(event_id="lost").encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=300, name="batch.json")
    assert fast == exact
    assert fast["counts"] == [(21, 20, 0, 1)]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.one_of(_records(), _cloud_records(), _lago_records()), min_size=1, max_size=12
    ),
    separator=st.sampled_from(
        [b",", b",\n", b" ,\r\n  ", b",\n\n", b",\xef\xbb\xbf", b"\xff,", b",,"]
    ),
    pretty=st.sets(st.integers(0, 11)),
    block=st.sampled_from([1, 3, 64, 1 << 20]),
)
def test_generated_json_arrays_give_the_same_lake_and_rejects(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[str],
    separator: bytes,
    pretty: set[int],
    block: int,
) -> None:
    monkeypatch.setattr(json_arrays, "_BLOCK", block)  # blocks cut elements anywhere
    elements = [
        line.replace(", ", ",\n  ") if number in pretty else line
        for number, line in enumerate(lines)
    ]
    tmp = tmp_path_factory.mktemp("gen")
    data = _array([element.encode() for element in elements], separator)
    fast, exact = _both_paths(tmp, data, monkeypatch, chunk_bytes=200, name="batch.json")
    assert fast == exact


@pytest.mark.parametrize("ahead", [1, 2, 1024])
def test_records_among_chunks_pass_through_in_order(
    monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    monkeypatch.setattr(fastpath, "_RECORDS_AHEAD", ahead)
    records = [SourceRecord(n, "[]", Reject("not_an_object", "x")) for n in range(1, 5)]
    chunk = (5, _line(event_id="a").encode())
    items = [records[0], chunk, records[1], records[2], records[3], (6, _cloud().encode())]
    out = list(fastpath.prepared_chunks(items, fastpath.LAYOUTS["auto"]))
    assert [type(item).__name__ for item in out] == [
        "SourceRecord", "Prepared", "SourceRecord", "SourceRecord", "SourceRecord", "Prepared"
    ]  # fmt: skip
    assert [item for item in out if isinstance(item, SourceRecord)] == records
    prepared = [item for item in out if isinstance(item, fastpath.Prepared)]
    assert [p.first_line for p in prepared] == [5, 6]
    assert all(p.proved is not None for p in prepared)


#: Epoch timestamps at the edges (the range's ends as seconds and milliseconds, the
#: 1e11 threshold, 6 and 3 places, negative values, 15 and 16 digits) and whether the
#: fast path reads them (as a JSON number and as text).
EPOCH_PROVABLE: list[tuple[str, bool]] = [
    ("-62135596800", True),  # 0001-01-01T00:00:00Z
    ("-62135596800.000001", False),  # a microsecond before: out of range
    ("253402300799", True),
    ("253402300799.999", True),  # from 1e11 on: milliseconds
    ("253402300799999", True),  # 9999-12-31T23:59:59.999Z
    ("253402300800000", False),
    ("-62135596800000", True),
    ("-62135596800001", False),
    ("99999999999.9999", True),  # seconds, year 5138
    ("100000000000", True),  # milliseconds
    ("100000000000.001", True),
    ("-100000000000.5", True),
    ("-1.000001", True),
    ("1.000001", True),
    ("0", True),
    ("0.5", False),  # DuckDB re-prints below 1 with an exponent: exact
    ("999999999999999", False),  # 15 digits, beyond the year 9999
    ("12345678901234.5", True),
    ("1234567890123456", False),  # 16 digits: exact
    ("1709294400.1234567", False),  # 7 places: exact
]


@pytest.mark.parametrize(("epoch", "fast"), EPOCH_PROVABLE)
@pytest.mark.parametrize("text", [False, True], ids=["number", "text"])
def test_epoch_edges_of_every_shape(epoch: str, fast: bool, text: bool) -> None:
    stamp = json.dumps(epoch) if text else epoch
    lines = [
        f'{{"event_name":"u","customer_id":"c1","timestamp":{stamp}}}',
        f'{{"id":"a","type":"u","subject":"c1","time":{stamp}}}',
        f'{{"transaction_id":"a","code":"u","external_subscription_id":"s1","timestamp":{stamp}}}',
    ]
    chunk = fastpath.read_chunk(
        "\n".join(lines).encode(),
        first_line=1,
        seq_base=0,
        file_index=0,
        derive_id=str,
        subscriptions={"s1": "c1"},
    )
    assert len(chunk.slow) == (0 if fast else 3)
    if fast:
        assert chunk.table is not None
        expected = parse_timestamp(JsonNumber(epoch))
        assert [stamp.value for stamp in chunk.table.column("timestamp")] == [expected] * 3


def test_epoch_edges_give_the_same_lake_and_rejects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        f'{{"transaction_id":"{n}{kind}","code":"u","external_subscription_id":"s1",'
        f'"timestamp":{json.dumps(epoch) if kind else epoch}}}'
        for n, (epoch, _) in enumerate(EPOCH_PROVABLE)
        for kind in ("", "t")
    ]
    fast, exact = _both_paths(tmp_path, "\n".join(lines).encode(), monkeypatch)
    assert fast == exact
    assert fast["counts"] == [(40, 30, 0, 10)]
