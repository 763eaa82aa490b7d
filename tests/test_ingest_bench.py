"""``bench --ingest`` at a tiny size: real processes, exact counts, the base put back."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from meterbill.ingest_bench import format_ingest_bench, generate_events, run_ingest_bench


def test_generated_events_are_native_and_exact(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    generate_events(path, events=201)
    lines = path.read_text().splitlines()
    assert len(lines) == 201
    first = json.loads(lines[0])
    assert first["event_id"] == "bench-0"  # every 100th repeats a lake id
    assert json.loads(lines[1])["event_id"] == "ingest-1"
    assert set(first) == {"event_id", "event_name", "customer_id", "timestamp", "properties"}
    assert first["timestamp"].endswith("Z")


@pytest.mark.parametrize("file_format", ["jsonl", "parquet", "csv"])
def test_run_ingest_bench_restores_the_base(tmp_path: Path, file_format: str) -> None:
    lines: list[str] = []
    result = run_ingest_bench(
        tmp_path,
        events=300,
        lake_events=1000,
        repeat=1,
        file_format=file_format,  # type: ignore[arg-type]
        on_progress=lines.append,
    )
    assert result.file_format == file_format
    assert (tmp_path / f"events-300.{file_format}").exists()
    # bench-0, bench-100, bench-200 are already in the lake
    assert result.counts == (300, 297, 3, 0)
    assert result.lake_events == 1000
    assert result.ingest_seconds > 0
    assert result.duckdb_seconds > 0
    text = format_ingest_bench(result)
    assert "ratio:" in text
    assert "duplicates 3" in text
    with duckdb.connect(str(tmp_path / "base" / "state.duckdb"), read_only=True) as con:
        assert con.execute("SELECT sum(row_count) FROM lake_files").fetchall() == [(1000,)]
    assert len(list((tmp_path / "base" / "lake").rglob("*.parquet"))) == 31


def test_bench_ingest_command_reuses_a_prepared_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from meterbill.bench import generate_workspace
    from meterbill.cli.main import cli

    generate_workspace(tmp_path / "base", events=500)
    result = CliRunner().invoke(
        cli, ["bench", "--ingest", "--events", "200", "--repeat", "1", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "ingest: 200 events" in result.output
    assert "into a lake of 500 events" in result.output
    assert "duplicates 2," in result.output  # bench-0 and bench-100
