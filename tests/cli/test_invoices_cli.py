"""Preview, usage, finalize --through and late events through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from meterbill.cli.main import cli


def run(*args: str | Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def example(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    run("init", ws, "--example", "openai-o1")
    return ws


def test_preview_then_run_gives_the_same_invoice(tmp_path: Path) -> None:
    ws = example(tmp_path)
    preview = run("invoice", "preview", "cust_acme", "--at", "2026-10-31T23:59:59Z", "-w", ws)
    assert "(preview) cust_acme openai_o1 2026-10-01 to 2026-11-01" in preview.stdout
    assert "Total: 202.50 USD" in preview.stdout
    assert run("sql", "SELECT count(*) AS n FROM invoices", "--format", "csv", "-w", ws).stdout == (
        "n\n0\n"
    )
    run("invoice", "run", "--through", "2026-11-01", "-w", ws)
    shown = run("invoice", "show", "in_7bae9be5834266d59a2fae7a", "-w", ws).stdout
    assert "Total: 202.50 USD" in shown
    partial = run("invoice", "preview", "cust_acme", "--at", "2026-10-20", "-w", ws)
    assert "Total: 187.50 USD" in partial.stdout
    assert "the last invoice run drafted this period: 202.50 USD" in partial.stderr


def test_preview_errors(tmp_path: Path) -> None:
    ws = example(tmp_path)
    result = run("invoice", "preview", "nobody", "-w", ws, ok=False)
    assert result.exit_code != 0 and result.stdout == ""
    assert result.stderr.strip() == "meterbill: error: no customer 'nobody'"
    result = run("invoice", "preview", "cust_acme", "--at", "2026-09-01", "-w", ws, ok=False)
    assert "no subscription active at 2026-09-01T00:00:00+00:00" in result.stderr


def test_usage_csv_and_json(tmp_path: Path) -> None:
    ws = example(tmp_path)
    out = run(
        "usage", "--customer", "cust_acme", "--meter", "o1_input_tokens",
        "--from", "2026-10-01", "--to", "2026-11-01", "--window", "month", "--format", "csv",
        "-w", ws,
    ).stdout  # fmt: skip
    assert out.splitlines() == [
        "customer_id,meter,group,window_start,window_end,quantity,events,invalid_events",
        "cust_acme,o1_input_tokens,,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,5000000,1200,0",
    ]
    rows = [
        json.loads(line)
        for line in run(
            "usage", "--window", "day", "--format", "json", "-w", ws
        ).stdout.splitlines()
    ]
    assert {r["meter"] for r in rows} == {
        "o1_input_tokens", "o1_output_tokens", "o1_cached_input_tokens",
    }  # fmt: skip
    october = [r for r in rows if r["meter"] == "o1_output_tokens"]
    assert sum(int(r["quantity"]) for r in october) == 2000000
    table = run("usage", "--window", "month", "-w", ws).stdout
    assert "o1_cached_input_tokens" in table and "1000000" in table
    bad = run("usage", "--meter", "nope", "-w", ws, ok=False)
    assert bad.exit_code == 2 and "unknown meter 'nope'" in bad.stderr


def test_finalize_through_and_late_events(tmp_path: Path) -> None:
    ws = example(tmp_path)
    run("invoice", "run", "--through", "2026-11-01", "-w", ws)
    assert run("invoice", "finalize", "--through", "2026-10-31", "-w", ws).stdout == (
        "finalized 0 invoices\n"
    )
    assert run("invoice", "finalize", "--through", "2026-11-01", "-w", ws).stdout == (
        "finalized 1 invoice\n"
    )
    late = tmp_path / "late.jsonl"
    late.write_text(
        json.dumps(
            {"event_id": "late-1", "event_name": "llm.usage", "customer_id": "cust_acme",
             "timestamp": "2026-10-15T00:00:00Z",
             "properties": {"model": "OpenAI O1", "prompt_type": "input", "tokens": 3000000}}
        )
        + "\n"
    )  # fmt: skip
    run("ingest", late, "-w", ws)
    result = run("invoice", "run", "--through", "2026-11-01", "-w", ws)
    assert (
        "warning: 1 late event in the periods of 1 finalized invoice, not billed" in result.stderr
    )
    view = run(
        "sql", "SELECT invoice_number, event_id FROM late_events", "--format", "csv", "-w", ws
    ).stdout
    assert view.splitlines() == ["invoice_number,event_id", "INV-000001,late-1"]
    total = run("sql", "SELECT total, currency FROM invoices", "--format", "csv", "-w", ws).stdout
    assert total.splitlines() == ["total,currency", "202.50,USD"]


def test_reruns_export_identical_bytes(tmp_path: Path) -> None:
    ws = example(tmp_path)
    outputs = []
    for attempt in range(2):
        run("invoice", "run", "--through", "2026-11-01", "-w", ws)
        files = {}
        for what in ("invoices", "line-items"):
            for fmt in ("csv", "json", "parquet"):
                path = tmp_path / f"{attempt}-{what}.{fmt}"
                run("export", what, "--format", fmt, "--out", path, "-w", ws)
                files[path.name[2:]] = path.read_bytes()
        outputs.append(files)
    assert outputs[0] == outputs[1]


def test_two_subscriptions_at_once_on_a_shared_meter_warn(tmp_path: Path) -> None:
    ws = example(tmp_path)
    (tmp_path / "more.csv").write_text(
        "subscription_id,customer_id,plan,start,end,billing_cycle\n"
        "sub_acme_o1_b,cust_acme,openai_o1,2026-10-15,2026-12-01,calendar\n"
    )
    run("subscriptions", "import", tmp_path / "more.csv", "-w", ws)
    result = run("invoice", "run", "--through", "2026-11-01", "-w", ws)
    assert result.stderr.splitlines()[-1] == (
        "warning: 1 pair of one customer's subscriptions at once price the same meters, so "
        "those events are billed on both: sub_acme_o1 and sub_acme_o1_b of cust_acme "
        "(o1_cached_input_tokens, o1_input_tokens, o1_output_tokens); see the shared_meters "
        "view (meterbill sql)"
    )
    shared = "SELECT meter, overlap_start, overlap_end FROM shared_meters ORDER BY 1"
    assert run("sql", shared, "--format", "csv", "-w", ws).stdout.splitlines() == [
        "meter,overlap_start,overlap_end",
        *(f"{m},2026-10-15T00:00:00Z,2026-12-01T00:00:00Z" for m in (
            "o1_cached_input_tokens", "o1_input_tokens", "o1_output_tokens")),
    ]  # fmt: skip
    sql = "SELECT subscription_id, period_start, currency, total FROM invoices ORDER BY 1"
    # the second subscription's first period (Oct 15 - Nov 1) bills those events again:
    # 2,715,169 input, 1,089,998 output and 561,343 cached tokens: 3 x 15 + 2 x 60 + 7.50
    assert run("sql", sql, "--format", "csv", "-w", ws).stdout.splitlines() == [
        "subscription_id,period_start,currency,total",
        "sub_acme_o1,2026-10-01T00:00:00Z,USD,202.50",
        "sub_acme_o1_b,2026-10-15T00:00:00Z,USD,172.50",
    ]
    # once those invoices are final, a run that bills nothing of the overlap is quiet
    run("invoice", "finalize", "-w", ws)
    again = run("invoice", "run", "--through", "2026-11-01", "-w", ws)
    assert "0 invoices" in again.stderr and "warning" not in again.stderr


def test_export_period_filters_are_each_customers_dates(tmp_path: Path) -> None:
    """``--from``/``--to`` dates are the customer's local midnights, as ``--through`` is:
    the March of a customer at UTC+14 starts Feb 28 10:00Z and ends Mar 31 10:00Z, at
    UTC-12 it runs from Mar 1 12:00Z to Apr 1 12:00Z; both are March invoices."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.base]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.base.prices]]\nmodel = "flat_fee"\namount = "10.00"\n'
    )
    (tmp_path / "c.csv").write_text(
        "customer_id,timezone\neast,Pacific/Kiritimati\nwest,Etc/GMT+12\nutc,UTC\n"
    )
    (tmp_path / "s.csv").write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        + "".join(f"s_{c},{c},base,2026-01-01,calendar\n" for c in ("east", "west", "utc"))
    )
    run("customers", "import", tmp_path / "c.csv", "-w", ws)
    run("subscriptions", "import", tmp_path / "s.csv", "-w", ws)
    run("invoice", "run", "--through", "2026-05-01", "-w", ws)

    def exported(*bounds: str) -> list[tuple[str, str]]:
        out = run(
            "export", "invoices", "--format", "csv", "--out", "-", *bounds, "-w", ws
        ).stdout.splitlines()[1:]
        return sorted((row.split(",")[3], row.split(",")[7]) for row in out)

    assert exported("--from", "2026-03-01", "--to", "2026-04-01") == [
        ("east", "2026-02-28T10:00:00Z"),
        ("utc", "2026-03-01T00:00:00Z"),
        ("west", "2026-03-01T12:00:00Z"),
    ]
    # a timestamp is that instant for every customer
    assert exported("--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z") == [
        ("utc", "2026-03-01T00:00:00Z")
    ]
    assert run(
        "export", "invoices", "--format", "csv", "--out", "-", "--to", "2026-04-01T00:00",
        "-w", ws, ok=False,
    ).stderr == "meterbill: error: --to: a timestamp needs an offset (like +00:00): '2026-04-01T00:00'\n"  # fmt: skip


