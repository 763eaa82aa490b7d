"""Parquet values as Python reads them alike: the batch conversions before ``to_pylist``.

Both Parquet paths (``readers.ParquetSource``, then the exact path or ``parquet_fast``)
read batches through ``python_batch``, so that what a value means does not depend on
the path: nanosecond times are truncated to microseconds (Python's resolution; an
event's instant toward the past), and 32-bit floats become the float64 of their
shortest text (a float32 0.1 is 0.1, as a float64 0.1 is).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def _microsecond_type(dtype: pa.DataType) -> pa.DataType:
    """The same type with nanosecond times made microseconds (Python's resolution)."""
    if pa.types.is_timestamp(dtype) and dtype.unit == "ns":
        return pa.timestamp("us", tz=dtype.tz)
    if pa.types.is_time64(dtype) and dtype.unit == "ns":
        return pa.time64("us")
    if pa.types.is_duration(dtype) and dtype.unit == "ns":
        return pa.duration("us")
    if pa.types.is_struct(dtype):
        return pa.struct(
            [
                dtype.field(i).with_type(_microsecond_type(dtype.field(i).type))
                for i in range(dtype.num_fields)
            ]
        )
    if pa.types.is_map(dtype):
        return pa.map_(dtype.key_type, _microsecond_type(dtype.item_type))
    return dtype


def python_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch as its values are meant, in the types Python holds: nanoseconds truncated
    to microseconds (``microsecond_batch``), and 32-bit floats as the float64 of their
    shortest text (``shortest_floats``)."""
    return shortest_floats(microsecond_batch(batch))


def _float_type(dtype: pa.DataType, leaf: pa.DataType) -> pa.DataType:
    """The same type with every float32 (nested too) made ``leaf``."""
    if pa.types.is_float32(dtype):
        return leaf
    if pa.types.is_struct(dtype):
        return pa.struct(
            [
                dtype.field(i).with_type(_float_type(dtype.field(i).type, leaf))
                for i in range(dtype.num_fields)
            ]
        )
    if pa.types.is_map(dtype):
        return pa.map_(dtype.key_type, _float_type(dtype.item_type, leaf))
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        item = _float_type(dtype.value_type, leaf)
        return pa.list_(item) if pa.types.is_list(dtype) else pa.large_list(item)
    return dtype


def shortest_floats(batch: pa.RecordBatch) -> pa.RecordBatch:
    """32-bit floats as the float64 of their shortest text (Arrow prints the shortest
    digits that read back as the same float32): a float32 0.1 is 0.1, as a float64 0.1
    is, not 0.10000000149011612 (the float64 repr of its binary value, which the writer
    never meant). A failed cast leaves the column as it was."""
    arrays = list(batch.columns)
    changed = False
    for index, array in enumerate(arrays):
        wide = _float_type(array.type, pa.float64())
        if wide != array.type:
            try:
                arrays[index] = array.cast(_float_type(array.type, pa.string())).cast(wide)
                changed = True
            except pa.ArrowException:
                continue
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


def microsecond_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Truncate nanosecond columns to microseconds (a failed cast is left as it was): a
    timestamp column toward the past, as the timestamp rules say; nested values (rare,
    and never an event's instant) toward zero, as Arrow's cast does."""
    arrays = list(batch.columns)
    changed = False
    for index, array in enumerate(arrays):
        target = _microsecond_type(array.type)
        if target != array.type:
            try:
                if pa.types.is_timestamp(array.type):
                    arrays[index] = _floor_micros(array, target)
                else:
                    arrays[index] = array.cast(target, safe=False)
                changed = True
            except pa.ArrowException:
                continue
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


def _floor_micros(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Nanosecond instants as microseconds, truncated toward the past (before 1970 too:
    -1 ns is -1 us, where Arrow's cast would give 0)."""
    nanos = array.cast(pa.int64())
    micros = pc.divide(nanos, 1000)  # toward zero
    above = pc.greater(pc.multiply(micros, 1000), nanos)
    return pc.if_else(above, pc.subtract(micros, 1), micros).cast(target)
