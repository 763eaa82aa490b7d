"""``meterbill sql``'s catalog views: ``meters`` and ``prices`` as a user queries them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from meterbill import Workspace
from meterbill.errors import CatalogError, WorkspaceError

CATALOG = """
[meters.eu_calls]
event_name = "api.call"
aggregation = "count"
filters = { status = [200, true], region = ["eu", "ü"] }

[meters.calls]
event_name = "api.call"
aggregation = "count"
"""


def test_meters_view_filters_are_json_text(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.root / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    rows = workspace.sql(
        "SELECT meter, filters, json_extract_string(filters, '$.region[1]') AS second_region"
        " FROM meters ORDER BY meter"
    ).rows()
    assert rows == [
        ("calls", None, None),
        ("eu_calls", '{"status": ["200", "true"], "region": ["eu", "ü"]}', "ü"),
    ]


@pytest.fixture(scope="module")
def example_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The O1 example workspace (its events ingested), shared by the read-only tests."""
    return Workspace.init(tmp_path_factory.mktemp("sql") / "ws", example="openai-o1")


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the workspace but the lock, by path: what a query must not change."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


# Each tries to write: DuckDB's parser reads a backtick as an identifier quote where
# sqlglot's DuckDB dialect does not, so "`--`" hid the rest of the line from a
# sqlglot-only check while DuckDB ran it (the COPY overwrote a lake file).
ESCAPES = [
    "SELECT 1 `--`; COPY (SELECT 1 AS x) TO $$LAKE_FILE$$ (FORMAT parquet); SELECT 42",
    "SELECT 1 `--`; COPY (SELECT 1 AS x) TO $$LAKE_FILE$$ (FORMAT parquet)",
    "SELECT 1 \f`--}` ; COPY (SELECT 1 AS x) TO $$LAKE_DIR/new.csv$$ ; SELECT 2",
    "SELECT 1; COPY (SELECT 1) TO 'LAKE_DIR/x.csv'",
    "COPY (SELECT 1) TO 'LAKE_DIR/x.csv'",
    "ATTACH 'LAKE_DIR/evil.duckdb' AS evil",
    "DETACH ws",
    "EXPORT DATABASE 'LAKE_DIR/export'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "CREATE TABLE t AS SELECT 1",
    "WITH x AS (SELECT 1) INSERT INTO invoices SELECT * FROM invoices",
    "DELETE FROM invoices",
    "UPDATE invoices SET total = 0",
    "PIVOT (SELECT 1 AS a, 2 AS b) ON a USING sum(b)",
    "SELECT * FROM query('CREATE TABLE t AS SELECT 1')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('LAKE_DIR/../catalog.toml')",
    "SELECT * FROM glob('LAKE_DIR/../**')",
]


@pytest.mark.parametrize("query", ESCAPES)
def test_sql_cannot_change_the_workspace(example_workspace: Workspace, query: str) -> None:
    root = example_workspace.root
    lake_file = sorted((root / "lake" / "events").rglob("*.parquet"))[0]
    query = query.replace("LAKE_FILE", str(lake_file)).replace("LAKE_DIR", str(root / "lake"))
    before = _snapshot(root)
    with pytest.raises(WorkspaceError, match=r"^sql: "):
        example_workspace.sql(query)
    assert _snapshot(root) == before
    assert example_workspace.sql("SELECT count(*) AS n FROM events").item() == 2550


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("FROM customers SELECT customer_id", "cust_acme"),
        ("SELECT `--` FROM (SELECT 1 AS `--`)", 1),
        ("SELECT $$;$$ AS s", ";"),
        ("SELECT 1 AS n; ", 1),
        ("DESCRIBE SELECT 1 AS n", "n"),
        ("SELECT count(*) FROM ws.main.lake_files", 41),
    ],
)
def test_sql_reads_what_duckdb_reads(
    example_workspace: Workspace, query: str, expected: object
) -> None:
    assert example_workspace.sql(query).row(0)[0] == expected


@pytest.fixture(scope="module")
def broken_catalog_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The O1 example workspace, invoiced, then its catalog broken mid-edit (two problems)."""
    workspace = Workspace.init(tmp_path_factory.mktemp("sql") / "ws", example="openai-o1")
    workspace.invoice_run(through="2026-11-01")
    catalog = workspace.root / "catalog.toml"
    text = catalog.read_text(encoding="utf-8")
    text = text.replace('aggregation = "sum"', 'aggregation = "summ"', 1)
    catalog.write_text(text.replace("package_size = 1000000", "package_size = 0", 1))
    return workspace


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("SELECT 1", [(1,)]),
        ("SELECT count(*) FROM events", [(2550,)]),  # every line of events.jsonl
        ("SELECT total FROM invoices", [(Decimal("202.50"),)]),
        ("WITH meters AS (SELECT 7 AS n) SELECT n FROM meters", [(7,)]),
    ],
)
def test_sql_works_while_the_catalog_is_invalid(
    broken_catalog_workspace: Workspace, query: str, rows: list[tuple[object, ...]]
) -> None:
    assert broken_catalog_workspace.sql(query).rows() == rows


@pytest.mark.parametrize(
    ("query", "views"),
    [
        ("SELECT * FROM meters", "meters reads"),
        ("SELECT i.total FROM invoices i JOIN Prices p ON p.plan = i.plan", "Prices reads"),
        (
            "SELECT (SELECT count(*) FROM invalid_events), * FROM meters",
            "invalid_events, meters read",
        ),
    ],
)
def test_a_catalog_view_says_the_catalog_is_invalid(
    broken_catalog_workspace: Workspace, query: str, views: str
) -> None:
    with pytest.raises(CatalogError) as info:
        broken_catalog_workspace.sql(query)
    assert str(info.value) == (
        f"sql: {views} catalog.toml, which is invalid: "
        "meters.o1_input_tokens.aggregation: Input should be 'count', 'sum', 'count_unique', "
        "'max', 'min', 'avg', 'latest', 'sum_with_multiplier' or 'weighted_sum' (and 1 more "
        "problem; meterbill catalog check lists them)"
    )
