"""meterbill: usage-based billing as an analytical job.

The public API is ``Workspace`` (every operation, returning Polars frames) and the
errors; the command line is a thin layer over it. ``import meterbill`` loads neither
click, rich nor pyspark, and ``Workspace`` (with Polars, the catalog and the compiler)
loads on first use, so that ``meterbill ingest`` starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meterbill.errors import (
    CatalogError,
    CompileError,
    EngineError,
    ExportError,
    IngestError,
    MeterbillError,
    SubscriptionError,
    WorkspaceError,
)

if TYPE_CHECKING:
    from meterbill.workspace import RunResult, Workspace

__version__ = "0.1.0"

__all__ = [
    "CatalogError",
    "CompileError",
    "EngineError",
    "ExportError",
    "IngestError",
    "MeterbillError",
    "RunResult",
    "SubscriptionError",
    "Workspace",
    "WorkspaceError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``Workspace`` and ``RunResult``, imported on first use."""
    if name in ("RunResult", "Workspace"):
        from meterbill import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'meterbill' has no attribute {name!r}")
