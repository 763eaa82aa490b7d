"""Rich rendering of frames as tables (rich and Polars imported lazily: commands that print
no table, such as ``ingest``, start without them).

Every value, header, title and message is printed as plain text (``Text``,
``markup=False``): data such as ``[/tmp/x]`` or ``[bold]`` is not Rich markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

#: Rows shown in a terminal table before it says "N of M rows".
MAX_ROWS = 40
#: Width of tables written to a pipe or file, where no terminal limits it.
_PIPE_WIDTH = 400


def print_table(frame: pl.DataFrame, *, title: str | None = None, max_rows: int = MAX_ROWS) -> None:
    """Print a frame as a table on stdout, capped with a note on stderr."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from meterbill.export import text_rows

    table = Table(title=None if title is None else Text(title), show_lines=False)
    for column in frame.columns:
        numeric = frame.schema[column].is_numeric()
        table.add_column(Text(column), justify="right" if numeric else "left", overflow="fold")
    for row in text_rows(frame.head(max_rows)):
        table.add_row(*[Text("" if v is None else v) for v in row.values()])
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # piped or captured: never fold values to 80 columns
        console = Console(soft_wrap=False, width=_PIPE_WIDTH)
    console.print(table)
    if frame.height > max_rows:
        Console(stderr=True).print(f"{max_rows} of {frame.height} rows")


def stderr_status(message: str) -> None:
    """A progress line on stderr."""
    from rich.console import Console

    Console(stderr=True).print(message, style="dim", markup=False, highlight=False)
