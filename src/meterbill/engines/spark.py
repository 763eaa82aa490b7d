"""The Spark engine: the same compiled query, transpiled, over the lake's Parquet in place.

The only module that imports pyspark, and only when a Spark run starts, so ``import
meterbill`` and every DuckDB run work without it (the ``spark`` extra:
``pip install '.[spark]'`` from a checkout).

A run binds three temporary views, as the DuckDB engine does: ``lake_events`` (exactly
the manifest's files, read with ``mergeSchema`` since property columns differ between
files, with a typed NULL for any column no file has yet, cut to the run's window),
``billing_periods`` and ``covered_spans`` (from Arrow, UTC instants). It runs
``CompiledRun.sql("spark")`` and splits the rows (Arrow) into the same ``EngineResult``
as DuckDB's, so invoice assembly, the ledger and exports are shared code. The session
always runs with the settings the SQL's meaning depends on (``REQUIRED_CONF``); they are
set on every run, after any user conf, so a shared session or a workspace's ``conf``
table cannot change results.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
from sqlglot import exp

from meterbill.compiler.compiled import RESULT_SCHEMA, CompiledRun
from meterbill.engines.base import (
    EngineResult,
    covered_table,
    empty_result,
    numbered_periods,
    run_window,
    split_result,
)
from meterbill.errors import EngineError
from meterbill.settings import SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Settings the compiled SQL's meaning depends on. ANSI: overflow and bad casts are errors
#: (as in DuckDB), never NULL. UTC: period bounds and timestamps are instants. No precision
#: loss: decimal + - * get DuckDB's result types (DECIMAL(38,12) * DECIMAL(38,12) is
#: DECIMAL(38,24), where Spark's default would cut it to DECIMAL(38,6)).
REQUIRED_CONF: dict[str, str] = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
}
#: Defaults for a local master (the user's conf wins): no web UI, loopback only, and as
#: many shuffle partitions as cores instead of 200 (an invoice run's groups are small).
_LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.memory": "2g",
}
_INSTALL_HINT = "install the spark extra: pip install '.[spark]' from a checkout, or pyspark>=4"
_GLOB_CHARS = "\\{}[]*?"


class SparkEngine:
    """Runs compiled SQL on Spark (local, a cluster master, or Spark Connect)."""

    name = "spark"

    def __init__(
        self,
        settings: SparkSettings | None = None,
        *,
        lake_root: Path | None = None,
        session: SparkSession | None = None,
    ) -> None:
        """Create the engine; the session starts on the first run (or use ``session``).

        ``lake_root`` is the local folder that ``settings.lake_url`` stands for (the
        workspace's ``lake/``): each lake file's path below it is appended to the URL.
        """
        self.settings = settings or SparkSettings()
        self._lake_root = lake_root
        self._session = session

    # -- the session ------------------------------------------------------------------

    def session(self) -> SparkSession:
        """The Spark session, started on first use with the settings' master and conf.

        Raises:
            EngineError: pyspark is not installed, or Java is missing for a local Spark.
        """
        if self._session is None:
            self._session = start_session(self.settings)
        for key, value in REQUIRED_CONF.items():
            self._session.conf.set(key, value)
        return self._session

    # -- the run ----------------------------------------------------------------------

    def run(
        self,
        compiled: CompiledRun,
        *,
        lake_files: list[Path],
        periods: pl.DataFrame,
        sql_path: Path,
        covered: pl.DataFrame | None = None,
        until: datetime | None = None,
    ) -> EngineResult:
        """Run the compiled query; see ``Engine.run``."""
        if compiled.text is None or periods.is_empty():
            return empty_result()
        session = self.session()
        errors = _spark_errors()
        try:
            self.bind(session, compiled, lake_files, periods, covered=covered, until=until)
            table: pa.Table = session.sql(compiled.sql("spark")).toArrow()
        except errors as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EngineError(f"spark: {first}; compiled SQL at {sql_path}") from exc
        rows = pl.from_arrow(table)
        assert isinstance(rows, pl.DataFrame)
        return split_result(rows.cast(RESULT_SCHEMA))  # type: ignore[arg-type]

    def bind(
        self,
        session: SparkSession,
        compiled: CompiledRun,
        lake_files: list[Path],
        periods: pl.DataFrame,
        *,
        covered: pl.DataFrame | None = None,
        until: datetime | None = None,
    ) -> None:
        """Create the query's three temporary views: lake_events, billing_periods, covered_spans."""
        lake = self.bind_lake(
            session, lake_files, compiled.columns, window=run_window(periods, until)
        )
        lake.createOrReplaceTempView("lake_events")
        for name, frame in (
            ("billing_periods", numbered_periods(periods)),
            ("covered_spans", covered_table(covered)),
        ):
            session.createDataFrame(frame.to_arrow()).createOrReplaceTempView(name)

    def bind_lake(
        self,
        session: SparkSession,
        lake_files: list[Path],
        columns: dict[str, str],
        *,
        window: tuple[datetime, datetime] | None = None,
    ) -> DataFrame:
        """The lake's files with exactly ``columns`` (typed NULL where no file has one).

        With ``window`` (start, end): only events with ``start <= timestamp < end``.
        """
        projections: list[str] = []
        present: set[str] = set()
        source = None
        if lake_files:
            urls = [self.lake_url(path) for path in lake_files]
            source = session.read.option("mergeSchema", "true").parquet(*urls)
            present = set(source.columns)
        for name, sql_type in columns.items():
            column = exp.to_identifier(name, quoted=True)
            if name in present:
                projections.append(column.sql("spark"))
            else:
                typed_null = exp.cast(exp.null(), exp.DataType.build(sql_type, dialect="duckdb"))
                projections.append(exp.alias_(typed_null, column).sql("spark"))
        if source is None:
            return session.sql(f"SELECT {', '.join(projections)} WHERE false")
        relation = source.selectExpr(*projections)
        if window is not None:
            from pyspark.sql import functions

            timestamp = functions.col("timestamp")
            relation = relation.filter(
                (timestamp >= functions.lit(window[0])) & (timestamp < functions.lit(window[1]))
            )
        return relation

    def lake_url(self, path: Path) -> str:
        """Where Spark reads one lake file: under ``lake_url``, or the local file."""
        if self.settings.lake_url and self._lake_root is not None:
            relative = path.resolve().relative_to(self._lake_root.resolve()).as_posix()
            url = f"{self.settings.lake_url}/{relative}"
        else:
            url = "file://" + path.resolve().as_posix()
        # Spark globs a path holding any of these; escaped, they match themselves.
        return "".join("\\" + c if c in _GLOB_CHARS else c for c in url)


def start_session(settings: SparkSettings) -> SparkSession:
    """Start (or join) the process's Spark session for these settings.

    Raises:
        EngineError: pyspark is not installed, or a local Spark has no Java to run on.
    """
    if importlib.util.find_spec("pyspark") is None:
        raise EngineError(
            f"the Spark engine needs pyspark, which is not installed: {_INSTALL_HINT}"
        )
    if settings.remote is None and not java_available():
        raise EngineError(
            "the Spark engine needs Java 17 or newer to run Spark, and found none (no java "
            "on PATH, JAVA_HOME not set): install a JDK or JRE 17+, or set engine.spark.remote "
            "to a Spark Connect server in meterbill.toml"
        )
    from pyspark.sql import SparkSession

    # pyspark logs every failed query's context (JSON, many lines) to stderr; the
    # EngineError carries the first line, and stderr stays one line per error.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    builder: Any = SparkSession.builder.appName(settings.app_name)
    conf = dict(settings.conf)
    if settings.remote is not None:
        builder = builder.remote(settings.remote)
    else:
        builder = builder.master(settings.master)
        if settings.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            conf = {**_LOCAL_DEFAULTS, **conf}
    for key, value in {**conf, **REQUIRED_CONF}.items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # py4j and pyspark raise many types while starting up
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EngineError(f"spark: could not start a session: {first}") from exc
    if settings.remote is None:
        session.sparkContext.setLogLevel("FATAL")  # errors reach the user as EngineError
    return session


def java_available() -> bool:
    """Whether a ``java`` executable is on PATH or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return True
    return shutil.which("java") is not None


def _spark_errors() -> tuple[type[BaseException], ...]:
    """The exception types a failing Spark query raises (pyspark's and py4j's)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError)
