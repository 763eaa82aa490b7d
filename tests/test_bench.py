"""The bench's generator writes the lake ingest would, and its timer times processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from meterbill import bench
from meterbill.catalog import parse_catalog
from meterbill.errors import MeterbillError, WorkspaceError
from meterbill.state import connect_state

EVENTS = 2_000
CUSTOMERS = 5


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "ws"
    bench.generate_workspace(root, events=EVENTS, customers=CUSTOMERS, seed=7)
    return root


@pytest.fixture
def state(workspace: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect_state(workspace)
    yield con
    con.close()


def query(sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
    """Rows of ``sql`` in a fresh in-memory DuckDB (time zone UTC)."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params).fetchall()


def lake_files_on_disk(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.glob("lake/events/*/*.parquet"))


def test_files_have_exactly_the_lake_columns(workspace: Path) -> None:
    files = lake_files_on_disk(workspace)
    assert len(files) == 31  # one per day of October
    for relative in files:
        folder, name = relative.split("/")[2:]
        assert folder.startswith("date=2026-10-")
        assert name.endswith(".parquet")
        described = query(
            "DESCRIBE SELECT * FROM read_parquet($file, hive_partitioning = false)",
            {"file": str(workspace / relative)},
        )
        assert [(row[0], row[1]) for row in described] == list(bench.LAKE_COLUMNS)


def test_manifest_lists_every_file_with_its_rows_and_bounds(
    workspace: Path, state: duckdb.DuckDBPyConnection
) -> None:
    manifest = state.execute(
        "SELECT path, ingest_id, event_date, row_count, min_timestamp, max_timestamp "
        "FROM lake_files ORDER BY path"
    ).fetchall()
    assert [row[0] for row in manifest] == lake_files_on_disk(workspace)
    assert sum(row[3] for row in manifest) == EVENTS
    (ingest_id,) = {row[1] for row in manifest}
    for path, _, event_date, row_count, low, high in manifest:
        assert path == f"lake/events/date={event_date.isoformat()}/{Path(path).name}"
        assert Path(path).name.startswith(f"{ingest_id}-")
        (actual,) = query(
            'SELECT count(*), min("timestamp"), max("timestamp"), '
            'bool_and(ingest_id = $ingest), bool_and("timestamp"::DATE = $day) '
            "FROM read_parquet($file, hive_partitioning = false)",
            {"file": str(workspace / path), "ingest": ingest_id, "day": event_date},
        )
        assert actual == (row_count, low, high, True, True)
    ingest = state.execute(
        "SELECT ingest_id, sources, records_read, accepted, duplicates, rejected FROM ingests"
    ).fetchall()
    assert ingest == [(ingest_id, '["bench"]', EVENTS, EVENTS, 0, 0)]
    columns = state.execute("SELECT name, type FROM lake_columns").fetchall()
    assert sorted(columns) == sorted(bench.LAKE_COLUMNS)


def test_rows_are_sorted_by_customer_then_timestamp(workspace: Path) -> None:
    first = str(workspace / lake_files_on_disk(workspace)[0])
    (row,) = query(
        'SELECT count(*) FILTER (WHERE (customer_id, "timestamp") < (before_id, before_ts)) '
        'FROM (SELECT customer_id, "timestamp", '
        "lag(customer_id) OVER (ORDER BY file_row_number) AS before_id, "
        'lag("timestamp") OVER (ORDER BY file_row_number) AS before_ts '
        "FROM read_parquet($file, file_row_number = true)) WHERE before_id IS NOT NULL",
        {"file": first},
    )
    assert row == (0,)


def test_events_are_a_plausible_month(workspace: Path) -> None:
    files = [str(workspace / p) for p in lake_files_on_disk(workspace)]
    (row,) = query(
        "SELECT count(DISTINCT event_id), count(DISTINCT customer_id), "
        "count(*) FILTER (WHERE event_name = 'api.request'), "
        "count(*) FILTER (WHERE event_name NOT IN ('llm.usage', 'api.request')), "
        "min(n__tokens), max(n__tokens), max(n__context_tokens), "
        "bool_and(p__tokens::DECIMAL(38,12) = n__tokens), "
        "count(DISTINCT p__model), count(DISTINCT p__prompt_type), "
        'min("timestamp"), max("timestamp") '
        "FROM read_parquet($files)",
        {"files": files},
    )
    ids, customers, api, other, low, high, context, consistent, models, prompts, first, last = row
    assert ids == EVENTS
    assert customers == CUSTOMERS
    assert 0.02 * EVENTS < api < 0.1 * EVENTS
    assert other == 0
    assert low >= 1 and high <= 20_000 and context <= 128_000
    assert consistent
    assert (models, prompts) == (3, 3)
    assert datetime(2026, 10, 1, tzinfo=UTC) <= first
    assert last < datetime(2026, 11, 1, tzinfo=UTC)


