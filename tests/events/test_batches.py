"""Staging batches: memory bounded by values and raw text, not only by rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from meterbill.events import batches
from meterbill.events.batches import EventBatches, RejectBatches
from meterbill.events.rejects import Reject
from meterbill.events.shapes import Event


def _event(keys: int) -> Event:
    properties = {f"k{n}": (str(n), Decimal(n)) for n in range(keys)}
    return Event(None, "u", "c", 1_709_294_400_000_000, None, properties)


@pytest.mark.parametrize(
    ("keys", "raw", "rows"),
    [
        (3, "x", [10]),  # narrow and short: one batch of every row
        (300, "x", [4, 4, 2]),  # wide: a batch ends at BATCH_VALUES property values
        (3, "x" * 3_000, [4, 4, 2]),  # long raw texts: at BATCH_CHARS characters
    ],
)
def test_a_batch_ends_at_its_values_or_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: int, raw: str, rows: list[int]
) -> None:
    monkeypatch.setattr(batches, "BATCH_VALUES", 1_000)
    monkeypatch.setattr(batches, "BATCH_CHARS", 10_000)
    staged = EventBatches(tmp_path / "events", batch_size=100)
    (tmp_path / "events").mkdir()
    for number in range(10):
        staged.append(seq=number + 1, file_index=0, record_number=number + 1, raw=raw,
                      event_id=f"e{number}", event=_event(keys))  # fmt: skip
    files = staged.files()
    assert [pq.read_metadata(path).num_rows for path in files] == rows
    assert sum(pq.read_table(path).num_rows for path in files) == len(staged) == 10


def test_rejects_end_a_batch_at_their_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "BATCH_CHARS", 10_000)
    (tmp_path / "rejects").mkdir()
    staged = RejectBatches(tmp_path / "rejects", batch_size=100)
    for number in range(10):
        staged.append(file_index=0, record_number=number + 1, reject=Reject("bad_json", "no"),
                      raw="y" * 3_000)  # fmt: skip
    assert [pq.read_metadata(path).num_rows for path in staged.files()] == [4, 4, 2]
