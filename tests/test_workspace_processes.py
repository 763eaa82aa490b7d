"""The workspace's writing commands across real processes: ``kill -9`` just before the
commit, a run while an ingest holds the workspace, and a read while a run commits.

A killed command must leave the workspace as it was, and running it again must give
what one clean run gives (tests/events/test_ingest_processes.py does the same for
ingest). The child process pauses inside the command's transaction, right before its
commit (a marker file says it got there), and is killed there. ``tests/crash_loop.py``
kills the same commands at random moments, many times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from meterbill import Workspace, state
from meterbill.cli.main import cli
from meterbill.events import ingest_paths

from .events.test_ingest_processes import kill_at_marker

#: The child: ``meterbill ARGS`` with every Workspace transaction pausing before commit.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from meterbill import state
    from meterbill.cli.main import cli

    marker = Path(sys.argv[1])
    original_connect = state.connect_state

    class Paused:
        def __init__(self, con):
            self._con = con
        def __getattr__(self, name):
            return getattr(self._con, name)
        def commit(self):
            marker.write_text("commit")
            time.sleep(60)

    state.connect_state = lambda root: Paused(original_connect(root))
    cli(sys.argv[2:])
    """
)


def _more_events(folder: Path) -> Path:
    """The example's events again under new ids (one more month of the same usage)."""
    example = Path(__file__).resolve().parent.parent / "data" / "openai-o1" / "events.jsonl"
    more = folder / "more.jsonl"
    more.write_text(example.read_text().replace('"evt_', '"more_'))
    return more


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace with a second customer and a draft for October."""
    folder = tmp_path_factory.mktemp("template")
    ws = Workspace.init(folder / "ws", example="openai-o1")
    (folder / "customers.csv").write_text(
        "customer_id,name,email,timezone\ncust_acme,Acme,a@x.example,Europe/Paris\n"
        "cust_b,B,b@x.example,UTC\n"
    )
    (folder / "subscriptions.csv").write_text(
        "subscription_id,customer_id,plan,start\nsub_b,cust_b,openai_o1,2026-09-01\n"
    )
    ws.invoice_run(through="2026-11-01")
    return ws.root


@pytest.fixture
def workspace(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "ws"))


def _seen(root: Path) -> dict[str, Any]:
    """What a user sees of the workspace (no run ids, no clock times)."""
    ws = Workspace(root)
    ledger = ws.ledger()
    return {
        "customers": ledger.customers.rows(),
        "subscriptions": ws.sql("SELECT * FROM subscriptions ORDER BY ALL").rows(),
        "invoices": ledger.invoices.rows(),
        "lines": ledger.line_items.rows(),
        "events": ws.sql("SELECT count(*), count(DISTINCT event_id) FROM events").rows(),
    }


COMMANDS = {
    "customers import": ["customers", "import", "{folder}/customers.csv"],
    "subscriptions import": ["subscriptions", "import", "{folder}/subscriptions.csv"],
    "invoice run": ["invoice", "run", "--through", "2026-11-01"],
    "invoice run --finalize": ["invoice", "run", "--through", "2026-11-01", "--finalize"],
    "invoice finalize": ["invoice", "finalize"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_killed_before_its_commit_changes_nothing_and_reruns_cleanly(
    workspace: Path, template: Path, tmp_path: Path, command: str
) -> None:
    args = [a.format(folder=template.parent) for a in COMMANDS[command]] + ["-w", str(workspace)]
    if command == "invoice run":  # something for the run to change: more October usage
        Workspace(workspace).ingest(_more_events(tmp_path))
    before = _seen(workspace)
    clean = Path(shutil.copytree(workspace, tmp_path / "clean"))
    assert CliRunner().invoke(cli, [*args[:-1], str(clean)]).exit_code == 0
    after = _seen(clean)
    assert after != before

    kill_at_marker(CHILD, tmp_path / "marker", *args)

    assert _seen(workspace) == before
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    assert _seen(workspace) == after


def test_a_run_waits_for_an_ingest_and_bills_all_of_it(workspace: Path, tmp_path: Path) -> None:
    """A run started while an ingest holds the workspace waits, then sees every event of
    that ingest (never part of it), and a re-run bills the same."""
    more = _more_events(tmp_path)
    clean = Path(shutil.copytree(workspace, tmp_path / "clean"))
    Workspace(clean).ingest(more)
    expected = Workspace(clean).invoice_run(through="2026-11-01").invoices["total"].to_list()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with state.workspace_lock(workspace):  # the ingest, holding the workspace
        run = subprocess.Popen(
            [sys.executable, "-m", "meterbill", "invoice", "run", "--through", "2026-11-01",
             "-w", str(workspace)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert run.stderr is not None
        assert run.stderr.readline().startswith("meterbill: waiting for another meterbill")
        con = state.connect_state(workspace)
        try:
            ingest_paths(workspace, con, [str(more)])
        finally:
            con.close()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert Workspace(workspace).invoices()["total"].to_list() == expected
    assert (
        Workspace(workspace).invoice_run(through="2026-11-01").invoices["total"].to_list()
        == expected
    )


def test_an_export_sees_one_snapshot_while_a_run_commits(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTML export pairs each invoice with its own lines, even when an ingest and a
    run commit while it reads (here: right after its first read of the workspace)."""
    more = _more_events(tmp_path)
    pages = {}
    for name, change in (("before", False), ("after", True)):
        copy = Path(shutil.copytree(workspace, tmp_path / name))
        if change:
            Workspace(copy).ingest(more)
            Workspace(copy).invoice_run(through="2026-11-01")
        out = tmp_path / f"{name}.html"
        assert CliRunner().invoke(cli, _export(copy, out)).exit_code == 0
        pages[name] = out.read_text()
    assert pages["before"] != pages["after"]

    original = state.workspace_lock
    changed: list[bool] = []

    @contextmanager
    def lock_then_commit_a_run(root: Path) -> Iterator[None]:
        with original(root):
            yield
        if not changed:  # another command commits as soon as the export lets go
            changed.append(True)
            Workspace(root).ingest(more)
            Workspace(root).invoice_run(through="2026-11-01")

    monkeypatch.setattr(state, "workspace_lock", lock_then_commit_a_run)
    out = tmp_path / "raced.html"
    result = CliRunner().invoke(cli, _export(workspace, out))
    assert result.exit_code == 0, result.stderr
    assert changed
    assert out.read_text() in (pages["before"], pages["after"])


