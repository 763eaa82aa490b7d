"""Every command through the real CLI on real files: outputs, exit codes, stdout vs stderr."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from meterbill.cli.main import cli
from tests.test_export import html_cells


def run(*args: str | Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_demo_prints_the_seed_invoice(tmp_path: Path) -> None:
    result = run("demo", tmp_path / "demo")
    assert "Total: 202.50 USD" in result.stdout
    for amount in ("75.00", "120.00", "7.50"):
        assert amount in result.stdout
    assert "5000000" in result.stdout and "2000000" in result.stdout and "1000000" in result.stdout


@pytest.fixture
def workspace(tmp_path: Path, example_dir: Path) -> Path:
    """A workspace set up step by step from the example's files."""
    ws = tmp_path / "ws"
    run("init", ws)
    shutil.copy(example_dir / "catalog.toml", ws / "catalog.toml")
    assert (
        "customers: 1 inserted, 0 updated"
        in run("customers", "import", example_dir / "customers.csv", "-w", ws).stdout
    )
    assert (
        "subscriptions: 1 inserted"
        in run("subscriptions", "import", example_dir / "subscriptions.csv", "-w", ws).stdout
    )
    return ws


def _split_example(example_dir: Path, tmp_path: Path) -> list[Path]:
    """The example's events as three files: JSON lines, CSV (properties.<key>) and Parquet."""
    records = [json.loads(line) for line in (example_dir / "events.jsonl").read_text().splitlines()]
    third = len(records) // 3
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records[:third]))
    csv_path = tmp_path / "b.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "event_id",
                "event_name",
                "customer_id",
                "timestamp",
                "properties.model",
                "properties.prompt_type",
                "properties.tokens",
            ]
        )
        for r in records[third : 2 * third]:
            p = r["properties"]
            writer.writerow(
                [
                    r["event_id"],
                    r["event_name"],
                    r["customer_id"],
                    r["timestamp"],
                    p["model"],
                    p["prompt_type"],
                    p["tokens"],
                ]
            )
    parquet = tmp_path / "c.parquet"
    rest = records[2 * third :]
    pl.DataFrame(
        {
            "event_id": [r["event_id"] for r in rest],
            "event_name": [r["event_name"] for r in rest],
            "customer_id": [r["customer_id"] for r in rest],
            "timestamp": [r["timestamp"] for r in rest],
            "properties": [r["properties"] for r in rest],
        }
    ).write_parquet(parquet)
    return [jsonl, csv_path, parquet]


def test_step_by_step_flow(workspace: Path, example_dir: Path, tmp_path: Path) -> None:
    files = _split_example(example_dir, tmp_path)
    out = run("ingest", *files, "-w", workspace).stdout
    assert "read 2550: accepted 2550, duplicates 0, rejected 0" in out
    again = run("ingest", files[0], "-w", workspace).stdout
    assert "accepted 0, duplicates 850, rejected 0" in again

    result = run("invoice", "run", "--through", "2026-11-01", "-w", workspace)
    assert "202.50" in result.stdout
    invoices = run(
        "sql", "SELECT invoice_id, total FROM invoices", "--format", "json", "-w", workspace
    ).stdout
    (row,) = [json.loads(line) for line in invoices.splitlines()]
    assert Decimal(row["total"]) == Decimal("202.50")

    shown = run("invoice", "show", row["invoice_id"], "-w", workspace).stdout
    assert "Total: 202.50 USD" in shown

    csv_out = tmp_path / "lines.csv"
    run("export", "line-items", "--format", "csv", "--out", csv_out, "-w", workspace)
    lines = list(csv.DictReader(csv_out.read_text(encoding="utf-8").splitlines()))
    assert [line["amount"] for line in lines] == ["75.00", "120.00", "7.50"]
    assert [Decimal(line["billable_quantity"]) for line in lines] == [5, 2, 1]
    assert [Decimal(line["quantity"]) for line in lines] == [5_000_000, 2_000_000, 1_000_000]
    assert (
        lines[0]["period_start"] == "2026-10-01T00:00:00Z"
        and lines[0]["period_end"] == "2026-11-01T00:00:00Z"
    )
    assert list(lines[0]) == [
        "invoice_id",
        "line_number",
        "customer_id",
        "subscription_id",
        "plan",
        "currency",
        "period_start",
        "period_end",
        "line_type",
        "meter",
        "group",
        "price_model",
        "quantity",
        "billable_quantity",
        "unit_amount",
        "amount",
        "description",
    ]

    parquet_out = tmp_path / "invoices.parquet"
    run("export", "invoices", "--format", "parquet", "--out", parquet_out, "-w", workspace)
    frame = pl.read_parquet(parquet_out)
    assert frame["total"].dtype == pl.Decimal(38, 4)
    assert frame["total"].item() == Decimal("202.50")

    json_out = tmp_path / "lines.jsonl"
    run("export", "line-items", "--format", "json", "--out", json_out, "-w", workspace)
    assert [json.loads(x)["amount"] for x in json_out.read_text().splitlines()] == [
        "75.00",
        "120.00",
        "7.50",
    ]

    explain = run("explain", "--raw", "-w", workspace).stdout
    assert "FROM lake_events" in explain and "'OpenAI O1'" in explain
    unknown = run("explain", "--plan", "nope", "-w", workspace, ok=False)
    assert unknown.exit_code == 2
    assert unknown.stderr == "meterbill: error: unknown plan 'nope'; known plans are openai_o1\n"