def test_show_and_preview_title_the_period_in_the_customers_time_zone(tmp_path: Path) -> None:
    """Mar 15 to Apr 1 at UTC+14 is Mar 14 10:00Z to Mar 31 10:00Z: the title shows the
    customer's dates, with the zone, not the UTC instants cut to dates."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.base]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.base.prices]]\nmodel = "flat_fee"\namount = "31.00"\n'
    )
    (tmp_path / "c.csv").write_text("customer_id,timezone\neast,Pacific/Kiritimati\n")
    (tmp_path / "s.csv").write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        "cal,east,base,2026-03-15,calendar\nann,east,base,2026-03-15T06:30:00,anniversary\n"
    )
    run("customers", "import", tmp_path / "c.csv", "-w", ws)
    run("subscriptions", "import", tmp_path / "s.csv", "-w", ws)
    run("invoice", "run", "--through", "2026-04-01", "-w", ws)
    invoice_id = run(
        "sql", "SELECT invoice_id FROM invoices WHERE subscription_id = 'cal'", "--format", "csv",
        "-w", ws,
    ).stdout.splitlines()[1]  # fmt: skip
    shown = run("invoice", "show", invoice_id, "-w", ws).stdout
    assert "(draft) east base 2026-03-15 to 2026-04-01 (Pacific/Kiritimati)" in shown
    assert "Total: 17.00 USD" in shown
    # rich wraps a title to its table's width: compare words
    preview = " ".join(
        run("invoice", "preview", "east", "--at", "2026-04-20", "-w", ws).stdout.split()
    )
    assert "(preview) east base 2026-04-01 to 2026-05-01 (Pacific/Kiritimati)" in preview
    assert "(preview) east base 2026-04-15 06:30 to 2026-05-15 06:30 (Pacific/Kiritimati)" in (
        preview
    )


def test_a_reimported_subscription_leaves_no_stale_draft(tmp_path: Path) -> None:
    """Drafts of periods a subscription no longer has (another start, end or plan after
    an upsert) are removed by the next run, even beyond its ``--through``; finalized
    invoices stay. Otherwise the old March draft and the new one are both finalized."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.base]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.base.prices]]\nmodel = "flat_fee"\namount = "31.00"\n\n'
        '[plans.big]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.big.prices]]\nmodel = "flat_fee"\namount = "62.00"\n'
    )
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,end,billing_cycle\n"
        "a,c1,base,2026-01-01,,calendar\nb,c2,base,2026-03-10,,calendar\n"
    )
    run("subscriptions", "import", subs, "-w", ws)
    run("invoice", "run", "--through", "2026-02-01", "--finalize", "-w", ws)
    run("invoice", "run", "--through", "2026-06-01", "-w", ws)
    subs.write_text(
        "subscription_id,customer_id,plan,start,end,billing_cycle\n"
        "a,c1,big,2026-01-01,2026-04-16,calendar\nb,c2,base,2026-03-20,,calendar\n"
    )
    run("subscriptions", "import", subs, "-w", ws)
    result = run("invoice", "run", "--through", "2026-04-01", "-w", ws)
    assert "removed 3 drafts of periods their subscriptions no longer have" in result.stderr

    def invoices() -> list[str]:
        return run(
            "sql", "SELECT status, subscription_id, plan, period_start, period_end, total, currency"
            " FROM invoices ORDER BY subscription_id, period_start", "--format", "csv", "-w", ws,
        ).stdout.splitlines()[1:]  # fmt: skip

    assert invoices() == [
        "finalized,a,base,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z,31.00,USD",
        "draft,a,big,2026-02-01T00:00:00Z,2026-03-01T00:00:00Z,62.00,USD",
        "draft,a,big,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,62.00,USD",
        # beyond --through: the old plan's April and May drafts are gone
        "draft,b,base,2026-03-20T00:00:00Z,2026-04-01T00:00:00Z,12.00,USD",
        "draft,b,base,2026-04-01T00:00:00Z,2026-05-01T00:00:00Z,31.00,USD",
        "draft,b,base,2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,31.00,USD",
    ]
    run("invoice", "run", "--through", "2026-06-01", "-w", ws)
    assert invoices()[2:4] == [
        "draft,a,big,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,62.00,USD",
        "draft,a,big,2026-04-01T00:00:00Z,2026-04-16T00:00:00Z,31.00,USD",
    ]


