"""``CompiledRun``: the invoice run's query as the engines receive it, and its result shape.

Importing this module loads neither sqlglot nor Jinja (measured: 0.25 s of a run's
start-up), so an invoice run whose query comes from the compile cache never loads them.
The text is sqlglot's DuckDB rendering of the parsed template output; ``tree`` parses it
back on demand (same tree: the text is that tree's rendering), for other dialects and
for tests that walk the AST.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import polars as pl

if TYPE_CHECKING:
    from sqlglot import exp

Dialect = Literal["duckdb", "spark"]
#: Columns of every lake file, with their types (properties come on top).
BASE_COLUMNS: dict[str, str] = {
    "event_id": "VARCHAR",
    "event_name": "VARCHAR",
    "customer_id": "VARCHAR",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "source": "VARCHAR",
}
#: The columns the query returns: one row per (invoice, usage price, group) with the first
#: nine set, and one row per customer with unbilled events (``invoice_id`` NULL) with
#: the last four set.
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "invoice_id": pl.String(),
    "price_index": pl.Int32(),
    "meter": pl.String(),
    "group_values": pl.List(pl.String()),
    "quantity": pl.Decimal(38, 12),
    "invalid_events": pl.Int64(),
    "billable_quantity": pl.Decimal(38, 12),
    "unit_amount": pl.Decimal(38, 12),
    "amount": pl.Decimal(38, 24),
    "customer_id": pl.String(),
    "events": pl.Int64(),
    "first_timestamp": pl.Datetime("us", "UTC"),
    "last_timestamp": pl.Datetime("us", "UTC"),
}
#: The priced rows (what invoice assembly reads).
PRICED_SCHEMA: dict[str, pl.DataType] = dict(list(RESULT_SCHEMA.items())[:9])
#: The unbilled rows: per customer, events of the run's window that no period contains.
UNBILLED_SCHEMA: dict[str, pl.DataType] = dict(list(RESULT_SCHEMA.items())[9:])


@dataclass(frozen=True, slots=True)
class CompiledRun:
    """The invoice run's query: its DuckDB text, and the lake columns it reads.

    ``text`` is None when no plan has a usage price (only flat fees: nothing to scan).
    """

    text: str | None
    #: Lake columns the query reads, name -> SQL type; the engine supplies NULLs for any
    #: column no lake file has yet.
    columns: dict[str, str] = field(default_factory=dict)
    plans: tuple[str, ...] = ()

    @property
    def tree(self) -> exp.Expression | None:
        """The query as a sqlglot tree (parsed from ``text``; None without usage prices)."""
        if self.text is None:
            return None
        import sqlglot

        return sqlglot.parse_one(self.text, read="duckdb")

    def sql(self, dialect: Dialect = "duckdb", *, pretty: bool = True) -> str:
        """The query as text in an engine's dialect (``spark``: through ``dialect.to_spark``).

        Raises:
            CompileError: an unknown dialect.
        """
        if self.text is None:
            return "-- no usage prices in the selected plans: nothing to query\n"
        if dialect == "duckdb" and pretty:
            return self.text + "\n"
        tree = self.tree
        assert tree is not None
        if dialect == "spark":
            from meterbill.compiler.dialect import to_spark

            return to_spark(tree).sql(dialect="spark", pretty=pretty) + "\n"
        if dialect != "duckdb":
            from meterbill.errors import CompileError

            raise CompileError(f"unknown SQL dialect {dialect!r}; known are duckdb, spark")
        return tree.sql(dialect=dialect, pretty=pretty) + "\n"
