"""Kill ``meterbill`` commands with SIGKILL at random moments, and race them, many times.

Not part of the test suite (each round starts real processes; a loop of them takes
minutes): the suite holds one fast, deterministic test per bug this loop found
(tests/test_workspace_processes.py, tests/test_creation.py). Run it from a checkout:

    PYTHONPATH=src:. python tests/crash_loop.py --rounds 10 [--only ingest,run]

Every scenario starts from a copy of one base workspace (the O1 example plus 40
customers, their subscriptions and ~20k events, with drafts through November).

- kill: the command is started through the real CLI and killed after a random delay.
  The workspace must then be exactly as before the command or exactly as after one clean
  run of it (a commit either happened or did not); running the command again must give
  exactly what one clean run gives.
- race: two commands start at once. Their outcome must be one of the two serial orders;
  a read-only command must exit 0 without a traceback and print one of the states.

A fingerprint is what a user can see: customers, subscriptions, the lake's event ids,
invoices (ids, numbers, status, amounts) and line items; never run ids or clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from meterbill import Workspace

PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
THROUGH = "2026-11-01"


def cli(*args: str | Path) -> subprocess.Popen[str]:
    """Start ``meterbill ARGS`` (not waited for)."""
    return subprocess.Popen(
        [PYTHON, "-m", "meterbill", *map(str, args)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(*args: str | Path) -> str:
    """Run ``meterbill ARGS`` to completion; its stdout (fails loudly on an error)."""
    process = cli(*args)
    out, err = process.communicate(timeout=300)
    if process.returncode != 0 or "Traceback" in err:
        raise AssertionError(f"meterbill {' '.join(map(str, args))}: {process.returncode}\n{err}")
    return out


def fingerprint(root: Path) -> dict[str, Any]:
    """What a user can see of a workspace, without run ids and clock times."""
    ws = Workspace(root)
    query = ws.sql

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(map(str, row)) for row in query(sql).rows()]

    return {
        "customers": rows("SELECT * FROM customers ORDER BY ALL"),
        "subscriptions": rows("SELECT * FROM subscriptions ORDER BY ALL"),
        "events": rows(
            "SELECT count(*), count(DISTINCT event_id), sum(hash(event_id)) FROM events"
        ),
        "invoices": rows(
            "SELECT invoice_id, invoice_number, status, subtotal, total, line_count"
            " FROM invoices ORDER BY ALL"
        ),
        "lines": rows(
            "SELECT invoice_id, line_number, quantity, billable_quantity, amount"
            " FROM line_items ORDER BY ALL"
        ),
    }


def build_base(folder: Path) -> dict[str, Path]:
    """The base workspace and the input files the scenarios use."""
    rng = random.Random(7)
    root = folder / "base"
    run("init", root, "--example", "openai-o1")
    customers = [f"c{i:02d}" for i in range(40)]
    (folder / "customers.csv").write_text(
        "customer_id,name,email,timezone\n"
        + "".join(f"{c},Name {c},{c}@x.example,Europe/Paris\n" for c in customers[:20])
    )
    (folder / "customers2.csv").write_text(
        "customer_id,name,email,timezone\n"
        + "".join(f"{c},Renamed {c},{c}@y.example,America/New_York\n" for c in customers)
    )
    (folder / "subs.csv").write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        + "".join(f"s_{c},{c},openai_o1,2026-09-15,anniversary\n" for c in customers[:20])
    )
    (folder / "subs2.csv").write_text(
        "subscription_id,customer_id,plan,start,billing_cycle\n"
        + "".join(f"s_{c},{c},openai_o1,2026-09-01,calendar\n" for c in customers)
    )
    start = datetime(2026, 9, 1, tzinfo=UTC)

    def events(name: str, count: int, prefix: str) -> Path:
        path = folder / name
        with path.open("w") as out:
            for i in range(count):
                moment = start + timedelta(seconds=rng.randrange(61 * 86400))
                record = {
                    "event_id": f"{prefix}{i}",
                    "event_name": "llm.usage",
                    "customer_id": rng.choice(customers),
                    "timestamp": moment.isoformat().replace("+00:00", "Z"),
                    "properties": {
                        "model": "OpenAI O1",
                        "prompt_type": rng.choice(["input", "output", "cached_input"]),
                        "tokens": rng.randrange(1, 50000),
                    },
                }
                out.write(json.dumps(record) + "\n")
        return path

    first, more = events("first.jsonl", 20000, "a"), events("more.jsonl", 20000, "b")
    run("customers", "import", folder / "customers.csv", "-w", root)
    run("subscriptions", "import", folder / "subs.csv", "-w", root)
    run("ingest", first, "-w", root)
    run("invoice", "run", "--through", "2026-10-20", "-w", root)  # drafts Sep 15 - Oct 15
    return {"base": root, "more": more, "first": first, "folder": folder}


def copy(base: Path, target: Path) -> Path:
    """A fresh copy of a workspace (paths in its state are relative to it)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target)
    return target