def test_html_export_prints_each_invoice_with_its_lines_escaped(
    workspace: Path, example_dir: Path, tmp_path: Path
) -> None:
    hostile = '<img src=x onerror=alert(1)> "Acme" & Co'
    (tmp_path / "c.csv").write_text(
        "customer_id,name,email,timezone\n"
        f'cust_acme,"{hostile.replace(chr(34), chr(34) * 2)}",ap@acme.example,UTC\n'
    )
    run("customers", "import", tmp_path / "c.csv", "-w", workspace)
    catalog = workspace / "catalog.toml"
    catalog.write_text(catalog.read_text().replace('"Input Tokens"', '"Input <Tokens>"'))
    run("ingest", example_dir / "events.jsonl", "-w", workspace)
    run("invoice", "run", "--through", "2026-11-01", "--finalize", "-w", workspace)

    result = run(
        "export", "invoices", "--format", "html", "--out", tmp_path / "i.html", "-w", workspace
    )
    assert result.stderr == f"wrote 1 invoice to {tmp_path / 'i.html'}\n"
    html = (tmp_path / "i.html").read_text(encoding="utf-8")
    assert "<img" not in html and "<Tokens>" not in html
    page = html_cells(html)
    (invoice_id,) = pl.read_csv(
        io.StringIO(
            run("export", "invoices", "--format", "csv", "--out", "-", "-w", workspace).stdout
        )
    )["invoice_id"]
    assert page.dds[:3] == [invoice_id, "finalized", f"cust_acme: {hostile} <ap@acme.example>"]
    assert "<h1>Invoice INV-000001</h1>" in html
    assert page.rows == [
        ["Description", "Group", "Quantity", "Billable quantity", "Unit amount", "Amount"],
        ["Input <Tokens>: 15.00 per 1000000", "", "5000000", "5", "15", "75.00"],
        ["Output Tokens: 60.00 per 1000000", "", "2000000", "2", "60", "120.00"],
        ["Cached Input Tokens: 7.50 per 1000000", "", "1000000", "1", "7.5", "7.50"],
        ["Subtotal", "202.50"],
        ["Total (USD)", "202.50"],
    ]
    lines = run("export", "line-items", "--format", "html", "--out", "-", "-w", workspace)
    table = html_cells(lines.stdout).rows
    assert table[0][:2] == ["invoice_id", "line_number"]
    assert [row[-2] for row in table[1:]] == ["75.00", "120.00", "7.50"]


