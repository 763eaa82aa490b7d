"""The Parquet fast path gives exactly what the exact (per-row) path gives.

Each case writes one Parquet file and ingests it into fresh workspaces twice, once as
shipped (fast path on) and once with it switched off, then a second time into each
(every row a duplicate, so the raw text the fast path reads back is compared too), and
compares counts, lake rows, rejects and duplicates.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meterbill.errors import IngestError
from meterbill.events import ingest, ingest_paths, lake, parquet_fast
from meterbill.events.schema import MAX_MICROS, MIN_MICROS, property_value
from meterbill.events.shapes import SHAPES, Shape
from meterbill.state import connect_state

from .helpers import ingest_outcome

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _both_paths(
    tmp: Path, table: pa.Table, monkeypatch: pytest.MonkeyPatch, *, shape: Shape = "auto"
) -> tuple[dict[str, Any], dict[str, Any]]:
    path = tmp / "in.parquet"
    pq.write_table(table, path, row_group_size=3)  # several row groups and batches
    proved: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> parquet_fast.FastBatch:
        batch = parquet_fast.read_batch(*args, **kwargs)
        proved.append(batch.table.num_rows if batch.table is not None else 0)
        return batch

    with monkeypatch.context() as patch:
        patch.setattr(ingest, "BATCH_ROWS", 4)
        patch.setattr(ingest, "read_batch", counted)
        patch.setattr(lake, "_FILL_ROWS", 3)  # duplicates' raw texts in several batches
        fast = ingest_outcome(tmp / "fast", path, times=2, shape=shape)
    fast["proved"] = sum(proved)
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "FAST_SHAPES", frozenset())
        exact = ingest_outcome(tmp / "exact", path, times=2, shape=shape)
    return fast, exact


def _events(n: int, **columns: Any) -> dict[str, Any]:
    """Columns of ``n`` valid native events, overridden by ``columns``."""
    base: dict[str, Any] = {
        "event_id": [f"e{i}" for i in range(n)],
        "event_name": ["llm.usage"] * n,
        "customer_id": [f"c{i % 3}" for i in range(n)],
        "timestamp": [T0] * n,
    }
    base.update(columns)
    return base


_MAP = pa.map_(pa.string(), pa.string())
#: Property values at the edges of what the fast path may prove.
EDGE_STRINGS = ["gpt-4o", "12.5", "+1", ".5", "1.", "007", "1e5", "٣", " 1", "1e400",
                "0.12345678901234", "123456789012345678901234567", "", "ユーザー", None]  # fmt: skip
EDGE_FLOATS = [0.1, 100.0, -0.0, 0.0, 1e-05, 0.0001, 9.99e-05, 1e15, 1e16, 123456789012345.6,
               0.30000000000000004, 1 / 3, 2.5e-7, float("nan"), float("inf"), -1.5, None]  # fmt: skip
#: (event_id, event_name, timestamp, source) at the edges, one row each.
EDGE_FIELDS = [("", "a", T0, None), (None, "  ", T0, ""), ("  ", "\u3000", T0, "src"),
               ("id-4", "x\x01", T0, "s'; DROP TABLE x; --"), ("id-5", None, T0, None),
               ("dup", "ok", None, None), ("dup", "ok", T0, None), (None, "ok", T0, None)]  # fmt: skip
EDGE_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_name", pa.string()),
        ("customer_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("source", pa.string()),
        (
            "properties",
            pa.struct(
                [
                    ("model", pa.string()),
                    ("cost", pa.float64()),
                    ("tokens", pa.int64()),
                    ("price", pa.decimal128(10, 2)),
                    ("flag", pa.bool_()),
                    ("nothing", pa.null()),
                ]
            ),
        ),
    ]
)


def test_edge_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[dict[str, Any]] = []

    def row(properties: dict[str, Any] | None, **fields: Any) -> None:
        number = len(rows)
        record = {"event_id": f"e{number}", "event_name": "ok", "customer_id": "c",
                  "timestamp": T0, "source": None, "properties": properties}  # fmt: skip
        record.update(fields)
        rows.append(record)

    for event_id, name, stamp, source in EDGE_FIELDS:
        row({"model": "m"}, event_id=event_id, event_name=name, timestamp=stamp, source=source)
    for value in EDGE_STRINGS:
        row({"model": value, "tokens": 7, "flag": True})
    for value in EDGE_FLOATS:
        row({"cost": value, "price": Decimal("-0.01"), "flag": False})
    for number in (-40, 0, 2**62):
        row({"tokens": number, "price": Decimal("1.50"), "nothing": None})
    row(None)
    table = pa.Table.from_pylist(rows, schema=EDGE_SCHEMA)
    fast, exact = _both_paths(tmp_path, table, monkeypatch)
    proved = fast.pop("proved")
    assert 0 < proved < 2 * len(rows)  # both paths at work, in both ingests
    assert fast == exact
    assert fast["counts"][0][3] > 0 and fast["counts"][1][2] > 0  # rejects, then duplicates


@pytest.mark.parametrize(
    ("columns", "proved"),
    [
        pytest.param({"properties.model": ["a", "b"], "properties.n": [1.5, 2.0]}, 2, id="columns"),
        pytest.param({"source": ["x", ""]}, 2, id="no-properties"),
        pytest.param({"event_id": [None, None]}, 2, id="derived-ids"),
        pytest.param({"event_id": pa.array([None, "x"], pa.string())}, 2, id="some-derived"),
        pytest.param({"timestamp": pa.array([T0, T0], pa.timestamp("ns"))}, 2, id="naive-ns"),
        pytest.param(
            {"timestamp": pa.array([1, 2], pa.int64()).cast(pa.timestamp("s", tz="Asia/Tokyo"))},
            2,
            id="seconds-tokyo",
        ),
        pytest.param(
            {"timestamp": pa.array([253402300800_000000, 0], pa.int64()).cast(pa.timestamp("us"))},
            1,
            id="year-10000",
        ),
        pytest.param(
            {"timestamp": pa.array([10**17, 0], pa.int64()).cast(pa.timestamp("ms"))},
            0,
            id="seconds-overflow",
        ),
        pytest.param({"properties": pa.array([{"Model": "a"}, {"Model": "b"}])}, 2, id="struct"),
        pytest.param(  # local times in years 0 and 10000: the exact path cannot read them
            {
                "timestamp": pa.array([MIN_MICROS, 0], pa.int64()).cast(
                    pa.timestamp("us", tz="-05:00")
                )
            },
            1,
            id="zone-before-year-1",
        ),
        pytest.param(
            {
                "timestamp": pa.array([MAX_MICROS, 0], pa.int64()).cast(
                    pa.timestamp("us", tz="Asia/Tokyo")
                )
            },
            1,
            id="zone-after-year-9999",
        ),
        pytest.param(  # Python knows no such zone: the exact path rejects every row
            {"timestamp": pa.array([0, 1], pa.int64()).cast(pa.timestamp("us", tz="Mars/Olympus"))},
            0,
            id="unknown-zone",
        ),
        pytest.param(  # Arrow prints "0E-12" and "1E-7", format(Decimal, "f") does not
            {"properties.k": pa.array([Decimal(0), Decimal("1.5")], pa.decimal128(20, 12))},
            2,
            id="decimal-zero",
        ),
        pytest.param(
            {
                "properties.k": pa.array(
                    [Decimal("-1E-7"), Decimal("0.000001")], pa.decimal128(9, 7)
                )
            },
            2,
            id="decimal-tiny",
        ),
        pytest.param(
            {"properties": pa.array([[("model", "a"), ("tokens", "12")], None], _MAP)}, 2, id="map"
        ),
        pytest.param({"properties": ['{"model":"a","tokens":12}', None]}, 2, id="json"),
        pytest.param({"properties": ['{"k":1,"k":2}', '{ "k" : 0.5 }']}, 1, id="json-key-twice"),
        pytest.param({"properties": ['{"k":1.50}', '{"k":"1.50"}']}, 1, id="json-re-print"),
        pytest.param({"properties": ['{"k":{"x":1}}', "null"]}, 0, id="json-nested-null"),
        pytest.param({"properties": ["", "[1]"]}, 0, id="json-not-objects"),
        pytest.param({"properties": ['{"K":1}', '{"k":2}']}, 0, id="json-case-clash"),
        pytest.param({"properties": ['{"a\\u0062":1}', '{"ü":"ユ"}']}, 1, id="json-escape"),
        pytest.param(
            {"properties": ['{"k":"\u2028"}', '\u00a0{"k":1}']}, 1, id="json-unicode-space"
        ),
        pytest.param({"properties": ['{"k":1.5e1}', '{"k":15E0}']}, 0, id="json-exponent"),
        pytest.param(
            {"properties": ['{"😀":"\U0010ffff"}', '{"a b:c":"x"}']}, 2, id="json-odd-keys"
        ),
        pytest.param(
            {"properties": pa.array(['{"k":null}', "null"], pa.large_string())},
            1,
            id="json-null-large",
        ),
        pytest.param(
            {"properties": pa.array([[("k", "1"), ("k", "2")], [("k", "3")]], _MAP)},
            1,
            id="map-key-twice",
        ),
        pytest.param(
            {"properties": pa.array([[("", "1")], [("b", None)]], _MAP)}, 1, id="map-empty-key"
        ),
        pytest.param(
            {"properties": pa.array([[("k\x00", "2")], [("b", "x")]], _MAP)}, 1, id="map-nul-key"
        ),
        pytest.param(
            {
                "properties": pa.array(
                    [[("x", 0.1)], [("x", 1e-05)]], pa.map_(pa.string(), pa.float64())
                )
            },
            1,
            id="map-floats",
        ),
        pytest.param(  # keys differing in ASCII case: proved, but the batch is staged
            # exactly, in order (a row holding both is property_key_conflict)
            {"properties": pa.array([[("Model", "a"), ("model", "b")], [("model", "c")]], _MAP)},
            2,
            id="map-keys-differing-in-case",
        ),
        pytest.param(  # more keys than the fast path learns: the batch is read exactly
            {"properties": pa.array([[(f"k{i}", "1") for i in range(260)], None], _MAP)},
            0,
            id="map-many-keys",
        ),
        pytest.param(
            {
                "properties": pa.array(
                    [[("ü", 2**64 - 1), ("日本", None)], [("日本", 0)]],
                    pa.map_(pa.large_string(), pa.uint64()),
                )
            },
            2,
            id="map-unicode-keys-uint64",
        ),
    ],
)
def test_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: dict[str, Any], proved: int
) -> None:
    table = pa.table(_events(2, **columns))
    fast, exact = _both_paths(tmp_path, table, monkeypatch)
    assert fast.pop("proved") == 2 * proved  # each ingest (the second: duplicates)
    assert fast == exact


@pytest.mark.parametrize(
    ("customers", "shape", "proved"),
    [
        ({"external_customer_id": ["c1", " ", "c2", None]}, "auto", 2),  # Flexprice's name
        ({"external_customer_id": ["c1", " ", "c2", None]}, "native", 2),
        ({"external_customer_id": ["c1", " ", "c2", None]}, "flexprice", 2),
        ({"customer_id": ["c1", "c2", "c3", "c4"]}, "flexprice", 0),  # Flexprice ignores it
        ({"customer_id": ["c1", None, "c3", None], "external_customer_id": [None, "c2", "c3", "x"]},
         "auto", 0),  # both: the exact path checks they agree
    ],
)  # fmt: skip
def test_flexprice_customer_column(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    customers: dict[str, list[str | None]],
    shape: Shape,
    proved: int,
) -> None:
    events = _events(4)
    del events["customer_id"]
    table = pa.table(
        {**events, **{name: pa.array(v, pa.string()) for name, v in customers.items()}}
    )
    fast, exact = _both_paths(tmp_path, table, monkeypatch, shape=shape)
    assert fast.pop("proved") == 2 * proved  # each ingest (the second: duplicates)
    assert fast == exact
    if proved:
        assert [row["customer_id"] for row in fast["rows"]] == ["c1", "c2"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "customers",
    [
        {"external_customer_id": ["c1", " ", None, "c2"]},
        {"customer_id": ["c1", None, "c3", ""], "external_customer_id": [None, "c2", "c3", "x"]},
        {"external_customer_id": ["c1", None, "c2", None],
         "external_subscription_id": [None, "s1", "s2", "zz"]},
    ],
)  # fmt: skip
def test_customer_columns_under_every_shape(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    customers: dict[str, list[str | None]],
    shape: Shape,
) -> None:
    events = _events(4, properties=pa.array([[("k", "1")], None, [], [("k", "x")]], _MAP))
    del events["customer_id"]
    table = pa.table(
        {**events, **{name: pa.array(v, pa.string()) for name, v in customers.items()}}
    )
    fast, exact = _both_paths(tmp_path, table, monkeypatch, shape=shape)
    fast.pop("proved")
    assert fast == exact


def test_key_clash_across_batches_keeps_the_first_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = pa.table(_events(8, **{"properties.Model": ["a"] * 4 + [None] * 4}))
    table = table.append_column("properties.model", pa.array([None] * 4 + ["b"] * 4))
    fast, exact = _both_paths(tmp_path, table, monkeypatch)
    fast.pop("proved")
    assert fast == exact
    assert fast["counts"][0] == (8, 4, 0, 4)


def test_json_keys_differ_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys learned per batch: a spelling clash, new keys and more than ``MAX_KEYS`` in
    the file (never in one batch) read as the exact path reads them."""
    wide = [json.dumps({f"k{j}": j for j in range(n, n + 200)}) for n in (0, 200)]
    texts = ['{"K":1}'] * 4 + ['{"k":2,"m":"x"}'] * 4 + [wide[0]] * 4 + [wide[1]] * 4
    fast, exact = _both_paths(tmp_path, pa.table(_events(16, properties=texts)), monkeypatch)
    assert fast.pop("proved") == 2 * 16
    assert fast == exact


