"""The exceptions meterbill raises for a user's mistake or an environment problem.

Every error a user can cause derives from ``MeterbillError``; the CLI prints its message
as one line on stderr and exits with the class's exit code. Anything else is a bug and
keeps its traceback.

    MeterbillError
    ├── CatalogError        catalog.toml breaks a rule (holds every problem)
    ├── IngestError         an ingest could not run or was refused (``--strict``)
    ├── SubscriptionError   a customer or subscription import is invalid
    ├── CompileError        a template failed to render or parse
    ├── EngineError         the engine refused the compiled SQL
    ├── ExportError         an export could not be written
    └── WorkspaceError      no workspace, bad workspace, a bad request (an unknown invoice,
                            plan, meter or window; --through in the future), read-only SQL
"""

from __future__ import annotations

from collections.abc import Sequence

#: How many catalog problems the one-line message lists before "... and N more".
_SHOWN_PROBLEMS = 20


class MeterbillError(Exception):
    """Base of every error that is the user's input or environment, not a bug."""

    exit_code = 1


class CatalogError(MeterbillError):
    """catalog.toml is invalid; ``problems`` holds every ``path: message``."""

    exit_code = 3

    def __init__(
        self, problems: Sequence[str], *, source: str = "catalog.toml", message: str | None = None
    ) -> None:
        self.problems = list(problems)
        self.source = source
        if message is None:  # the default: every problem (the first 20)
            shown = "; ".join(self.problems[:_SHOWN_PROBLEMS])
            more = len(self.problems) - _SHOWN_PROBLEMS
            suffix = f" ... and {more} more" if more > 0 else ""
            count = len(self.problems)
            noun = "problem" if count == 1 else "problems"
            message = f"{source}: {count} {noun}: {shown}{suffix}"
        super().__init__(message)


class IngestError(MeterbillError):
    """An ingest was refused or could not read its input."""

    exit_code = 4


class SubscriptionError(MeterbillError):
    """A customers or subscriptions import is invalid; nothing of it was committed."""

    exit_code = 5


class CompileError(MeterbillError):
    """A SQL template failed to render or the rendered SQL failed to parse."""

    exit_code = 6


class EngineError(MeterbillError):
    """The engine refused the compiled SQL; the message names where that SQL is on disk."""

    exit_code = 7


class ExportError(MeterbillError):
    """An export could not be written."""

    exit_code = 8


class WorkspaceError(MeterbillError):
    """The workspace is missing or invalid, or a request names something it lacks."""

    exit_code = 2
