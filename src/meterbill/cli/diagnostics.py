"""Exit codes and the one-line error format. stdout carries data; stderr diagnostics.

Exit codes (documented in the README):

==  =====================================================
0   success
1   any other meterbill error
2   workspace error, or a bad command line (an unknown option, a missing argument)
3   catalog.toml is invalid
4   ingest refused (``--strict`` with rejects, unreadable input)
5   customers or subscriptions import refused
6   SQL template failed to compile
7   the engine refused the compiled SQL
8   an export could not be written
==  =====================================================
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from meterbill.errors import MeterbillError

F = TypeVar("F", bound=Callable[..., Any])


def debug_enabled() -> bool:
    """``--debug`` or ``METERBILL_DEBUG=1``: show tracebacks instead of one line."""
    return os.environ.get("METERBILL_DEBUG", "") not in ("", "0")


def fail(message: str, code: int = 1) -> None:
    """Print ``meterbill: error: ...`` on stderr and exit."""
    click.echo(f"meterbill: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn a ``MeterbillError`` into one stderr line and its exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MeterbillError as exc:
            if debug_enabled():
                raise
            fail(str(exc), exc.exit_code)
        return None

    return wrapper  # type: ignore[return-value]


class CliGroup(click.Group):
    """The top-level ``meterbill`` group: click's own errors (an unknown option or command,
    a missing argument, a bad choice) are one ``meterbill: error: ...`` line with a pointer
    to ``--help``, exit 2, like every other error; ``meterbill`` alone still prints help.
    """

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,  # noqa: FBT001, FBT002 (click's signature)
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            fail(exc.format_message() + where, exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        # a command's return value (None) or the code of an explicit exit (--help: 0)
        sys.exit(code if isinstance(code, int) else 0)
