"""Ingest end to end: JSON lines accepted into the lake with exact values; counts, dedup,
strict mode, atomicity, paths."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from meterbill.errors import IngestError
from meterbill.events import ingest_paths

from .helpers import Workspace, native, write_csv, write_jsonl

D12 = Decimal("1e-12")


def test_jsonl_native_shape_is_accepted_with_exact_columns(
    workspace: Workspace, tmp_path: Path
) -> None:
    line = (
        '{"event_id": "e1", "event_name": "llm.usage", "customer_id": "c1", '
        '"timestamp": "2024-03-01T12:00:00.123456+02:00", "source": "api", '
        '"properties": {"tokens": 0.1, "big": 12345678901234567890.5, "s": "12.5", '
        '"a": "abc", "b": true, "f": false, "z": null, "i": 123, "p": 1.50, "e": 1E+2}}'
    )
    path = write_jsonl(tmp_path / "in.jsonl", [line])
    result = workspace.ingest(path)
    assert (result.records_read, result.accepted, result.duplicates, result.rejected) == (
        1,
        1,
        0,
        0,
    )
    assert result.sources == (str(path),)
    [row] = workspace.lake_rows()
    assert row["event_id"] == "e1"
    assert row["event_name"] == "llm.usage"
    assert row["customer_id"] == "c1"
    assert row["source"] == "api"
    assert row["ingest_id"] == result.ingest_id
    assert row["timestamp"] == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    expected = {
        "tokens": ("0.1", Decimal("0.1")),
        "big": ("12345678901234567890.5", Decimal("12345678901234567890.5")),
        "s": ("12.5", Decimal("12.5")),
        "a": ("abc", None),
        "b": ("true", None),
        "f": ("false", None),
        "i": ("123", Decimal(123)),
        "p": ("1.50", Decimal("1.5")),
        "e": ("1E+2", Decimal(100)),
    }
    for key, (text, number) in expected.items():
        assert row[f"p__{key}"] == text, key
        assert row[f"n__{key}"] == number, key
        if number is not None:
            assert row[f"n__{key}"].as_tuple().exponent == -12  # DECIMAL(38,12), exact
    assert "p__z" not in row  # null is absent


def test_lake_file_layout_and_types(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            native(event_id="a", timestamp="2024-03-01T23:59:59Z", properties={"k": 1}),
            native(event_id="b", timestamp="2024-03-02T00:00:00Z"),
            native(event_id="c", timestamp="2024-03-01T00:00:00Z"),
        ],
    )
    result = workspace.ingest(path)
    files = workspace.con.execute(
        "SELECT path, ingest_id, event_date, row_count, min_timestamp, max_timestamp "
        "FROM lake_files ORDER BY path"
    ).fetchall()
    iid = result.ingest_id
    assert [f[0] for f in files] == [
        f"lake/events/date=2024-03-01/{iid}-0.parquet",
        f"lake/events/date=2024-03-02/{iid}-1.parquet",
    ]
    assert files[0][1:] == (
        iid,
        datetime(2024, 3, 1).date(),
        2,
        datetime(2024, 3, 1, tzinfo=UTC),
        datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC),
    )
    with duckdb.connect() as con:
        described = con.sql(
            "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)",
            params=[str(workspace.root / files[0][0])],
        ).fetchall()
        assert [(name, dtype) for name, dtype, *_ in described] == [
            ("event_id", "VARCHAR"),
            ("event_name", "VARCHAR"),
            ("customer_id", "VARCHAR"),
            ("timestamp", "TIMESTAMP WITH TIME ZONE"),
            ("source", "VARCHAR"),
            ("ingest_id", "VARCHAR"),
            ("p__k", "VARCHAR"),
            ("n__k", "DECIMAL(38,12)"),
        ]
        # the second file has no property columns: no event of that date has one
        described = con.sql(
            "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)",
            params=[str(workspace.root / files[1][0])],
        ).fetchall()
        assert [name for name, *_ in described][-1] == "ingest_id"
    columns = dict(workspace.con.execute("SELECT name, type FROM lake_columns").fetchall())
    assert columns == {
        "event_id": "VARCHAR",
        "event_name": "VARCHAR",
        "customer_id": "VARCHAR",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
        "source": "VARCHAR",
        "ingest_id": "VARCHAR",
        "p__k": "VARCHAR",
        "n__k": "DECIMAL(38,12)",
    }
    sources = workspace.con.execute("SELECT sources FROM ingests").fetchone()
    assert sources is not None
    assert json.loads(sources[0]) == [str(path)]


def test_epoch_and_offset_timestamps(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            native(event_id="s", timestamp=1709294400),
            native(event_id="ms", timestamp=1709294400000),
            native(event_id="str", timestamp="1709294400"),
            native(event_id="frac", timestamp="x"),
            native(event_id="off", timestamp="2024-03-01T17:30:00+05:30"),
            native(event_id="z", timestamp="2024-03-01T12:00:00Z"),
        ],
    )
    text = path.read_text().replace('"x"', "1709294400.25")  # a JSON number with a fraction
    path.write_text(text)
    workspace.ingest(path)
    rows = {row["event_id"]: row["timestamp"] for row in workspace.lake_rows()}
    noon = datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert rows == {
        "s": noon,
        "ms": noon,
        "str": noon,
        "frac": noon.replace(microsecond=250000),
        "off": noon,
        "z": noon,
    }


def test_bom_crlf_and_blank_lines(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    first = json.dumps(native(event_id="a"))
    second = json.dumps(native(event_id="b"))
    path.write_bytes(
        b"\xef\xbb\xbf" + first.encode() + b"\r\n\r\n   \n" + second.encode() + b"\r\n{bad\r\n"
    )
    result = workspace.ingest(path)
    assert (result.records_read, result.accepted, result.rejected) == (3, 2, 1)
    assert workspace.rejects() == [(str(path), 5, "bad_json", "{bad")]


def test_missing_event_id_is_derived_from_file_hash_and_record_number(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", ["", native(), native()])
    workspace.ingest(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    expected = sorted(
        "derived:" + hashlib.sha256(f"{digest}:{n}".encode()).hexdigest()[:32] for n in (2, 3)
    )
    assert [row["event_id"] for row in workspace.lake_rows()] == expected


def test_reingesting_the_same_file_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [native(), native(properties={"t": 1}), "oops"])
    first = workspace.ingest(path)
    assert (first.accepted, first.duplicates, first.rejected) == (2, 0, 1)
    second = workspace.ingest(path)
    assert (second.accepted, second.duplicates, second.rejected) == (0, 2, 1)
    copy = tmp_path / "copy" / "same.jsonl"  # the same bytes elsewhere: same derived ids
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    third = workspace.ingest(copy)
    assert (third.accepted, third.duplicates) == (0, 2)
    assert len(workspace.lake_rows()) == 2
    assert workspace.count("lake_files") == 1
    assert workspace.count("ingests") == 3


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_gzipd_copy_derives_the_same_ids(
    workspace: Workspace, tmp_path: Path, suffix: str
) -> None:
    events = [native(), native(properties={"t": 1})]
    path = tmp_path / f"in{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, events)
    else:
        path.write_text(
            "event_name,customer_id,timestamp,properties.t\n"
            "api.call,c1,2026-03-01T00:00:00Z,\napi.call,c1,2026-03-01T00:00:00Z,1\n"
        )
    assert workspace.ingest(path).accepted == 2
    zipped = tmp_path / f"in{suffix}.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    again = workspace.ingest(zipped)  # the same content, compressed: nothing new
    assert (again.accepted, again.duplicates) == (0, 2)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert {row["event_id"] for row in workspace.lake_rows()} == {
        "derived:" + hashlib.sha256(f"{digest}:{n}".encode()).hexdigest()[:32]
        for n in (1, 2)  # lines of JSON lines, data rows of CSV
    }


def test_duplicates_within_a_file_first_copy_wins(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            native(event_id="x", properties={"v": "first"}),
            native(event_id="y"),
            native(event_id="x", properties={"v": "second"}),
            native(event_id="x", properties={"v": "third"}),
        ],
    )
    result = workspace.ingest(path)
    assert (result.accepted, result.duplicates) == (2, 2)
    rows = workspace.lake_rows()
    assert [(r["event_id"], r.get("p__v")) for r in rows] == [("x", "first"), ("y", None)]
    dups = workspace.con.execute(
        "SELECT ingest_id, event_id, source_file, record_number, raw FROM duplicate_events "
        "ORDER BY record_number"
    ).fetchall()
    lines = path.read_text().splitlines()
    assert dups == [
        (result.ingest_id, "x", str(path), 3, lines[2]),
        (result.ingest_id, "x", str(path), 4, lines[3]),
    ]


def test_duplicates_across_ingests_and_files(workspace: Workspace, tmp_path: Path) -> None:
    one = write_jsonl(tmp_path / "a.jsonl", [native(event_id="1"), native(event_id="2")])
    workspace.ingest(one)
    two = write_jsonl(tmp_path / "b.jsonl", [native(event_id="2"), native(event_id="3")])
    three = write_csv(
        tmp_path / "c.csv",
        ["event_id", "event_name", "customer_id", "timestamp"],
        [["3", "later", "c", "2024-01-01T00:00:00Z"], ["1", "x", "c", "2024-01-01T00:00:00Z"]],
    )
    result = workspace.ingest(two, three)
    assert (result.accepted, result.duplicates) == (1, 3)
    rows = workspace.lake_rows()
    assert [(r["event_id"], r["event_name"]) for r in rows] == [
        ("1", "llm.usage"),
        ("2", "llm.usage"),
        ("3", "llm.usage"),  # b.jsonl was read before c.csv: its copy wins
    ]
    dups = workspace.con.execute(
        "SELECT event_id, source_file, record_number FROM duplicate_events "
        "ORDER BY source_file, record_number"
    ).fetchall()
    assert dups == [("2", str(two), 1), ("3", str(three), 1), ("1", str(three), 2)]


def test_strict_commits_nothing(workspace: Workspace, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [native(event_id="g")])
    workspace.ingest(good)
    before = (workspace.count("lake_files"), workspace.count("ingests"), workspace.disk_files())
    path = write_jsonl(tmp_path / "in.jsonl", [native(event_id="ok"), native(event_name=""), "[1]"])
    with pytest.raises(IngestError) as caught:
        workspace.ingest(path, strict=True)
    message = str(caught.value)
    assert "2 records rejected" in message
    assert f"{path}:2: empty_field" in message
    after = (workspace.count("lake_files"), workspace.count("ingests"), workspace.disk_files())
    assert after == before
    assert workspace.count("rejected_events") == 0
    assert workspace.count("lake_columns") == 6
    # without --strict the same file goes in, rejects kept
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (1, 2)


def test_strict_with_only_duplicates_succeeds(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [native(event_id="a"), native(event_id="a")])
    result = workspace.ingest(path, strict=True)
    assert (result.accepted, result.duplicates) == (1, 1)


def test_an_ingest_with_nothing_accepted_is_still_logged(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", ["nope", "[]"])
    result = workspace.ingest(path)
    assert (result.records_read, result.accepted, result.rejected) == (2, 0, 2)
    assert workspace.count("ingests") == 1
    assert workspace.count("lake_files") == 0
    assert workspace.disk_files() == set()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert workspace.ingest(empty).records_read == 0


class _FailingConnection:
    """A state connection whose ingests insert fails: a crash inside the transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def execute(self, query: str, *args: Any) -> Any:
        if query.startswith("INSERT INTO ingests"):
            raise duckdb.IOException("disk on fire")
        return self._con.execute(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_a_failed_commit_rolls_back_and_deletes_its_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.ingest(write_jsonl(tmp_path / "first.jsonl", [native(event_id="keep")]))
    before_files = workspace.disk_files()
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [native(event_id="a", timestamp="2030-01-01T00:00:00Z", properties={"new": 1}), "bad"],
    )
    failing: Any = _FailingConnection(workspace.con)
    with pytest.raises(duckdb.IOException):
        ingest_paths(workspace.root, failing, [str(path)])
    assert workspace.disk_files() == before_files
    assert not (workspace.root / "lake/events/date=2030-01-01").exists()
    assert workspace.count("lake_files") == 1
    assert workspace.count("rejected_events") == 0
    assert workspace.count("lake_columns") == 6
    assert workspace.count("ingests") == 1
    # and running it again gives the clean result
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (1, 1)


