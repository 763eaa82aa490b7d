"""meterbill.toml: the [engine.spark] table, its defaults and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterbill.errors import WorkspaceError
from meterbill.settings import SparkSettings, load_spark_settings


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_spark_settings(tmp_path) == SparkSettings()
    assert SparkSettings().master == "local[2]"


def test_full_table(tmp_path: Path) -> None:
    (tmp_path / "meterbill.toml").write_text(
        '[engine.spark]\nmaster = "spark://head:7077"\nlake_url = "s3a://billing/acme/lake/"\n'
        '[engine.spark.conf]\n"spark.executor.memory" = "4g"\n"spark.hadoop.fs.s3a.path.style.access" = true\n'
    )
    settings = load_spark_settings(tmp_path)
    assert settings.master == "spark://head:7077"
    assert settings.remote is None
    assert settings.lake_url == "s3a://billing/acme/lake"
    assert settings.conf == {
        "spark.executor.memory": "4g",
        "spark.hadoop.fs.s3a.path.style.access": "true",
    }


def test_spark_connect(tmp_path: Path) -> None:
    (tmp_path / "meterbill.toml").write_text('[engine.spark]\nremote = "sc://connect:15002"\n')
    assert load_spark_settings(tmp_path).remote == "sc://connect:15002"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engine.spark\n", "not valid TOML"),
        ('[engine.spark]\nmastr = "local"\n', "engine.spark.mastr: unknown key"),
        ('[engine.spark]\nmaster = "local"\nremote = "sc://x"\n', "not both"),
        ('[engine.spark]\nlake_url = "/data/lake"\n', "engine.spark.lake_url"),
        ("[engine.spark]\nmaster = 2\n", "engine.spark.master: must be a non-empty string"),
        ('[engine.spark]\nconf = { a = { b = "c" } }\n', "engine.spark.conf"),
        ('engine = "spark"\n', "engine must be a table"),
        ('[engine]\nspark = "local"\n', "engine.spark must be a table"),
    ],
)
def test_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "meterbill.toml").write_text(text)
    with pytest.raises(WorkspaceError, match=r"meterbill\.toml") as err:
        load_spark_settings(tmp_path)
    assert message in str(err.value)