# -- kill scenarios ------------------------------------------------------------------------


def kill_commands(files: dict[str, Path]) -> dict[str, list[str | Path]]:
    """The writing commands, each as the arguments after ``meterbill`` (``WS`` the
    workspace)."""
    folder = files["folder"]
    return {
        "ingest": ["ingest", files["more"], "-w", "WS"],
        "customers": ["customers", "import", folder / "customers2.csv", "-w", "WS"],
        "subscriptions": ["subscriptions", "import", folder / "subs2.csv", "-w", "WS"],
        "run": ["invoice", "run", "--through", THROUGH, "-w", "WS"],
        "run-finalize": ["invoice", "run", "--through", THROUGH, "--finalize", "-w", "WS"],
        "finalize": ["invoice", "finalize", "-w", "WS"],
    }


def kill_round(
    name: str, args: list[str | Path], base: Path, work: Path, rng: random.Random
) -> str:
    """One kill of one command; returns what happened (raises on a broken contract)."""
    clean = copy(base, work / "clean")
    bound = [clean if a == "WS" else a for a in args]
    started = time.monotonic()
    run(*bound)
    took = time.monotonic() - started
    before, after = fingerprint(base), fingerprint(clean)
    ws = copy(base, work / "killed")
    process = cli(*[ws if a == "WS" else a for a in args])
    # half the kills anywhere, half in the last quarter (the commit and the checkpoint)
    time.sleep(rng.uniform(0.1, took) if rng.random() < 0.5 else rng.uniform(took * 0.75, took))
    os.kill(process.pid, signal.SIGKILL)
    _, err = process.communicate()
    if "Traceback" in err:
        raise AssertionError(f"{name}: traceback before the kill\n{err}")
    seen = fingerprint(ws)
    if seen not in (before, after):
        raise AssertionError(f"{name}: after the kill, a state that is neither before nor after")
    outcome = "committed" if seen == after and before != after else "rolled back"
    run(*[ws if a == "WS" else a for a in args])
    if fingerprint(ws) != after:
        raise AssertionError(f"{name}: killed then rerun differs from one clean run")
    return outcome


def kill_export(files: dict[str, Path], work: Path, rng: random.Random) -> str:
    """A killed export leaves --out absent or complete, never half written."""
    ws = files["base"]
    out = work / "export.csv"
    out.unlink(missing_ok=True)
    run("export", "line-items", "--format", "csv", "--out", out, "-w", ws)
    expected = out.read_bytes()
    out.unlink()
    process = cli("export", "line-items", "--format", "csv", "--out", out, "-w", ws)
    time.sleep(rng.uniform(0.1, 1.5))
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    if out.exists() and out.read_bytes() != expected:
        raise AssertionError("export: a killed export left a partial file at --out")
    return "complete" if out.exists() else "absent"


def kill_init(work: Path, rng: random.Random) -> str:
    """A killed init: the next init makes the workspace one clean init makes."""
    clean = work / "init-clean"
    shutil.rmtree(clean, ignore_errors=True)
    run("init", clean, "--example", "openai-o1")
    target = work / "init-killed"
    shutil.rmtree(target, ignore_errors=True)
    process = cli("init", target, "--example", "openai-o1")
    time.sleep(rng.uniform(0.1, 1.2))
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    again = cli("init", target, "--example", "openai-o1")
    _, err = again.communicate()
    if again.returncode != 0:
        if "already holds a workspace" not in err or fingerprint(target) != fingerprint(clean):
            raise AssertionError(f"init: after a kill, init fails: {err}")
        return "committed"
    if fingerprint(target) != fingerprint(clean):
        raise AssertionError("init: killed then rerun differs from one clean init")
    return "rolled back"


# -- races ---------------------------------------------------------------------------------


