"""Exit codes and the one-line error format. stdout carries data; stderr diagnostics.

Exit codes (documented in the README):

==  =====================================================
0   success
1   any other meterbill error
2   workspace error, or a bad command line (click's usage errors, also one line)
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


class _UsageLine(click.ClickException):
    """A click usage error shown as one ``meterbill: error:`` line, with where to look."""

    exit_code = 2

    def __init__(self, error: click.UsageError) -> None:
        where = f" (see: {error.ctx.command_path} --help)" if error.ctx is not None else ""
        super().__init__(f"{error.format_message()}{where}")

    def show(self, file: Any = None) -> None:
        click.echo(f"meterbill: error: {' '.join(self.message.split())}", err=True)


class OneLineGroup(click.Group):
    """The root command group: a bad command line (unknown command or option, a missing
    or invalid argument, at any depth) is one line on stderr and exit 2, like every other
    error, instead of click's usage block."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare group (``meterbill invoice``) prints its help
        except click.UsageError as exc:
            raise _UsageLine(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare group (``meterbill invoice``) prints its help
        except click.UsageError as exc:
            raise _UsageLine(exc) from None
