"""``--engine spark`` through the real CLI: explain, setup errors, and a full invoice run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from meterbill.cli.main import cli
from meterbill.engines import spark as spark_module


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def example(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    assert run("init", ws, "--example", "openai-o1").exit_code == 0
    return ws


def test_explain_prints_spark_sql(example: Path) -> None:
    result = run("explain", "--engine", "spark", "--raw", "-w", example)
    assert result.exit_code == 0, result.output
    assert "`p__model` IN ('OpenAI O1')" in result.stdout
    duckdb = run("explain", "--raw", "-w", example).stdout
    assert '"p__model" IN' in duckdb and "`" not in duckdb


def test_missing_pyspark_is_one_line_exit_7(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = spark_module.importlib.util.find_spec
    monkeypatch.setattr(
        spark_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyspark" else real(name, *a),
    )
    result = run("invoice", "run", "--through", "2026-11-01", "--engine", "spark", "-w", example)
    assert result.exit_code == 7
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("meterbill: error: the Spark engine needs pyspark")
    assert "pip install '.[spark]'" in last


def test_bad_settings_are_a_workspace_error(example: Path) -> None:
    (example / "meterbill.toml").write_text('[engine.spark]\nmastr = "local"\n')
    result = run("invoice", "run", "--through", "2026-11-01", "--engine", "spark", "-w", example)
    assert result.exit_code == 2
    assert "meterbill.toml: engine.spark.mastr: unknown key" in result.stderr


@pytest.mark.spark
def test_invoice_run_on_spark_matches_duckdb(tmp_path: Path, example_dir: Path) -> None:
    if not spark_module.java_available():
        pytest.skip("Spark needs Java, and none is installed")
    exports = {}
    for engine in ("duckdb", "spark"):
        ws = tmp_path / engine
        assert run("init", ws, "--example", "openai-o1").exit_code == 0
        (ws / "meterbill.toml").write_text('[engine.spark]\nmaster = "local[2]"\n')
        result = run("invoice", "run", "--through", "2026-11-01", "--engine", engine, "-w", ws)
        assert result.exit_code == 0, result.output
        assert "202.50" in result.stdout
        sql = next((ws / "runs").glob("*/invoice_run.sql")).read_text()
        assert ("`p__model`" in sql) == (engine == "spark")
        out = tmp_path / f"{engine}.csv"
        assert run("export", "line-items", "--format", "csv", "--out", out, "-w", ws).exit_code == 0
        exports[engine] = out.read_bytes()
    assert exports["spark"] == exports["duckdb"]
