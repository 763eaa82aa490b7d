"""The commands that show billing agree with each other and with the invoice run.

One file for the differential tests across commands (they share one expensive fixture:
a whole scenario run through the real API and CLI), rather than one per module.

Hypothesis draws the scenarios of ``tests/invoices/test_reference.py`` (every
aggregation, price model, time zone and cycle), sometimes with a finalizing run, a move
of every customer to another time zone and a moved start in between (periods across
finalized invoices), and requires:

- ``invoice preview`` at a period's last microsecond to show exactly the invoice and the
  lines the run drafted for it (events are never at that microsecond, so "events before
  ``--at``" are the run's events); at an instant a finalized invoice holds, that invoice
  unchanged; for a period the run skipped, no invoice of its own;
- ``usage`` summed over a period's windows (``--from``/``--to`` the period) to equal the
  run's quantity for ``count`` and ``sum`` meters, per group, and its invalid events the
  run's invalid counts;
- ``export`` in every format, ``meterbill sql "FROM invoices"``/``"FROM line_items"``,
  ``invoice show`` and the Python API to hold the same invoices and lines.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from meterbill import Workspace
from meterbill.cli.main import cli
from meterbill.invoices.assemble import INVOICE_SCHEMA, LINE_ITEM_SCHEMA
from meterbill.money import format_amount
from tests.invoices.test_reference import (
    TIMEZONES,
    Scenario,
    scenario_workspace,
    scenarios,
    write_csv,
    write_events,
)
from tests.test_export import html_cells

MICROSECOND = timedelta(microseconds=1)
#: Shrinking a whole workspace scenario takes minutes; a failure prints what was drawn.
QUICK = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
#: Invoice columns that a preview and the run's draft share (not status nor number).
SAME_INVOICE = [c for c in INVOICE_SCHEMA if c not in ("status", "invoice_number")]


@dataclasses.dataclass(frozen=True)
class Moves:
    """What changes between a finalizing run and the last run (None: nothing)."""

    first_through: str | None
    zones: dict[str, str]
    start_shift_days: int


@st.composite
def moves(draw: st.DrawFn, scenario: Scenario) -> Moves:
    if not draw(st.booleans()):
        return Moves(None, {}, 0)
    last = scenario.through if not isinstance(scenario.through, datetime) else None
    day = last or scenario.through.date()  # type: ignore[union-attr]
    first = day - timedelta(days=draw(st.integers(5, 40)))
    zones = {c: draw(st.sampled_from(TIMEZONES)) for c in scenario.timezones if draw(st.booleans())}
    return Moves(first.isoformat(), zones, draw(st.sampled_from([0, 0, 3, -2, 14])))


def cli_run(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def build(scenario: Scenario, folder: Path, change: Moves) -> Workspace:
    """The scenario through the real API: imports, ingests, runs (with ``change``)."""
    workspace = scenario_workspace(scenario, folder)
    if scenario.events:
        path = write_events(folder, "events", scenario.events, 0, scenario.fmt)
        assert workspace.ingest([str(path)], strict=True).rejected == 0  # type: ignore[attr-defined]
    if change.first_through is not None:
        workspace.invoice_run(through=change.first_through, finalize=True)
        if change.zones:
            moved = [{"customer_id": c, "timezone": z} for c, z in change.zones.items()]
            workspace.import_customers(write_csv(folder / "moved.csv", moved))
        if change.start_shift_days:
            shifted = [
                {"subscription_id": s.subscription_id, "customer_id": s.customer_id,
                 "plan": s.plan, "start": _shift(s.start, change)}
                for s in scenario.subscriptions
                if not s.end or _shift(s.start, change) < s.end[:10]
            ]  # fmt: skip
            if shifted:
                workspace.import_subscriptions(write_csv(folder / "shifted.csv", shifted))
    workspace.invoice_run(through=scenario.through.isoformat())
    return workspace


def _shift(start_text: str, change: Moves) -> str:
    start = datetime.fromisoformat(start_text[:10]) + timedelta(days=change.start_shift_days)
    return start.date().isoformat()


def without_last_microseconds(scenario: Scenario) -> Scenario:
    """Events never at a period's last microsecond (periods end on whole seconds)."""
    kept = [e for e in scenario.events if e.timestamp.microsecond != 999_999]
    return dataclasses.replace(scenario, events=kept, split=0)


# -- preview = run ------------------------------------------------------------------------


