"""Workspace settings (``meterbill.toml``): how to reach engines other than the default.

The file is optional; without it every setting has its default. Today it has one table::

    [engine.spark]
    master = "local[2]"                  # or spark://host:7077, yarn, k8s://...
    # remote = "sc://spark-connect:15002"  # Spark Connect instead of master (not both)
    lake_url = "s3a://billing/acme/lake" # the workspace's lake/ folder as Spark reads it
    [engine.spark.conf]                  # any Spark conf, passed to the session builder
    "spark.hadoop.fs.s3a.endpoint" = "https://s3.eu-west-1.amazonaws.com"

Settings are kept apart from ``catalog.toml``: the catalog is pricing (reviewed, versioned,
the same everywhere), the settings are where this copy of the workspace runs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meterbill.errors import WorkspaceError

SETTINGS_FILE = "meterbill.toml"
_SPARK_KEYS = frozenset({"master", "remote", "lake_url", "conf", "app_name"})
_LAKE_SCHEMES = ("file", "s3a", "s3", "abfss", "abfs", "gs", "hdfs", "wasbs", "dbfs")


@dataclass(frozen=True, slots=True)
class SparkSettings:
    """Where and how the Spark engine runs."""

    #: Spark master URL; ``local[2]`` runs Spark inside this process's JVM on 2 cores.
    master: str = "local[2]"
    #: Spark Connect URL (``sc://host:port``); when set, ``master`` is not used.
    remote: str | None = None
    #: URL of the workspace's ``lake/`` folder as Spark reads it; None: the local folder.
    lake_url: str | None = None
    #: Extra Spark conf (string values), applied before meterbill's required settings.
    conf: dict[str, str] = field(default_factory=dict)
    app_name: str = "meterbill"


def load_spark_settings(root: Path) -> SparkSettings:
    """The ``[engine.spark]`` table of ``ROOT/meterbill.toml`` (defaults without it).

    Raises:
        WorkspaceError: the file is not TOML, or the table has an unknown key or a bad value.
    """
    path = root / SETTINGS_FILE
    if not path.is_file():
        return SparkSettings()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{SETTINGS_FILE}: not valid TOML: {exc}") from None
    engine: Any = document.get("engine", {})
    if not isinstance(engine, dict):
        raise WorkspaceError(f"{SETTINGS_FILE}: engine must be a table")
    table: Any = engine.get("spark", {})
    if not isinstance(table, dict):
        raise WorkspaceError(f"{SETTINGS_FILE}: engine.spark must be a table")
    unknown = sorted(set(table) - _SPARK_KEYS)
    if unknown:
        raise WorkspaceError(
            f"{SETTINGS_FILE}: engine.spark.{unknown[0]}: unknown key; "
            f"known keys are {', '.join(sorted(_SPARK_KEYS))}"
        )
    for key in ("master", "remote", "lake_url", "app_name"):
        if key in table and (not isinstance(table[key], str) or not table[key].strip()):
            raise WorkspaceError(f"{SETTINGS_FILE}: engine.spark.{key}: must be a non-empty string")
    if "master" in table and "remote" in table:
        raise WorkspaceError(
            f"{SETTINGS_FILE}: engine.spark: set master or remote (Spark Connect), not both"
        )
    lake_url = table.get("lake_url")
    if lake_url is not None and lake_url.split("://", 1)[0] not in _LAKE_SCHEMES:
        raise WorkspaceError(
            f"{SETTINGS_FILE}: engine.spark.lake_url: {lake_url!r} is not a URL with a scheme "
            f"Spark reads ({', '.join(s + '://' for s in _LAKE_SCHEMES)})"
        )
    conf = table.get("conf", {})
    if not isinstance(conf, dict) or any(isinstance(v, dict | list) for v in conf.values()):
        raise WorkspaceError(f"{SETTINGS_FILE}: engine.spark.conf: must be a table of values")
    return SparkSettings(
        master=table.get("master", "local[2]"),
        remote=table.get("remote"),
        lake_url=lake_url.rstrip("/") if lake_url else None,
        conf={str(k): _conf_text(v) for k, v in conf.items()},
        app_name=table.get("app_name", "meterbill"),
    )


def _conf_text(value: object) -> str:
    """Spark conf values are strings; TOML booleans become ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
