"""The guard on the compiled tree: only SQL that means the same on DuckDB and Spark runs.

sqlglot transpiles what it knows and passes the rest through unchanged: an unknown
function reaches Spark as-is (and fails there, or worse, means something else), and
DuckDB's ``ASOF`` join is read on Spark as a table alias that silently returns no rows.
So the tree is checked against an allow-list of node types, functions and data types
whose meaning is the same on both engines (or that a transform in ``compiler/dialect.py``
rewrites exactly); anything else fails compilation with a ``CompileError`` naming the
node and the SQL around it. Adding to the lists is a deliberate act: check the node's
semantics on both engines (NULLs, types, rounding) and add a parity case.
"""

from __future__ import annotations

from sqlglot import exp

from meterbill.errors import CompileError

#: Query structure: SELECT with CTEs, plain and LEFT joins, UNION (ALL), GROUP BY, ORDER BY.
_STRUCTURE: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Select, exp.With, exp.CTE, exp.Subquery, exp.TableAlias, exp.From, exp.Join,
        exp.Table, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Union,
        exp.Alias, exp.Column, exp.Identifier, exp.Star, exp.Distinct, exp.Paren,
        exp.Literal, exp.Null, exp.Boolean, exp.Filter,
    }
)  # fmt: skip
#: Operators. Division (`/`) is not here: DuckDB computes DECIMAL / DECIMAL in DOUBLE.
_OPERATORS: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not,
        exp.Is, exp.In, exp.Between, exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.IntDiv,
        exp.Neg, exp.Case, exp.If, exp.Cast, exp.DataType, exp.DataTypeParam,
    }
)  # fmt: skip
#: Functions that mean the same on both engines for the types the templates use.
#: Refused on purpose: Avg and Div (DOUBLE in DuckDB), Sign (DOUBLE in Spark), Trunc
#: (sqlglot writes CAST(x AS BIGINT) for Spark, which overflows where DuckDB does not).
_FUNCTIONS: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Sum, exp.Count, exp.Max, exp.Min, exp.ArgMax, exp.Abs, exp.Ceil, exp.Floor,
        exp.Round, exp.Least, exp.Greatest, exp.Coalesce, exp.Array, exp.Tuple,
    }
)  # fmt: skip
#: Functions sqlglot does not know (``exp.Anonymous``) that a dialect transform rewrites.
ANONYMOUS_FUNCTIONS: frozenset[str] = frozenset({"EPOCH_US"})
#: Data types allowed in casts; DECIMAL must name its precision and scale. TIMESTAMPTZ is
#: an instant on both: Spark writes it TIMESTAMP, read in the session time zone (UTC).
_TYPES: frozenset[exp.DataType.Type] = frozenset(
    {
        exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGINT, exp.DataType.Type.INT,
        exp.DataType.Type.INT128, exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT,
        exp.DataType.Type.ARRAY, exp.DataType.Type.BOOLEAN, exp.DataType.Type.TIMESTAMPTZ,
    }
)  # fmt: skip
_ALLOWED = _STRUCTURE | _OPERATORS | _FUNCTIONS
_SNIPPET = 80


def check_portable(tree: exp.Expression) -> None:
    """Refuse any node outside the allow-lists.

    Raises:
        CompileError: names the first node that is not allowed and the SQL around it.
    """
    for node in tree.walk():
        problem = _problem(node)
        if problem:
            sql = node.sql("duckdb")
            if len(sql) > _SNIPPET:
                sql = sql[: _SNIPPET - 3] + "..."
            raise CompileError(
                f"the compiled SQL uses {problem}, which is not known to mean the same on "
                f"DuckDB and Spark (in: {sql}); see compiler/portable.py"
            )


def _problem(node: exp.Expression) -> str | None:
    """What is not portable about this one node, or None."""
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        return None if name in ANONYMOUS_FUNCTIONS else f"the unknown function {name}()"
    if type(node) not in _ALLOWED:
        return f"{type(node).__name__} ({node.key})"
    if isinstance(node, exp.Join):
        if node.args.get("method"):
            return f"an {node.args['method']} join"
        kind = node.args.get("kind")
        if kind not in (None, "", "INNER") or node.args.get("side") not in (None, "", "LEFT"):
            return f"a {node.args.get('side') or ''} {kind or ''} join".replace("  ", " ")
        if node.args.get("using"):
            return "a join with USING"
    if isinstance(node, exp.DataType):
        return _type_problem(node)
    return None


def _type_problem(node: exp.DataType) -> str | None:
    if node.this not in _TYPES:
        return f"the type {node.sql('duckdb')}"
    if node.this == exp.DataType.Type.DECIMAL and len(node.expressions) != 2:
        return (
            f"{node.sql('duckdb')} without precision and scale "
            "(DuckDB reads it as (18,3), Spark as (10,0))"
        )
    return None
