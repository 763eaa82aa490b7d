"""The Jinja environment for sql/: sandboxed, strict about undefined names, our filters only.

Jinja (and sqlglot, through the filters) load on first use, not on import: a run whose
query comes from the compile cache needs neither.

Templates are found in the installed package (``meterbill/sql``, put there by the wheel's
force-include) or, in a source checkout, in the repository's top-level ``sql/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from meterbill.errors import CompileError

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment
    from sqlglot import exp


def templates_dir() -> Path:
    """The folder holding invoice_run.sql and macros/."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "sql", package.parent.parent / "sql"):
        if (candidate / "invoice_run.sql").is_file():
            return candidate
    raise CompileError(f"SQL templates not found next to {package} (is the package installed?)")


@cache
def environment() -> SandboxedEnvironment:
    """The one environment every template renders in."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    from meterbill.compiler.sqlvalues import dec, ident, lit

    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        autoescape=False,  # SQL, not HTML: every value goes through lit/ident/dec instead
    )
    env.filters.update(ident=ident, lit=lit, dec=dec)
    return env


def render(template: str, **context: object) -> str:
    """Render one template; a failure names the template and what went wrong.

    Raises:
        CompileError: an undefined name, a syntax error, or a filter refusing a value.
    """
    import jinja2

    try:
        return environment().get_template(template).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise CompileError(f"sql/{exc.filename or template}:{exc.lineno}: {exc.message}") from exc
    except (jinja2.UndefinedError, TypeError) as exc:
        raise CompileError(f"sql/{template}: {exc}") from exc


def render_sql(template: str, **context: object) -> exp.Expression:
    """Render a template and parse it (DuckDB dialect): the tree is the artifact.

    Raises:
        CompileError: a render failure, or rendered text that does not parse.
    """
    import sqlglot

    text = render(template, **context)
    try:
        return sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise CompileError(f"sql/{template} rendered SQL that does not parse: {exc}") from exc
