"""``meterbill``: every command, each a few lines over ``Workspace``."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from meterbill import __version__
from meterbill.cli.diagnostics import OneLineGroup, fail, handle_errors
from meterbill.cli.options import (
    engine_option,
    folder_argument,
    folder_path,
    open_workspace,
    output_options,
    workspace_option,
)
from meterbill.cli.render import print_table, stderr_status
from meterbill.folder import EXAMPLES

if TYPE_CHECKING:  # Polars and Workspace load in the commands that use them (start-up time)
    import polars as pl

    from meterbill.workspace import Workspace

DEMO_THROUGH = "2026-11-01"


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meterbill")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False),
    callback=folder_path,
    help="The workspace folder of the command that follows (which may also take -w).",
)
def cli(debug: bool, workspace: Path | None) -> None:  # noqa: FBT001
    """Usage-based billing as an analytical job: events in, exact invoices out."""
    import os

    if debug:
        os.environ["METERBILL_DEBUG"] = "1"
    if workspace is not None:  # the command's own -w default (it is parsed after this)
        previous = os.environ.get("METERBILL_WORKSPACE")
        os.environ["METERBILL_WORKSPACE"] = str(workspace)
        click.get_current_context().call_on_close(lambda: _restore_workspace(previous))


def _count(number: int, noun: str) -> str:
    """``1 invoice``, ``2 invoices``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _restore_workspace(previous: str | None) -> None:
    """Put ``METERBILL_WORKSPACE`` back as it was before ``meterbill -w DIR``."""
    import os

    if previous is None:
        os.environ.pop("METERBILL_WORKSPACE", None)
    else:
        os.environ["METERBILL_WORKSPACE"] = previous


# -- getting started -----------------------------------------------------------------


@cli.command()
@folder_argument("directory", required=False)
@handle_errors
def demo(directory: Path | None) -> None:
    """Run the OpenAI O1 example end to end in a fresh workspace and print its invoice."""
    from meterbill.workspace import Workspace

    root = directory or Path(tempfile.mkdtemp(prefix="meterbill-demo-"))
    workspace = Workspace.init(root, example="openai-o1")
    stderr_status(f"created the openai-o1 example workspace in {root}")
    result = workspace.invoice_run(through=DEMO_THROUGH, on_progress=stderr_status)
    for invoice in result.invoices.iter_rows(named=True):
        _print_invoice(workspace, invoice["invoice_id"])


@cli.command()
@folder_argument("directory")
@click.option(
    "--example",
    type=click.Choice(EXAMPLES),
    help="Add the example's catalog, customer, subscription and events.",
)
@handle_errors
def init(directory: Path, example: str | None) -> None:
    """Create a workspace in DIRECTORY."""
    from meterbill.workspace import Workspace

    Workspace.init(directory, example=example)
    click.echo(f"created workspace {directory}", err=True)


# -- catalog ---------------------------------------------------------------------------


@cli.group()
def catalog() -> None:
    """The plan catalog (catalog.toml)."""


@catalog.command("check")
@workspace_option
@handle_errors
def catalog_check(workspace: Path) -> None:
    """Validate catalog.toml and list its meters, plans and prices."""
    import polars as pl

    from meterbill.query import _catalog_frames

    parsed = open_workspace(workspace).catalog()
    meters, prices = _catalog_frames(parsed)
    plans = pl.DataFrame(
        [
            [key, plan.name, plan.currency, plan.interval, plan.interval_count, len(plan.prices)]
            for key, plan in parsed.plans.items()
        ],
        schema={
            "plan": pl.String, "name": pl.String, "currency": pl.String,
            "interval": pl.String, "interval_count": pl.Int64, "prices": pl.Int64,
        },
        orient="row",
    )  # fmt: skip
    print_table(
        meters.select("meter", "event_name", "aggregation", "field", "filters", "group_by"),
        title="meters",
    )
    print_table(plans, title="plans")
    print_table(prices, title="prices")
    click.echo(
        f"catalog ok: {_count(meters.height, 'meter')}, {_count(len(parsed.plans), 'plan')}, "
        f"{_count(prices.height, 'price')}",
        err=True,
    )