@pytest.mark.parametrize(
    ("schema", "fast"),
    [
        ({"properties": pa.struct([("k", pa.string())])}, True),
        ({"properties.k": pa.float64(), "properties.j": pa.int32()}, True),
        ({"properties": pa.struct([("k", pa.decimal128(38, 12))])}, True),
        ({"properties": pa.struct([("k", pa.decimal128(38, 10))])}, False),  # 28 digits
        ({"properties": pa.struct([("k", pa.float32())])}, False),
        ({"properties": pa.map_(pa.string(), pa.string())}, True),
        ({"properties": pa.map_(pa.large_string(), pa.decimal128(20, 4))}, True),
        ({"properties": pa.map_(pa.string(), pa.float32())}, False),
        ({"properties": pa.map_(pa.int32(), pa.string())}, False),  # keys must be text
        ({"properties": pa.map_(pa.string(), pa.string()), "properties.j": pa.string()}, False),
        ({"properties": pa.string()}, True),  # JSON text
        ({"properties": pa.large_string()}, True),
        ({"properties": pa.string(), "properties.j": pa.string()}, False),
        ({"properties": pa.binary()}, False),
        ({"properties": pa.struct([("k", pa.struct([("x", pa.int64())]))])}, False),
        ({"properties": pa.struct([("k", pa.date32())])}, False),
        ({"properties": pa.struct([("k", pa.string())]), "properties.j": pa.string()}, False),
        ({"external_customer_id": pa.string()}, False),
        ({"type": pa.string()}, False),
        ({"event_id": pa.int64()}, False),
        ({"timestamp": pa.string()}, False),
        ({"timestamp": pa.int64()}, True),  # epoch seconds or milliseconds
        ({"timestamp": pa.uint16()}, True),
        ({"timestamp": pa.float64()}, False),
        ({"other": pa.string()}, True),  # no shape reads it: ignored
    ],
)
def test_which_files_take_the_fast_path(schema: dict[str, pa.DataType], fast: bool) -> None:
    fields = {"event_name": pa.string(), "customer_id": pa.string(),
              "timestamp": pa.timestamp("us", tz="UTC")}  # fmt: skip
    fields.update(schema)
    assert (parquet_fast.fast_layout(pa.schema(list(fields.items()))) is not None) is fast


