"""Option bundles shared by commands: the workspace, output format and file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from meterbill.workspace import Workspace


def folder_path(_ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """A folder parameter's callback: refuses ``""`` (an unset shell variable, as in
    ``-w "$WS"``), which ``Path`` would read as the current folder."""
    if value is None:
        return None
    if not value:
        raise click.BadParameter("an empty path names no folder", param=param)
    return Path(value)


def workspace_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-w/--workspace DIR`` (else ``METERBILL_WORKSPACE``, else the current folder)."""
    return click.option(
        "-w",
        "--workspace",
        "workspace",
        type=click.Path(file_okay=False),
        callback=folder_path,
        envvar="METERBILL_WORKSPACE",
        default=".",
        show_default="the current folder or $METERBILL_WORKSPACE",
        help="The workspace folder.",
    )(func)


def folder_argument(name: str, *, required: bool = True) -> Callable[..., Any]:
    """A folder argument that refuses ``""`` (see ``folder_path``)."""
    return click.argument(
        name, required=required, type=click.Path(file_okay=False), callback=folder_path
    )


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--format table|csv|json|parquet|html`` and ``--out FILE``."""
    func = click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file (- for standard output).",
    )(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json", "parquet", "html"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)


def engine_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine duckdb|spark``: which engine runs (or, for explain, which SQL dialect)."""
    from meterbill.engines import ENGINES

    return click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="duckdb",
        show_default=True,
        help="The engine: DuckDB in-process, or Spark as meterbill.toml's [engine.spark] says.",
    )(func)


def open_workspace(path: Path) -> Workspace:
    """The workspace at ``path`` (a clear error if it is not one)."""
    from meterbill.workspace import Workspace

    return Workspace(path)