def test_folder_and_glob_paths(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_jsonl(data / "a.jsonl", [native(event_id="a")])
    write_jsonl(data / "sub" / "b.NDJSON", [native(event_id="b")])
    write_csv(
        data / "sub" / "c.csv",
        ["event_id", "event_name", "customer_id", "timestamp"],
        [["c", "n", "cust", "2024-01-01T00:00:00Z"]],
    )
    (data / "README.txt").write_text("not events")
    # hidden: a Spark job's work in progress, macOS resource forks (not Parquet at all)
    write_jsonl(data / "_temporary" / "0" / "part-0.jsonl", [native()])
    write_jsonl(data / "sub" / ".in-progress.jsonl", [native()])
    (data / "sub" / "._c.parquet").write_bytes(b"\x00\x05\x16\x07")
    result = workspace.ingest(data)
    assert result.sources == tuple(
        str(p) for p in (data / "a.jsonl", data / "sub" / "b.NDJSON", data / "sub" / "c.csv")
    )
    assert result.accepted == 3
    other = tmp_path / "other"
    write_jsonl(other / "x1.jsonl", [native(event_id="x1")])
    write_jsonl(other / "x2.jsonl", [native(event_id="x2")])
    write_jsonl(other / "y.json", [native(event_id="y")])
    result = workspace.ingest(f"{other}/x*.jsonl")
    assert result.sources == (str(other / "x1.jsonl"), str(other / "x2.jsonl"))
    result = workspace.ingest(f"{tmp_path}/**/*.json")
    assert result.sources == (str(other / "y.json"),)
    hidden = data / "_temporary" / "0" / "part-0.jsonl"  # named: read
    dotted = data / "sub" / ".in-progress.jsonl"
    assert workspace.ingest(hidden, data / "sub" / ".in*.jsonl").sources == (
        str(hidden),
        str(dotted),
    )


def test_the_workspace_lake_is_never_ingested(workspace: Workspace, tmp_path: Path) -> None:
    workspace.ingest(write_jsonl(tmp_path / "a.jsonl", [native(event_id="a")]))
    write_jsonl(workspace.root / "incoming" / "b.jsonl", [native(event_id="b")])
    result = workspace.ingest(workspace.root)
    assert result.sources == (str(workspace.root / "incoming" / "b.jsonl"),)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.jsonl", "no such file or folder: "),
        ("nothing-*.jsonl", "no event files match "),
        ("empty-dir", "no event files in the folder "),
        ("notes.txt", "unsupported file type: "),
    ],
)
def test_bad_paths_fail_before_anything_happens(
    workspace: Workspace, tmp_path: Path, name: str, message: str
) -> None:
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    good = write_jsonl(tmp_path / "good.jsonl", [native()])
    with pytest.raises(IngestError, match=message):
        ingest_paths(workspace.root, workspace.con, [str(good), str(tmp_path / name)])
    assert workspace.count("ingests") == 0


