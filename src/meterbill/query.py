"""``meterbill sql``: ad hoc, read-only SQL over the workspace's views.

Views: ``events`` (the lake), ``customers``, ``subscriptions``, ``meters``, ``prices``,
``invoices``, ``line_items``, ``rejected_events`` (and ``duplicate_events``,
``ingests``, ``invalid_usage``, ``unbilled_events``, ``shared_meters``,
``skipped_periods``, ``late_events``, and
``invalid_events``: the events each meter matched but could not aggregate, rendered from
``sql/views/``).

``meters``, ``prices`` and ``invalid_events`` need the catalog. While catalog.toml is
invalid (a billing engineer mid-edit) they are left out and every other view works; a
query that reads one of them is refused, saying why the catalog is invalid.

Read-only in two layers: DuckDB's own parser must read one statement of type SELECT
(SELECT/WITH/UNION/FROM/DESCRIBE ..., nothing that writes), executed as parsed, and the
connection has the state attached READ_ONLY, external access off except the lake folder,
and its configuration locked, so a statement that slipped past the first layer could
write nowhere but in the lake folder (DuckDB has no read-only file access): the first
layer is the one that keeps the lake's files whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from meterbill import state
from meterbill.catalog.model import Catalog
from meterbill.compiler.compiled import BASE_COLUMNS
from meterbill.compiler.sqlvalues import lit
from meterbill.compiler.views import compile_invalid_events
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.errors import CatalogError, WorkspaceError
from meterbill.invoices import watermark
from meterbill.invoices.assemble import describe_price

_STATE_VIEWS = (
    "customers", "subscriptions", "invoices", "line_items", "rejected_events",
    "duplicate_events", "ingests", "invalid_usage", "ingest_sequence", "unbilled_events",
    "shared_meters", "skipped_periods",
)  # fmt: skip


#: The views built from the catalog: left out while catalog.toml is invalid.
_CATALOG_VIEWS = ("meters", "prices", "invalid_events")


def read_only_statement(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.Statement:
    """The one read-only statement in ``query``, as DuckDB's own parser reads it.

    The statement returned is the one executed, so what was checked is what runs: a
    second parser (sqlglot, once) could read a text differently (DuckDB takes a backtick
    as an identifier quote, so "SELECT 1 `--`; COPY ..." was one query with a comment
    to sqlglot and two statements to DuckDB).

    Raises:
        WorkspaceError: not SQL, several statements, or a statement that is not a query.
    """
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise WorkspaceError(f"sql: cannot parse the query: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise WorkspaceError("sql: give exactly one query")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise WorkspaceError("sql: only read-only queries (SELECT, WITH, ...) are allowed")
    return statements[0]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _catalog_frames(catalog: Catalog) -> tuple[pl.DataFrame, pl.DataFrame]:
    meters = pl.DataFrame(
        [
            {
                "meter": m.key,
                "name": m.name,
                "event_name": m.event_name,
                "aggregation": m.aggregation,
                "field": m.field,
                "filters": json.dumps(m.filter_text(), ensure_ascii=False) if m.filters else None,
                "group_by": ", ".join(m.group_by) or None,
            }
            for m in catalog.meters.values()
        ],
        schema={
            k: pl.String
            for k in ("meter", "name", "event_name", "aggregation", "field", "filters", "group_by")
        },
    )
    prices = pl.DataFrame(
        [
            {
                "plan": plan_key,
                "price_index": index,
                "model": price.model,
                "meter": getattr(price, "meter", None),
                "currency": plan.currency,
                "description": describe_price(catalog, plan_key, index),
            }
            for plan_key, plan in catalog.plans.items()
            for index, price in enumerate(plan.prices)
        ],
        schema={
            "plan": pl.String, "price_index": pl.Int64, "model": pl.String,
            "meter": pl.String, "currency": pl.String, "description": pl.String,
        },
    )  # fmt: skip
    return meters, prices


def _late_events_view(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """``late_events``: events in finalized periods after the invoice's ingest watermark.

    Reads only the lake files of ingests after the oldest finalized watermark.
    """
    files = watermark.late_files(con, schema="ws.main.")
    watermark.bind_candidates(con, root, files)
    con.execute("CREATE VIEW late_events AS " + watermark.LATE_EVENTS_SQL.format(schema="ws.main."))


def run_query(root: Path, catalog: Catalog | CatalogError, query: str) -> pl.DataFrame:
    """Run one read-only query over the workspace views (caller holds the lock).

    ``catalog`` is the error of an invalid catalog.toml: the catalog views are left out.

    Raises:
        WorkspaceError: the query is not read-only or fails.
        CatalogError: the query reads a catalog view while the catalog is invalid.
    """
    con = duckdb.connect()
    try:
        statement = read_only_statement(con, query)
        if isinstance(catalog, CatalogError):
            _refuse_catalog_views(con, query, catalog)
        con.execute("SET TimeZone = 'UTC'")
        state_file = root / state.STATE_FILE
        con.execute(f"ATTACH {lit(str(state_file))} AS ws (READ_ONLY)")
        for view in _STATE_VIEWS:
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM ws.main.{view}")  # noqa: S608
        files = [
            root / row[0]
            for row in con.execute("SELECT path FROM ws.main.lake_files ORDER BY path").fetchall()
        ]
        invalid_events = (
            None if isinstance(catalog, CatalogError) else compile_invalid_events(catalog)
        )
        columns = dict(BASE_COLUMNS if invalid_events is None else invalid_events.columns)
        for name, sql_type in con.execute(
            "SELECT name, type FROM ws.main.lake_columns ORDER BY name"
        ).fetchall():
            columns.setdefault(name, sql_type)
        DuckDBEngine().bind_lake(con, files, columns, view="events")
        _late_events_view(con, root)
        if invalid_events is not None:
            con.execute(f"CREATE VIEW invalid_events AS {invalid_events.sql('duckdb')}")
        if isinstance(catalog, Catalog):
            meters, prices = _catalog_frames(catalog)
            con.register("meters_frame", meters.to_arrow())
            con.register("prices_frame", prices.to_arrow())
            con.execute("CREATE VIEW meters AS SELECT * FROM meters_frame")
            con.execute("CREATE VIEW prices AS SELECT * FROM prices_frame")
        con.execute(f"SET allowed_directories = [{lit(str(root / 'lake'))}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con.sql(statement).pl()
    except duckdb.Error as exc:
        raise WorkspaceError(f"sql: {_first_line(exc)}") from None
    finally:
        con.close()


def _refuse_catalog_views(con: duckdb.DuckDBPyConnection, query: str, error: CatalogError) -> None:
    """Refuse a query that reads a catalog view, with the catalog's first problem.

    DuckDB's parser names the tables a query reads (a CTE of the same name is not one),
    so a query that does not need the catalog runs as usual.

    Raises:
        CatalogError: the query reads ``meters``, ``prices`` or ``invalid_events``.
    """
    views = sorted(name for name in con.get_table_names(query) if name.lower() in _CATALOG_VIEWS)
    if not views:
        return
    first, *more = error.problems
    rest = f" (and {len(more)} more problem{'s' if len(more) > 1 else ''}; " if more else " ("
    verb = "reads" if len(views) == 1 else "read"
    raise CatalogError(
        error.problems,
        source=error.source,
        message=f"sql: {', '.join(views)} {verb} catalog.toml, which is invalid: {first}"
        f"{rest}meterbill catalog check lists them)",
    )