def check_previews(workspace: Workspace, chosen: list[dict[str, Any]]) -> None:
    lines_all = workspace.line_items()
    skipped = set(workspace.sql("SELECT invoice_id FROM skipped_periods")["invoice_id"])
    for invoice in chosen:
        at = (invoice["period_end"] - MICROSECOND).isoformat()
        previews, lines = workspace.preview(invoice["customer_id"], at=at)
        own = previews.filter(pl.col("invoice_id") == invoice["invoice_id"])
        assert own.height == 1, (invoice, previews)
        want_status = "preview" if invoice["status"] == "draft" else "finalized"
        assert own["status"].to_list() == [want_status]
        stored = workspace.invoices().filter(pl.col("invoice_id") == invoice["invoice_id"])
        columns = SAME_INVOICE if want_status == "preview" else list(INVOICE_SCHEMA)
        assert_frame_equal(own.select(columns), stored.select(columns))
        assert_frame_equal(
            lines.filter(pl.col("invoice_id") == invoice["invoice_id"]),
            lines_all.filter(pl.col("invoice_id") == invoice["invoice_id"]),
        )
        assert not skipped & set(previews["invoice_id"])
        event(f"previewed a {invoice['status']} invoice")
    if skipped:
        event("a period skipped under finalized invoices")


@settings(QUICK, max_examples=10)
@given(st.data())
def test_preview_at_a_periods_last_microsecond_is_what_the_run_billed(data: st.DataObject) -> None:
    scenario = without_last_microseconds(data.draw(scenarios()))
    change = data.draw(moves(scenario))
    with tempfile.TemporaryDirectory() as folder:
        workspace = build(scenario, Path(folder), change)
        invoices = workspace.invoices().to_dicts()
        chosen = data.draw(st.lists(st.sampled_from(invoices), max_size=4)) if invoices else []
        check_previews(workspace, chosen)


# -- usage = run --------------------------------------------------------------------------


def check_usage(workspace: Workspace, scenario: Scenario, chosen: list[dict[str, Any]]) -> None:
    additive = {k for k, m in scenario.meters.items() if m.aggregation in ("count", "sum")}
    lines = workspace.line_items()
    invalid = workspace.sql("SELECT invoice_id, meter, max(events) AS n FROM invalid_usage"
                            " GROUP BY ALL")  # fmt: skip
    for invoice in chosen:
        own = lines.filter(pl.col("invoice_id") == invoice["invoice_id"])
        meters = sorted(set(own["meter"].drop_nulls()))
        if not meters:
            continue
        usage = workspace.usage(
            customer=invoice["customer_id"], meters=meters, window="hour",
            start=invoice["period_start"].isoformat(), end=invoice["period_end"].isoformat(),
        )  # fmt: skip
        summed = usage.group_by("meter", "group").agg(
            pl.col("quantity").sum(), pl.col("invalid_events").sum()
        )
        for meter in meters:
            rows = summed.filter(pl.col("meter") == meter)
            billed = own.filter(pl.col("meter") == meter)
            if scenario.meters[meter].aggregation == "sum_with_multiplier":  # rounds per window
                slack = Decimal("0.5e-12") * max(usage.filter(pl.col("meter") == meter).height, 1)
                for group, quantity in billed.select("group", "quantity").unique().rows():
                    got_q = rows.filter(pl.col("group").eq_missing(group))["quantity"].sum()
                    assert abs(Decimal(got_q or 0) - quantity) <= slack
            if meter in additive:
                got = {row[1]: row[2] for row in rows.rows()}
                want = {g: q for g, q in billed.select("group", "quantity").unique().rows()}
                if scenario.meters[meter].group_by:
                    assert got == want, (meter, got, want)
                else:
                    assert got.get(None, Decimal(0)) == want[None], (meter, got, want)
            left_out = invalid.filter(
                (pl.col("invoice_id") == invoice["invoice_id"]) & (pl.col("meter") == meter)
            )["n"].to_list()
            assert int(rows["invalid_events"].sum()) == (left_out[0] if left_out else 0)