def test_progress_reports_bytes(workspace: Workspace, tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [native()] * 3)
    b = write_csv(tmp_path / "b.csv", ["event_name"], [["x"]])
    total = a.stat().st_size + b.stat().st_size
    calls: list[tuple[int, int]] = []
    ingest_paths(
        workspace.root,
        workspace.con,
        [str(a), str(b)],
        on_progress=lambda done, tot: calls.append((done, tot)),
    )
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_parallel_ingest_ids_sort_by_time(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [native()])
    ids = [workspace.ingest(path).ingest_id for _ in range(3)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("fake.parquet", b"PAR1 not really", "as Parquet"),
        ("bad-header.csv", b'"event_name,customer_id\n', "CSV header"),
        ("latin-header.csv", b"caf\xe9,customer_id\n", "CSV header"),
    ],
)
def test_an_unreadable_file_fails_the_whole_ingest(
    workspace: Workspace, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [native()])
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        workspace.ingest(good, bad)
    assert workspace.count("ingests") == 0
    assert workspace.disk_files() == set()


def test_parquet_duplicates_keep_the_row_as_json(workspace: Workspace, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["a", "a"],
                "event_name": ["n", "n"],
                "customer_id": ["c", "c"],
                "timestamp": pa.array(
                    [datetime(2024, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")
                ),
                "properties.x": pa.array([Decimal("1.5"), Decimal("2.5")], pa.decimal128(4, 2)),
                "ignored": [1, 2],
            }
        ),
        path,
    )
    workspace.ingest(path)
    raw = workspace.con.execute("SELECT raw FROM duplicate_events").fetchone()
    assert raw is not None
    assert json.loads(raw[0]) == {
        "event_id": "a",
        "event_name": "n",
        "customer_id": "c",
        "timestamp": "2024-01-01T00:00:00+00:00",
        "properties.x": "2.50",
    }


