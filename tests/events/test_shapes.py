"""Event shapes: native, CloudEvents, Flexprice and Lago, detected or chosen; gzip input."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meterbill.events import ingest_paths
from meterbill.events.rejects import RecordRejected
from meterbill.events.shapes import detect_shape, shape_event

from .helpers import Workspace, native, write_csv, write_jsonl

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T0_US = int(T0.timestamp()) * 1_000_000

CLOUDEVENT = {
    "specversion": "1.0",
    "id": "ce-1",
    "type": "llm.usage",
    "subject": "cust-1",
    "time": "2024-03-01T12:00:00Z",
    "source": "gateway",
    "data": {"tokens": 0.1},
}
FLEXPRICE = {
    "event_id": "fp-1",
    "event_name": "llm.usage",
    "external_customer_id": "cust-1",
    "customer_id": "flexprice-internal-7",
    "timestamp": "2024-03-01T12:00:00Z",
    "properties": {"tokens": "0.1"},
}
LAGO = {
    "transaction_id": "lago-1",
    "code": "llm.usage",
    "external_subscription_id": "sub-1",
    "timestamp": 1709294400,
    "properties": {"tokens": 0.1},
}


@pytest.mark.parametrize(
    ("record", "shape"),
    [
        (native(), "native"),
        (CLOUDEVENT, "cloudevents"),
        ({k: v for k, v in CLOUDEVENT.items() if k != "specversion"}, "cloudevents"),
        ({k: v for k, v in FLEXPRICE.items() if k != "customer_id"}, "native"),
        (LAGO, "lago"),
        ({"code": "x"}, "lago"),
        ({"transaction_id": "x"}, "lago"),
        ({}, "native"),
        # a null field is absent (a Parquet file of mixed shapes has every column)
        ({**CLOUDEVENT, "event_name": None, "code": None}, "cloudevents"),
        ({**LAGO, "event_name": None, "type": None, "subject": "x"}, "lago"),
        ({**native(), "type": "t", "subject": "s"}, "native"),  # event_name wins
    ],
)
def test_detect_shape(record: dict[str, Any], shape: str) -> None:
    assert detect_shape(record) == shape


@pytest.mark.parametrize(
    ("record", "shape", "expected"),
    [
        (CLOUDEVENT, "auto", ("ce-1", "llm.usage", "cust-1", T0_US, "gateway")),
        (CLOUDEVENT, "cloudevents", ("ce-1", "llm.usage", "cust-1", T0_US, "gateway")),
        (FLEXPRICE, "flexprice", ("fp-1", "llm.usage", "cust-1", T0_US, None)),
        (LAGO, "auto", ("lago-1", "llm.usage", "cust-9", T0_US, None)),
        (
            {**LAGO, "timestamp": "1709294400.25"},
            "lago",
            ("lago-1", "llm.usage", "cust-9", T0_US + 250_000, None),
        ),
        (
            {**LAGO, "external_subscription_id": None, "external_customer_id": "c2"},
            "lago",
            ("lago-1", "llm.usage", "c2", T0_US, None),
        ),
        (
            {**LAGO, "external_customer_id": "cust-9"},
            "lago",
            ("lago-1", "llm.usage", "cust-9", T0_US, None),
        ),
    ],
)
def test_shape_fields_map_to_the_event(
    record: dict[str, Any], shape: Any, expected: tuple[Any, ...]
) -> None:
    event = shape_event(record, shape, {"sub-1": "cust-9"})
    assert (
        event.event_id,
        event.event_name,
        event.customer_id,
        event.timestamp_us,
        event.source,
    ) == expected
    assert event.properties["tokens"] == (
        record.get("data", record.get("properties"))["tokens"].__str__(),
        Decimal("0.1"),
    )


@pytest.mark.parametrize(
    ("record", "shape", "reason"),
    [
        (CLOUDEVENT, "native", "missing_field"),  # no event_name as native
        (LAGO, "cloudevents", "missing_field"),
        ({**FLEXPRICE, "external_customer_id": None}, "flexprice", "missing_field"),
        ({**LAGO, "external_subscription_id": "sub-2"}, "lago", "unknown_subscription"),
        ({**LAGO, "external_customer_id": "other"}, "lago", "conflicting_fields"),
        ({**LAGO, "timestamp": "2024-03-01T12:00:00"}, "lago", "timestamp_without_offset"),
        ({**LAGO, "code": ""}, "lago", "empty_field"),
        ({**CLOUDEVENT, "subject": 5}, "cloudevents", "bad_type"),
        ({**CLOUDEVENT, "time": None}, "cloudevents", "missing_field"),
        ({**CLOUDEVENT, "data": "x"}, "cloudevents", "properties_not_object"),
        ({**CLOUDEVENT, "properties": {"tokens": 1}}, "cloudevents", "duplicate_key"),
        ({**CLOUDEVENT, "properties": 1}, "cloudevents", "properties_not_object"),
    ],
)
def test_shape_rejects(record: dict[str, Any], shape: Any, reason: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        shape_event(record, shape, {"sub-1": "cust-9"})
    assert caught.value.reject.reason == reason


def _add_subscription(workspace: Workspace, subscription_id: str, customer_id: str) -> None:
    workspace.con.execute(
        "INSERT INTO subscriptions VALUES (?, ?, 'basic', TIMESTAMPTZ '2024-01-01 00:00:00+00', "
        "NULL, 'anniversary')",
        [subscription_id, customer_id],
    )


def test_mixed_shapes_in_one_file_are_detected_per_record(
    workspace: Workspace, tmp_path: Path
) -> None:
    _add_subscription(workspace, "sub-1", "cust-9")
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [native(event_id="n-1"), CLOUDEVENT, {**FLEXPRICE, "customer_id": None}, LAGO],
    )
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (4, 0)
    rows = {row["event_id"]: row for row in workspace.lake_rows()}
    assert {k: rows[k]["customer_id"] for k in rows} == {
        "n-1": "cust-1",
        "ce-1": "cust-1",
        "fp-1": "cust-1",
        "lago-1": "cust-9",
    }
    assert rows["ce-1"]["source"] == "gateway"
    assert rows["ce-1"]["n__tokens"] == Decimal("0.1")
    assert rows["lago-1"]["timestamp"] == T0


#: The same five events of four shapes: the columns of a CSV or Parquet file holding them.
MIXED_COLUMNS = [
    "event_id", "event_name", "customer_id", "external_customer_id", "timestamp", "id",
    "type", "subject", "time", "transaction_id", "code", "external_subscription_id",
    "properties.tokens",
]  # fmt: skip
MIXED_ROWS = [
    ["n1", "llm.usage", "c1", None, "2024-03-01T12:00:00Z"] + [None] * 7 + ["10"],
    [None] * 5 + ["ce1", "llm.usage", "c2", "2024-03-01T12:00:00Z", None, None, None, "20"],
    ["f1", "llm.usage", None, "c3", "1709294400"] + [None] * 7 + ["30"],
    [None] * 4 + ["1709294400.5"] + [None] * 4 + ["l1", "llm.usage", "sub-1", "40"],
    [None, None, None, "c4", "1709294400"] + [None] * 4 + ["l2", "llm.usage", None, "50"],
]


def _mixed_file(folder: Path, fmt: str) -> Path:
    """MIXED_ROWS as JSON lines (absent fields left out), CSV (empty cells) or Parquet
    (nulls)."""
    if fmt == "jsonl":
        records: list[dict[str, Any]] = []
        for row in MIXED_ROWS:
            record = {k: v for k, v in zip(MIXED_COLUMNS[:-1], row, strict=False) if v}
            record["properties"] = {"tokens": row[-1]}
            records.append(record)
        return write_jsonl(folder / "mixed.jsonl", records)
    if fmt == "csv":
        rows = [[cell or "" for cell in row] for row in MIXED_ROWS]
        return write_csv(folder / "mixed.csv", MIXED_COLUMNS, rows)
    path = folder / "mixed.parquet"
    columns = {name: [row[i] for row in MIXED_ROWS] for i, name in enumerate(MIXED_COLUMNS)}
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_mixed_shapes_in_one_file_of_each_format(
    workspace: Workspace, tmp_path: Path, fmt: str
) -> None:
    _add_subscription(workspace, "sub-1", "cust-9")
    result = workspace.ingest(_mixed_file(tmp_path, fmt))
    assert (result.accepted, result.rejected) == (5, 0), workspace.rejects()
    rows = [
        (r["event_id"], r["customer_id"], r["timestamp"], r["p__tokens"])
        for r in workspace.lake_rows()
    ]
    assert rows == [
        ("ce1", "c2", T0, "20"),  # properties.<key> columns are a CloudEvent's data too
        ("f1", "c3", T0, "30"),
        ("l1", "cust-9", T0.replace(microsecond=500_000), "40"),
        ("l2", "c4", T0, "50"),
        ("n1", "c1", T0, "10"),
    ]


def test_forced_shape_rejects_other_records(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "e.jsonl", [native(event_id="n-1"), CLOUDEVENT])
    result = ingest_paths(workspace.root, workspace.con, [str(path)], shape="cloudevents")
    assert (result.accepted, result.rejected) == (1, 1)
    assert workspace.rejects()[0][1:3] == (1, "missing_field")


def test_cloudevents_csv_with_a_json_data_column(workspace: Workspace, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "ce.csv",
        ["specversion", "id", "type", "subject", "time", "source", "data", "properties.m"],
        [
            ["1.0", "ce-1", "api", "c1", "2024-03-01T12:00:00Z", "", '{"n": 2}', "x"],
            ["1.0", "ce-2", "api", "c1", "2024-03-01T12:00:00Z", "s", "", ""],
            ["1.0", "ce-3", "api", "c1", "2024-03-01T12:00:00Z", "s", '{"m": 1}', "y"],
        ],
    )
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (2, 1)
    rows = workspace.lake_rows()
    assert [(r["event_id"], r["source"], r["n__n"], r["p__m"]) for r in rows] == [
        ("ce-1", None, Decimal(2), "x"),  # data and the properties.<key> columns
        ("ce-2", "s", None, None),
    ]
    assert workspace.rejects()[0][1:3] == (3, "duplicate_key")


def test_gzip_jsonl_and_csv(workspace: Workspace, tmp_path: Path) -> None:
    plain = write_jsonl(tmp_path / "a.jsonl", [native(event_id="g-1"), "not json"])
    gz_jsonl = tmp_path / "in" / "a.jsonl.gz"
    gz_jsonl.parent.mkdir()
    gz_jsonl.write_bytes(gzip.compress(plain.read_bytes()))
    csv_text = "event_id,event_name,customer_id,timestamp\ng-2,n,c,2024-03-01T12:00:00Z\n"
    (tmp_path / "in" / "b.CSV.GZ").write_bytes(gzip.compress(csv_text.encode()))
    (tmp_path / "in" / "c.parquet.gz").write_bytes(b"ignored: not a readable suffix")
    result = workspace.ingest(tmp_path / "in")
    assert (result.records_read, result.accepted, result.rejected) == (3, 2, 1)
    assert [r["event_id"] for r in workspace.lake_rows()] == ["g-1", "g-2"]
    assert workspace.rejects()[0][1:] == (2, "bad_json", "not json")


def test_a_truncated_gzip_fails_the_ingest(workspace: Workspace, tmp_path: Path) -> None:
    from meterbill.errors import IngestError

    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:40])
    with pytest.raises(IngestError, match=r"cut\.jsonl\.gz"):
        ingest_paths(workspace.root, workspace.con, [str(path)])
    assert workspace.count("ingests") == 0


def test_flexprice_internal_customer_id_needs_the_flexprice_shape(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "fp.jsonl", [FLEXPRICE])
    auto = workspace.ingest(path)
    assert (auto.accepted, workspace.rejects()[0][2]) == (0, "conflicting_fields")
    forced = ingest_paths(workspace.root, workspace.con, [str(path)], shape="flexprice")
    assert forced.accepted == 1
    assert workspace.lake_rows()[0]["customer_id"] == "cust-1"
