"""Hostile property keys and values round-trip exactly, whatever the format.

Keys become column names verbatim after ``p__``/``n__``; values stay data. Nothing of
either may become SQL: the state tables survive, and a query that quotes the column
with sqlglot reads the value back.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp

from meterbill.events import lake_file_paths

from .helpers import Workspace, native, write_csv

HOSTILE = [
    '"',
    "'",
    "a;b",
    "'); DROP TABLE x; --",
    '"); DROP TABLE lake_files; --',
    "ключ",
    "КЛЮЧ",  # a different column: only ASCII case folds in DuckDB identifiers
    "🔥 emoji 🧪",
    "with space",
    "a.b",
    "p__nested",
    "back\\slash",
    "tab\tkey",
    "new\nline",
    "${jndi:x}",
    "{{ jinja }}",
]
#: Keys for each format; CSV header cells are trimmed, so no edge whitespace there.
JSON_ONLY = [" padded "]


def _assert_round_trip(workspace: Workspace, keys: list[str], event_id: str) -> None:
    [row] = [row for row in workspace.lake_rows() if row["event_id"] == event_id]
    for key in keys:
        assert row["p__" + key] == "v:" + key, key
        assert row["n__" + key] is None
    names = {name for (name,) in workspace.con.execute("SELECT name FROM lake_columns").fetchall()}
    assert {"p__" + key for key in keys} <= names
    assert {"n__" + key for key in keys} <= names
    for table in ("lake_files", "ingests", "rejected_events"):
        workspace.count(table)  # still there
    # a downstream query that quotes the column with sqlglot reads exactly the value
    files = lake_file_paths(workspace.con, workspace.root)
    with duckdb.connect() as con:
        for key in keys:
            column = exp.to_identifier("p__" + key, quoted=True).sql("duckdb")
            query = f"SELECT {column} FROM read_parquet(?, union_by_name = true) WHERE event_id = ?"
            assert con.execute(query, [files, event_id]).fetchall() == [("v:" + key,)]


def test_jsonl(workspace: Workspace, tmp_path: Path) -> None:
    keys = HOSTILE + JSON_ONLY
    record = native(
        event_id="'); DROP TABLE ingests; --",
        customer_id='cust"; DELETE FROM lake_files; --',
        event_name="ключ 🔥",
        source="\u0000nul",
        properties={key: "v:" + key for key in keys},
    )
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert workspace.ingest(path).accepted == 1
    _assert_round_trip(workspace, keys, record["event_id"])
    [row] = workspace.lake_rows()
    assert (row["customer_id"], row["event_name"], row["source"]) == (
        record["customer_id"],
        record["event_name"],
        record["source"],
    )


def test_csv(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        ["event_id", "event_name", "customer_id", "timestamp"]
        + [f"properties.{k}" for k in HOSTILE],
        [["e;1", "n", "c", "2024-01-01T00:00:00Z"] + ["v:" + k for k in HOSTILE]],
    )
    assert workspace.ingest(path).accepted == 1
    _assert_round_trip(workspace, HOSTILE, "e;1")


@pytest.mark.parametrize("layout", ["struct", "map", "columns"])
def test_parquet(workspace: Workspace, tmp_path: Path, layout: str) -> None:
    values = {key: "v:" + key for key in HOSTILE}
    columns: dict[str, pa.Array] = {
        "event_id": pa.array(["p'1"]),
        "event_name": pa.array(["n"]),
        "customer_id": pa.array(["c"]),
        "timestamp": pa.array(["2024-01-01T00:00:00Z"]),
    }
    if layout == "struct":
        columns["properties"] = pa.array([values])
    elif layout == "map":
        columns["properties"] = pa.array([list(values.items())], pa.map_(pa.string(), pa.string()))
    else:
        for key, value in values.items():
            columns["properties." + key] = pa.array([value])
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table(columns), path)
    assert workspace.ingest(path).accepted == 1
    _assert_round_trip(workspace, HOSTILE, "p'1")


def test_a_key_differing_only_in_ascii_case_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps(native(event_id="1", properties={"Model": "x"})) + "\n")
    workspace.ingest(first)
    second = tmp_path / "b.jsonl"
    second.write_text(
        "\n".join(
            json.dumps(native(event_id=str(i), properties=p))
            for i, p in [(2, {"model": "y"}), (3, {"Model": "z"}), (4, {"KEY": 1, "key": 2})]
        )
        + "\n"
    )
    result = workspace.ingest(second)
    assert (result.accepted, result.rejected) == (1, 2)
    assert [(n, reason) for _, n, reason, _ in workspace.rejects()] == [
        (1, "property_key_conflict"),
        (3, "property_key_conflict"),
    ]
    names = {name for (name,) in workspace.con.execute("SELECT name FROM lake_columns").fetchall()}
    assert "p__Model" in names
    assert "p__model" not in names
    assert "p__KEY" not in names