def test_a_truncated_last_line_is_rejected_with_its_line_number(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "cut.jsonl"
    whole = json.dumps(native(event_id="a"))
    path.write_bytes(f"{whole}\n\n{whole[:-9]}".encode())  # no final newline, cut short
    result = workspace.ingest(path)
    assert (result.records_read, result.accepted, result.rejected) == (2, 1, 1)
    assert workspace.rejects() == [(str(path), 3, "bad_json", whole[:-9])]


def test_unicode_keys_and_huge_numbers_are_kept(workspace: Workspace, tmp_path: Path) -> None:
    line = (
        '{"event_name": "n", "customer_id": "c", "timestamp": 1709294400, "properties": '
        '{"ключ": 1, "数量": "2.5", "huge": 1e400, "wide": 123456789012345678901234567.5, '
        '"tiny": 1e-400, "long": 0.1234567890123456789}}'
    )
    path = write_jsonl(tmp_path / "in.jsonl", [line])
    assert workspace.ingest(path).accepted == 1
    [row] = workspace.lake_rows()
    assert (row["p__ключ"], row["n__ключ"]) == ("1", Decimal(1))
    assert (row["p__数量"], row["n__数量"]) == ("2.5", Decimal("2.5"))
    assert (row["p__huge"], row["n__huge"]) == ("1e400", None)  # beyond DECIMAL(38,12)
    assert (row["p__wide"], row["n__wide"]) == ("123456789012345678901234567.5", None)
    assert (row["p__tiny"], row["n__tiny"]) == ("1e-400", Decimal(0))
    assert row["p__long"] == "0.1234567890123456789"  # the text keeps every digit
    assert row["n__long"] == Decimal("0.123456789012")  # the number: 12 places, half up


def test_the_staging_folder_is_removed_after_success_and_failure(
    workspace: Workspace, tmp_path: Path
) -> None:
    staging = workspace.root / "lake" / ".staging"
    debris = staging / "20240101T000000000000-deadbeef"  # left by a killed ingest
    debris.mkdir(parents=True)
    (debris / "events-000000.parquet").write_bytes(b"partial")
    good = write_jsonl(tmp_path / "good.jsonl", [native(event_id="a")])
    workspace.ingest(good)
    assert list(staging.iterdir()) == []
    bad = write_jsonl(tmp_path / "bad.jsonl", [native(event_id="b"), "oops"])
    with pytest.raises(IngestError, match="--strict"):
        ingest_paths(workspace.root, workspace.con, [str(bad)], strict=True)
    assert list(staging.iterdir()) == []
    assert [row["event_id"] for row in workspace.lake_rows()] == ["a"]