#: Integer epoch timestamps at the edges: the seconds/milliseconds threshold, years 1 and
#: 9999 in each, and int64's own ends.
_EPOCH_INTEGERS = [0, -1, 1_700_000_000, 99_999_999_999, 100_000_000_000, -100_000_000_000,
                   -62_135_596_800, -62_135_596_801, 253_402_300_799_999, 253_402_300_800_000,
                   10**15 - 1, 10**15, -(2**63), 2**63 - 1, None]  # fmt: skip


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        (pa.int64(), _EPOCH_INTEGERS),
        (pa.uint64(), [0, 1_700_000_000_123, 2**64 - 1, 10**15, None]),
        (pa.int32(), [0, -(2**31), 2**31 - 1, None]),
        (pa.uint8(), [0, 255, None]),
    ],
)
def test_integer_epoch_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: pa.DataType, values: list[int | None]
) -> None:
    """An integer timestamp column is epoch seconds (below 1e11) or milliseconds, read as
    ``schema.epoch_micros`` reads it; values beyond years 1-9999 are rejected, exactly."""
    table = pa.table(_events(len(values), timestamp=pa.array(values, dtype)))
    fast, exact = _both_paths(tmp_path, table, monkeypatch)
    assert fast.pop("proved") > 0
    assert fast == exact


