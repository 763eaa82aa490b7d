"""The lake as later stages see it: listing files by event date, exact values end to end."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbill.errors import IngestError
from meterbill.events import ingest_paths, lake_file_paths
from meterbill.state import connect_state

from .helpers import Workspace, native, write_jsonl


@pytest.fixture
def three_days(workspace: Workspace, tmp_path: Path) -> Workspace:
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [native(event_id=d, timestamp=f"2024-03-{d}T12:00:00Z") for d in ("01", "02", "03")],
    )
    workspace.ingest(path)
    return workspace


def _days(
    workspace: Workspace, start: datetime | date | None, end: datetime | date | None
) -> list[str]:
    paths = lake_file_paths(workspace.con, workspace.root, start, end)
    for path in paths:
        assert Path(path).is_absolute()
        assert Path(path).is_file()
    return [Path(path).parent.name[len("date=2024-03-") :] for path in paths]


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (None, None, ["01", "02", "03"]),
        (datetime(2024, 3, 2, tzinfo=UTC), None, ["02", "03"]),
        (datetime(2024, 3, 2, 23, 59, tzinfo=UTC), None, ["03"]),  # 02's event is at noon
        (None, datetime(2024, 3, 2, tzinfo=UTC), ["01"]),
        (None, datetime(2024, 3, 2, 12, 0, 0, 1, tzinfo=UTC), ["01", "02"]),
        (None, datetime(2024, 3, 2, 12, tzinfo=UTC), ["01"]),  # end is exclusive
        (datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC), ["02"]),
        (date(2024, 3, 2), date(2024, 3, 3), ["02"]),
        (datetime(2024, 3, 2, 12), None, ["02", "03"]),  # naive: UTC
        (
            datetime(2024, 3, 2, 1, tzinfo=timezone(timedelta(hours=2))),  # 03-01 23:00 UTC
            datetime(2024, 3, 3, 1, tzinfo=timezone(timedelta(hours=2))),  # 03-02 23:00 UTC
            ["02"],
        ),
        (datetime(2024, 4, 1, tzinfo=UTC), None, []),
    ],
)
def test_lake_file_paths_by_time_range(
    three_days: Workspace,
    start: datetime | date | None,
    end: datetime | date | None,
    days: list[str],
) -> None:
    assert _days(three_days, start, end) == days


def test_unlisted_files_are_not_part_of_the_lake(three_days: Workspace) -> None:
    debris = three_days.root / "lake/events/date=2024-03-01/crashed-0.parquet"
    debris.write_bytes(b"not even parquet")
    assert all("crashed" not in p for p in lake_file_paths(three_days.con, three_days.root))
    # and de-duplication never opens it either
    path = three_days.root.parent / "again.jsonl"
    write_jsonl(path, [native(event_id="01", timestamp="2024-03-01T12:00:00Z")])
    assert three_days.ingest(path).duplicates == 1


_ORACLE = Context(prec=200, Emax=10**9, Emin=-(10**9))
_NUMERIC = re.compile(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?")
_numbers = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**28), max_value=10**28)
_numeric_text = st.from_regex(
    r"[+-]?([0-9]{1,30}[.]?[0-9]{0,20}|[.][0-9]{1,20})([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
_values = st.one_of(_numbers, st.text(max_size=20), st.booleans(), _numeric_text)
_keys = st.text(min_size=1, max_size=8).filter(lambda k: "\x00" not in k)


def _expected_number(value: Decimal) -> Decimal | None:
    try:
        rounded = value.quantize(Decimal("1e-12"), ROUND_HALF_UP, _ORACLE)
    except ArithmeticError:
        return None
    return rounded if abs(rounded) < Decimal(10) ** 26 else None


def _json_line(event_id: str, properties: dict[str, object]) -> str:
    """A JSON line whose Decimal values are written as JSON number literals."""
    body = ", ".join(
        f"{json.dumps(k)}: {v if isinstance(v, Decimal) else json.dumps(v, ensure_ascii=False)}"
        for k, v in properties.items()
    )
    head = json.dumps(native(event_id=event_id))[:-1]
    return f'{head}, "properties": {{{body}}}}}'


@settings(max_examples=15, deadline=None)
@given(st.lists(st.dictionaries(_keys, _values, max_size=4), min_size=1, max_size=8))
def test_property_values_reach_the_lake_exactly(events: list[dict[str, object]]) -> None:
    """Random keys and values through JSON lines: text verbatim, numbers rounded once."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        path = write_jsonl(
            Path(tmp) / "in.jsonl", [_json_line(f"e{i:02}", p) for i, p in enumerate(events)]
        )
        con = connect_state(root)
        try:
            workspace = Workspace(root, con)
            result = workspace.ingest(path)
            assert result.accepted + result.rejected == len(events)
            reasons = {reason for _, _, reason, _ in workspace.rejects()}
            assert reasons <= {"property_key_conflict"}  # keys equal but for ASCII case
            rows = {row["event_id"]: row for row in workspace.lake_rows()}
            for index, properties in enumerate(events):
                row = rows.get(f"e{index:02}")
                if row is None:
                    continue
                for key, value in properties.items():
                    stored = (row["p__" + key], row["n__" + key])
                    if isinstance(value, bool):
                        assert stored == (json.dumps(value), None)
                    elif isinstance(value, Decimal):
                        assert stored == (str(value), _expected_number(value))
                    else:
                        assert isinstance(value, str)
                        numeric = _NUMERIC.fullmatch(value) is not None
                        number = _expected_number(Decimal(value)) if numeric else None
                        assert stored == (value, number)
        finally:
            con.close()


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.decimals(
            min_value=Decimal("-1e25"), max_value=Decimal("1e25"), places=12, allow_nan=False
        ),
        min_size=1,
        max_size=20,
    )
)
def test_exact_decimals_round_trip_through_ingest(values: list[Decimal]) -> None:
    """JSON number literals and numeric strings reach the lake as the exact decimal."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        lines = []
        for index, value in enumerate(values):
            literal = format(value, "f")
            lines.append(
                f'{{"event_id": "e{index:03}", "event_name": "n", "customer_id": "c", '
                f'"timestamp": 1709294400, "properties": {{"v": {literal}, "s": "{literal}"}}}}'
            )
        path = Path(tmp) / "in.jsonl"
        path.write_text("\n".join(lines) + "\n")
        con = connect_state(root)
        try:
            ingest_paths(root, con, [str(path)])
            rows = Workspace(root, con).lake_rows()
        finally:
            con.close()
    for value, row in zip(values, rows, strict=True):
        assert row["n__v"] == value
        assert row["n__s"] == value
        assert row["p__v"] == format(value, "f")


def test_each_days_file_is_sorted_by_timestamp_then_event_id(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Rows read in scrambled order (several DuckDB vectors per day, equal timestamps,
    some ids repeated) come out of every day's file sorted by (timestamp, event_id)."""
    records = []
    for i in range(9000):
        n = (i * 7919) % 9000  # a permutation of 0..8999
        day = 1 + n % 3
        second = (n // 3) % 500  # many events share a timestamp
        records.append(
            native(
                event_id=f"e{n:05}",
                timestamp=f"2024-03-0{day}T00:{second // 60:02}:{second % 60:02}Z",
                properties={"n": n},
            )
        )
    records += records[:100]  # later copies: duplicates, kept out of the lake
    result = workspace.ingest(write_jsonl(tmp_path / "in.jsonl", records))
    assert (result.accepted, result.duplicates) == (9000, 100)
    paths = lake_file_paths(workspace.con, workspace.root)
    assert len(paths) == 3
    with duckdb.connect() as reader:
        reader.execute("SET TimeZone = 'UTC'")
        for path in paths:
            rows = reader.execute(
                "SELECT timestamp, event_id FROM read_parquet(?, hive_partitioning = false)",
                [path],
            ).fetchall()
            assert len(rows) == 3000
            assert rows == sorted(rows)


def test_a_failed_day_write_removes_every_file_of_the_ingest(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days are written by parallel threads: one day failing (a full disk) stops the rest,
    deletes what the others wrote, and commits nothing."""
    from meterbill.events import lake

    workspace.ingest(write_jsonl(tmp_path / "first.jsonl", [native(event_id="keep")]))
    before = workspace.disk_files()
    original = lake._copy_day

    def copy_day(cursor: Any, ingest_id: str, lake_file: Any, path: Path) -> None:
        if lake_file.event_date == date(2024, 3, 5):
            raise OSError(28, "No space left on device")
        original(cursor, ingest_id, lake_file, path)

    monkeypatch.setattr(lake, "_copy_day", copy_day)
    days = [native(event_id=f"d{d}", timestamp=f"2024-03-{d:02}T12:00:00Z") for d in range(1, 9)]
    with pytest.raises(IngestError, match=r"cannot write the lake: .*No space left"):
        workspace.ingest(write_jsonl(tmp_path / "days.jsonl", days))
    assert workspace.disk_files() == before
    assert workspace.count("lake_files") == 1
    assert workspace.count("ingests") == 1
    monkeypatch.undo()
    assert workspace.ingest(tmp_path / "days.jsonl").accepted == 8