@settings(QUICK, max_examples=10)
@given(st.data())
def test_usage_over_a_period_adds_up_to_the_runs_quantities(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    with tempfile.TemporaryDirectory() as folder:
        workspace = build(scenario, Path(folder), Moves(None, {}, 0))
        drafts = workspace.invoices().to_dicts()
        chosen = data.draw(st.lists(st.sampled_from(drafts), max_size=4)) if drafts else []
        check_usage(workspace, scenario, chosen)


# -- export = sql = show = API ------------------------------------------------------------


def read_text_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return [
                {k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(handle)
            ]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def as_text(value: Any, column: str, currency: str) -> Any:
    """A value as CSV and JSON carry it (README, "Invoices")."""
    if value is None:
        return None
    if column in ("amount", "subtotal", "total"):
        return format_amount(value, currency)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, datetime):
        return (
            value.strftime("%Y-%m-%dT%H:%M:%S")
            + (f".{value.microsecond:06d}" if value.microsecond else "")
            + "Z"
        )
    return value


def table_lines(table: list[list[str]]) -> list[str]:
    """CSV rows back as lines (for ``csv.DictReader``)."""
    import io

    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    return buffer.getvalue().splitlines()


def check_exports(workspace: Workspace, folder: Path) -> None:
    ws = workspace.root
    api = {"line-items": workspace.line_items(), "invoices": workspace.invoices()}
    schemas = {"invoices": INVOICE_SCHEMA, "line-items": LINE_ITEM_SCHEMA}
    for what, frame in api.items():
        out = folder / f"{what}.parquet"
        cli_run("export", what, "--format", "parquet", "--out", out, "-w", ws)
        assert_frame_equal(pl.read_parquet(out), frame)
        table = "invoices" if what == "invoices" else "line_items"
        out = folder / f"{table}.sql.parquet"
        cli_run("sql", f"FROM {table}", "--format", "parquet", "--out", out, "-w", ws)
        from_sql = pl.read_parquet(out).select(list(schemas[what])).cast(schemas[what])
        sort = ["invoice_id"] + (["line_number"] if what == "line-items" else [])
        assert_frame_equal(from_sql.sort(sort), frame.sort(sort))
        assert_frame_equal(workspace.sql(f"FROM {table}").select(from_sql.columns), from_sql)
        for fmt in ("csv", "json"):
            out = folder / f"{what}.{fmt}"
            cli_run("export", what, "--format", fmt, "--out", out, "-w", ws)
            want = [
                {k: as_text(v, k, row["currency"]) for k, v in row.items()}
                for row in frame.to_dicts()
            ]
            got = read_text_rows(out, fmt)
            if fmt == "csv":  # CSV is all text
                want = [{k: None if v is None else str(v) for k, v in r.items()} for r in want]
                want = [{k: ("true" if v == "True" else v) for k, v in r.items()} for r in want]
            assert got == want
        out = folder / f"{what}.html"
        cli_run("export", what, "--format", "html", "--out", out, "-w", ws)
        html = out.read_text(encoding="utf-8")
        with (folder / f"{what}.csv").open(encoding="utf-8", newline="") as handle:
            table = list(csv.reader(handle))
        if what == "line-items":  # a table of the CSV's text
            assert html_cells(html).rows == table
        else:  # a page per invoice: its lines (the line items' CSV text) and its total
            rows = html_cells(html).rows
            totals = [r for r in rows if r and r[0].startswith("Total (")]
            assert totals == [
                [f"Total ({r['currency']})", r["total"]] for r in csv.DictReader(table_lines(table))
            ]
            with (folder / "line-items.csv").open(encoding="utf-8", newline="") as handle:
                items = list(csv.DictReader(handle))
            assert sorted(r for r in rows if len(r) == 6 and r[0] != "Description") == sorted(
                [r["description"], r["group"], r["quantity"], r["billable_quantity"],
                 r["unit_amount"], r["amount"]]
                for r in items
            )  # fmt: skip
    for row in api["invoices"].head(3).to_dicts():
        shown = cli_run("invoice", "show", row["invoice_number"] or row["invoice_id"], "-w", ws)
        assert f"Total: {format_amount(row['total'], row['currency'])} {row['currency']}" in shown
        assert f"({row['status']}) {row['customer_id']} {row['plan']}" in " ".join(shown.split())
    out = folder / "usage.parquet"
    cli_run("usage", "--window", "month", "--format", "parquet", "--out", out, "-w", ws)
    assert_frame_equal(pl.read_parquet(out), workspace.usage(window="month"))


@settings(QUICK, max_examples=6)
@given(st.data())
def test_export_sql_show_and_the_api_hold_the_same_invoices(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    change = data.draw(moves(scenario))
    with tempfile.TemporaryDirectory() as folder:
        workspace = build(scenario, Path(folder), change)
        check_exports(workspace, Path(folder))
