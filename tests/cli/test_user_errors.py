"""A user's mistakes through the real CLI: one ``meterbill: error:`` line on stderr, the
documented exit code, nothing on stdout, no traceback, and nothing half-written left.

Each case sets up a copy of the O1 example workspace, breaks one thing, runs one command.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from meterbill.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]

Setup = Callable[[Path, Path], None]
"""``setup(workspace, tmp)``: break the workspace or write input files under ``tmp``."""


def _nothing(_ws: Path, _tmp: Path) -> None:
    return None


def _write(name: str, text: str | bytes) -> Setup:
    """Write ``text`` to ``tmp/name`` (``ws/name`` for ``catalog.toml``)."""

    def setup(ws: Path, tmp: Path) -> None:
        target = ws / name if name == "catalog.toml" else tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")

    return setup


def _edit_catalog(old: str, new: str) -> Setup:
    def setup(ws: Path, _tmp: Path) -> None:
        path = ws / "catalog.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return setup


def _corrupt_state(ws: Path, _tmp: Path) -> None:
    (ws / "state.duckdb").write_bytes(b"not a database" * 400)
    for wal in ws.glob("state.duckdb.wal"):
        wal.unlink()


def _lock_is_a_folder(ws: Path, _tmp: Path) -> None:
    (ws / ".lock").unlink(missing_ok=True)
    (ws / ".lock").mkdir()


def _runs_is_a_file(ws: Path, _tmp: Path) -> None:
    shutil.rmtree(ws / "runs", ignore_errors=True)
    (ws / "runs").write_text("not a folder")


def _staging_is_a_file(ws: Path, _tmp: Path) -> None:
    shutil.rmtree(ws / "lake" / ".staging", ignore_errors=True)
    (ws / "lake" / ".staging").write_text("not a folder")


def _empty_folder(_ws: Path, tmp: Path) -> None:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "notes.md").write_text("no events here")


def _a_file(_ws: Path, tmp: Path) -> None:
    (tmp / "file").write_text("a file, not a folder")


def _damage_a_lake_file(ws: Path, _tmp: Path) -> None:
    sorted((ws / "lake" / "events").rglob("*.parquet"))[0].write_bytes(b"garbage")


SUBS_HEADER = "subscription_id,customer_id,plan,start\n"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # "{ws}" and "{tmp}" are replaced by the paths
    code: int
    fragment: str
    setup: Setup = _nothing


CASES = [
    # a state file that is not a DuckDB database: every command that opens it
    *[
        Case(
            f"corrupt state: {args[0]}", args, 2, "cannot open the workspace state:", _corrupt_state
        )
        for args in (
            ("invoice", "run", "--through", "2026-11-01", "-w", "{ws}"),
            ("sql", "SELECT 1", "-w", "{ws}"),
            ("ingest", str(ROOT / "data" / "openai-o1" / "events.jsonl"), "-w", "{ws}"),
            (
                "customers",
                "import",
                str(ROOT / "data" / "openai-o1" / "customers.csv"),
                "-w",
                "{ws}",
            ),
            ("export", "invoices", "--format", "csv", "--out", "{tmp}/out.csv", "-w", "{ws}"),
        )
    ],
    *[
        Case(
            f"lock not openable: {args[0]}",
            args,
            2,
            "cannot lock the workspace (",
            _lock_is_a_folder,
        )
        for args in (
            ("sql", "SELECT 1", "-w", "{ws}"),
            ("ingest", str(ROOT / "data" / "openai-o1" / "events.jsonl"), "-w", "{ws}"),
        )
    ],
    # catalog.toml
    Case(
        "catalog not UTF-8",
        ("catalog", "check", "-w", "{ws}"),
        3,
        "1 problem: not UTF-8 text:",
        _write("catalog.toml", b"\xff\xfe garbage"),
    ),
    Case(
        "amount 1e400",
        ("catalog", "check", "-w", "{ws}"),
        3,
        "plans.openai_o1.prices[0].amount: is too large (at most 26 digits before the point)",
        _edit_catalog('amount = "15.00"', 'amount = "1e400"'),
    ),
    Case(
        "amount 1e30 refused before the invoice run",
        ("invoice", "run", "--through", "2026-11-01", "-w", "{ws}"),
        3,
        "plans.openai_o1.prices[0].amount: is too large",
        _edit_catalog('amount = "15.00"', 'amount = "1e30"'),
    ),
    Case(
        "interval_count huge",
        ("invoice", "run", "--through", "2026-11-01", "-w", "{ws}"),
        3,
        "plans.openai_o1.interval_count: must be an integer from 1 to 1000",
        _edit_catalog('interval = "month"', 'interval = "month"\ninterval_count = 100000000000'),
    ),
    Case(
        "interval_count 0 in catalog words",
        ("catalog", "check", "-w", "{ws}"),
        3,
        "1 problem: plans.openai_o1.interval_count: must be an integer from 1 to 1000",
        _edit_catalog('interval = "month"', 'interval = "month"\ninterval_count = 0'),
    ),
    Case(
        "a meter's field rule beside its own field problem",
        ("catalog", "check", "-w", "{ws}"),
        3,
        "2 problems: meters.o1_input_tokens.event_name: must not be empty or only whitespace; "
        "meters.o1_input_tokens.field: not used by aggregation 'count'",
        _edit_catalog(
            'event_name = "llm.usage"\naggregation = "sum"',
            'event_name = " "\naggregation = "count"',
        ),
    ),
    Case(
        "a flat fee's meter is one problem",
        ("catalog", "check", "-w", "{ws}"),
        3,
        ": 1 problem: plans.openai_o1.prices[3].meter: unknown key",
        _edit_catalog(
            'amount = "7.50"\n',
            'amount = "7.50"\n\n[[plans.openai_o1.prices]]\nmodel = "flat_fee"\n'
            'amount = "1"\nmeter = "seats"\n',
        ),
    ),
    Case(
        "sql on a catalog view while the catalog is invalid",
        ("sql", "SELECT meter FROM meters", "-w", "{ws}"),
        3,
        "sql: meters reads catalog.toml, which is invalid: plans.openai_o1.prices[0].amount: "
        "is too large",
        _edit_catalog('amount = "15.00"', 'amount = "1e30"'),
    ),
    Case(
        "invoice run cannot write its SQL",
        ("invoice", "run", "--through", "2026-11-01", "-w", "{ws}"),
        2,
        "cannot write the run's SQL to {ws}/runs/",
        _runs_is_a_file,
    ),
    # subscriptions
    Case(
        "start overflows UTC",
        ("subscriptions", "import", "{tmp}/subs.csv", "-w", "{ws}"),
        5,
        "row 1: start: out of the supported range of dates: '9999-12-31T23:00:00-05:00'",
        _write("subs.csv", SUBS_HEADER + "s9,c9,openai_o1,9999-12-31T23:00:00-05:00\n"),
    ),
    Case(
        "bad start date names its column",
        ("subscriptions", "import", "{tmp}/subs.csv", "-w", "{ws}"),
        5,
        "row 1: start: not a date or ISO 8601 timestamp: '2026-13-01'",
        _write("subs.csv", SUBS_HEADER + "s9,c9,openai_o1,2026-13-01\n"),
    ),
    Case(
        "bad end date names its column",
        ("subscriptions", "import", "{tmp}/subs.csv", "-w", "{ws}"),
        5,
        "row 1: end: not a date or ISO 8601 timestamp: 'soon'",
        _write(
            "subs.csv",
            "subscription_id,customer_id,plan,start,end\ns9,c9,openai_o1,2026-10-01,soon\n",
        ),
    ),
    # dates and options
    Case(
        "--through overflows UTC",
        ("invoice", "run", "--through", "0001-01-01T00:00:00+05:00", "-w", "{ws}"),
        2,
        "--through: out of the supported range of dates",
    ),
    Case(
        "--through in the future",
        ("invoice", "run", "--through", "2400-01-01", "-w", "{ws}"),
        2,
        "--through 2400-01-01: in the future; a period is billed once it has ended"
        " (meterbill invoice preview CUSTOMER prices the one in progress)",
    ),
    Case(
        "--at overflows UTC",
        ("invoice", "preview", "cust_acme", "--at", "0001-01-01T00:00:00+05:00", "-w", "{ws}"),
        2,
        "--at: out of the supported range of dates",
    ),
    Case(
        "usage --to before --from",
        ("usage", "--from", "2026-12-01", "--to", "2026-11-01", "-w", "{ws}"),
        2,
        "--to (2026-11-01) is before --from (2026-12-01)",
    ),
    *[
        Case(
            f"export {what} --to before --from",
            (
                "export",
                what,
                "--format",
                "csv",
                "--out",
                "{tmp}/o.csv",
                "--from",
                "2026-12-01",
                "--to",
                "2026-11-01",
                "-w",
                "{ws}",
            ),
            2,
            "--to (2026-11-01) is before --from (2026-12-01)",
        )
        for what in ("invoices", "line-items")
    ],
    Case(
        "export --from empty",
        (
            "export",
            "invoices",
            "--format",
            "csv",
            "--out",
            "{tmp}/o.csv",
            "--from",
            "",
            "-w",
            "{ws}",
        ),
        2,
        "--from: not a date",
    ),
    Case(
        "export --to names its option",
        (
            "export",
            "invoices",
            "--format",
            "csv",
            "--out",
            "{tmp}/o.csv",
            "--to",
            "2026-13-01",
            "-w",
            "{ws}",
        ),
        2,
        "--to: not a date (2026-11-01) or a timestamp with offset: '2026-13-01'",
    ),
    Case(
        "finalize an unknown invoice",
        ("invoice", "finalize", "in_nope", "-w", "{ws}"),
        2,
        "no invoice 'in_nope'",
    ),
    # export and sql --out
    Case(
        "export under a file",
        ("export", "invoices", "--format", "csv", "--out", "{tmp}/file/o.csv", "-w", "{ws}"),
        8,
        "cannot write {tmp}/file/o.csv: a parent of it is a file, not a folder",
        _a_file,
    ),
    Case(
        "sql --out under a file",
        ("sql", "SELECT 1", "--format", "parquet", "--out", "{tmp}/file/o.parquet", "-w", "{ws}"),
        8,
        "a parent of it is a file, not a folder",
        _a_file,
    ),
    # ingest paths
    Case("ingest an empty path", ("ingest", "", "-w", "{ws}"), 4, "an empty path names no file"),
    Case(
        "ingest a missing file",
        ("ingest", "{tmp}/missing.jsonl", "-w", "{ws}"),
        4,
        "no such file or folder: {tmp}/missing.jsonl",
    ),
    Case(
        "ingest an empty glob",
        ("ingest", "{tmp}/*.jsonl", "-w", "{ws}"),
        4,
        "no event files match {tmp}/*.jsonl (looked for .csv,",
    ),
    Case(
        "ingest a folder without event files",
        ("ingest", "{tmp}/empty", "-w", "{ws}"),
        4,
        "no event files in the folder {tmp}/empty (looked for .csv,",
        _empty_folder,
    ),
    Case(
        "ingest a corrupt gzip",
        ("ingest", "{tmp}/bad.jsonl.gz", "-w", "{ws}"),
        4,
        "cannot read {tmp}/bad.jsonl.gz:",
        _write("bad.jsonl.gz", b"\x1f\x8b\x08\x00garbage"),
    ),
    Case(
        "ingest into a lake with a damaged file",
        ("ingest", str(ROOT / "data" / "openai-o1" / "events.jsonl"), "-w", "{ws}"),
        4,
        "cannot read the lake's event ids: Invalid Input Error: File",
        _damage_a_lake_file,
    ),
    Case(
        "ingest cannot create its staging folder",
        ("ingest", str(ROOT / "data" / "openai-o1" / "events.jsonl"), "-w", "{ws}"),
        4,
        "cannot create {ws}/lake/.staging/",
        _staging_is_a_file,
    ),
    # init
    Case(
        "init under a file",
        ("init", "{tmp}/file/ws"),
        2,
        "cannot create {tmp}/file/ws: Not a directory",
        _a_file,
    ),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The O1 example workspace, made once and copied per case."""
    ws = tmp_path_factory.mktemp("template") / "ws"
    result = CliRunner().invoke(cli, ["init", str(ws), "--example", "openai-o1"])
    assert result.exit_code == 0, result.output
    return ws


