"""Catalog -> one SQL query per invoice run.

Jinja renders, sqlglot parses, and the tree is the artifact.
"""

from meterbill.compiler.compile import CompiledRun, compile_run

__all__ = ["CompiledRun", "compile_run"]
