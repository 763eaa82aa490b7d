"""A table of bad records, each rejected with its reason code and kept raw.

The JSON lines corpus is ingested once (one file, one ingest) and each case checks its
own record; CSV and Parquet cases follow with the format-specific reasons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meterbill.events import REJECT_CODES, ingest_paths
from meterbill.state import connect_state

from .helpers import Workspace, native, write_csv

GOOD = '"event_name": "n", "customer_id": "c", "timestamp": "2024-01-01T00:00:00Z"'


def _line(**fields: Any) -> str:
    return json.dumps(native(**fields), ensure_ascii=False)


#: (case id, the raw line, the expected reason)
JSONL_CASES: list[tuple[str, str | bytes, str]] = [
    ("not json", "not json", "bad_json"),
    ("truncated", '{"event_name": "n",', "bad_json"),
    ("trailing garbage", "{" + GOOD + "} x", "bad_json"),
    ("NaN", "{" + GOOD + ', "properties": {"v": NaN}}', "bad_json"),
    ("Infinity", "{" + GOOD + ', "properties": {"v": -Infinity}}', "bad_json"),
    ("too deep", "[" * 100_000 + "]" * 100_000, "bad_json"),
    ("array", "[1, 2]", "not_an_object"),
    ("string", '"event"', "not_an_object"),
    ("number", "42", "not_an_object"),
    ("duplicate top key", '{"event_name": "a", ' + GOOD + "}", "duplicate_key"),
    ("duplicate property", "{" + GOOD + ', "properties": {"v": 1, "v": 2}}', "duplicate_key"),
    ("no event_name", _line(event_name=...), "missing_field"),
    ("null event_name", _line(event_name=None), "missing_field"),
    ("no customer", _line(customer_id=...), "missing_field"),
    ("no timestamp", _line(timestamp=...), "missing_field"),
    ("null timestamp", _line(timestamp=None), "missing_field"),
    ("empty event_name", _line(event_name=""), "empty_field"),
    ("blank customer", _line(customer_id="   "), "empty_field"),
    ("empty event_id", _line(event_id=""), "empty_field"),
    ("empty timestamp", _line(timestamp=""), "empty_field"),
    ("numeric event_name", _line(event_name=5), "bad_type"),
    ("numeric customer", _line(customer_id=123), "bad_type"),
    ("numeric event_id", _line(event_id=7), "bad_type"),
    ("numeric source", _line(source=1), "bad_type"),
    ("boolean timestamp", _line(timestamp=True), "bad_type"),
    ("object timestamp", _line(timestamp={"s": 1}), "bad_type"),
    ("alias disagrees", _line(external_customer_id="other"), "conflicting_fields"),
    ("words timestamp", _line(timestamp="yesterday"), "bad_timestamp"),
    ("month 13", _line(timestamp="2024-13-01T00:00:00Z"), "bad_timestamp"),
    ("hour 24", _line(timestamp="2024-01-01T24:00:00Z"), "bad_timestamp"),
    ("huge epoch", _line(timestamp=10**30), "bad_timestamp"),
    ("underscored epoch string", _line(timestamp="1_709_294_400"), "bad_timestamp"),
    ("before year 1", _line(timestamp="0001-01-01T00:00:00+01:00"), "bad_timestamp"),
    ("no offset", _line(timestamp="2024-01-01T00:00:00"), "timestamp_without_offset"),
    ("date only", _line(timestamp="2024-01-01"), "timestamp_without_offset"),
    ("properties array", _line(properties=[1, 2]), "properties_not_object"),
    ("properties string", _line(properties='{"v": 1}'), "properties_not_object"),
    ("properties number", _line(properties=3), "properties_not_object"),
    ("nested object", _line(properties={"v": {"w": 1}}), "nested_property"),
    ("nested array", _line(properties={"v": [1]}), "nested_property"),
    ("empty key", _line(properties={"": 1}), "bad_property_key"),
    ("NUL in key", _line(properties={"a\u0000b": 1}), "bad_property_key"),
    ("lone surrogate", "{" + GOOD + ', "source": "\\ud800"}', "bad_encoding"),
    ("latin-1 bytes", b'{"event_name": "caf\xe9", ' + GOOD[18:].encode() + b"}", "bad_encoding"),
    ("case clash", _line(properties={"Tokens": 1}), "property_key_conflict"),
    ("BOM mid-file", b"\xef\xbb\xbf{" + GOOD.encode() + b"}", "bad_json"),
    ("single quotes", "{'event_name': 'n'}", "bad_json"),
    ("trailing comma", "{" + GOOD + ",}", "bad_json"),
    ("comment", "{" + GOOD + "} // note", "bad_json"),
    ("unterminated string", '{"event_name": "n', "bad_json"),
    ("raw control character", '{"event_name": "a\u0001b", ' + GOOD[18:] + "}", "bad_json"),
    ("NaN timestamp", '{"event_name": "n", "customer_id": "c", "timestamp": NaN}', "bad_json"),
    ("null record", "null", "not_an_object"),
    ("empty object", "{}", "missing_field"),
    (
        "duplicate key via escape",
        '{"event_name": "a", "event\\u005fname": "b", "customer_id": "c", "timestamp": 1}',
        "duplicate_key",
    ),
    ("boolean customer", _line(customer_id=True), "bad_type"),
    ("array event_name", _line(event_name=["a"]), "bad_type"),
    ("year 10000", _line(timestamp="10000-01-01T00:00:00Z"), "bad_timestamp"),
    ("epoch ms after 9999", _line(timestamp=253402300800000), "bad_timestamp"),
    ("epoch before year 1", _line(timestamp=-62135596801), "bad_timestamp"),
    ("offset of 25 hours", _line(timestamp="2024-01-01T00:00:00+25:00"), "bad_timestamp"),
    ("NaN string timestamp", _line(timestamp="NaN"), "bad_timestamp"),
    (
        "huge exponent epoch",
        '{"event_name": "n", "customer_id": "c", "timestamp": 1e999}',
        "bad_timestamp",
    ),
    (
        "cloudevent without id",
        '{"specversion": "1.0", "type": "t", "subject": "c", "time": "2024-01-01T00:00:00Z"}',
        "missing_field",
    ),
    (
        "cloudevent data array",
        '{"id": "e", "type": "t", "subject": "c", "time": "2024-01-01T00:00:00Z", "data": [1]}',
        "properties_not_object",
    ),
    (
        "cloudevent nested data",
        '{"id": "e", "type": "t", "subject": "c", "time": "2024-01-01T00:00:00Z", '
        '"data": {"a": {"b": 1}}}',
        "nested_property",
    ),
    (
        "lago unknown subscription",
        '{"transaction_id": "t", "code": "c", "external_subscription_id": "nope", '
        '"timestamp": 1709294400}',
        "unknown_subscription",
    ),
    (
        "lago without transaction_id",
        '{"code": "c", "external_customer_id": "x", "timestamp": 1709294400}',
        "missing_field",
    ),
    (
        "lago without customer",
        '{"transaction_id": "t", "code": "c", "timestamp": 1709294400}',
        "missing_field",
    ),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Ingest all JSON lines cases once; the first line defines the key ``tokens``."""
    tmp = tmp_path_factory.mktemp("corpus")
    root = tmp / "ws"
    root.mkdir()
    path = tmp / "corpus.jsonl"
    lines = [_line(properties={"tokens": 1})]
    lines_bytes = [line.encode() if isinstance(line, str) else line for _, line, _ in JSONL_CASES]
    path.write_bytes(b"\n".join([lines[0].encode(), *lines_bytes]) + b"\n")
    con = connect_state(root)
    result = ingest_paths(root, con, [str(path)])
    assert result.records_read == len(JSONL_CASES) + 1
    assert (result.accepted, result.rejected) == (1, len(JSONL_CASES))
    return Workspace(root, con)