def test_out_dash_writes_to_standard_output(workspace: Path, example_dir: Path) -> None:
    run("ingest", example_dir / "events.jsonl", "-w", workspace)
    run("invoice", "run", "--through", "2026-11-01", "-w", workspace)
    csv_out = run("export", "invoices", "--format", "csv", "--out", "-", "-w", workspace)
    assert csv_out.stdout.splitlines()[1].endswith(",202.50,202.50,3")
    assert "wrote" not in csv_out.stderr
    parquet = run("export", "line-items", "--format", "parquet", "--out", "-", "-w", workspace)
    frame = pl.read_parquet(io.BytesIO(parquet.stdout_bytes))
    assert frame["amount"].to_list() == [Decimal("75.00"), Decimal("120.00"), Decimal("7.50")]
    query = "SELECT count(*) AS n FROM line_items"
    sql_out = run("sql", query, "--format", "parquet", "--out", "-", "-w", workspace)
    assert pl.read_parquet(io.BytesIO(sql_out.stdout_bytes))["n"].to_list() == [3]
    refused = run("sql", query, "--format", "parquet", "-w", workspace, ok=False)
    assert refused.exit_code == 2 and "--out - for standard output" in refused.stderr
    totals = "SELECT meter, amount, currency FROM line_items ORDER BY line_number"
    html = run("sql", totals, "--format", "html", "-w", workspace).stdout
    assert html_cells(html).rows == [
        ["meter", "amount", "currency"],
        ["o1_input_tokens", "75.00", "USD"],
        ["o1_output_tokens", "120.00", "USD"],
        ["o1_cached_input_tokens", "7.50", "USD"],
    ]


def test_runs_are_idempotent_and_finalized_invoices_frozen(
    workspace: Path, example_dir: Path, tmp_path: Path
) -> None:
    run("ingest", example_dir / "events.jsonl", "-w", workspace)
    run("invoice", "run", "--through", "2026-11-01", "-w", workspace)
    first = tmp_path / "first.csv"
    run("export", "line-items", "--format", "csv", "--out", first, "-w", workspace)
    run("invoice", "run", "--through", "2026-11-01", "-w", workspace)
    second = tmp_path / "second.csv"
    run("export", "line-items", "--format", "csv", "--out", second, "-w", workspace)
    assert first.read_bytes() == second.read_bytes()

    assert "finalized 1 invoice" in run("invoice", "finalize", "-w", workspace).stdout
    late = tmp_path / "late.jsonl"
    late.write_text(
        json.dumps(
            {
                "event_id": "late-1",
                "event_name": "llm.usage",
                "customer_id": "cust_acme",
                "timestamp": "2026-10-15T00:00:00Z",
                "properties": {"model": "OpenAI O1", "prompt_type": "input", "tokens": 3000000},
            }
        )
        + "\n"
    )
    run("ingest", late, "-w", workspace)
    run("invoice", "run", "--through", "2026-11-01", "-w", workspace)
    out = run(
        "sql",
        "SELECT invoice_number, status, total, currency FROM invoices",
        "--format",
        "csv",
        "-w",
        workspace,
    ).stdout
    assert out.splitlines() == [
        "invoice_number,status,total,currency",
        "INV-000001,finalized,202.50,USD",
    ]


# -- errors: one line on stderr, the documented exit code, nothing on stdout ---------------


def assert_error(result: Result, code: int, fragment: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meterbill: error: "), result.stderr
    assert fragment in lines[0]


def test_demo_into_a_workspace_is_one_error_line(tmp_path: Path) -> None:
    run("init", tmp_path / "ws")
    assert_error(run("demo", tmp_path / "ws", ok=False), 2, "already holds a workspace")


def test_not_a_workspace(tmp_path: Path) -> None:
    assert_error(
        run("catalog", "check", "-w", tmp_path, ok=False), 2, "is not a meterbill workspace"
    )


def test_bad_catalog_lists_every_problem(workspace: Path) -> None:
    text = (workspace / "catalog.toml").read_text()
    text = text.replace(
        'package_size = 1000000\namount = "7.50"', 'package_size = 0\namount = "7.50"'
    )
    text = text.replace('meter = "o1_output_tokens"', 'meter = "o1_outptu_tokens"')
    (workspace / "catalog.toml").write_text(text)
    result = run("catalog", "check", "-w", workspace, ok=False)
    assert_error(
        result, 3, "2 problems: plans.openai_o1.prices[1].meter: unknown meter 'o1_outptu_tokens'"
    )
    assert "plans.openai_o1.prices[2].package_size: must be an integer >= 1" in result.stderr


def test_catalog_check_lists_meters_plans_and_prices(workspace: Path) -> None:
    """PRODUCT.md: "validates catalog.toml; lists meters, plans, prices"."""
    (workspace / "catalog.toml").write_text(
        (workspace / "catalog.toml").read_text()
        + '\n[plans.yearly]\nname = "Yearly"\ncurrency = "EUR"\ninterval = "year"\n'
        "interval_count = 2\n"
    )
    result = run("catalog", "check", "-w", workspace)
    assert "o1_cached_input_tokens" in result.stdout and "7.50 per 1000000" in result.stdout
    plan_rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│") and ("openai_o1" in line or "yearly" in line)
    ]
    assert ["openai_o1", "OpenAI O1", "USD", "month", "1", "3"] in plan_rows
    assert ["yearly", "Yearly", "EUR", "year", "2", "0"] in plan_rows
    assert "catalog ok: 3 meters, 2 plans, 3 prices" in result.stderr


