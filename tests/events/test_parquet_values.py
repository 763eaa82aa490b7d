"""Parquet batches as Python reads them: float32 as its shortest text, nested too."""

from __future__ import annotations

import pyarrow as pa

from meterbill.events.parquet_values import python_batch


def test_float32_values_become_the_float64_of_their_shortest_text() -> None:
    floats = pa.array([0.1, 16777217.0, None, float("nan")], pa.float32())
    struct = pa.StructArray.from_arrays([floats], names=["f"])
    listed = pa.array([[0.1], [], None, [1.5]], pa.list_(pa.float32()))
    mapped = pa.array([[("k", 0.1)], [], None, [("k", 0.3)]], pa.map_(pa.string(), pa.float32()))
    batch = pa.RecordBatch.from_arrays(
        [floats, struct, listed, mapped, pa.array([0.1, 0.2, 0.3, 0.4], pa.float64())],
        names=["plain", "struct", "list", "map", "double"],
    )
    rows = python_batch(batch).to_pylist()
    assert [repr(row["plain"]) for row in rows] == ["0.1", "16777216.0", "None", "nan"]
    assert [row["struct"]["f"] for row in rows[:2]] == [0.1, 16777216.0]
    assert [row["list"] for row in rows] == [[0.1], [], None, [1.5]]
    assert [row["map"] for row in rows] == [[("k", 0.1)], [], None, [("k", 0.3)]]
    assert [row["double"] for row in rows] == [0.1, 0.2, 0.3, 0.4]  # float64 as it was


def test_a_batch_without_float32_is_the_same_batch() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array([1.5], pa.float64())], names=["x"])
    assert python_batch(batch) is batch