def test_the_corpus_covers_thirty_kinds_and_every_reason() -> None:
    assert len(JSONL_CASES) >= 30
    used = {reason for _, _, reason in JSONL_CASES}
    assert used <= set(REJECT_CODES)
    assert set(REJECT_CODES) - used == {"bad_csv", "bad_number"}  # covered below


@pytest.mark.parametrize(
    ("record_number", "raw", "reason"),
    [(n, raw, reason) for n, (_, raw, reason) in enumerate(JSONL_CASES, start=2)],
    ids=[case for case, _, _ in JSONL_CASES],
)
def test_jsonl_reject(corpus: Workspace, record_number: int, raw: str | bytes, reason: str) -> None:
    row = corpus.con.execute(
        "SELECT reason, message, raw FROM rejected_events WHERE record_number = ?",
        [record_number],
    ).fetchone()
    assert row is not None
    assert row[0] == reason
    assert row[1] and "\n" not in row[1]
    expected_raw = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
    assert row[2] == expected_raw


HEADER = ["event_id", "event_name", "customer_id", "timestamp", "properties.v"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1,n,c,2024-01-01T00:00:00Z\n", "bad_csv"),  # a field short
        ("1,n,c,2024-01-01T00:00:00Z,1,extra\n", "bad_csv"),
        ('1,n,c,2024-01-01T00:00:00Z,"a"b\n', "bad_csv"),
        ("1,,c,2024-01-01T00:00:00Z,1\n", "empty_field"),
        ("1,n,c,,1\n", "empty_field"),
        ("1,n,c,2024-01-01 10:00,1\n", "timestamp_without_offset"),
        ("1,n,c,soon,1\n", "bad_timestamp"),
    ],
)
def test_csv_reject(workspace: Workspace, tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(",".join(HEADER) + "\n" + text)
    result = workspace.ingest(path)
    assert (result.records_read, result.rejected) == (1, 1)
    assert workspace.rejects() == [(str(path), 1, reason, text.rstrip("\n"))]


def test_csv_rejects_that_depend_on_the_header(workspace: Workspace, tmp_path: Path) -> None:
    row = ["1", "n", "c", "2024-01-01T00:00:00Z"]
    no_name = write_csv(tmp_path / "a.csv", ["event_id", "x", "customer_id", "timestamp"], [row])
    twice = write_csv(
        tmp_path / "b.csv", ["event_id", "event_name", "event_name", "timestamp"], [row]
    )
    bad_props = write_csv(
        tmp_path / "c.csv",
        ["event_name", "customer_id", "timestamp", "properties"],
        [
            ["n", "c", "2024-01-01T00:00:00Z", "{not json"],
            ["n", "c", "2024-01-01T00:00:00Z", "[1]"],
        ],
    )
    both = write_csv(
        tmp_path / "d.csv",
        ["event_name", "customer_id", "timestamp", "properties", "properties.v"],
        [["n", "c", "2024-01-01T00:00:00Z", '{"v": 1}', "2"]],
    )
    latin = tmp_path / "e.csv"
    latin.write_bytes(b"event_name,customer_id,timestamp\ncaf\xe9,c,2024-01-01T00:00:00Z\n")
    workspace.ingest(no_name, twice, bad_props, both, latin)
    assert [(Path(f).name, n, reason) for f, n, reason, _ in workspace.rejects()] == [
        ("a.csv", 1, "missing_field"),
        ("b.csv", 1, "duplicate_key"),
        ("c.csv", 1, "bad_json"),
        ("c.csv", 2, "properties_not_object"),
        ("d.csv", 1, "duplicate_key"),
        ("e.csv", 1, "bad_encoding"),
    ]
    assert workspace.rejects()[-1][3] == "caf\\xe9,c,2024-01-01T00:00:00Z"


def test_parquet_rejects(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    table = pa.table(
        {
            "event_name": ["n", "n", "n", None, "n"],
            "customer_id": ["c", "c", "c", "c", "c"],
            "timestamp": [
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00",
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00Z",
            ],
            "properties.f": [1.5, float("nan"), 1.0, 1.0, float("inf")],
        }
    )
    pq.write_table(table, path)
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (1, 4)
    rejects = workspace.rejects()
    assert [(n, reason) for _, n, reason, _ in rejects] == [
        (2, "bad_number"),
        (3, "timestamp_without_offset"),
        (4, "missing_field"),
        (5, "bad_number"),
    ]
    assert json.loads(rejects[1][3]) == {
        "event_name": "n",
        "customer_id": "c",
        "timestamp": "2024-01-01T00:00:00",
        "properties.f": 1.0,
    }


def test_parquet_nested_and_map_rejects(workspace: Workspace, tmp_path: Path) -> None:
    structs = tmp_path / "struct.parquet"
    pq.write_table(
        pa.table(
            {
                "event_name": ["n"],
                "customer_id": ["c"],
                "timestamp": ["2024-01-01T00:00:00Z"],
                "properties": pa.array([{"a": {"b": 1}}]),
            }
        ),
        structs,
    )
    maps = tmp_path / "map.parquet"
    pq.write_table(
        pa.table(
            {
                "event_name": ["n", "n"],
                "customer_id": ["c", "c"],
                "timestamp": pa.array([1, 2], pa.date32()),
                "properties": pa.array(
                    [[("k", "1"), ("k", "2")], [("k", "1")]], pa.map_(pa.string(), pa.string())
                ),
            }
        ),
        maps,
    )
    workspace.ingest(structs, maps)
    assert [(Path(f).name, n, reason) for f, n, reason, _ in workspace.rejects()] == [
        ("map.parquet", 1, "duplicate_key"),
        ("map.parquet", 2, "bad_type"),
        ("struct.parquet", 1, "nested_property"),
    ]