def test_sql_is_read_only(workspace: Path) -> None:
    assert_error(
        run("sql", "DELETE FROM invoices", "-w", workspace, ok=False), 2, "only read-only queries"
    )
    assert_error(
        run("sql", "SELECT 1; DROP TABLE invoices", "-w", workspace, ok=False),
        2,
        "exactly one query",
    )
    assert_error(
        run("sql", "SELECT * FROM read_csv('/etc/passwd')", "-w", workspace, ok=False), 2, "sql:"
    )
    assert (
        run("sql", "SELECT count(*) AS n FROM customers", "--format", "csv", "-w", workspace).stdout
        == "n\n1\n"
    )


def test_unknown_plan_in_subscriptions_commits_nothing(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "subs.csv"
    bad.write_text(
        "subscription_id,customer_id,plan,start\ns2,c2,openai_o1,2026-10-01\ns3,c3,nope,2026-10-01\n"
    )
    assert_error(
        run("subscriptions", "import", bad, "-w", workspace, ok=False),
        5,
        "row 2: plan: unknown plan 'nope'",
    )
    assert (
        run(
            "sql", "SELECT count(*) AS n FROM subscriptions", "--format", "csv", "-w", workspace
        ).stdout
        == "n\n1\n"
    )


def test_bad_timezone_and_end_before_start(workspace: Path, tmp_path: Path) -> None:
    customers = tmp_path / "c.csv"
    customers.write_text("customer_id,timezone\nc9,Mars/Olympus\n")
    assert_error(
        run("customers", "import", customers, "-w", workspace, ok=False),
        5,
        "unknown time zone 'Mars/Olympus'",
    )
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,end\ns9,c9,openai_o1,2026-10-01,2026-09-01\n"
    )
    assert_error(
        run("subscriptions", "import", subs, "-w", workspace, ok=False),
        5,
        "end: must be after start",
    )
    subs.write_text(
        "subscription_id,customer_id,plan,start,end\n"
        "s9,c9,openai_o1,soon,\ns10,c9,openai_o1,2026-10-01,later\n"
    )
    assert_error(
        run("subscriptions", "import", subs, "-w", workspace, ok=False),
        5,
        "nothing imported: row 1: start: not a date or ISO 8601 timestamp: 'soon'; "
        "row 2: end: not a date or ISO 8601 timestamp: 'later'",
    )


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        ("customers", "customer_id,timezon\nc1,Europe/Berlin\n",
         "unknown column 'timezon' (the columns are customer_id, name, email, timezone)"),
        ("customers", "customer_id,name\nc1,A\nc2,B\nc1,C\n",
         "row 3: customer_id: 'c1' is also row 1 (one row per id)"),
        ("subscriptions",
         "subscription_id,customer_id,plan,start,billing_cyle\ns1,c1,openai_o1,2026-10-01,x\n",
         "unknown column 'billing_cyle'"),
        ("subscriptions",
         "subscription_id,customer_id,plan,start,name,timezone\ns1,c1,openai_o1,2026-10-01,A,UTC\n",
         "unknown columns 'name', 'timezone' (the columns are subscription_id,"),
        ("subscriptions",
         "subscription_id,customer_id,plan,start\ns1,c1,openai_o1,2026-10-01\n"
         "s1,c2,openai_o1,2026-09-01\n",
         "row 2: subscription_id: 's1' is also row 1 (one row per id)"),
    ],
)  # fmt: skip
def test_imports_refuse_unknown_columns_and_ids_given_twice(
    workspace: Path, tmp_path: Path, command: str, text: str, message: str
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    before = run("sql", f"SELECT count(*) AS n FROM {command}", "--format", "csv", "-w", workspace)
    assert_error(run(command, "import", path, "-w", workspace, ok=False), 5, message)
    after = run("sql", f"SELECT count(*) AS n FROM {command}", "--format", "csv", "-w", workspace)
    assert after.stdout == before.stdout  # nothing imported


def test_strict_ingest_commits_nothing(workspace: Path, tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"event_id": "x1", "event_name": "llm.usage", "customer_id": "c", "timestamp": "2026-10-01T00:00:00Z"}\n'
        "not json\n"
    )
    assert run("ingest", "--strict", events, "-w", workspace, ok=False).exit_code == 4
    assert (
        run("sql", "SELECT count(*) AS n FROM events", "--format", "csv", "-w", workspace).stdout
        == "n\n0\n"
    )
    out = run("ingest", events, "-w", workspace).stdout
    assert "read 2: accepted 1, duplicates 0, rejected 1" in out
    rejects = run(
        "sql", "SELECT record_number, raw FROM rejected_events", "--format", "csv", "-w", workspace
    ).stdout
    assert rejects.splitlines() == ["record_number,raw", "2,not json"]