# -- customers and subscriptions ------------------------------------------------------


@cli.group()
def customers() -> None:
    """Customers (id, name, email, time zone)."""


@customers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@workspace_option
@handle_errors
def customers_import(file: Path, workspace: Path) -> None:
    """Upsert customers from a CSV, JSON lines or Parquet FILE."""
    result = open_workspace(workspace).import_customers(file)
    click.echo(f"customers: {result.inserted} inserted, {result.updated} updated")


@cli.group()
def subscriptions() -> None:
    """Subscriptions (customer, plan, start, end, billing cycle)."""


@subscriptions.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@workspace_option
@handle_errors
def subscriptions_import(file: Path, workspace: Path) -> None:
    """Upsert subscriptions from a CSV, JSON lines or Parquet FILE."""
    result = open_workspace(workspace).import_subscriptions(file)
    click.echo(f"subscriptions: {result.inserted} inserted, {result.updated} updated")


# -- ingest ----------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--strict", is_flag=True, help="Fail the whole ingest, committing nothing, on any reject."
)
@click.option(
    "--shape",
    type=click.Choice(["auto", "native", "cloudevents", "flexprice", "lago"]),
    default="auto",
    show_default=True,
    help="The records' shape; auto detects it per record.",
)
@workspace_option
@handle_errors
def ingest(paths: tuple[str, ...], strict: bool, shape: str, workspace: Path) -> None:  # noqa: FBT001
    """Ingest event files, folders or globs (JSON lines, CSV, Parquet, .gz) into the lake."""
    from rich.console import Console

    from meterbill.events import ingest_workspace
    from meterbill.folder import workspace_root

    root = workspace_root(workspace)  # not Workspace: ingest starts without Polars
    console = Console(stderr=True)
    if not console.is_terminal:  # piped or captured: no bar, so stderr stays clean
        result = ingest_workspace(root, list(paths), strict=strict, shape=shape)  # type: ignore[arg-type]  # a SHAPES choice
    else:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        bar = Progress(
            "[dim]ingest[/dim]",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        task = bar.add_task("ingest", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with bar:
            result = ingest_workspace(
                root,
                list(paths),
                strict=strict,
                shape=shape,  # type: ignore[arg-type]  # a SHAPES choice
                on_progress=on_progress,
            )
    click.echo(
        f"read {result.records_read}: accepted {result.accepted}, "
        f"duplicates {result.duplicates}, rejected {result.rejected}"
    )
    if result.rejected:
        click.echo('see rejects with: meterbill sql "SELECT * FROM rejected_events"', err=True)


# -- invoices --------------------------------------------------------------------------


@cli.group()
def invoice() -> None:
    """Invoice runs, finalization and invoices."""


@invoice.command("run")
@click.option(
    "--through",
    required=True,
    help="Bill periods ending by this date (each customer's local midnight) or timestamp "
    "with offset; not in the future.",
)
@click.option(
    "--finalize", is_flag=True, help="Finalize (number and freeze) the invoices of this run."
)
@engine_option
@workspace_option
@handle_errors
def invoice_run(through: str, finalize: bool, engine: str, workspace: Path) -> None:  # noqa: FBT001
    """Bill every complete period through a date; print a summary."""
    result = open_workspace(workspace).invoice_run(
        through=through,
        finalize=finalize,
        engine=engine,  # type: ignore[arg-type]
        on_progress=stderr_status,
    )
    summary = result.invoices.select(
        "invoice_id", "invoice_number", "status", "customer_id", "plan",
        "period_start", "period_end", "currency", "total", "line_count",
    )  # fmt: skip
    if summary.height:
        print_table(summary, title=f"invoice run {result.run_id}")
    click.echo(f"{_count(result.invoices.height, 'invoice')}; SQL at {result.sql_path}", err=True)
    if result.removed_drafts:
        click.echo(
            f"removed {_count(result.removed_drafts, 'draft')} of periods their subscriptions "
            "no longer have (re-imported with another start, end, plan or customer)",
            err=True,
        )
    if result.overlapping_finalized:  # said by the first run that skips them only
        click.echo(
            f"warning: {_count(result.overlapping_finalized, 'period')} not billed: "
            "finalized invoices of its subscription cover it (a start or a time zone "
            "changed since they were finalized); see the skipped_periods view (meterbill sql)",
            err=True,
        )
    if result.late_events.height:
        click.echo(
            f"warning: {_count(result.late_events.height, 'late event')} in the periods of "
            f"{_count(result.late_events['invoice_id'].n_unique(), 'finalized invoice')}, "
            "not billed; see the late_events view (meterbill sql)",
            err=True,
        )
    if result.invalid_usage.height:
        total = int(result.invalid_usage["events"].sum())
        click.echo(
            f"warning: {_count(total, 'event')} matched by a meter without a numeric value, "
            "not billed; see the invalid_usage (counts) and invalid_events (the events) "
            "views with meterbill sql",
            err=True,
        )
    if result.shared_meters.height:
        import polars as pl

        pairs = result.shared_meters.group_by(
            "customer_id", "subscription_id", "other_subscription_id", maintain_order=True
        ).agg(pl.col("meter"))
        shown = "; ".join(
            f"{row['subscription_id']} and {row['other_subscription_id']} of "
            f"{row['customer_id']} ({', '.join(row['meter'])})"
            for row in pairs.head(3).iter_rows(named=True)
        )
        more = f"; and {pairs.height - 3} more" if pairs.height > 3 else ""
        click.echo(
            f"warning: {_count(pairs.height, 'pair')} of one customer's subscriptions at "
            f"once price the same meters, so those events are billed on both: {shown}{more}; "
            "see the shared_meters view (meterbill sql)",
            err=True,
        )
    if result.unbilled.height:
        total = int(result.unbilled["events"].sum())
        click.echo(
            f"warning: {_count(total, 'event')} of "
            f"{_count(result.unbilled.height, 'customer')} in no subscription period, not "
            "billed; see the unbilled_events view (meterbill sql)",
            err=True,
        )


@invoice.command("finalize")
@click.argument("invoice_ids", nargs=-1)
@click.option(
    "--through",
    help="Only drafts whose period ends by this date (each customer's local midnight) or "
    "timestamp with offset.",
)
@workspace_option
@handle_errors
def invoice_finalize(invoice_ids: tuple[str, ...], through: str | None, workspace: Path) -> None:
    """Finalize drafts (all, or the INVOICE_IDS given): number them and freeze them."""
    count = open_workspace(workspace).finalize(
        invoice_ids=list(invoice_ids) or None, through=through
    )
    click.echo(f"finalized {_count(count, 'invoice')}")


@invoice.command("preview")
@click.argument("customer")
@click.option(
    "--at",
    help="Preview the period containing this timestamp with offset, or date (the "
    "customer's local midnight), from the events before it. Default: now.",
)
@workspace_option
@handle_errors
def invoice_preview(customer: str, at: str | None, workspace: Path) -> None:
    """The proposed invoice for CUSTOMER's period in progress, from usage so far.

    Priced exactly as the invoice run will price it; a period a finalized invoice holds
    shows that invoice. Nothing is written to the ledger.
    """
    import polars as pl

    from meterbill.money import format_amount

    ws = open_workspace(workspace)
    invoices, lines = ws.preview(customer, at=at)
    zone = _zone_of(ws, customer)
    drafts = ws.invoices(status="draft", customer=customer)
    drafted = dict(drafts.select("invoice_id", "total").iter_rows())
    for row in invoices.iter_rows(named=True):
        _print_lines(row, lines.filter(pl.col("invoice_id") == row["invoice_id"]), zone)
        if row["status"] == "finalized":
            click.echo(
                f"{row['invoice_number']} is finalized: that time is billed already, "
                "shown as it was billed",
                err=True,
            )
        elif row["invoice_id"] in drafted:
            total = format_amount(drafted[row["invoice_id"]], row["currency"])
            click.echo(
                f"the last invoice run drafted this period: {total} {row['currency']} from "
                "every event of the period it saw; the next run refreshes that draft",
                err=True,
            )
    if invoices.is_empty():
        click.echo(
            f"nothing to preview: finalized invoices cover {customer}'s periods at that time",
            err=True,
        )


@invoice.command("show")
@click.argument("invoice_id")
@workspace_option
@handle_errors
def invoice_show(invoice_id: str, workspace: Path) -> None:
    """Print one invoice (by id or number) with its lines."""
    _print_invoice(open_workspace(workspace), invoice_id)


def _print_invoice(workspace: Workspace, invoice_id: str) -> None:
    head, lines = workspace.invoice(invoice_id)
    row = head.row(0, named=True)
    _print_lines(row, lines, _zone_of(workspace, row["customer_id"]))


def _zone_of(workspace: Workspace, customer_id: str) -> str:
    """The customer's time zone (UTC for one not on file)."""
    import polars as pl

    zones = workspace.customers().filter(pl.col("customer_id") == customer_id)["timezone"]
    return (zones[0] if zones.len() else None) or "UTC"


def _print_lines(row: dict[str, Any], lines: pl.DataFrame, zone: str) -> None:
    """An invoice's lines as a table titled with its number, status, customer and period,
    the period as the customer reads it: local dates (and times, when not midnight) in
    the customer's time zone, which UTC dates are not (Mar 15 at UTC+14 is Mar 14 UTC)."""
    from zoneinfo import ZoneInfo

    def local(instant: datetime) -> str:
        moment = instant.astimezone(ZoneInfo(zone))
        return f"{moment:%Y-%m-%d}" if moment.time() == time(0) else f"{moment:%Y-%m-%d %H:%M}"

    title = (
        f"{row['invoice_number'] or row['invoice_id']} ({row['status']}) {row['customer_id']} "
        f"{row['plan']} {local(row['period_start'])} to {local(row['period_end'])} ({zone})"
    )
    print_table(
        lines.select(
            "line_number",
            "description",
            *(["group"] if lines["group"].is_not_null().any() else []),
            "quantity",
            "billable_quantity",
            "unit_amount",
            "amount",
            "currency",
        ),
        title=title,
    )
    from meterbill.money import format_amount

    click.echo(f"Total: {format_amount(row['total'], row['currency'])} {row['currency']}")


# -- usage ----------------------------------------------------------------------------


@cli.command()
@click.option("--customer", help="Only this customer.")
@click.option("--meter", "meters", multiple=True, help="Only this meter (repeatable).")
@click.option(
    "--from", "start", help="Events at or after this date (UTC midnight) or timestamp with offset."
)
@click.option(
    "--to", "end", help="Events before this date (UTC midnight) or timestamp with offset."
)
@click.option(
    "--window",
    type=click.Choice(["hour", "day", "month"]),
    default="day",
    show_default=True,
    help="UTC window to aggregate over.",
)
@output_options
@workspace_option
@handle_errors
def usage(
    customer: str | None, meters: tuple[str, ...], start: str | None, end: str | None,
    window: str, fmt: str, out: Path | None, workspace: Path,
) -> None:  # fmt: skip
    """Usage over time per customer and meter, aggregated as invoices aggregate it."""
    ws = open_workspace(workspace)
    frame = ws.usage(
        customer=customer, meters=list(meters) or None, start=start, end=end, window=window
    )
    _emit(frame, fmt=fmt, out=out, root=ws.root)


# -- SQL, export, explain ----------------------------------------------------------


@cli.command()
@click.argument("query")
@output_options
@workspace_option
@handle_errors
def sql(query: str, fmt: str, out: Path | None, workspace: Path) -> None:
    """Run a read-only SQL QUERY over the workspace's views."""
    ws = open_workspace(workspace)
    _emit(ws.sql(query), fmt=fmt, out=out, root=ws.root)


def _emit(frame: pl.DataFrame, *, fmt: str, out: Path | None, root: Path) -> None:
    if fmt == "table" and out is None:
        print_table(frame)
        return
    if fmt == "table":
        fail("--out needs --format csv, json, parquet or html", 2)
    if out is None and fmt == "parquet":
        fail("--format parquet needs --out FILE (or --out - for standard output)", 2)
    if _write(_frame_writer(frame, fmt), out=out or _STDOUT, suffix=fmt, root=root):
        click.echo(f"wrote {_count(frame.height, 'row')} to {out}", err=True)


def _frame_writer(frame: pl.DataFrame, fmt: str) -> Callable[[Path], None]:
    from meterbill.export import write_frame

    return lambda path: write_frame(frame, fmt=fmt, out=path)  # type: ignore[arg-type]


def _refuse_own_file(out: Path, root: Path) -> None:
    from meterbill import settings, state
    from meterbill.folder import CATALOG_FILE

    target = out.resolve()
    own = {CATALOG_FILE, settings.SETTINGS_FILE, state.STATE_FILE, f"{state.STATE_FILE}.wal"}
    if target.parent == root and (target.name in own or target.name == state.LOCK_FILE):
        fail(f"--out {out}: that is the workspace's own {target.name}; write elsewhere", 2)
    if target.is_relative_to(root / "lake"):
        fail(f"--out {out}: inside the workspace's lake; write elsewhere", 2)


#: ``--out -``: standard output.
_STDOUT: Final = Path("-")


def _write(write: Callable[[Path], None], *, out: Path, suffix: str, root: Path) -> bool:
    """Run ``write`` (which writes the file it is given) for ``out``, or for a temporary
    file copied to standard output when ``out`` is ``-``; whether it went to a file.

    An ``out`` that is one of the workspace's own files (state, catalog, settings, lock,
    anything in ``lake/``) is refused: an export or a query never changes the workspace.
    """
    if out != _STDOUT:
        _refuse_own_file(out, root)
        write(out)
        return True
    target = Path(tempfile.mkstemp(suffix=f".{suffix}")[1])
    try:
        write(target)
        sys.stdout.flush()
        sys.stdout.buffer.write(target.read_bytes())
        sys.stdout.buffer.flush()
    finally:
        target.unlink()
    return False


@cli.command()
@click.argument("what", type=click.Choice(["invoices", "line-items"]))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "json", "html"]),
    required=True,
    help="html: invoices as printable pages with their lines; line items as a table.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The file to write (- for standard output).",
)
@click.option(
    "--status", type=click.Choice(["draft", "finalized"]), help="Only invoices in this status."
)
@click.option("--customer", help="Only this customer.")
@click.option(
    "--from",
    "period_from",
    help="Only periods starting at or after this date (the customer's midnight) or timestamp.",
)
@click.option(
    "--to",
    "period_to",
    help="Only periods ending at or before this date (the customer's midnight) or timestamp.",
)
@workspace_option
@handle_errors
def export(
    what: str, fmt: str, out: Path, status: str | None, customer: str | None,
    period_from: str | None, period_to: str | None, workspace: Path,
) -> None:  # fmt: skip
    """Export invoices or line items to Parquet, CSV, JSON lines or HTML."""
    ws = open_workspace(workspace)
    ledger = ws.ledger(  # one snapshot, whatever commits meanwhile
        status=status, customer=customer, period_from=period_from, period_to=period_to
    )
    invoices, lines = ledger.invoices, ledger.line_items
    if what == "line-items":
        frame, noun = lines, "line item"
        write = _frame_writer(frame, fmt)
    else:
        frame, noun = invoices, "invoice"
        write = (
            _pages_writer(invoices, lines, ledger.customers)
            if fmt == "html"
            else _frame_writer(frame, fmt)
        )
    if _write(write, out=out, suffix=fmt, root=ws.root):
        click.echo(f"wrote {_count(frame.height, noun)} to {out}", err=True)


