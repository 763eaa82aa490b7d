"""``Workspace``, the Python API: the forms of its arguments a user writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meterbill import IngestError, Workspace


def _events(path: Path, *ids: str) -> Path:
    path.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": event_id,
                    "event_name": "n",
                    "customer_id": "c",
                    "timestamp": "2026-10-01T00:00:00Z",
                }
            )
            + "\n"
            for event_id in ids
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("given", "accepted"),
    [
        # One string is one path, never its characters (the first being "/": the disk).
        (lambda d: str(d / "a.jsonl"), 1),
        (lambda d: d / "a.jsonl", 1),
        (lambda d: [str(d / "a.jsonl"), d / "b.jsonl"], 3),
        (lambda d: (d / "a.jsonl", d / "b.jsonl"), 3),
        (lambda d: str(d / "*.jsonl"), 3),
    ],
    ids=["str", "Path", "list", "tuple", "glob"],
)
def test_ingest_takes_one_path_or_several(tmp_path: Path, given, accepted: int) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _events(files / "a.jsonl", "e1")
    _events(files / "b.jsonl", "e2", "e3")
    ws = Workspace.init(tmp_path / "ws")
    result = ws.ingest(given(files))
    assert (result.records_read, result.accepted) == (accepted, accepted)


def test_ingest_of_a_missing_file_names_it(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(IngestError, match=r"no such file or folder: .*missing\.jsonl"):
        ws.ingest(str(tmp_path / "missing.jsonl"))