def test_invoice_show_unknown(workspace: Path) -> None:
    assert_error(run("invoice", "show", "nope", "-w", workspace, ok=False), 2, "no invoice 'nope'")


def test_invoice_finalize_unknown(workspace: Path) -> None:
    assert_error(
        run("invoice", "finalize", "in_typo", "-w", workspace, ok=False), 2, "no invoice 'in_typo'"
    )


def test_through_must_be_a_date(workspace: Path) -> None:
    assert_error(
        run("invoice", "run", "--through", "soon", "-w", workspace, ok=False), 2, "--through"
    )


def test_init_creates_catalog_state_and_lake(tmp_path: Path) -> None:
    result = run("init", tmp_path / "acme")
    assert result.stderr == f"created workspace {tmp_path / 'acme'}\n"
    assert sorted(p.name for p in (tmp_path / "acme").iterdir() if not p.name.startswith(".")) == [
        "catalog.toml", "lake", "state.duckdb",
    ]  # fmt: skip
    assert (tmp_path / "acme" / "lake").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invoice", "run"], "Missing option '--through'. (see: cli invoice run --help)"),
        (["customers", "import"], "Missing argument 'FILE'. (see: cli customers import --help)"),
        (["--nope", "catalog", "check"], "No such option '--nope'. (see: cli --help)"),
        (["nosuch"], "No such command 'nosuch'. (see: cli --help)"),
        (["ingest", "e.jsonl", "--shape", "x"], "Invalid value for '--shape': 'x' is not one of"),
    ],
)
def test_bad_command_lines_are_one_error_line(args: list[str], message: str) -> None:
    assert_error(run(*args, ok=False), 2, message)


def test_w_before_the_command_names_its_workspace(workspace: Path) -> None:
    assert "METERBILL_WORKSPACE" not in os.environ
    out = run("-w", workspace, "sql", "SELECT count(*) AS n FROM customers", "--format", "csv")
    assert out.stdout == "n\n1\n"
    assert "METERBILL_WORKSPACE" not in os.environ  # put back after the command


