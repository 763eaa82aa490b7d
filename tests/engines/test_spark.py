"""The Spark engine without a Spark session: lake URLs, setup errors, import hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meterbill.engines import create_engine
from meterbill.engines import spark as spark_module
from meterbill.engines.spark import SparkEngine, start_session
from meterbill.errors import EngineError, WorkspaceError
from meterbill.settings import SparkSettings


def test_lake_files_map_onto_the_lake_url(tmp_path: Path) -> None:
    engine = SparkEngine(SparkSettings(lake_url="s3a://billing/acme/lake"), lake_root=tmp_path)
    path = tmp_path / "events" / "date=2026-10-01" / "i1-0.parquet"
    assert engine.lake_url(path) == "s3a://billing/acme/lake/events/date=2026-10-01/i1-0.parquet"


def test_local_lake_files_are_file_urls_with_glob_characters_escaped(tmp_path: Path) -> None:
    path = tmp_path / "we[ir]d {ws}" / "a*b?.parquet"
    url = SparkEngine().lake_url(path)
    assert url.startswith("file:///")
    assert url.endswith("/we\\[ir\\]d \\{ws\\}/a\\*b\\?.parquet")


def test_missing_pyspark_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = spark_module.importlib.util.find_spec
    monkeypatch.setattr(
        spark_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyspark" else real(name, *a),
    )
    with pytest.raises(
        EngineError, match=r"needs pyspark.*the spark extra: pip install '\.\[spark\]'"
    ):
        start_session(SparkSettings())


def test_missing_java_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not spark_module.java_available()
    with pytest.raises(EngineError, match="needs Java 17 or newer") as err:
        start_session(SparkSettings())
    assert "\n" not in str(err.value)


def test_java_home_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "java").write_text("")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert spark_module.java_available()


def test_create_engine(tmp_path: Path) -> None:
    (tmp_path / "meterbill.toml").write_text('[engine.spark]\nlake_url = "gs://b/lake"\n')
    engine = create_engine("spark", workspace_root=tmp_path)
    assert isinstance(engine, SparkEngine)
    assert engine.settings.lake_url == "gs://b/lake"
    assert create_engine("duckdb", workspace_root=tmp_path).name == "duckdb"
    with pytest.raises(WorkspaceError, match="unknown engine 'flink'"):
        create_engine("flink", workspace_root=tmp_path)


def test_only_a_spark_run_imports_pyspark() -> None:
    """``import meterbill``, the engines package and the Spark module load no pyspark."""
    code = (
        "import sys, meterbill, meterbill.workspace, meterbill.engines.spark, meterbill.cli.main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