def test_finalize_never_numbers_a_stale_draft(tmp_path: Path) -> None:
    """A subscription re-imported with a later start after the run: ``invoice finalize``
    removes the old period's draft instead of numbering it."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.base]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.base.prices]]\nmodel = "flat_fee"\namount = "31.00"\n'
    )
    subs = tmp_path / "s.csv"
    subs.write_text("subscription_id,customer_id,plan,start\ns,c,base,2026-03-01\n")
    run("subscriptions", "import", subs, "-w", ws)
    run("invoice", "run", "--through", "2026-05-01", "-w", ws)
    subs.write_text("subscription_id,customer_id,plan,start\ns,c,base,2026-04-01\n")
    run("subscriptions", "import", subs, "-w", ws)
    assert run("invoice", "finalize", "-w", ws).stdout == "finalized 1 invoice\n"
    assert run(
        "sql", "SELECT invoice_number, period_start FROM invoices", "--format", "csv", "-w", ws
    ).stdout.splitlines() == ["invoice_number,period_start", "INV-000001,2026-04-01T00:00:00Z"]


def test_periods_across_a_finalized_invoice_are_not_billed_twice(tmp_path: Path) -> None:
    """March is finalized; the subscription is re-imported to start Mar 15: its new first
    period (Mar 15 to Apr 1) lies inside the finalized March, so it is not billed (and
    the run says so); April on is billed as usual."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.base]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.base.prices]]\nmodel = "flat_fee"\namount = "31.00"\n'
    )
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\ns,c,base,2026-03-01,calendar\n"
    )
    run("subscriptions", "import", subs, "-w", ws)
    run("invoice", "run", "--through", "2026-04-01", "--finalize", "-w", ws)
    subs.write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\ns,c,base,2026-03-15,calendar\n"
    )
    run("subscriptions", "import", subs, "-w", ws)
    result = run("invoice", "run", "--through", "2026-05-01", "-w", ws)
    assert "warning: 1 period not billed: finalized invoices of its subscription cover" in (
        result.stderr
    )
    assert run(
        "sql", "SELECT invoice_number, period_start, total, currency FROM invoices"
        " ORDER BY period_start", "--format", "csv", "-w", ws,
    ).stdout.splitlines()[1:] == [
        "INV-000001,2026-03-01T00:00:00Z,31.00,USD",
        ",2026-04-01T00:00:00Z,31.00,USD",
    ]  # fmt: skip