@pytest.fixture
def workspace(template: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    return ws


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_mistake_is_one_line_and_its_exit_code(
    case: Case, workspace: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "in"
    tmp.mkdir()
    case.setup(workspace, tmp)
    before = _listing(tmp_path)
    args = [a.replace("{ws}", str(workspace)).replace("{tmp}", str(tmp)) for a in case.args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == case.code, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    # progress lines (``computing billing periods``) may come first; the error is one line
    *progress, line = result.stderr.splitlines()
    assert line.startswith("meterbill: error: "), result.stderr
    assert not [p for p in progress if p.startswith("meterbill") or "Traceback" in p]
    assert case.fragment.replace("{tmp}", str(tmp)).replace("{ws}", str(workspace)) in line
    # nothing new outside the workspace's own bookkeeping (its lock and state files)
    leftovers = {p for p in _listing(tmp_path) - before if not p.startswith("ws/")}
    assert leftovers == set()


def test_a_subscription_that_starts_in_year_9999_breaks_no_run(
    workspace: Path, tmp_path: Path
) -> None:
    subs = tmp_path / "subs.csv"
    subs.write_text(SUBS_HEADER + "s9999,c9999,openai_o1,9999-12-01\n", encoding="utf-8")
    assert (
        CliRunner()
        .invoke(cli, ["subscriptions", "import", str(subs), "-w", str(workspace)])
        .exit_code
        == 0
    )
    result = CliRunner().invoke(
        cli, ["invoice", "run", "--through", "2026-11-01", "-w", str(workspace)]
    )
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "1 invoice;" in result.stderr  # the example's; the year-9999 period never ends
    result = CliRunner().invoke(
        cli, ["invoice", "preview", "c9999", "--at", "9999-12-15", "-w", str(workspace)]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("meterbill: error: customer 'c9999' has no subscription active")


def test_finalizing_an_unknown_id_finalizes_nothing(workspace: Path) -> None:
    ws = str(workspace)
    assert (
        CliRunner().invoke(cli, ["invoice", "run", "--through", "2026-11-01", "-w", ws]).exit_code
        == 0
    )
    draft = (
        CliRunner()
        .invoke(cli, ["sql", "SELECT invoice_id FROM invoices", "--format", "csv", "-w", ws])
        .stdout.splitlines()[1]
    )
    result = CliRunner().invoke(cli, ["invoice", "finalize", draft, "in_typo", "-w", ws])
    assert result.exit_code == 2
    assert result.stderr == "meterbill: error: no invoice 'in_typo'; nothing was finalized\n"
    status = CliRunner().invoke(
        cli, ["sql", "SELECT status FROM invoices", "--format", "csv", "-w", ws]
    )
    assert status.stdout.splitlines() == ["status", "draft"]


@pytest.mark.parametrize("command", [["init", ""], ["demo", ""]])
def test_an_empty_folder_argument_is_refused(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "an empty path names no folder" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no workspace in the current folder


def test_a_state_held_by_another_process_is_one_line(workspace: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " sys.stdin.read()",
            str(workspace / "state.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        result = CliRunner().invoke(cli, ["sql", "SELECT 1", "-w", str(workspace)])
    finally:
        holder.communicate("")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "meterbill: error: cannot open the workspace state: Could not set lock"
    )


def test_sql_refusal_has_no_parser_warning(workspace: Path) -> None:
    """sqlglot warns on a statement it parses as a bare Command; the user sees one line."""
    result = subprocess.run(
        [sys.executable, "-m", "meterbill", "sql", "LOAD httpfs", "-w", str(workspace)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "meterbill: error: sql: only read-only queries (SELECT, WITH, ...) are allowed\n"
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["invoice", "run"], "Missing option '--through'. (see: meterbill invoice run --help)"),
        (["invoice", "run", "--thru", "2026-11-01"], "No such option '--thru'. Did you mean"),
        (["nope"], "No such command 'nope'. (see: meterbill --help)"),
        (["invoice", "nope"], "No such command 'nope'. (see: meterbill invoice --help)"),
        (["usage", "--window", "year"], "Invalid value for '--window': 'year' is not one of"),
        (["init"], "Missing argument 'DIRECTORY'."),
        (["init", ""], "Invalid value for 'DIRECTORY': an empty path names no folder"),
        (["catalog", "check", "-w", ""], "'--workspace': an empty path names no folder"),
        (["-w", "", "catalog", "check"], "'--workspace': an empty path names no folder"),
    ],
)
def test_a_bad_command_line_is_one_line(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(cli, args, prog_name="meterbill")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meterbill: error: "), result.stderr
    assert fragment in lines[0]


@pytest.mark.parametrize("args", [["invoice"], ["invoice", "--help"], ["--help"]])
def test_help_is_still_the_usage_block(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, prog_name="meterbill")
    assert result.output.startswith("Usage: meterbill")


@pytest.mark.parametrize(
    ("catalog", "summary"),
    [
        ("", "catalog ok: 0 meters, 0 plans, 0 prices"),
        (
            '[plans.p]\ncurrency = "USD"\ninterval = "month"\n',
            "catalog ok: 0 meters, 1 plan, 0 prices",
        ),
    ],
)
def test_catalog_check_counts_plans_without_prices(
    catalog: str, summary: str, workspace: Path
) -> None:
    (workspace / "catalog.toml").write_text(catalog, encoding="utf-8")
    result = CliRunner().invoke(cli, ["catalog", "check", "-w", str(workspace)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == summary
