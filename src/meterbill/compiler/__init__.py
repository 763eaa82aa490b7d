"""Catalog -> one SQL query per invoice run.

Jinja renders, sqlglot parses, and the tree is the artifact. Importing this package
loads neither Jinja nor sqlglot (``compile_run`` loads them when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meterbill.compiler.compiled import CompiledRun

if TYPE_CHECKING:
    from meterbill.catalog.model import Catalog


def compile_run(catalog: Catalog, *, plans: list[str] | None = None) -> CompiledRun:
    """Compile the catalog (or some of its plans); see ``compiler.compile.compile_run``."""
    from meterbill.compiler.compile import compile_run as compile_now

    return compile_now(catalog, plans=plans)


__all__ = ["CompiledRun", "compile_run"]
