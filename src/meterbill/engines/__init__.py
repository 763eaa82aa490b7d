"""Engines run a compiled invoice run's SQL over the lake and return an ``EngineResult``
(the priced rows, and the unbilled rows from the same scan).

``create_engine`` is the one place that maps an engine's name to its class; the Spark
engine's module is imported only when asked for, so pyspark stays optional.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from meterbill.engines.base import Engine

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(EngineName)


def create_engine(name: str, *, workspace_root: Path) -> Engine:
    """The engine called ``name``, configured from the workspace (``meterbill.toml``).

    Raises:
        WorkspaceError: an unknown engine name or invalid settings.
    """
    from meterbill.errors import WorkspaceError

    if name == "duckdb":
        from meterbill.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from meterbill.engines.spark import SparkEngine
        from meterbill.settings import load_spark_settings

        settings = load_spark_settings(workspace_root)
        return SparkEngine(settings, lake_root=workspace_root / "lake")
    raise WorkspaceError(f"unknown engine {name!r}; known engines are {', '.join(ENGINES)}")


def __getattr__(name: str) -> object:
    """``Engine`` on first use (it loads Polars; ``ENGINES`` alone must not)."""
    if name == "Engine":
        from meterbill.engines.base import Engine

        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ENGINES", "Engine", "EngineName", "create_engine"]