#: Each shape's names for the native fields (``fastpath.LAYOUTS``).
_SHAPE_NAMES: dict[str, dict[str, str]] = {
    "cloudevents": {"event_id": "id", "event_name": "type", "customer_id": "subject",
                    "timestamp": "time", "properties": "data"},
    "lago": {"event_id": "transaction_id", "event_name": "code",
             "customer_id": "external_customer_id"},
    "lago-subscription": {"event_id": "transaction_id", "event_name": "code",
                          "customer_id": "external_subscription_id"},
}  # fmt: skip


def _as_shape(table: pa.Table, kind: str) -> pa.Table:
    """``table`` (native column names) with ``kind``'s names (a Lago subscription's
    ids ``s1``, ``s2``, ``zz`` in place of customers; ``zz`` is no subscription)."""
    names = _SHAPE_NAMES.get(kind, {})
    if kind == "lago-subscription":
        column = table.column("customer_id")
        ids = ["s1", "s2", "zz", "sub-ü '; --"]
        table = table.set_column(
            table.schema.get_field_index("customer_id"),
            "customer_id",
            pa.array([ids[i % 4] for i in range(len(column))], column.type),
        )
    return table.rename_columns([names.get(name, name) for name in table.column_names])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("kind", "extra", "proved"),
    [
        ("cloudevents", {}, 4),
        ("cloudevents", {"specversion": pa.array(["1.0", None, "1.0", "1.0"])}, 4),
        ("cloudevents", {"specversion": pa.array([1, 1, 1, 1])}, 0),  # not text: exact
        ("cloudevents", {"source": pa.array(["s", "", None, "x"])}, 4),
        ("cloudevents", {"properties.k": pa.array(["1", None, "2", None])}, 0),  # merged: exact
        ("lago", {}, 4),
        ("lago", {"source": pa.array(["s", "", None, "x"])}, 0),  # no Lago field: exact
        ("lago-subscription", {}, 3),  # zz: unknown_subscription
        ("lago-subscription", {"external_customer_id": pa.array(["c1", None, "c3", None])}, 0),
    ],
)
@pytest.mark.parametrize(
    "properties",
    [
        pa.array(['{"k":1,"m":"x"}', None, '{"k":"2"}', "{}"]),
        pa.array([[("k", "1")], None, [], [("k", "x")]], _MAP),
        pa.array([{"k": 1}, None, {"k": 2}, {"k": None}], pa.struct([("k", pa.int64())])),
    ],
    ids=["json", "map", "struct"],
)
def test_cloudevents_and_lago_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    extra: dict[str, pa.Array],
    proved: int,
    properties: pa.Array,
    shape: Shape,
) -> None:
    """Parquet files of the CloudEvents and Lago shapes take the fast path under
    ``auto`` and their own ``--shape`` (a proved row reads as that shape), and give what
    the exact path gives under every shape."""
    table = _as_shape(pa.table(_events(4, properties=properties)), kind)
    for name, values in extra.items():
        table = table.append_column(name, values)
    fast, exact = _both_paths(tmp_path, table, monkeypatch, shape=shape)
    own = shape in ("auto", kind.split("-")[0])
    assert fast.pop("proved") == (2 * proved if own else 0)
    assert fast == exact
    if own and proved:
        assert fast["counts"][0] == (4, proved, 0, 4 - proved)