def test_periods_start_where_the_finalized_history_ends(tmp_path: Path) -> None:
    """A customer moved from UTC to Tokyo after March was finalized: Tokyo's March lies
    within the finalized March (not billed, with a warning), Tokyo's April starts where
    the finalized March ends (Apr 1 00:00Z; 29 whole local days of 30); an anniversary
    start moved to Mar 15 bills Apr 1 to Apr 15 (14 of 31 days). ``invoice finalize``
    numbers these clipped drafts (they are their subscription's periods)."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.base]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.base.prices]]\nmodel = "flat_fee"\namount = "30.00"\n\n'
        '[plans.ann]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.ann.prices]]\nmodel = "flat_fee"\namount = "31.00"\n'
    )
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        "t,tokyo,base,2026-03-01,calendar\na,utc,ann,2026-03-01,anniversary\n"
    )
    run("subscriptions", "import", subs, "-w", ws)
    run("invoice", "run", "--through", "2026-04-01", "--finalize", "-w", ws)
    (tmp_path / "c.csv").write_text("customer_id,timezone\ntokyo,Asia/Tokyo\n")
    run("customers", "import", tmp_path / "c.csv", "-w", ws)
    subs.write_text("subscription_id,customer_id,plan,start\na,utc,ann,2026-03-15\n")
    run("subscriptions", "import", subs, "-w", ws)
    result = run("invoice", "run", "--through", "2026-05-16", "-w", ws)
    assert "warning: 1 period not billed" in result.stderr
    run("invoice", "finalize", "-w", ws)
    assert run(
        "sql", "SELECT invoice_number, subscription_id, period_start, period_end, total, currency"
        " FROM invoices ORDER BY subscription_id, period_start", "--format", "csv", "-w", ws,
    ).stdout.splitlines()[1:] == [
        "INV-000002,a,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,31.00,USD",
        "INV-000004,a,2026-04-01T00:00:00Z,2026-04-15T00:00:00Z,14.00,USD",
        "INV-000005,a,2026-04-15T00:00:00Z,2026-05-15T00:00:00Z,31.00,USD",
        "INV-000001,t,2026-03-01T00:00:00Z,2026-04-01T00:00:00Z,30.00,USD",
        "INV-000003,t,2026-04-01T00:00:00Z,2026-04-30T15:00:00Z,29.00,USD",
    ]  # fmt: skip


def test_preview_follows_the_finalized_history_and_the_warning_is_said_once(
    tmp_path: Path,
) -> None:
    """After March is finalized and the anniversary start moves to Mar 15: a preview in
    April shows the period the run bills (Apr 1 to Apr 15, 14 of 31 days), a preview in
    March shows the finalized invoice as billed; Tokyo's March (inside the finalized
    March) is skipped with a warning by the first run only; and ``invoice finalize``
    works after the plan left catalog.toml (it prices nothing)."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.ann]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.ann.prices]]\nmodel = "flat_fee"\namount = "31.00"\n'
    )
    subs = tmp_path / "s.csv"
    subs.write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        "a,utc,ann,2026-03-01,anniversary\nt,tokyo,ann,2026-03-01,calendar\n"
    )
    run("subscriptions", "import", subs, "-w", ws)
    run("invoice", "run", "--through", "2026-04-01", "--finalize", "-w", ws)
    subs.write_text("subscription_id,customer_id,plan,start\na,utc,ann,2026-03-15\n")
    run("subscriptions", "import", subs, "-w", ws)
    (tmp_path / "c.csv").write_text("customer_id,timezone\ntokyo,Asia/Tokyo\n")
    run("customers", "import", tmp_path / "c.csv", "-w", ws)

    preview = run("invoice", "preview", "utc", "--at", "2026-04-14T23:59:59.999999Z", "-w", ws)
    assert "(preview) utc ann 2026-04-01 to 2026-04-15 (UTC)" in " ".join(preview.stdout.split())
    assert "Total: 14.00 USD" in preview.stdout
    march = run("invoice", "preview", "utc", "--at", "2026-03-20", "-w", ws)
    assert "INV-000002 (finalized) utc ann 2026-03-01 to 2026-04-01" in " ".join(
        march.stdout.split()
    )
    assert "INV-000002 is finalized: that time is billed already" in march.stderr

    first = run("invoice", "run", "--through", "2026-04-16", "-w", ws)
    assert "warning: 1 period not billed" in first.stderr
    assert "warning" not in run("invoice", "run", "--through", "2026-04-16", "-w", ws).stderr
    assert run(
        "sql", "SELECT subscription_id, period_start FROM skipped_periods", "--format", "csv",
        "-w", ws,
    ).stdout.splitlines() == ["subscription_id,period_start", "t,2026-02-28T15:00:00Z"]  # fmt: skip

    (ws / "catalog.toml").write_text("[plans.ann\n")  # mid-edit: finalizing prices nothing
    assert run("invoice", "finalize", "-w", ws).stdout == "finalized 1 invoice\n"
    (ws / "catalog.toml").write_text("")  # the plan is gone; the invoices stay as priced
    assert run(
        "sql", "SELECT invoice_number, subscription_id, period_start, total, currency"
        " FROM invoices ORDER BY invoice_number", "--format", "csv", "-w", ws,
    ).stdout.splitlines()[1:] == [
        "INV-000001,t,2026-03-01T00:00:00Z,31.00,USD",
        "INV-000002,a,2026-03-01T00:00:00Z,31.00,USD",
        "INV-000003,a,2026-04-01T00:00:00Z,14.00,USD",
    ]  # fmt: skip


