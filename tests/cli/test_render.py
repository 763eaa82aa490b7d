"""Tables and progress lines print values as text: a ``[`` in data is not Rich markup."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from meterbill.cli.render import print_table, stderr_status
from tests.cli.test_cli import run


def test_values_headers_and_titles_are_text(capsys: pytest.CaptureFixture[str]) -> None:
    frame = pl.DataFrame({"[red]col": ["[/tmp/x]", "[bold]b[/bold]", "a [link=x]y"]})
    print_table(frame, title="[/title]")
    out = capsys.readouterr().out
    for text in ("[red]col", "[/tmp/x]", "[bold]b[/bold]", "a [link=x]y", "[/title]"):
        assert text in out


def test_progress_lines_are_text(capsys: pytest.CaptureFixture[str]) -> None:
    stderr_status("creating the workspace in /tmp/[/x]/[bold]ws")
    assert capsys.readouterr().err == "creating the workspace in /tmp/[/x]/[bold]ws\n"


def test_sql_prints_brackets_through_the_cli(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    run("init", workspace)
    result = run("sql", "SELECT '[/tmp, /x]' AS \"[b]v\", '[bold]x[/bold]' AS w", "-w", workspace)
    assert "[/tmp, /x]" in result.stdout and "[b]v" in result.stdout
    assert "[bold]x[/bold]" in result.stdout