@pytest.mark.parametrize(
    ("kind", "columns", "fast"),
    [
        ("cloudevents", {}, True),
        ("cloudevents", {"id": None}, False),  # required
        ("cloudevents", {"id": pa.null()}, False),
        ("cloudevents", {"source": pa.null()}, True),  # optional: nulls are none
        ("cloudevents", {"event_name": pa.string()}, False),  # another shape's field
        ("cloudevents", {"time": pa.string()}, False),
        ("lago", {}, True),
        ("lago", {"external_subscription_id": pa.string()}, False),  # both: exact
        ("lago-subscription", {}, True),
        ("lago-subscription", {"transaction_id": None}, False),
        ("lago-subscription", {"code": pa.int64()}, False),
    ],
)
def test_which_shaped_files_take_the_fast_path(
    kind: str, columns: dict[str, pa.DataType | None], fast: bool
) -> None:
    names = {"event_id": "id", **_SHAPE_NAMES[kind]}
    fields = {names.get(name, name): pa.string() for name in ("event_id", "event_name",
              "customer_id")} | {names.get("timestamp", "timestamp"): pa.timestamp("us")}  # fmt: skip
    for name, dtype in columns.items():
        if dtype is None:
            del fields[name]
        else:
            fields[name] = dtype
    layout = parquet_fast.fast_layout(pa.schema(list(fields.items())))
    assert (layout is not None) is fast


