"""meterbill: usage-based billing as an analytical job.

The public API is ``Workspace`` (every operation, returning Polars frames) and the
errors; the command line is a thin layer over it. ``import meterbill`` loads neither
click, rich nor pyspark.
"""

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