def _export(root: Path, out: Path) -> list[str]:
    return ["export", "invoices", "--format", "html", "--out", str(out), "-w", str(root)]


def test_two_finalizing_runs_at_once_number_each_invoice_once(
    workspace: Path, tmp_path: Path
) -> None:
    Workspace(workspace).ingest(_more_events(tmp_path))
    clean = Path(shutil.copytree(workspace, tmp_path / "clean"))
    args = ["invoice", "run", "--through", "2026-11-01", "--finalize"]
    assert CliRunner().invoke(cli, [*args, "-w", str(clean)]).exit_code == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "meterbill", *args, "-w", str(workspace)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    assert _seen(workspace) == _seen(clean)  # the second run found nothing left to bill
    numbers = Workspace(workspace).invoices()["invoice_number"].to_list()
    assert sorted(numbers) == [f"INV-{n:06d}" for n in range(1, len(numbers) + 1)]


EXPORT_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from meterbill import export
    from meterbill.cli.main import cli

    marker = Path(sys.argv[1])
    original = export._write

    def half_then_pause(frame, *, fmt, out):
        original(frame, fmt=fmt, out=out)
        text = out.read_bytes()
        out.write_bytes(text[: len(text) // 2])
        marker.write_text("half")
        time.sleep(60)

    export._write = half_then_pause
    cli(sys.argv[2:])
    """
)


def test_a_killed_export_leaves_the_previous_file_at_out(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "lines.csv"
    out.write_text("the previous export\n")
    args = ["export", "line-items", "--format", "csv", "--out", str(out), "-w", str(workspace)]
    kill_at_marker(EXPORT_CHILD, tmp_path / "marker", *args)
    assert out.read_text() == "the previous export\n"
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert out.read_text().startswith("invoice_id,line_number,")
    assert len(out.read_text().splitlines()) == 1 + Workspace(workspace).line_items().height