#: Columns of CloudEvents and Lago files pinned by the differential review (with the
#: rows the fast path proves of 6, each ingest): odd ids, subscriptions and specversions,
#: ``data`` as JSON text, and the instants at the range's ends in a zone with an offset.
_ODD = [" s1", "S1", "", None, "sub-ü '; --", "s1"]
REVIEW_SHAPED_FILES: list[tuple[str, dict[str, pa.Array], int]] = [
    ("lago-subscription", {"external_subscription_id": pa.array(_ODD)}, 2),
    ("cloudevents", {"id": pa.array(["\u3000", "", None, " a", "a", "b\x00"])}, 3),
    ("cloudevents", {"specversion": pa.nulls(6), "source": pa.nulls(6, pa.string())}, 6),
    ("cloudevents", {"specversion": pa.array([" ", "", None, "1.0", "x", "2"])}, 6),
    ("cloudevents", {"data": pa.array(['{"k":1}', "null", "", None, '{"k":{"a":1}}', '{"k":1.50}'])}, 2),
    ("lago", {"properties": pa.array(['{"k":"1"}', '{"k":1,"K":2}', None, "{}", "[]", '{"k":-0}'])}, 0),
    ("lago", {"properties": pa.array(['{"k":"1"}', '{"K":2}', None, "{}", "[]", '{"k":-0}'])}, 0),
    ("lago", {"properties": pa.array(['{"k":"1"}', '{"k":2}', None, "{}", "[]", '{"k":-0}'])}, 4),
    ("lago", {"timestamp": pa.array([datetime(1, 1, 1, 12), datetime(9999, 12, 31, 12)] * 3,
                                    pa.timestamp("us", tz="+05:30"))}, 0),
    ("lago", {"timestamp": pa.array([datetime(1, 1, 2, 12), datetime(9999, 12, 30, 12)] * 3,
                                    pa.timestamp("us", tz="+05:30"))}, 6),
]  # fmt: skip


