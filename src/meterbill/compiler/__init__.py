"""Catalog -> one SQL query per invoice run.

Jinja renders, sqlglot parses, and the tree is the artifact. Importing this package
loads neither Jinja, sqlglot nor Polars (``compile_run`` loads them when called, and
``CompiledRun`` on first use), so ``sqlvalues`` stays light for ingest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meterbill.catalog.model import Catalog
    from meterbill.compiler.compiled import CompiledRun


def compile_run(catalog: Catalog, *, plans: list[str] | None = None) -> CompiledRun:
    """Compile the catalog (or some of its plans); see ``compiler.compile.compile_run``."""
    from meterbill.compiler.compile import compile_run as compile_now

    return compile_now(catalog, plans=plans)


def __getattr__(name: str) -> object:
    """``CompiledRun`` on first use (its module loads Polars)."""
    if name == "CompiledRun":
        from meterbill.compiler.compiled import CompiledRun

        return CompiledRun
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CompiledRun", "compile_run"]
