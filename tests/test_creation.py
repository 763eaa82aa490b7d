"""``meterbill init`` across real processes: killed at each step, and two at once.

A child process runs ``Workspace.init`` with one step wrapped so that it writes a
marker file and sleeps; the test waits for the marker and sends SIGKILL (the pattern of
tests/events/test_ingest_processes.py). The next ``init`` must then make exactly the
workspace one clean ``init`` makes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from meterbill import Workspace, creation
from meterbill.errors import WorkspaceError

from .events.test_ingest_processes import kill_at_marker

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from meterbill import creation, workspace

    marker, root, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def pause():
        marker.write_text(kill_at)
        time.sleep(60)

    if kill_at == "building":  # the example's events are being ingested
        original_ingest = workspace.Workspace.ingest
        def ingest(self, *args, **kwargs):
            pause()
        workspace.Workspace.ingest = ingest
    else:  # "publishing": the state is moved up, catalog.toml not yet
        original_rename = os.rename
        def rename(source, target):
            if Path(target).name == "catalog.toml":
                pause()
            original_rename(source, target)
        creation.os.rename = rename
    workspace.Workspace.init(root, example="openai-o1")
    """
)


def _summary(root: Path) -> tuple[object, ...]:
    """What the example workspace holds: customers, subscriptions, events, ingests."""
    frame = Workspace(root).sql(
        "SELECT (SELECT count(*) FROM customers) AS c, (SELECT count(*) FROM subscriptions) AS s,"
        " (SELECT count(*) FROM events) AS e, (SELECT count(DISTINCT event_id) FROM events) AS d,"
        " (SELECT count(*) FROM ingests) AS i"
    )
    return frame.row(0)


EXAMPLE_SUMMARY = (1, 1, 2550, 2550, 1)


@pytest.mark.parametrize("kill_at", ["building", "publishing"])
def test_a_killed_init_leaves_no_workspace_and_the_next_init_makes_it_whole(
    tmp_path: Path, kill_at: str
) -> None:
    root = tmp_path / "ws"
    kill_at_marker(CHILD, tmp_path / "marker", str(root), kill_at)

    with pytest.raises(WorkspaceError, match="is not a meterbill workspace"):
        Workspace(root)  # half a workspace is no workspace
    workspace = Workspace.init(root, example="openai-o1")
    assert _summary(workspace.root) == EXAMPLE_SUMMARY
    assert sorted(p.name for p in root.iterdir()) == [
        ".lock", "catalog.toml", "lake", "state.duckdb",
    ]  # fmt: skip
    [total] = workspace.invoice_run(through="2026-11-01").invoices["total"].to_list()
    assert total == Decimal("202.50")


def test_a_failed_init_leaves_nothing_but_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "lake" / "events").mkdir(parents=True)  # a folder of the user's in the way
    with pytest.raises(WorkspaceError, match="cannot create the workspace in"):
        Workspace.init(root)
    assert sorted(p.name for p in root.rglob("*")) == [".lock", "events", "lake"]


def test_init_into_a_folder_with_other_files_keeps_them(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text("mine")
    Workspace.init(root, example="openai-o1")
    assert (root / "README.md").read_text() == "mine"
    assert _summary(root) == EXAMPLE_SUMMARY


def test_two_inits_at_once_make_one_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "meterbill", "init", str(root), "--example", "openai-o1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), p.communicate()[1]) for p in processes]
    assert sorted(code for code, _ in results) == [0, 2]
    [error] = [err for code, err in results if code]
    assert error.endswith(f"meterbill: error: {root} already holds a workspace\n")
    assert _summary(root) == EXAMPLE_SUMMARY  # one import and one ingest, not two


def test_an_init_interrupted_while_moving_up_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    rename = os.rename

    def interrupted(source: Path, target: Path) -> None:
        if Path(target).name == "catalog.toml":
            raise KeyboardInterrupt
        rename(source, target)

    monkeypatch.setattr(creation.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Workspace.init(root, example="openai-o1")
    monkeypatch.undo()
    assert sorted(p.name for p in root.iterdir()) == [".lock"]
    assert _summary(Workspace.init(root, example="openai-o1").root) == EXAMPLE_SUMMARY