@pytest.mark.parametrize("shape", ["auto", "cloudevents", "lago"])
@pytest.mark.parametrize(("kind", "columns", "proved"), REVIEW_SHAPED_FILES)
def test_review_shaped_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    columns: dict[str, pa.Array],
    proved: int,
    shape: Shape,
) -> None:
    table = _as_shape(pa.table(_events(6)), kind)
    for name, values in columns.items():
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, values)
        else:
            table = table.append_column(name, values)
    fast, exact = _both_paths(tmp_path, table, monkeypatch, shape=shape)
    own = shape in ("auto", kind.split("-")[0])
    assert fast.pop("proved") == (2 * proved if own else 0)
    assert fast == exact


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
@example(0.123456789012)  # 12 places: cast as it is
@example(0.1234567890125)  # 13 places, a tie at the 12th: half away from zero
@example(-0.1234567890125)
@example(1e9 - 0.5)
def test_floats_convert_as_the_exact_path_converts_them(value: float) -> None:
    text, number, fine = parquet_fast._property_column(pa.array([value], pa.float64()))
    if fine[0].as_py():
        assert (text[0].as_py(), number[0].as_py()) == property_value(value)
    # the fast path takes the usual magnitudes (Arrow prints an exponent from 1e10 on)
    assert fine[0].as_py() or not (value == 0 or 1e-4 <= abs(value) < 1e9)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([(12, 2), (20, 12), (9, 7), (38, 12)]).flatmap(
        lambda type_: st.tuples(
            st.just(type_),
            st.decimals(
                allow_nan=False,
                allow_infinity=False,
                places=type_[1],
                max_value=Decimal(10) ** (type_[0] - type_[1]) - 1,
                min_value=-(Decimal(10) ** (type_[0] - type_[1])) + 1,
            ),
        )
    )
)
@example(((20, 12), Decimal(0)))
@example(((9, 7), Decimal("-1E-7")))
@example(((38, 12), Decimal("-0.000000999999")))
def test_decimals_convert_as_the_exact_path_converts_them(
    case: tuple[tuple[int, int], Decimal],
) -> None:
    (precision, scale), value = case
    array = pa.array([value], pa.decimal128(precision, scale))
    text, number, fine = parquet_fast._property_column(array)
    assert fine[0].as_py()
    assert (text[0].as_py(), number[0].as_py()) == property_value(array[0].as_py())


@pytest.mark.parametrize("same_size_and_time", [False, True])
def test_a_file_changed_before_its_duplicates_are_kept_fails_the_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same_size_and_time: bool
) -> None:
    path = tmp_path / "in.parquet"
    plain = {"compression": "none", "use_dictionary": False}
    pq.write_table(pa.table(_events(2, event_id=["same", "same"])), path, **plain)
    original = ingest._Reading.raw_texts

    def touched(self: Any, index: int, numbers: Any) -> Any:
        before = path.stat()
        if same_size_and_time:  # ids of the same length, the old time put back
            pq.write_table(pa.table(_events(2, event_id=["SAME", "SAME"])), path, **plain)
            assert path.stat().st_size == before.st_size
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        else:
            pq.write_table(pa.table(_events(3)), path)  # another writer replaces the file
        return original(self, index, numbers)

    monkeypatch.setattr(ingest._Reading, "raw_texts", touched)
    root = tmp_path / "ws"
    root.mkdir()
    con = connect_state(root)
    try:
        with pytest.raises(IngestError, match="changed while it was being ingested"):
            ingest_paths(root, con, [str(path)])
        assert con.execute("SELECT count(*) FROM ingests").fetchone() == (0,)
    finally:
        con.close()


#: Property columns at the edges: (type, values).
_PROPERTY_TYPES = [
    (pa.string(), EDGE_STRINGS),
    (pa.large_string(), ["1", " ", None]),
    (pa.float64(), EDGE_FLOATS),
    (pa.int64(), [0, -(2**63), 2**63 - 1, None]),
    (pa.uint64(), [2**64 - 1, None]),
    (pa.bool_(), [True, False, None]),
    (pa.decimal128(9, 2), [Decimal("-0.01"), Decimal("1234567.89"), None]),
    (pa.decimal128(38, 12), [Decimal(0), Decimal("1E-12"), Decimal("-1.5"), None]),
    (pa.null(), [None]),
]
_TEXT = [pa.string(), pa.large_string()]
#: Properties as JSON text: keys, values and whole texts at the edges of the grammar.
_JSON_KEYS = ['"k"', '"K"', '"m"', '""', '"k"', ' "k" ', '"ü"', '"a\\u0062"', '"x\\u0000"']
_JSON_VALUES = ["1", "0.1", "1.50", "1e5", "-0", "0", "123456789012345", "1234567890123456",
                "0.000000000001", "123456789012345678901234567", '"x"', '"12.5"', '" 1"',
                '"1e400"', '"\\u0041"', "true", "false", "null", '{"x":1}', "[1]", " 2 ", "NaN"]  # fmt: skip
_JSON_TEXTS = ["", " ", "null", "{}", "{ }", "[]", "1", '"x"', '{"a":1,}', '{"a":1}x',
               '{"a":1} ', '\t{"a":2}', '{"a":1}\n', '{"a" 1}', "{'a':1}"]  # fmt: skip