def test_finalize_removes_stale_drafts_without_the_catalog(tmp_path: Path) -> None:
    """A start moved after the run makes its drafts stale: ``invoice finalize`` removes
    them (never numbers them) with a catalog it cannot read, by the plan intervals the
    run and the import recorded."""
    ws = tmp_path / "ws"
    run("init", ws)
    (ws / "catalog.toml").write_text(
        '[plans.m]\ncurrency = "USD"\ninterval = "month"\n\n'
        '[[plans.m.prices]]\nmodel = "flat_fee"\namount = "30.00"\n'
    )
    subs = tmp_path / "s.csv"
    subs.write_text("subscription_id,customer_id,plan,start\ns,c,m,2026-03-01\nk,c,m,2026-03-01\n")
    run("subscriptions", "import", subs, "-w", ws)
    run("invoice", "run", "--through", "2026-05-01", "-w", ws)
    subs.write_text("subscription_id,customer_id,plan,start\ns,c,m,2026-03-10\n")
    run("subscriptions", "import", subs, "-w", ws)
    (ws / "catalog.toml").write_text("not toml [")
    assert run("invoice", "finalize", "-w", ws).stdout == "finalized 2 invoices\n"
    (ws / "catalog.toml").write_text("")
    assert run(
        "sql", "SELECT subscription_id, status, count(*) AS n FROM invoices GROUP BY ALL"
        " ORDER BY ALL", "--format", "csv", "-w", ws,
    ).stdout.splitlines()[1:] == ["k,finalized,2"]  # fmt: skip