def test_no_command_prints_help() -> None:
    result = run(ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: ") and "Commands:" in result.stderr


def test_version() -> None:
    assert run("--version").stdout.startswith("meterbill, version ")


def test_init_refuses_an_existing_workspace(workspace: Path) -> None:
    assert_error(run("init", workspace, ok=False), 2, "already holds a workspace")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["demo"],
        ["init"],
        ["catalog", "check"],
        ["customers", "import"],
        ["subscriptions", "import"],
        ["ingest"],
        ["invoice", "run"],
        ["invoice", "show"],
        ["invoice", "preview"],
        ["usage"],
        ["invoice", "finalize"],
        ["sql"],
        ["export"],
        ["explain"],
        ["bench"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.stdout.startswith("Usage: ")


@pytest.mark.parametrize(
    "target", ["state.duckdb", "catalog.toml", "meterbill.toml", ".lock", "lake/x.parquet"]
)
def test_out_never_overwrites_the_workspace(workspace: Path, target: str) -> None:
    """``sql``, ``usage`` and ``export`` cannot change the workspace through ``--out``."""
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    for args in (
        ["sql", "SELECT 1 AS x", "--format", "parquet"],
        ["usage", "--format", "csv"],
        ["export", "invoices", "--format", "csv"],
    ):
        result = run(*args, "--out", workspace / target, "-w", workspace, ok=False)
        assert result.exit_code == 2 and result.stderr.startswith(
            f"meterbill: error: --out {workspace / target}: "
        ), result.stderr
    assert {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()} == before
    # the workspace folder itself is fine for other files
    run("sql", "SELECT 1 AS x", "--format", "csv", "--out", workspace / "x.csv", "-w", workspace)
    assert (workspace / "x.csv").read_text() == "x\n1\n"


def test_ingest_a_folder_of_every_shape_and_format(workspace: Path, tmp_path: Path) -> None:
    """One folder: a native JSON line, a Flexprice gzip'd JSON line, CloudEvents CSV rows
    (``properties.<key>`` columns), Lago Parquet rows (``external_subscription_id``) and a
    Parquet file mixing shapes; Spark's ``_temporary/`` copy is left out."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "events"
    (folder / "_temporary").mkdir(parents=True)
    noon = "2026-10-02T12:00:00Z"
    native = {"event_id": "n1", "event_name": "llm.usage", "customer_id": "c1", "timestamp": noon}
    (folder / "a.jsonl").write_text(json.dumps({**native, "properties": {"tokens": 1}}) + "\n")
    (folder / "_temporary" / "a.jsonl").write_text(json.dumps(native) + "\n")
    flexprice = {**native, "event_id": "f1", "external_customer_id": "c2"}
    del flexprice["customer_id"]
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(json.dumps(flexprice).encode() + b"\n"))
    (folder / "c.csv").write_text(
        f"specversion,id,type,subject,time,properties.tokens\n1.0,ce1,llm.usage,c3,{noon},3\n"
    )
    lago = {
        "transaction_id": ["l1"],
        "code": ["llm.usage"],
        "external_subscription_id": ["sub_acme_o1"],
        "timestamp": pa.array([1790942400.5]),
        "properties": pa.array([{"tokens": 4}]),
    }
    pq.write_table(pa.table(lago), folder / "d.parquet")
    mixed = {
        "event_id": ["n2", None],
        "event_name": ["llm.usage", None],
        "customer_id": ["c5", None],
        "id": [None, "ce2"],
        "type": [None, "llm.usage"],
        "subject": [None, "c6"],
        "time": [None, noon],
        "timestamp": [noon, None],
        "properties.tokens": ["5", "6"],
    }
    pq.write_table(pa.table(mixed), folder / "e.parquet")
    out = run("ingest", folder, "-w", workspace).stdout
    assert "read 6: accepted 6, duplicates 0, rejected 0" in out
    rows = run(
        "sql",
        "SELECT event_id, customer_id, timestamp, p__tokens FROM events "
        "WHERE NOT starts_with(event_id, 'evt_') ORDER BY customer_id",
        "--format",
        "csv",
        "-w",
        workspace,
    ).stdout.splitlines()
    assert rows == [
        "event_id,customer_id,timestamp,p__tokens",
        f"n1,c1,{noon},1",
        f"f1,c2,{noon},",
        f"ce1,c3,{noon},3",
        f"n2,c5,{noon},5",
        f"ce2,c6,{noon},6",
        "l1,cust_acme,2026-10-02T12:00:00.500000Z,4",
    ]