_INSTANTS = [0, MIN_MICROS, MAX_MICROS, MAX_MICROS - 10**10, 1_709_294_400_000_000, None]


@st.composite
def _tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 8))

    def column(values: list[Any], dtype: pa.DataType) -> pa.Array:
        return pa.array([draw(st.sampled_from(values)) for _ in range(n)], dtype)

    columns: dict[str, Any] = {}
    if draw(st.booleans()):
        columns["event_id"] = column(["a", "b", "", None], pa.string())
    columns["event_name"] = column(["llm.usage", " ", None], draw(st.sampled_from(_TEXT)))
    columns["customer_id"] = column(["c1", "c2"], pa.string())
    zone = draw(st.sampled_from([None, "UTC", "-05:00", "Asia/Tokyo"]))
    unit = draw(st.sampled_from(["us", "ns"]))
    stamps = column(_INSTANTS, pa.int64()).cast(pa.timestamp("us", tz=zone))
    columns["timestamp"] = stamps.cast(pa.timestamp(unit, tz=zone), safe=False)
    if draw(st.integers(0, 4)) == 0:  # epoch seconds or milliseconds
        columns["timestamp"] = column(_EPOCH_INTEGERS, pa.int64())
    if draw(st.integers(0, 3)) == 0:  # JSON text: an object of edge values, or not one
        member = st.tuples(st.sampled_from(_JSON_KEYS), st.sampled_from(_JSON_VALUES)).map(
            lambda pair: f"{pair[0]}:{pair[1]}"
        )
        objects = st.lists(member, max_size=3).map(lambda members: "{" + ",".join(members) + "}")
        texts = st.one_of(objects, st.sampled_from(_JSON_TEXTS), st.none())
        text_type = draw(st.sampled_from(_TEXT))
        columns["properties"] = pa.array([draw(texts) for _ in range(n)], text_type)
        return pa.table(columns)
    if draw(st.integers(0, 3)) == 0:  # a MAP: keys per row, repeated or empty at times
        dtype, values = draw(st.sampled_from(_PROPERTY_TYPES[:-1]))
        keys = st.sampled_from(["k", "K", "m", "k", "", "ü", "k\x00"])
        entries = st.lists(st.tuples(keys, st.sampled_from(values)), max_size=3)
        rows = [draw(st.one_of(st.none(), entries)) for _ in range(n)]
        columns["properties"] = pa.array(rows, pa.map_(draw(st.sampled_from(_TEXT)), dtype))
        return pa.table(columns)
    properties = {}
    for key in draw(st.lists(st.sampled_from(["k", "K", "m"]), max_size=3, unique=True)):
        dtype, values = draw(st.sampled_from(_PROPERTY_TYPES))
        properties[key] = column(values, dtype)
    if properties and draw(st.booleans()):
        present = column([True, True, False], pa.bool_())
        columns["properties"] = pa.StructArray.from_arrays(
            list(properties.values()), list(properties), mask=pc.invert(present)
        )
    else:
        columns.update({f"properties.{key}": values for key, values in properties.items()})
    return pa.table(columns)


_KINDS = ["native", "native", *_SHAPE_NAMES]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=_tables(), kind=st.sampled_from(_KINDS), shape=st.sampled_from(SHAPES))
def test_generated_tables_give_the_same_lake_and_rejects(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    table: pa.Table,
    kind: str,
    shape: Shape,
) -> None:
    table = _as_shape(table, kind)
    fast, exact = _both_paths(tmp_path_factory.mktemp("gen"), table, monkeypatch, shape=shape)
    fast.pop("proved")
    assert fast == exact


def test_nanoseconds_are_truncated_toward_the_past(tmp_path: Path) -> None:
    nanos = [-1, -1_001, 1_999]  # before and after 1970, never on a microsecond
    stamps = pa.array(nanos, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table(_events(3, timestamp=stamps)), path)
    rows = ingest_outcome(tmp_path / "ws", path)["rows"]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = {
        row["event_id"]: (row["timestamp"] - epoch) // timedelta(microseconds=1) for row in rows
    }
    assert micros == {"e0": -1, "e1": -2, "e2": 1}
