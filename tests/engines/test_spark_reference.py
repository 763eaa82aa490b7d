"""The contract's worked examples through a whole run on Spark, against the independent
reference (tests/invoices/reference.py): the same SQL, the same lines as on DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterbill.engines.spark import java_available
from tests.invoices.test_reference import CONTRACT_EXAMPLES, Scenario, assert_same, expected, run

pytestmark = pytest.mark.spark


@pytest.mark.parametrize(
    "scenario", CONTRACT_EXAMPLES, ids=["aggregations", "pricing", "seed", "proration", "edges",
                                        "dst", "empty"]
)  # fmt: skip
def test_spark_run_gives_the_contracts_examples(scenario: Scenario, tmp_path: Path) -> None:
    """Workspace ``invoice_run(engine="spark")`` (local[2], the default settings)."""
    if not java_available():
        pytest.skip("Spark needs Java, and none is installed")
    assert_same(run(scenario, tmp_path, engine="spark"), expected(scenario))