def test_customers_and_subscriptions(state: duckdb.DuckDBPyConnection) -> None:
    customers = state.execute(
        "SELECT customer_id, email, timezone FROM customers ORDER BY 1"
    ).fetchall()
    assert customers[0] == ("cust_00001", "cust_00001@example.com", "UTC")
    assert len(customers) == CUSTOMERS
    subscriptions = state.execute(
        "SELECT subscription_id, customer_id, plan, start_at, end_at, billing_cycle "
        "FROM subscriptions ORDER BY 1"
    ).fetchall()
    assert len(subscriptions) == CUSTOMERS
    assert subscriptions[-1] == (
        "sub_00005", "cust_00005", "openai_o1", datetime(2026, 10, 1, tzinfo=UTC), None,
        "anniversary",
    )  # fmt: skip


def test_catalog_is_valid_with_every_price_in_one_plan(workspace: Path) -> None:
    text = (workspace / "catalog.toml").read_text(encoding="utf-8")
    catalog = parse_catalog(text)
    assert set(catalog.plans) == {"openai_o1"}
    priced = [getattr(price, "meter", None) for price in catalog.plans["openai_o1"].prices]
    assert sorted(priced) == sorted(catalog.meters)
    assert len(catalog.meters) == 6


def test_same_seed_same_events_and_days_without_events_have_no_file(tmp_path: Path) -> None:
    def digest(root: Path) -> list[tuple[object, ...]]:
        files = [str(root / p) for p in lake_files_on_disk(root)]
        return query(
            'SELECT count(*), sum(hash(event_id, customer_id, "timestamp", event_name, '
            "p__model, p__prompt_type, p__tokens, n__tokens, n__context_tokens)) "
            "FROM read_parquet($files)",
            {"files": files},
        )

    bench.generate_workspace(tmp_path / "a", events=10, customers=3, seed=1)
    bench.generate_workspace(tmp_path / "b", events=10, customers=3, seed=1, sort_by="timestamp")
    assert len(lake_files_on_disk(tmp_path / "a")) == 10
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_refuses_a_folder_that_holds_a_workspace(workspace: Path) -> None:
    with pytest.raises(WorkspaceError, match="already holds a workspace"):
        bench.generate_workspace(workspace, events=10, customers=1)


def test_bad_sizes_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MeterbillError, match="customers >= 1"):
        bench.generate_workspace(tmp_path / "ws", events=10, customers=0)
    with pytest.raises(MeterbillError, match="repeat must be >= 1"):
        bench.run_bench(tmp_path, repeat=0)
    assert not (tmp_path / "ws").exists()


def test_run_bench_times_the_floor_and_the_run_command(workspace: Path) -> None:
    seen: list[str] = []
    result = bench.run_bench(
        workspace, repeat=2, on_progress=seen.append, run_command=[sys.executable, "-c", "pass"]
    )
    assert (result.events, result.customers, result.invoices) == (EVENTS, CUSTOMERS, 0)
    assert len(result.floor_times) == len(result.run_times) == 2
    assert result.floor_seconds == min(result.floor_times) > 0
    assert result.run_seconds == min(result.run_times) > 0
    assert result.ratio == pytest.approx(result.run_seconds / result.floor_seconds)
    assert seen[0] == "warming up: floor"
    assert "invoice run 2/2" in seen
    text = bench.format_bench(result)
    assert "ratio" in text and "target <= 3x" in text
    assert f"{EVENTS:,}" in text


def test_floor_command_keeps_paths_out_of_the_sql() -> None:
    command = bench.floor_command(["/a/it's here.parquet"])
    assert command[-1] == "/a/it's here.parquet"
    assert "it's" not in command[2]


def test_run_command_matches_the_cli() -> None:
    command = bench.run_command_for(Path("/ws"), through="2026-11-01")
    assert command[1:] == [
        "-m", "meterbill", "invoice", "run", "--through", "2026-11-01", "-w", "/ws",
    ]  # fmt: skip


def test_a_failing_process_is_one_clear_error(workspace: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('no invoices today')"]
    with pytest.raises(MeterbillError, match=r"invoice run process failed.*no invoices today"):
        bench.run_bench(workspace, repeat=1, run_command=failing)


def test_bench_month_is_october_2026() -> None:
    assert date(2026, 10, 1) == bench.MONTH_START