def race(
    first: list[str | Path], second: list[str | Path], rng: random.Random
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """Start two commands a random few milliseconds apart; their (code, out, err)."""
    a = cli(*first)
    time.sleep(rng.uniform(0, 0.6))
    b = cli(*second)
    results = []
    for process in (a, b):
        out, err = process.communicate(timeout=300)
        results.append((process.returncode, out, err))
    return results[0], results[1]


def race_round(name: str, files: dict[str, Path], work: Path, rng: random.Random) -> str:
    """One race; the outcome must be one of the serial orders."""
    base = files["base"]
    ingest = ["ingest", files["more"], "-w", "WS"]
    run_ = ["invoice", "run", "--through", THROUGH, "-w", "WS"]
    run_final = ["invoice", "run", "--through", THROUGH, "--finalize", "-w", "WS"]
    finalize = ["invoice", "finalize", "-w", "WS"]
    sql = [
        "sql",
        "SELECT count(*) AS n, sum(total) AS t FROM invoices",
        "--format",
        "csv",
        "-w",
        "WS",
    ]
    events = ["sql", "SELECT count(*) AS n FROM events", "--format", "csv", "-w", "WS"]
    usage = ["usage", "--window", "month", "--format", "csv", "-w", "WS"]
    export = ["export", "invoices", "--format", "csv", "--out", "-", "-w", "WS"]
    pairs: dict[str, tuple[list[Any], list[Any]]] = {
        "ingest+run": (ingest, run_),
        "run+ingest": (run_, ingest),
        "run+run": (run_final, run_final),
        "finalize+run": (finalize, [*ingest, "&&", *run_]),  # run after an ingest: drafts move
        "ingest+sql": (ingest, events),
        "run+sql": (["ingest", files["more"], "-w", "WS", "&&", *run_], sql),
        "ingest+usage": (ingest, usage),
        "run+export": (["ingest", files["more"], "-w", "WS", "&&", *run_], export),
    }
    first, second = pairs[name]
    return _race(name, first, second, base, work, rng)


def _split(args: list[Any]) -> list[list[Any]]:
    steps, step = [], []
    for arg in args:
        if arg == "&&":
            steps.append(step)
            step = []
        else:
            step.append(arg)
    return [*steps, step]


def _serial(
    base: Path, target: Path, commands: list[list[Any]]
) -> tuple[dict[str, Any], list[str]]:
    ws = copy(base, target)
    outs = [run(*[ws if a == "WS" else a for a in command]) for command in commands]
    return fingerprint(ws), outs


def _race(
    name: str, first: list[Any], second: list[Any], base: Path, work: Path, rng: random.Random
) -> str:
    one, two = _split(first), _split(second)
    # a multi-step side: its earlier steps run before the race (as setup), the last races
    setup = [*one[:-1], *two[:-1]]
    racing = (one[-1], two[-1])
    a_then_b, a_outs = _serial(base, work / "ab", [*setup, racing[0], racing[1]])
    b_then_a, b_outs = _serial(base, work / "ba", [*setup, racing[1], racing[0]])
    ws = copy(base, work / "race")
    for command in setup:
        run(*[ws if a == "WS" else a for a in command])
    (code_a, _, err_a), (code_b, out_b, err_b) = race(
        [ws if a == "WS" else a for a in racing[0]],
        [ws if a == "WS" else a for a in racing[1]],
        rng,
    )
    for code, err in ((code_a, err_a), (code_b, err_b)):
        if code != 0 or "Traceback" in err:
            raise AssertionError(f"{name}: exit {code}\n{err}")
    seen = fingerprint(ws)
    if seen not in (a_then_b, b_then_a):
        raise AssertionError(f"{name}: the outcome is neither serial order")
    if {racing[0][0], racing[1][0]} == {"ingest", "invoice"}:
        # once both are done, a re-run bills what a clean ingest-then-run bills
        run(
            *[
                ws if a == "WS" else a
                for a in (racing[0] if racing[0][0] == "invoice" else racing[1])
            ]
        )
        ingest_first = a_then_b if racing[0][0] == "ingest" else b_then_a
        if fingerprint(ws) != ingest_first:
            raise AssertionError(f"{name}: a re-run after both differs from ingest then run")
    read_only = racing[1][0] in ("sql", "usage", "export")
    if read_only:
        before = {a_outs[-1], b_outs[len(setup)]}  # B after A, B before A
        if out_b not in before:
            raise AssertionError(f"{name}: the read saw neither state:\n{out_b}\nnot in {before}")
    return "a first" if seen == a_then_b else "b first"


KILLS = (
    "ingest",
    "customers",
    "subscriptions",
    "run",
    "run-finalize",
    "finalize",
    "export",
    "init",
)
RACES = (
    "ingest+run", "run+ingest", "run+run", "finalize+run",
    "ingest+sql", "run+sql", "ingest+usage", "run+export",
)  # fmt: skip


def main() -> None:
    """Run the rounds and print one line per round."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--seed", type=int, default=None)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    only = set(filter(None, options.only.split(",")))
    folder = Path(tempfile.mkdtemp(prefix="meterbill-crash-"))
    try:
        files = build_base(folder)
        commands = kill_commands(files)
        scenarios: list[tuple[str, Callable[[Path], str]]] = []
        for name in KILLS:
            if name == "export":
                scenarios.append((name, lambda w: kill_export(files, w, rng)))
            elif name == "init":
                scenarios.append((name, lambda w: kill_init(w, rng)))
            else:
                scenarios.append(
                    (name, lambda w, n=name: kill_round(n, commands[n], files["base"], w, rng))
                )
        for name in RACES:
            scenarios.append((name, lambda w, n=name: race_round(n, files, w, rng)))
        failures = 0
        for index in range(options.rounds):
            for name, scenario in scenarios:
                if only and name not in only:
                    continue
                work = folder / "work"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                try:
                    print(f"round {index} {name}: {scenario(work)}", flush=True)
                except AssertionError as exc:
                    failures += 1
                    print(f"round {index} {name}: FAILED {exc}", flush=True)
        print(f"{failures} failures")
        sys.exit(1 if failures else 0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
