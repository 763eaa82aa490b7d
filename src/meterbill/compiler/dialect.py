"""The dialect step: the one compiled tree (DuckDB SQL) as Spark SQL, meaning for meaning.

sqlglot transpiles most of the tree as it is. These transforms, one function per DuckDB
construct, cover what it does not carry over exactly. They are driven by node types,
never by the text of today's templates, so a rewritten template keeps working (and
anything they do not know is stopped earlier by ``compiler/portable.py``).

- ``HUGEINT`` (exact 128-bit integers in ``decimal_math.sql``) -> ``DECIMAL(38, 0)``.
- ``a // b``: Spark's ``DIV`` returns BIGINT, so it stays only when both sides are known
  64-bit integers; otherwise it becomes ``CAST((a - a % b) / b AS DECIMAL(38, 0))``: the
  numerator is an exact multiple of ``b``, so the decimal quotient is an exact integer,
  truncated toward zero like DuckDB's ``//``.
- ``EPOCH_US(ts)`` -> ``UNIX_MICROS(ts)`` (both BIGINT microseconds since 1970, UTC).
- ``ARG_MAX(v, (a, b))``: the row key becomes ``STRUCT(a, b)`` (ordered field by field on
  both engines).
- List literals ``[a, b]`` and ``VARCHAR[]`` are ``ARRAY(a, b)`` and ``ARRAY<STRING>``
  in sqlglot's own Spark output; ``test_dialect.py`` pins that.

The Spark session runs with ``spark.sql.decimalOperations.allowPrecisionLoss=false``
(``engines/spark.py``), which gives decimal ``+ - *`` the same result types as DuckDB:
``DECIMAL(38, 12) * DECIMAL(38, 12)`` is ``DECIMAL(38, 24)``, not Spark's default
``DECIMAL(38, 6)``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

Transform = Callable[[exp.Expression], exp.Expression]
_INTEGER_TYPES = frozenset(
    {
        exp.DataType.Type.TINYINT,
        exp.DataType.Type.SMALLINT,
        exp.DataType.Type.INT,
        exp.DataType.Type.BIGINT,
    }
)


def hugeint_to_decimal(node: exp.Expression) -> exp.Expression:
    """``HUGEINT`` -> ``DECIMAL(38, 0)``: Spark has no 128-bit integer type."""
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def integer_division(node: exp.Expression) -> exp.Expression:
    """``a // b`` -> Spark ``DIV`` for 64-bit integers, an exact decimal quotient otherwise."""
    if not isinstance(node, exp.IntDiv):
        return node
    left, right = node.this, node.expression
    if _is_small_integer(left) and _is_small_integer(right):
        return node
    multiple = exp.Sub(
        this=left.copy(), expression=exp.Mod(this=left.copy(), expression=right.copy())
    )
    quotient = exp.Div(this=exp.paren(multiple, copy=False), expression=right.copy())
    return exp.cast(quotient, "DECIMAL(38, 0)")


def epoch_us(node: exp.Expression) -> exp.Expression:
    """``EPOCH_US(ts)`` -> ``UNIX_MICROS(ts)``."""
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "EPOCH_US":
        return exp.Anonymous(this="UNIX_MICROS", expressions=[e.copy() for e in node.expressions])
    return node


def arg_max_key(node: exp.Expression) -> exp.Expression:
    """``ARG_MAX(v, (a, b))`` -> ``MAX_BY(v, STRUCT(a, b))``: a row key as a struct."""
    if isinstance(node, exp.ArgMax | exp.ArgMin) and isinstance(node.expression, exp.Tuple):
        key = exp.Struct(expressions=[e.copy() for e in node.expression.expressions])
        return node.__class__(this=node.this.copy(), expression=key)
    return node


#: Applied in this order, each over the whole tree.
SPARK_TRANSFORMS: tuple[Transform, ...] = (
    integer_division,  # first: it reads the HUGEINT casts to see integer operands
    hugeint_to_decimal,
    epoch_us,
    arg_max_key,
)


def to_spark(tree: exp.Expression) -> exp.Expression:
    """A copy of the tree with every Spark transform applied (the input is not changed)."""
    result = tree.copy()
    for transform in SPARK_TRANSFORMS:
        result = _bottom_up(result, transform)
    return result


def _bottom_up(tree: exp.Expression, transform: Transform) -> exp.Expression:
    """Apply a transform to every node, children before parents.

    (sqlglot's ``transform`` does not descend into a node it has just replaced, and an
    ``a // b`` can hold another one inside ``a``.)
    """
    for node in reversed(list(tree.walk(bfs=False))):
        new = transform(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _is_small_integer(node: exp.Expression) -> bool:
    """Whether an operand is known to be a 64-bit (or narrower) integer."""
    node = node.unnest()
    if isinstance(node, exp.Cast):
        return node.to.this in _INTEGER_TYPES
    if isinstance(node, exp.Literal):
        return node.is_int and abs(int(node.this)) < 2**63
    if isinstance(node, exp.Count):
        return True
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.IntDiv | exp.Mod):
        return _is_small_integer(node.this) and _is_small_integer(node.expression)
    return False  # unknown (a column, say): the decimal quotient is exact for integers too
