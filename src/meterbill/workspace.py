"""``Workspace``: the one facade every CLI command and API call goes through.

A workspace is a folder: ``catalog.toml``, the lake (``lake/events/date=.../*.parquet``),
``state.duckdb`` (customers, subscriptions, ingest log, invoices, line items) and
``runs/<run_id>/invoice_run.sql`` (the SQL each invoice run executed). Every method takes
the workspace lock and does its writes in one transaction, so two commands at once wait
for each other, and a crash leaves the workspace as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import duckdb
import polars as pl

from meterbill import accounts, cadences, creation, state
from meterbill.catalog import Catalog, load_catalog
from meterbill.compiler import CompiledRun, compile_run
from meterbill.compiler.cache import compile_cached
from meterbill.engines import EngineName, create_engine
from meterbill.engines.base import run_window
from meterbill.errors import CatalogError, MeterbillError, WorkspaceError
from meterbill.folder import CATALOG_FILE, example_dir, workspace_root
from meterbill.invoices import billing, frozen, ledger, watermark
from meterbill.invoices.assemble import INVOICE_SCHEMA, LINE_ITEM_SCHEMA, assemble
from meterbill.invoices.overlaps import shared_meters
from meterbill.invoices.unbilled import covered_spans

if TYPE_CHECKING:  # the events stage loads on first ingest (start-up time)
    from meterbill.events import IngestResult

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class RunResult:
    """What an invoice run produced."""

    run_id: str
    invoices: pl.DataFrame
    line_items: pl.DataFrame
    #: Events a meter matched but could not aggregate (field missing or not a number).
    invalid_usage: pl.DataFrame
    sql_path: Path
    finalized: int
    #: Events in finalized periods that arrived after the invoice's ingest watermark.
    late_events: pl.DataFrame
    #: Per customer, events of the run's window that no subscription period contains.
    unbilled: pl.DataFrame
    #: Meters two subscriptions of one customer price at once: their events are billed
    #: on both (``invoices.overlaps.SHARED_SCHEMA``).
    shared_meters: pl.DataFrame
    #: Drafts removed as no period of their subscription's current schedule (re-imported
    #: with another start, end, plan or customer), and not drafted again by this run.
    removed_drafts: int = 0
    #: Periods not billed because finalized invoices of their subscription cover them
    #: (a start moved, or a time zone changed, since): that time is billed already. Only
    #: those no earlier run skipped (``skipped_periods``), so each is reported once.
    overlapping_finalized: int = 0


@dataclass(frozen=True, slots=True)
class Ledger:
    """Invoices, line items and customers as of one moment (``Workspace.ledger``)."""

    invoices: pl.DataFrame
    line_items: pl.DataFrame
    customers: pl.DataFrame


class Workspace:
    """A meterbill workspace folder and every operation on it."""

    def __init__(self, root: Path | str) -> None:
        """Open an existing workspace.

        Raises:
            WorkspaceError: the folder is not a workspace (``meterbill init`` makes one).
        """
        self.root = workspace_root(root)

    # -- creation ---------------------------------------------------------------------

    @classmethod
    def init(cls, root: Path | str, *, example: str | None = None) -> Workspace:
        """Create a workspace; with ``example``, also its catalog, customers, events.

        Raises:
            WorkspaceError: the folder already holds a workspace or is a file.
        """
        path = Path(root)
        if path.exists() and not path.is_dir():
            raise WorkspaceError(f"{path} exists and is not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a parent that is a file, no permission, read-only disk
            raise WorkspaceError(f"cannot create {path}: {exc.strerror or exc}") from None
        with state.workspace_lock(path):  # a second init of this folder waits, then refuses
            creation.clear_debris(path)
            _refuse_a_workspace(path)
            staging = creation.new_staging(path)
            try:
                cls._build(staging, example=example)
                creation.publish(staging, path)
            except BaseException:
                creation.discard(staging)
                raise
        return cls(path)

    @classmethod
    def _build(cls, root: Path, *, example: str | None) -> None:
        """Fill an empty folder with a whole workspace (``init`` builds it staged)."""
        (root / "lake").mkdir()  # the README's layout; ingests fill it
        if example is None:
            (root / CATALOG_FILE).write_text(_EMPTY_CATALOG, encoding="utf-8")
        else:
            shutil.copy(example_dir(example) / CATALOG_FILE, root / CATALOG_FILE)
        workspace = cls(root)
        with workspace._state():
            pass  # creates state.duckdb with its schema
        if example is not None:
            source = example_dir(example)
            workspace.import_customers(source / "customers.csv")
            workspace.import_subscriptions(source / "subscriptions.csv")
            workspace.ingest([str(source / "events.jsonl")])

    # -- state ------------------------------------------------------------------------

    @contextmanager
    def _state(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The state database under the workspace lock, in one transaction."""
        with state.workspace_lock(self.root):
            con = state.connect_state(self.root)
            try:
                con.begin()
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.close()

    def catalog(self) -> Catalog:
        """The validated catalog (``CatalogError`` lists every problem)."""
        return load_catalog(self.root / CATALOG_FILE)

    def import_customers(self, path: Path | str) -> accounts.ImportResult:
        """Upsert customers from CSV, JSON lines or Parquet."""
        with self._state() as con:
            return accounts.import_customers(con, Path(path))

    def import_subscriptions(self, path: Path | str) -> accounts.ImportResult:
        """Upsert subscriptions from CSV, JSON lines or Parquet (plans must exist)."""
        catalog = self.catalog()
        with self._state() as con:
            result = accounts.import_subscriptions(con, Path(path), catalog)
            cadences.record(con, catalog)
            return result

    def ingest(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        strict: bool = False,
        shape: str = "auto",
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestResult:
        """Ingest event files, folders or globs into the lake; returns the counts.

        ``paths`` is one path or glob, or a list of them: a single string is one path,
        never a sequence of one-character paths (``"e.jsonl"`` would otherwise begin
        with ``"e"``, and ``"/data/e.jsonl"`` with ``"/"``, the whole disk).
        """
        from meterbill.events import ingest_workspace

        given = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        return ingest_workspace(
            self.root,
            [os.fspath(path) for path in given],
            strict=strict,
            shape=shape,  # type: ignore[arg-type]  # a SHAPES choice (the CLI's)
            on_progress=on_progress,
        )

    # -- the invoice run ----------------------------------------------------------------

    def compile(self, *, plans: list[str] | None = None) -> CompiledRun:
        """The invoice run's compiled query for the catalog (or some plans)."""
        return compile_run(self.catalog(), plans=plans)

    def invoice_run(
        self,
        *,
        through: str,
        finalize: bool = False,
        engine: EngineName = "duckdb",
        on_progress: Progress = _noop,
    ) -> RunResult:
        """Bill every complete period up to ``through`` that has no finalized invoice.

        ``through`` is a date (each customer's local midnight) or a timestamp with offset.
        ``engine`` runs the priced query: ``duckdb`` in-process, or ``spark`` as
        ``meterbill.toml`` says (the rest of the run is the same code for both). A period
        ending after now is not billed, whatever ``through`` says.

        Raises:
            WorkspaceError: a bad ``through``, or one in the future (a date that has not
                begun even at UTC+14).
        """
        through_utc = billing.through_instant(through, "UTC")  # validates before any work
        now = _now()
        if not billing.has_begun(through, through_utc, now):
            raise WorkspaceError(
                f"--through {through}: in the future; a period is billed once it has ended"
                " (meterbill invoice preview CUSTOMER prices the one in progress)"
            )
        runner = create_engine(engine, workspace_root=self.root)
        catalog = self.catalog()
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid4().hex[:6]}"
        sql_path = self.root / "runs" / run_id / "invoice_run.sql"
        with self._state() as con:
            on_progress("computing billing periods")
            cadences.record(con, catalog)
            subscriptions = billing.subscription_rows(con, cadences.of(con))
            schedule, covered = billing.clipped_schedule(con, subscriptions, now)
            removed = ledger.remove_stale_drafts(con, schedule)
            periods = billing.ending_by(schedule, subscriptions, through)
            done = ledger.finalized_ids(con)
            periods = periods.filter(~pl.col("invoice_id").is_in(list(done)))
            skipped = frozen.record_skipped(
                con, run_id, billing.ending_by(covered, subscriptions, through)
            )
            twice = shared_meters(
                [
                    (sub, customer, plan, start, end)
                    for sub, customer, plan, _, start, end, *_ in subscriptions
                ],
                catalog,
                billed=periods.select("subscription_id", "period_start", "period_end").rows(),
            )
            compiled = compile_cached(
                catalog,
                catalog_text=(self.root / CATALOG_FILE).read_bytes(),
                plans=sorted(set(periods["plan"])),
                root=self.root,
            )
            try:
                sql_path.parent.mkdir(parents=True, exist_ok=True)
                sql_path.write_text(compiled.sql(runner.name), encoding="utf-8")  # type: ignore[arg-type]
            except OSError as exc:  # a read-only workspace, a full disk, runs/ not a folder
                raise WorkspaceError(
                    f"cannot write the run's SQL to {sql_path}: {exc.strerror or exc}"
                ) from None
            files = _lake_files(con, self.root, periods) if periods.height else []
            on_progress(
                f"pricing {periods.height} period{'' if periods.height == 1 else 's'} over "
                f"{len(files)} lake file{'' if len(files) == 1 else 's'} on {runner.name}"
            )
            result = runner.run(
                compiled,
                lake_files=files,
                periods=periods,
                sql_path=sql_path,
                covered=covered_spans(con, periods),
            )
            priced, unbilled = result.priced, result.unbilled
            on_progress("assembling invoices")
            lines, invoices = assemble(catalog, periods, priced)
            # a meter priced twice repeats its count (max per group); groups add up
            invalid = (
                priced.filter(pl.col("invalid_events") > 0)
                .group_by("invoice_id", "meter", "group_values")
                .agg(pl.col("invalid_events").max())
                .group_by("invoice_id", "meter")
                .agg(pl.col("invalid_events").sum().alias("events"))
                .sort("invoice_id", "meter")
            )
            mark = watermark.advance(con)
            ledger.save_drafts(
                con,
                lines=lines,
                invoices=invoices,
                run_id=run_id,
                ingest_watermark=mark,
                last_ingest_id=watermark.newest_ingest(con, mark),
            )
            _record(con, "invalid_usage", run_id, invalid)
            _record(con, "unbilled_events", run_id, unbilled)
            _record(con, "shared_meters", run_id, twice)
            con.execute(
                "INSERT INTO invoice_runs VALUES (?, now(), ?, ?, ?, ?, ?)",
                [
                    run_id,
                    through_utc,
                    runner.name,
                    str(sql_path),
                    invoices.height,
                    int(invalid["events"].sum()) if invalid.height else 0,
                ],
            )
            finalized = ledger.finalize(con, invoices["invoice_id"].to_list()) if finalize else 0
            if finalized:
                invoices = _frame(con, "invoices", INVOICE_SCHEMA, invoices["invoice_id"].to_list())
            late = watermark.late_events(con, self.root)
        return RunResult(
            run_id, invoices, lines, invalid, sql_path, finalized, late, unbilled, twice,
            len(set(removed) - set(invoices["invoice_id"])), skipped,
        )  # fmt: skip

    def finalize(self, *, invoice_ids: list[str] | None = None, through: str | None = None) -> int:
        """Finalize drafts; returns how many were numbered.

        All drafts, or the listed ones; with ``through``, only those whose period ends by
        then (a date is each customer's local midnight, as for ``invoice_run``). A listed
        invoice that is already finalized is left as it is. Drafts of periods their
        subscriptions no longer have (re-imported since the run) are removed, never
        numbered.

        Raises:
            WorkspaceError: a listed id is no invoice's (nothing is finalized), or a bad
                ``through``.
        """
        if through is not None:
            billing.through_instant(through, "UTC")  # validates before any work
        with self._state() as con:  # no catalog: finalizing prices nothing
            if invoice_ids:
                _refuse_unknown_invoices(con, invoice_ids)
            billing.remove_stale_drafts(
                con, billing.subscription_rows(con, cadences.of(con), known_only=True), _now()
            )
            if through is not None:
                invoice_ids = billing.drafts_through(con, through, invoice_ids)
            return ledger.finalize(con, invoice_ids)

    # -- preview and usage (read only) -------------------------------------------------

    def preview(self, customer: str, *, at: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The invoices that bill a customer's subscriptions at ``at``: proposed ones
        (status ``preview``) for periods in progress, finalized ones as they stand.

        One per subscription active at ``at`` (a timestamp with offset, or a date: the
        customer's local midnight; default now): the period containing it as the invoice
        run will bill it (started where a finalized invoice of the subscription ends, as
        the run does after a re-import), priced by the run's own SQL from the events
        before ``at``. When a finalized invoice of the subscription holds ``at``, that
        invoice and its lines, unchanged (the run never changes it). Returns (invoices,
        line items); writes nothing.

        Raises:
            WorkspaceError: an unknown customer, a bad ``at``, or no active subscription.
        """
        from meterbill.invoices.preview import preview_invoices

        catalog = self.catalog()
        with self._state() as con:
            periods, instant, zones = billing.periods_at(con, catalog, customer, at, now=_now())
            billed = frozen.finalized_holding(con, list(zones), instant)
            finalized = _frame(con, "invoices", INVOICE_SCHEMA, billed)
            finalized_lines = _frame(con, "line_items", LINE_ITEM_SCHEMA, billed)
            periods = periods.filter(
                ~pl.col("subscription_id").is_in(finalized["subscription_id"].implode())
            )
            periods, _ = frozen.clip_to_frozen(con, periods, zones)  # the run's own rule
            files = _lake_files(con, self.root, periods) if periods.height else []
        if periods.is_empty():
            return finalized, finalized_lines
        lines, invoices = preview_invoices(catalog, periods=periods, lake_files=files, at=instant)
        return (
            pl.concat([finalized, invoices]).sort("period_start", "customer_id", "subscription_id"),
            pl.concat([finalized_lines, lines]).sort("period_start", "invoice_id", "line_number"),
        )

    def usage(
        self,
        *,
        customer: str | None = None,
        meters: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        window: str = "day",
    ) -> pl.DataFrame:
        """Usage per customer, meter, group and UTC window (hour, day or month).

        ``start``/``end`` bound the events (``start <= timestamp < end``): a date is UTC
        midnight, a timestamp needs an offset. Same meters and aggregations as invoices.

        Raises:
            WorkspaceError: a bad ``start``/``end``, an unknown meter or window.
        """
        from meterbill.usage import measure_usage

        since = None if start is None else billing.through_instant(start, "UTC", "--from")
        until = None if end is None else billing.through_instant(end, "UTC", "--to")
        if since is not None and until is not None and until < since:
            raise WorkspaceError(f"--to ({end}) is before --from ({start})")
        catalog = self.catalog()
        with self._state() as con:
            files = [Path(p) for p in state.lake_file_paths(con, self.root, since, until)]
        return measure_usage(
            catalog,
            lake_files=files,
            customer=customer,
            meters=meters,
            start=since,
            end=until,
            window=window,  # type: ignore[arg-type]
        )

    # -- reading ------------------------------------------------------------------------

    def customers(self) -> pl.DataFrame:
        """Every customer: ``customer_id``, ``name``, ``email``, ``timezone``."""
        with self._state() as con:
            return _customers(con)

    def invoices(
        self,
        *,
        status: str | None = None,
        customer: str | None = None,
        period_from: str | None = None,
        period_to: str | None = None,
    ) -> pl.DataFrame:
        """Every invoice, in the contract's columns, or those of a status, a customer, and
        periods starting at or after ``period_from`` and ending by ``period_to``.

        A date bound is each customer's local midnight (as ``--through`` is), so "March"
        selects every customer's March whatever its time zone; a timestamp needs an offset.

        Raises:
            WorkspaceError: a bad ``period_from`` or ``period_to``, or ``period_to`` before
                ``period_from``.
        """
        chosen = _InvoiceFilter(status, customer, period_from, period_to)
        with self._state() as con:
            return chosen.apply(_frame(con, "invoices", INVOICE_SCHEMA), _customers(con))

    def line_items(self) -> pl.DataFrame:
        """Every line item, in the contract's columns (plus ``line_number``)."""
        with self._state() as con:
            return _frame(con, "line_items", LINE_ITEM_SCHEMA)

    def ledger(
        self,
        *,
        status: str | None = None,
        customer: str | None = None,
        period_from: str | None = None,
        period_to: str | None = None,
    ) -> Ledger:
        """The invoices ``invoices`` selects, their line items and every customer, read in
        one transaction: a consistent snapshot (reading them one call each could straddle
        a run that commits between the calls, pairing one run's invoice totals with the
        next run's lines).

        Raises:
            WorkspaceError: a bad ``period_from`` or ``period_to``, or ``period_to`` before
                ``period_from``.
        """
        chosen = _InvoiceFilter(status, customer, period_from, period_to)
        with self._state() as con:
            customers = _customers(con)
            invoices = chosen.apply(_frame(con, "invoices", INVOICE_SCHEMA), customers)
            lines = _frame(con, "line_items", LINE_ITEM_SCHEMA)
        return Ledger(
            invoices=invoices,
            line_items=lines.filter(pl.col("invoice_id").is_in(invoices["invoice_id"].implode())),
            customers=customers,
        )

    def invoice(self, invoice_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """One invoice and its lines.

        Raises:
            WorkspaceError: no invoice has that id or number.
        """
        with self._state() as con:
            found = state.scalar(
                con,
                "SELECT invoice_id FROM invoices WHERE invoice_id = ? OR invoice_number = ?",
                [invoice_id, invoice_id],
            )
            if found is None:
                raise WorkspaceError(f"no invoice {invoice_id!r}")
            return (
                _frame(con, "invoices", INVOICE_SCHEMA, [str(found)]),
                _frame(con, "line_items", LINE_ITEM_SCHEMA, [str(found)]),
            )

    def sql(self, query: str) -> pl.DataFrame:
        """Run a read-only query over the workspace's views (see ``meterbill.query``).

        An invalid catalog.toml leaves out only the views built from it.
        """
        from meterbill.query import run_query

        try:
            catalog: Catalog | CatalogError = self.catalog()
        except CatalogError as exc:
            catalog = exc
        with state.workspace_lock(self.root):
            state.connect_state(self.root).close()  # brings an older state's schema up to date
            return run_query(self.root, catalog, query)


@dataclass(frozen=True, slots=True)
class _InvoiceFilter:
    """Which invoices ``Workspace.invoices`` and ``Workspace.ledger`` keep."""

    status: str | None
    customer: str | None
    period_from: str | None
    period_to: str | None

    def __post_init__(self) -> None:
        bounds = [
            None if text is None else billing.through_instant(text, "UTC", option)
            for option, text in (("--from", self.period_from), ("--to", self.period_to))
        ]  # validates before any work
        since, until = bounds
        if since is not None and until is not None and until < since:  # as usage refuses it
            raise WorkspaceError(f"--to ({self.period_to}) is before --from ({self.period_from})")

    def apply(self, invoices: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``invoices`` chosen; date bounds in each customer's time zone."""
        if self.status is not None:
            invoices = invoices.filter(pl.col("status") == self.status)
        if self.customer is not None:
            invoices = invoices.filter(pl.col("customer_id") == self.customer)
        if self.period_from is None and self.period_to is None:
            return invoices
        zones = dict(customers.select("customer_id", "timezone").iter_rows())
        at = cache(billing.through_instant)  # one parse per time zone, not per invoice
        keep = [
            (
                self.period_from is None
                or start >= at(self.period_from, zones.get(cid) or "UTC", "--from")
            )
            and (
                self.period_to is None or end <= at(self.period_to, zones.get(cid) or "UTC", "--to")
            )
            for cid, start, end in invoices.select(
                "customer_id", "period_start", "period_end"
            ).iter_rows()
        ]
        return invoices.filter(pl.Series(keep, dtype=pl.Boolean))


def _customers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every customer, by id."""
    return con.sql(
        "SELECT customer_id, name, email, timezone FROM customers ORDER BY customer_id"
    ).pl()


def _refuse_a_workspace(path: Path) -> None:
    """Refuse to ``init`` a folder that already holds a workspace.

    Raises:
        WorkspaceError: it has a catalog or a state database.
    """
    if (path / CATALOG_FILE).exists() or (path / state.STATE_FILE).exists():
        raise WorkspaceError(f"{path} already holds a workspace")


def _record(con: duckdb.DuckDBPyConnection, table: str, run_id: str, frame: pl.DataFrame) -> None:
    """Append a run's report rows (``run_id`` first, then the frame's columns) to a table."""
    if frame.height:
        con.register("run_rows", frame.to_arrow())
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        con.execute(f"INSERT INTO {table} SELECT ?, {columns} FROM run_rows", [run_id])  # noqa: S608 (our names)
        con.unregister("run_rows")


def _frame(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: dict[str, object],
    ids: list[str] | None = None,
) -> pl.DataFrame:
    """Rows of invoices or line_items as a typed Polars frame (optionally some invoices)."""
    columns = ", ".join(f'"{c}"' for c in schema)
    order = (
        "period_start, customer_id, subscription_id"
        if table == "invoices"
        else "period_start, invoice_id, line_number"
    )
    query = (
        f"SELECT {columns} FROM {table}"  # noqa: S608 (fixed names, no user values)
        f" WHERE (? IS NULL OR list_contains(?, invoice_id)) ORDER BY {order}"
    )
    return con.sql(query, params=[ids, ids]).pl().cast(schema)  # type: ignore[arg-type]


def _now() -> datetime:
    """The current instant (one place, so tests can move the clock)."""
    return datetime.now(UTC)


def _refuse_unknown_invoices(con: duckdb.DuckDBPyConnection, invoice_ids: list[str]) -> None:
    """Refuse ids that name no invoice (a typo must not finalize the others silently).

    An invoice number names an invoice too (as in ``invoice show``): a finalized one, so
    there is nothing to finalize.

    Raises:
        WorkspaceError: naming every unknown id.
    """
    rows = con.execute(
        "SELECT id FROM unnest(?::VARCHAR[]) AS t(id)"
        " WHERE id NOT IN (SELECT invoice_id FROM invoices)"
        " AND id NOT IN (SELECT invoice_number FROM invoices WHERE invoice_number IS NOT NULL)"
        " ORDER BY id",
        [invoice_ids],
    ).fetchall()
    if rows:
        names = ", ".join(repr(row[0]) for row in rows)
        raise WorkspaceError(f"no invoice {names}; nothing was finalized")


def _lake_files(con: duckdb.DuckDBPyConnection, root: Path, periods: pl.DataFrame) -> list[Path]:
    """The lake files that can hold events of the run's window."""
    return [Path(path) for path in state.lake_file_paths(con, root, *run_window(periods))]


_EMPTY_CATALOG = """\
# meterbill catalog: meters (what to count) and plans (what to charge).
# See the README for every aggregation and price model; `meterbill catalog check`
# validates this file.

# [meters.api_calls]
# name = "API calls"
# event_name = "api.request"
# aggregation = "count"
#
# [plans.starter]
# name = "Starter"
# currency = "USD"
# interval = "month"
#
# [[plans.starter.prices]]
# model = "flat_fee"
# amount = "20.00"
#
# [[plans.starter.prices]]
# meter = "api_calls"
# model = "package"
# package_size = 1000
# amount = "0.50"
"""

__all__ = ["Ledger", "MeterbillError", "RunResult", "Workspace"]