def _pages_writer(
    invoices: pl.DataFrame, lines: pl.DataFrame, customers: pl.DataFrame
) -> Callable[[Path], None]:
    """Writes ``invoices`` as HTML pages, each with its lines and its customer's name."""
    from meterbill.export import write_invoice_pages

    return lambda path: write_invoice_pages(invoices, lines, customers, out=path)


@cli.command()
@click.option("--plan", "plans", multiple=True, help="Only this plan (repeatable).")
@click.option("--raw", is_flag=True, help="Print the SQL without syntax highlighting.")
@engine_option
@workspace_option
@handle_errors
def explain(plans: tuple[str, ...], raw: bool, engine: str, workspace: Path) -> None:  # noqa: FBT001
    """Print the compiled SQL of an invoice run, in the engine's dialect."""
    text = open_workspace(workspace).compile(plans=list(plans) or None).sql(engine)  # type: ignore[arg-type]
    if raw or not sys.stdout.isatty():
        click.echo(text, nl=False)
        return
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(text, "sql"))


# -- benchmark -------------------------------------------------------------------------


@cli.command()
@click.option(
    "--events", default=50_000_000, show_default=True, help="Synthetic events to generate."
)
@click.option(
    "--customers", "customer_count", default=10_000, show_default=True, help="Synthetic customers."
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace to generate into (kept); default a temporary folder, removed after.",
)
@click.option(
    "--repeat", default=3, show_default=True, help="Timed runs of each side; the best counts."
)
@click.option(
    "--ingest",
    "ingest_bench",
    is_flag=True,
    help="Time ingest of a JSON lines file (--events, default 2M) against DuckDB's COPY of "
    "it, de-duplicating against a 20M-event lake; reuse --dir to keep the generated data.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["jsonl", "parquet", "csv"]),
    default="jsonl",
    show_default=True,
    help="With --ingest: the events file's format.",
)
@click.pass_context
@handle_errors
def bench(
    ctx: click.Context,
    events: int,
    customer_count: int,
    directory: Path | None,
    repeat: int,
    ingest_bench: bool,  # noqa: FBT001
    file_format: str,
) -> None:
    """Time the invoice run against a bare DuckDB GROUP BY over the same lake."""
    import shutil

    if ingest_bench:
        from meterbill import ingest_bench as ingest_benchmark

        if ctx.get_parameter_source("events") is click.core.ParameterSource.DEFAULT:
            events = 2_000_000
        folder = directory or Path(tempfile.mkdtemp(prefix="meterbill-ingest-bench-"))
        try:
            result = ingest_benchmark.run_ingest_bench(
                folder,
                events=events,
                repeat=repeat,
                file_format=file_format,  # type: ignore[arg-type]
                on_progress=stderr_status,
            )
            click.echo(ingest_benchmark.format_ingest_bench(result))
        finally:
            if directory is None:
                shutil.rmtree(folder, ignore_errors=True)
        return
    from meterbill import bench as benchmark

    root = directory or Path(tempfile.mkdtemp(prefix="meterbill-bench-"))
    try:
        if not (root / "catalog.toml").exists():
            stderr_status(
                f"generating {events:,} events for {customer_count:,} customers in {root}"
            )
            benchmark.generate_workspace(root, events=events, customers=customer_count)
        result = benchmark.run_bench(root, repeat=repeat, on_progress=stderr_status)
        click.echo(benchmark.format_bench(result))
    finally:
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)
