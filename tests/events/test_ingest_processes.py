"""Ingest across real processes: ``kill -9`` at each stage, and two ingests at once.

The child process is a real ``python`` running ``ingest_paths`` under the workspace
lock, as ``meterbill ingest`` does. To kill it at a chosen moment (not a lucky one), the
child wraps one step of the ingest so that it writes a marker file and then sleeps: the
test waits for the marker and sends SIGKILL. Then a fresh ingest of the same files must
give exactly the result of one clean run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import pytest

from meterbill.events import ingest_paths
from meterbill.state import connect_state, workspace_lock
from meterbill.workspace import Workspace as Workspace_
from meterbill.workspace import example_dir

from .helpers import Workspace, native, write_jsonl

#: The child: ingest argv[2:] into workspace argv[1]; env KILL_AT picks the pause point.
CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from meterbill.events import ingest as ingest_module
    from meterbill.events import lake
    from meterbill.state import connect_state, workspace_lock

    root, marker, paths = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    kill_at = os.environ.get("KILL_AT", "")

    def pause():
        marker.write_text(kill_at)
        time.sleep(60)

    if kill_at == "reading":
        original_read = ingest_module._Reading._read_file
        def read_file(self, index, path, progress):
            original_read(self, index, path, progress)
            pause()
        ingest_module._Reading._read_file = read_file
    elif kill_at == "files_written":
        original_write = ingest_module.write_lake_files
        def write(*args, **kwargs):
            written = original_write(*args, **kwargs)
            pause()
            return written
        ingest_module.write_lake_files = write
    elif kill_at == "before_commit":
        original_commit = ingest_module._commit
        class Paused:
            def __init__(self, con):
                self._con = con
            def __getattr__(self, name):
                return getattr(self._con, name)
            def commit(self):
                pause()
        def commit(con, *args, **kwargs):
            return original_commit(Paused(con), *args, **kwargs)
        ingest_module._commit = commit

    with workspace_lock(root):
        con = connect_state(root)
        result = ingest_module.ingest_paths(root, con, paths)
        con.close()
    print(json.dumps([result.records_read, result.accepted, result.duplicates, result.rejected]))
    """
)


def _child(root: Path, marker: Path, paths: list[Path], kill_at: str = "") -> subprocess.Popen:
    env = {**os.environ, "KILL_AT": kill_at, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(marker), *map(str, paths)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(marker: Path, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"child ended before the kill point: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            pytest.fail("child never reached the kill point")
        time.sleep(0.02)


def kill_at_marker(child: str, marker: Path, *args: str) -> None:
    """Run the Python source ``child`` (argv: ``marker``, then ``args``) in a process of
    its own, and ``kill -9`` it once it has written ``marker``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", child, str(marker), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(marker, process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def _events(tmp_path: Path) -> list[Path]:
    """Two files: 3000 events, 500 of them repeated across the files, and 2 rejects."""
    first = [native(event_id=f"e{i}", properties={"v": f"{i}.1"}) for i in range(2000)]
    second = [native(event_id=f"e{i}", properties={"v": f"{i}.1"}) for i in range(1500, 3000)]
    return [
        write_jsonl(tmp_path / "in" / "a.jsonl", [*first, "bad"]),
        write_jsonl(tmp_path / "in" / "b.jsonl", [*second, "{}"]),
    ]


CLEAN = (3502, 3000, 500, 2)
EXAMPLE = example_dir("openai-o1")


@pytest.mark.parametrize("kill_at", ["reading", "files_written", "before_commit"])
def test_kill_9_leaves_the_workspace_as_before(tmp_path: Path, kill_at: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    connect_state(root).close()
    paths = _events(tmp_path)
    marker = tmp_path / "marker"
    process = _child(root, marker, paths, kill_at)
    _wait_for(marker, process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()  # reaps the child and closes its pipes
    assert process.returncode == -signal.SIGKILL

    con = connect_state(root)  # replays the WAL: nothing of the killed ingest is committed
    try:
        workspace = Workspace(root, con)
        assert [workspace.count(t) for t in ("ingests", "lake_files", "rejected_events")] == [
            0,
            0,
            0,
        ]
        result = workspace.ingest(*paths)
        assert (result.records_read, result.accepted, result.duplicates, result.rejected) == CLEAN
        assert list((root / "lake" / ".staging").iterdir()) == []  # debris removed
        rows = workspace.lake_rows()
        assert len(rows) == 3000
        assert len({row["event_id"] for row in rows}) == 3000
    finally:
        con.close()


def _total(root: Path) -> Decimal:
    """The invoice total of the example workspace's one customer through November."""
    invoices = Workspace_(root).invoice_run(through="2026-11-01").invoices
    [total] = invoices.get_column("total").to_list()
    return Decimal(total)


def test_after_a_kill_the_next_run_and_ingest_count_each_event_once(tmp_path: Path) -> None:
    """The example workspace bills $202.50; a killed ingest of more usage changes nothing,
    and ingesting that file afterwards bills exactly what one clean ingest bills."""
    more = tmp_path / "more.jsonl"
    lines = (EXAMPLE / "events.jsonl").read_text().splitlines()
    more.write_text("\n".join(line.replace('"evt_', '"more_') for line in lines) + "\n")
    clean = Workspace_.init(tmp_path / "clean", example="openai-o1")
    clean.ingest([str(more)])
    expected = _total(clean.root)
    assert expected > Decimal("202.50")

    root = tmp_path / "ws"
    Workspace_.init(root, example="openai-o1")
    process = _child(root, tmp_path / "marker", [more], "before_commit")
    _wait_for(tmp_path / "marker", process)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert _total(root) == Decimal("202.50")  # the next run: nothing of the killed ingest
    Workspace_(root).ingest([str(more)])
    assert _total(root) == expected
    Workspace_(root).ingest([str(more)])  # all duplicates now
    assert _total(root) == expected


def _cli_ingest(root: Path, path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "meterbill", "ingest", str(path), "-w", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_ingests_at_once_both_commit_without_loss_or_double_counting(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Workspace_.init(root)
    first, second = _events(tmp_path)
    processes = [_cli_ingest(root, first), _cli_ingest(root, second)]  # the real command
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        numbers = re.fullmatch(
            r"read (\d+): accepted (\d+), duplicates (\d+), rejected (\d+)\n", out
        )
        assert numbers is not None, out
        outputs.append([int(n) for n in numbers.groups()])
    # Whichever committed first accepted its 2000 or 1500; the other saw the 500 overlap.
    assert sorted(outputs) == sorted([[2001, 2000, 0, 1], [1501, 1000, 500, 1]]) or sorted(
        outputs
    ) == sorted([[2001, 1500, 500, 1], [1501, 1500, 0, 1]])
    con = connect_state(root)
    try:
        workspace = Workspace(root, con)
        rows = workspace.lake_rows()
        assert len(rows) == len({row["event_id"] for row in rows}) == 3000
        assert workspace.count("ingests") == 2
        again = ingest_paths(root, con, [str(first), str(second)])
        assert (again.accepted, again.duplicates) == (0, 3500)
    finally:
        con.close()


def test_a_command_waiting_for_the_workspace_says_so_then_runs(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace_.init(root)
    first, _ = _events(tmp_path)
    with workspace_lock(root):  # another command holds the workspace
        process = _cli_ingest(root, first)
        assert process.stderr is not None
        line = process.stderr.readline()  # printed before it blocks
        assert line == f"meterbill: waiting for another meterbill command on {root} to finish\n"
        assert process.poll() is None  # still waiting
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert out.startswith("read 2001: accepted 2000")
