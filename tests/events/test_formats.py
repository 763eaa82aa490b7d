"""CSV and Parquet in the native shape: every documented layout lands in the same columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .helpers import Workspace, write_csv

NOON = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _properties(row: dict[str, object]) -> dict[str, tuple[object, object]]:
    return {
        key[3:]: (value, row["n__" + key[3:]])
        for key, value in row.items()
        if key.startswith("p__") and value is not None
    }


def test_csv_with_property_columns(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            "event_id",
            "event_name",
            "external_customer_id",
            "timestamp",
            "source",
            "properties.tokens",
            "properties.model",
            "properties.flag",
            "unknown",
        ],
        [
            [
                "a",
                "llm.usage",
                "c1",
                "2024-03-01T12:00:00Z",
                "api",
                "12.5",
                "OpenAI O1",
                "true",
                "x",
            ],
            ["", "llm.usage", "c2", "1709294400", "", "abc", "", "", ""],
        ],
    )
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (2, 0)
    rows = workspace.lake_rows()
    named, derived = rows  # "a" sorts before "derived:..."
    assert named["event_id"] == "a"
    assert named["customer_id"] == "c1"
    assert named["source"] == "api"
    assert _properties(named) == {
        "tokens": ("12.5", Decimal("12.5")),
        "model": ("OpenAI O1", None),
        "flag": ("true", None),  # CSV cells are text: "true" is not a number either
    }
    assert derived["event_id"].startswith("derived:")
    assert derived["timestamp"] == NOON
    assert derived["source"] is None
    assert _properties(derived) == {"tokens": ("abc", None)}


def test_csv_with_a_json_properties_column_crlf_bom_and_multiline(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    text = (
        "event_id,event_name,customer_id,timestamp,properties\r\n"
        '1,n,c,2024-03-01T12:00:00Z,"{""tokens"": 0.1,\r\n ""note"": ""two\\nlines""}"\r\n'
        "\r\n"
        "2,n,c,2024-03-01T12:00:00Z,\r\n"
        '3,n,c,2024-03-01T12:00:00Z,"{""big"": 1e30, ""neg"": -0.0000000000005}"\r\n'
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = workspace.ingest(path)
    assert (result.records_read, result.accepted) == (3, 3)
    rows = {row["event_id"]: row for row in workspace.lake_rows()}
    assert _properties(rows["1"]) == {
        "tokens": ("0.1", Decimal("0.1")),
        "note": ("two\nlines", None),
    }
    assert _properties(rows["2"]) == {}
    assert _properties(rows["3"]) == {
        "big": ("1e30", None),  # does not fit DECIMAL(38,12): text only
        "neg": ("-0.0000000000005", Decimal("-1E-12")),  # half away from zero
    }


def test_csv_record_numbers_count_data_rows(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "event_name,customer_id,timestamp\n"
        '"multi\nline",c,2024-03-01T12:00:00Z\n'
        "\n"
        "n,,2024-03-01T12:00:00Z\n"
    )
    result = workspace.ingest(path)
    assert (result.records_read, result.accepted) == (2, 1)
    assert workspace.rejects() == [(str(path), 2, "empty_field", "n,,2024-03-01T12:00:00Z")]


def _parquet(path: Path, columns: dict[str, pa.Array]) -> Path:
    base = {
        "event_name": pa.array(["n"] * len(next(iter(columns.values()))), pa.string()),
        "customer_id": pa.array(["c"] * len(next(iter(columns.values()))), pa.string()),
    }
    pq.write_table(pa.table({**base, **columns}), path, row_group_size=2)
    return path


def test_parquet_timestamps_of_every_kind(workspace: Workspace, tmp_path: Path) -> None:
    instant = int(NOON.timestamp())
    files = [
        _parquet(
            tmp_path / "aware.parquet",
            {
                "event_id": pa.array(["aware"]),
                "timestamp": pa.array(
                    [NOON.astimezone(timezone(timedelta(hours=5)))],
                    pa.timestamp("ms", tz="Asia/Tashkent"),
                ),
            },
        ),
        _parquet(
            tmp_path / "naive.parquet",
            {"event_id": pa.array(["naive"]), "timestamp": pa.array([NOON.replace(tzinfo=None)])},
        ),
        _parquet(
            tmp_path / "nanos.parquet",
            {
                "event_id": pa.array(["nanos"]),
                "timestamp": pa.array([instant * 10**9 + 1999], pa.timestamp("ns", tz="UTC")),
            },
        ),
        _parquet(
            tmp_path / "epoch.parquet",
            {"event_id": pa.array(["s", "ms"]), "timestamp": pa.array([instant, instant * 1000])},
        ),
        _parquet(
            tmp_path / "text.parquet",
            {"event_id": pa.array(["text"]), "timestamp": pa.array(["2024-03-01T13:00:00+01:00"])},
        ),
    ]
    result = workspace.ingest(*files)
    assert (result.accepted, result.rejected) == (6, 0)
    times = {row["event_id"]: row["timestamp"] for row in workspace.lake_rows()}
    assert times == {
        "aware": NOON,
        "naive": NOON,
        "nanos": NOON + timedelta(microseconds=1),  # nanoseconds truncated
        "s": NOON,
        "ms": NOON,
        "text": NOON,
    }


def test_parquet_properties_as_struct_map_json_and_columns(
    workspace: Workspace, tmp_path: Path
) -> None:
    ts = pa.array(["2024-03-01T12:00:00Z"] * 2)
    struct = _parquet(
        tmp_path / "struct.parquet",
        {
            "event_id": pa.array(["s1", "s2"]),
            "timestamp": ts,
            "properties": pa.array(
                [
                    {"tokens": 5, "rate": Decimal("1.50"), "ok": True, "f": 0.1},
                    {"tokens": None, "rate": None, "ok": None, "f": None},
                ],
                pa.struct(
                    [
                        ("tokens", pa.int64()),
                        ("rate", pa.decimal128(10, 2)),
                        ("ok", pa.bool_()),
                        ("f", pa.float64()),
                    ]
                ),
            ),
        },
    )
    mapped = _parquet(
        tmp_path / "map.parquet",
        {
            "event_id": pa.array(["m1", "m2"]),
            "timestamp": ts,
            "properties": pa.array(
                [[("tokens", "7"), ("model", "o1")], []], pa.map_(pa.string(), pa.string())
            ),
        },
    )
    text = _parquet(
        tmp_path / "json.parquet",
        {
            "event_id": pa.array(["j1", "j2"]),
            "timestamp": ts,
            "properties": pa.array(['{"tokens": 1.10, "model": "o1"}', None]),
        },
    )
    columns = _parquet(
        tmp_path / "columns.parquet",
        {
            "event_id": pa.array(["c1", "c2"]),
            "timestamp": ts,
            "properties.tokens": pa.array([3, None], pa.int32()),
            "properties.model": pa.array(["o1", "o3"]).dictionary_encode(),
        },
    )
    result = workspace.ingest(struct, mapped, text, columns)
    assert (result.accepted, result.rejected) == (8, 0)
    rows = {row["event_id"]: _properties(row) for row in workspace.lake_rows()}
    assert rows == {
        "s1": {
            "tokens": ("5", Decimal(5)),
            "rate": ("1.50", Decimal("1.5")),
            "ok": ("true", None),
            "f": ("0.1", Decimal("0.1")),  # the shortest text of the float, not its binary value
        },
        "s2": {},
        "m1": {"tokens": ("7", Decimal(7)), "model": ("o1", None)},
        "m2": {},
        "j1": {"tokens": ("1.10", Decimal("1.1")), "model": ("o1", None)},
        "j2": {},
        "c1": {"tokens": ("3", Decimal(3)), "model": ("o1", None)},
        "c2": {"model": ("o3", None)},
    }


def test_parquet_in_several_batches(workspace: Workspace, tmp_path: Path) -> None:
    from meterbill.events import readers

    count = 25
    path = _parquet(
        tmp_path / "many.parquet",
        {
            "event_id": pa.array([f"e{i:03}" for i in range(count)]),
            "timestamp": pa.array([f"2024-03-{1 + i % 3:02}T00:00:00Z" for i in range(count)]),
            "properties.i": pa.array(list(range(count))),
        },
    )
    numbers = [r.record_number for r in readers.read_parquet(path, batch_size=4)]
    assert numbers == list(range(1, count + 1))
    result = workspace.ingest(path)
    assert result.accepted == count
    assert workspace.count("lake_files") == 3
    assert [row["p__i"] for row in workspace.lake_rows()] == [str(i) for i in range(count)]
