"""``meterbill bench``: a synthetic month of usage, and the invoice run timed against a floor.

PRODUCT.md's speed bar: an invoice run over a month of events (50M events, 10k
customers, the O1 plan and a few more meters) costs at most 3x a bare DuckDB
``SELECT customer_id, sum(tokens) ... GROUP BY 1`` over the same lake, whole process
against whole process. This module builds that workspace and measures that ratio.

Decisions, with the numbers behind them (2 cores, DuckDB 2.0):

* The lake is written straight from DuckDB SQL (``range`` -> one ``COPY`` per UTC day),
  never through ``ingest``: 20M events take ~22 s and 50M ~80 s this way (peak RSS
  2 GB). The files have the layout, column types and compression ingest writes
  (``lake/events/date=D/<ingest_id>-<n>.parquet``, zstd; the date is only in the folder
  name, never a column), and are registered in the state in one transaction, as ingest
  does.
* Values come from ``hash(i, seed, k)``, not ``random()``: the same seed gives the same
  events whatever the thread count.
* Rows are sorted by ``customer_id`` (then timestamp) inside each file. Measured on 20M
  events, whole process: the floor takes 0.39 s sorted by customer vs 0.45 s sorted by
  timestamp, and invoice-run query shapes 1.1-1.9 s vs 1.8-2.3 s (hash tables keyed by
  customer stay in cache). ``sort_by="timestamp"`` writes ingest's current order.
* One ``COPY`` per day (two days at a time) keeps memory bounded by two days' events.
* Timings are whole processes (``sys.executable``), wall clock, best of N after one
  warm-up of each side, because the bar is process against process: imports, state
  and invoice writing count, as they do for a user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final, Literal
from uuid import uuid4

import duckdb

from meterbill.compiler.sqlvalues import lit
from meterbill.errors import MeterbillError, WorkspaceError
from meterbill.events.lake import EVENTS_DIR, LakeFile, register_lake_files
from meterbill.state import STATE_FILE, connect_state, scalar, workspace_lock
from meterbill.workspace import CATALOG_FILE, example_dir

Progress = Callable[[str], None]
SortOrder = Literal["customer", "timestamp"]

#: PRODUCT.md's bar: the invoice run costs at most this many floors.
TARGET_RATIO: Final = 3.0
#: The benchmark month: October 2026, UTC.
MONTH_START: Final = date(2026, 10, 1)
MONTH_DAYS: Final = 31
PLAN: Final = "openai_o1"

#: Share of events that are ``api.request`` (counted by ``api_requests``), in percent.
_API_PERCENT: Final = 5
_MAX_TOKENS: Final = 20_000
_MAX_CONTEXT: Final = 128_000
_MICROS_PER_DAY: Final = 86_400_000_000
#: Generous for two days of 50M/31 events each (peak RSS measured 2 GB); spills beyond.
_MEMORY_LIMIT: Final = "4GB"
#: Days written at once (see ``_write_lake``).
_PARALLEL_DAYS: Final = 2

#: Three more meters priced in the seed's O1 plan (the shipped example's catalog.toml), so
#: every bench invoice has all six lines.
_EXTRA_METERS: Final = """\

# -- the bench's extra meters ---------------------------------------------------------

[meters.gpt4o_input_tokens]
name = "GPT-4o Input Tokens"
event_name = "llm.usage"
aggregation = "sum"
field = "tokens"
filters = { model = ["gpt-4o"], prompt_type = ["input"] }

[meters.api_requests]
name = "API Requests"
event_name = "api.request"
aggregation = "count"

[meters.max_context]
name = "Max Context Tokens"
event_name = "llm.usage"
aggregation = "max"
field = "context_tokens"

[[plans.openai_o1.prices]]
meter = "gpt4o_input_tokens"
model = "per_unit"
unit_amount = "0.0000025"

[[plans.openai_o1.prices]]
meter = "api_requests"
model = "package"
package_size = 1000
amount = "0.50"

[[plans.openai_o1.prices]]
meter = "max_context"
model = "per_unit"
unit_amount = "0.00001"
"""

#: The lake columns in file order (core, then p__K/n__K by key), with their SQL types.
LAKE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "VARCHAR"),
    ("event_name", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("timestamp", "TIMESTAMP WITH TIME ZONE"),
    ("source", "VARCHAR"),
    ("ingest_id", "VARCHAR"),
    ("p__context_tokens", "VARCHAR"),
    ("n__context_tokens", "DECIMAL(38,12)"),
    ("p__model", "VARCHAR"),
    ("p__prompt_type", "VARCHAR"),
    ("p__tokens", "VARCHAR"),
    ("n__tokens", "DECIMAL(38,12)"),
)

# One day of events. Parameters: $seed, $customers, $width (digits of customer numbers),
# $lo, $hi (the day's slice of the global row number i), $ingest_id, $day_start,
# $by_customer, and the value ranges. Each attribute has its own hash so the attributes
# are independent; api.request events have no token properties.
_DAY_SQL: Final = """
WITH g AS (
    SELECT i,
           hash(i, $seed, 1) AS h_customer,
           hash(i, $seed, 2) AS h_kind,
           hash(i, $seed, 3) AS h_amount,
           hash(i, $seed, 4) AS h_time
    FROM range($lo, $hi) AS t(i)
), r AS (
    SELECT i,
           (h_kind % 100) < $api_percent AS is_api,
           ((h_kind // 100) % 3)::INTEGER AS model,
           ((h_kind // 300) % 3)::INTEGER AS prompt_type,
           (1 + h_customer % $customers)::BIGINT AS customer,
           (1 + h_amount % $max_tokens)::BIGINT AS tokens,
           (1 + (h_amount // $max_tokens) % $max_context)::BIGINT AS context_tokens,
           (h_time % $micros_per_day)::BIGINT AS micros
    FROM g
)
SELECT 'bench-' || i AS event_id,
       CASE WHEN is_api THEN 'api.request' ELSE 'llm.usage' END AS event_name,
       'cust_' || lpad(customer::VARCHAR, $width, '0') AS customer_id,
       $day_start::TIMESTAMPTZ + to_microseconds(micros) AS "timestamp",
       NULL::VARCHAR AS source,
       $ingest_id::VARCHAR AS ingest_id,
       CASE WHEN NOT is_api THEN context_tokens::VARCHAR END AS p__context_tokens,
       CASE WHEN NOT is_api THEN context_tokens::DECIMAL(38,12) END AS n__context_tokens,
       CASE model WHEN 0 THEN 'OpenAI O1' WHEN 1 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END
           AS p__model,
       CASE WHEN NOT is_api THEN
           CASE prompt_type WHEN 0 THEN 'input' WHEN 1 THEN 'output' ELSE 'cached_input' END
       END AS p__prompt_type,
       CASE WHEN NOT is_api THEN tokens::VARCHAR END AS p__tokens,
       CASE WHEN NOT is_api THEN tokens::DECIMAL(38,12) END AS n__tokens
FROM r
ORDER BY CASE WHEN $by_customer THEN customer_id END, "timestamp", i
"""
_SORT_ORDERS: Final = ("customer", "timestamp")
_FILE_STATS_SQL: Final = """
SELECT filename, count(*), min("timestamp"), max("timestamp")
FROM read_parquet($files, filename = true, hive_partitioning = false)
GROUP BY filename ORDER BY filename
"""
_CUSTOMERS_SQL: Final = """
INSERT INTO customers (customer_id, name, email, timezone)
SELECT 'cust_' || n, 'Customer ' || n, 'cust_' || n || '@example.com', 'UTC'
FROM (SELECT lpad(i::VARCHAR, $width, '0') AS n FROM range(1, $customers + 1) AS t(i))
"""
_SUBSCRIPTIONS_SQL: Final = """
INSERT INTO subscriptions (subscription_id, customer_id, plan, start_at, end_at, billing_cycle)
SELECT 'sub_' || n, 'cust_' || n, $plan, $start, NULL, 'anniversary'
FROM (SELECT lpad(i::VARCHAR, $width, '0') AS n FROM range(1, $customers + 1) AS t(i))
"""

#: The floor, run as ``python -c FLOOR_SCRIPT FILE...``: the files arrive as argv and
#: reach DuckDB as one bound list parameter, so no path is ever spliced into SQL.
FLOOR_SCRIPT: Final = """\
import sys
import duckdb
con = duckdb.connect()
con.execute(
    "SELECT customer_id, sum(n__tokens) FROM read_parquet($1) GROUP BY 1", [sys.argv[1:]]
).fetchall()
"""


def generate_workspace(
    root: Path,
    *,
    events: int = 50_000_000,
    customers: int = 10_000,
    seed: int = 42,
    on_progress: Progress | None = None,
    sort_by: SortOrder = "customer",
) -> None:
    """Create a bench workspace: catalog, one month of synthetic events, customers.

    Events are spread evenly over the days of October 2026 (UTC) and uniformly over
    customers ``cust_00001``...; about 5% are ``api.request``, the rest ``llm.usage``
    with a model, a prompt type, ``tokens`` (1..20000) and ``context_tokens``
    (1..128000). Every customer has one anniversary subscription to ``openai_o1`` from
    2026-10-01, so ``invoice run --through 2026-11-01`` bills one month for each.

    Args:
        root: the folder to create (it may exist, but must not hold a workspace).
        events: how many events to write.
        customers: how many customers (and subscriptions) to create.
        seed: the same seed gives the same events.
        on_progress: called with a line describing each step.
        sort_by: row order inside each lake file (see the module docstring).

    Raises:
        WorkspaceError: ``root`` is a file or already holds a workspace or a lake.
        MeterbillError: ``events`` < 0, ``customers`` < 1 or an unknown ``sort_by``.
    """
    if events < 0 or customers < 1:
        raise MeterbillError(
            f"bench: need events >= 0 and customers >= 1, not {events} and {customers}"
        )
    if sort_by not in _SORT_ORDERS:
        raise MeterbillError(f"bench: sort_by must be one of {_SORT_ORDERS}, not {sort_by!r}")
    progress = on_progress or _quiet
    root = Path(root)
    _prepare_folder(root)
    ingest_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid4().hex[:8]}"
    width = max(5, len(str(customers)))
    with tempfile.TemporaryDirectory(prefix=".bench-spill-", dir=root) as spill:
        files = _write_lake(
            root,
            events=events,
            customers=customers,
            seed=seed,
            width=width,
            ingest_id=ingest_id,
            by_customer=sort_by == "customer",
            spill=Path(spill),
            progress=progress,
        )
    progress(f"registering {len(files)} lake files and {customers:,} customers in the state")
    _register(root, files, events=events, customers=customers, width=width, ingest_id=ingest_id)
    # Written last: a folder without catalog.toml is not a workspace, so a crash above
    # never leaves something that looks like a complete bench workspace.
    seed = (example_dir("openai-o1") / CATALOG_FILE).read_text(encoding="utf-8")
    (root / CATALOG_FILE).write_text(seed + _EXTRA_METERS, encoding="utf-8")


def _quiet(_: str) -> None:
    return None


def _prepare_folder(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder")
    for name in (CATALOG_FILE, STATE_FILE, "lake"):
        if (root / name).exists():
            raise WorkspaceError(
                f"{root} already holds a workspace ({name}); bench generates into a new folder"
            )
    root.mkdir(parents=True, exist_ok=True)


def _write_lake(
    root: Path,
    *,
    events: int,
    customers: int,
    seed: int,
    width: int,
    ingest_id: str,
    by_customer: bool,
    spill: Path,
    progress: Progress,
) -> list[LakeFile]:
    """Write one Parquet file per day that has events; return them with their stats."""
    days: list[tuple[str, date, int, int]] = []  # (relative path, day, lo, hi)
    for offset in range(MONTH_DAYS):
        lo, hi = events * offset // MONTH_DAYS, events * (offset + 1) // MONTH_DAYS
        if lo < hi:
            day = MONTH_START + timedelta(days=offset)
            name = f"{ingest_id}-{len(days)}.parquet"
            days.append((f"{EVENTS_DIR}/date={day.isoformat()}/{name}", day, lo, hi))
    if not days:
        return []
    absolute = [str(root.joinpath(*relative.split("/"))) for relative, *_ in days]
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = {lit(_MEMORY_LIMIT)}")
        con.execute(f"SET temp_directory = {lit(str(spill))}")

        def write_day(index: int) -> None:
            _, day, lo, hi = days[index]
            path = Path(absolute[index])
            path.parent.mkdir(parents=True, exist_ok=True)
            with con.cursor() as cursor:
                cursor.execute(
                    f"COPY ({_DAY_SQL}) TO {lit(str(path))} (FORMAT parquet, COMPRESSION zstd)",
                    {
                        "seed": seed,
                        "customers": customers,
                        "width": width,
                        "lo": lo,
                        "hi": hi,
                        "ingest_id": ingest_id,
                        "day_start": f"{day.isoformat()} 00:00:00+00",
                        "by_customer": by_customer,
                        "api_percent": _API_PERCENT,
                        "max_tokens": _MAX_TOKENS,
                        "max_context": _MAX_CONTEXT,
                        "micros_per_day": _MICROS_PER_DAY,
                    },
                )

        # Two days at a time: one ordered COPY keeps only ~1.1 of 2 cores busy (its
        # sorted write is mostly serial); two overlap to ~1.8 (20M events: 35 s -> 22 s).
        pool = ThreadPoolExecutor(max_workers=_PARALLEL_DAYS)
        pending = [pool.submit(write_day, index) for index in range(len(days))]
        try:
            for done, future in enumerate(as_completed(pending), start=1):
                future.result()
                progress(f"wrote {done}/{len(days)} days of events")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(root / "lake", ignore_errors=True)  # ours: refused if it existed
            raise
        pool.shutdown()
        stats = {
            row[0]: row[1:] for row in con.execute(_FILE_STATS_SQL, {"files": absolute}).fetchall()
        }
    return [
        LakeFile(relative, day, *stats[path], columns=LAKE_COLUMNS)
        for (relative, day, _, _), path in zip(days, absolute, strict=True)
    ]


def _register(
    root: Path,
    files: Sequence[LakeFile],
    *,
    events: int,
    customers: int,
    width: int,
    ingest_id: str,
) -> None:
    """Record the lake, the ingest, customers and subscriptions in one transaction."""
    start = datetime(MONTH_START.year, MONTH_START.month, MONTH_START.day, tzinfo=UTC)
    with workspace_lock(root):
        con = connect_state(root)
        try:
            con.begin()
            register_lake_files(con, ingest_id, files)
            con.execute(
                "INSERT INTO ingests (ingest_id, committed_at, sources, records_read, "
                "accepted, duplicates, rejected) VALUES (?, ?, ?, ?, ?, 0, 0)",
                [ingest_id, datetime.now(UTC), json.dumps(["bench"]), events, events],
            )
            con.execute(_CUSTOMERS_SQL, {"width": width, "customers": customers})
            con.execute(
                _SUBSCRIPTIONS_SQL,
                {"width": width, "customers": customers, "plan": PLAN, "start": start},
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()


# -- timing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchResult:
    """The bench's figures: seconds are whole-process wall clock.

    Attributes:
        events: events in the lake (from the manifest).
        customers: customers in the state.
        invoices: invoices in the state after the runs.
        floor_seconds: best of ``floor_times``.
        run_seconds: best of ``run_times``.
        ratio: ``run_seconds / floor_seconds``; PRODUCT.md's bar is ``<= TARGET_RATIO``.
        floor_times: every timed floor process, in order (warm-up excluded).
        run_times: every timed invoice-run process, in order (warm-up excluded).
    """

    events: int
    customers: int
    invoices: int
    floor_seconds: float
    run_seconds: float
    ratio: float
    floor_times: tuple[float, ...]
    run_times: tuple[float, ...]

    @property
    def meets_target(self) -> bool:
        """Whether the run costs at most ``TARGET_RATIO`` floors."""
        return self.ratio <= TARGET_RATIO


def run_command_for(root: Path, *, through: str = "2026-11-01") -> list[str]:
    """The invoice-run process the bench times (``-w`` is an option of ``run``)."""
    return [
        sys.executable, "-m", "meterbill", "invoice", "run", "--through", through,
        "-w", str(root),
    ]  # fmt: skip


def floor_command(files: Sequence[str]) -> list[str]:
    """The floor process: bare DuckDB ``sum(n__tokens) GROUP BY customer_id`` over ``files``."""
    return [sys.executable, "-c", FLOOR_SCRIPT, *files]


def run_bench(
    root: Path,
    *,
    through: str = "2026-11-01",
    repeat: int = 3,
    on_progress: Progress | None = None,
    run_command: Sequence[str] | None = None,
) -> BenchResult:
    """Time the invoice run against the floor over the workspace's lake.

    Each side runs once untimed (to warm the file cache), then ``repeat`` times,
    alternating floor and run so that a noisy moment hurts both; the best of each counts.

    Args:
        root: a workspace made by ``generate_workspace`` (or any workspace with a lake).
        through: the ``invoice run --through`` date.
        repeat: timed runs of each side.
        on_progress: called with a line before each process.
        run_command: the process to time instead of ``meterbill invoice run`` (tests).

    Raises:
        WorkspaceError: ``root`` has no state or an empty lake.
        MeterbillError: ``repeat`` < 1; a timed process failed (its last stderr line is
            in the message); or ``meterbill invoice run`` left no invoice in the state
            (a run that bills nothing would make a meaningless ratio).
    """
    if repeat < 1:
        raise MeterbillError(f"bench: repeat must be >= 1, not {repeat}")
    progress = on_progress or _quiet
    root = Path(root).resolve()
    files, events, customers = _read_manifest(root)
    floor = floor_command(files)
    run = list(run_command) if run_command is not None else run_command_for(root, through=through)
    env = child_environment()
    progress("warming up: floor")
    timed(floor, env=env, what="floor")
    progress("warming up: invoice run")
    timed(run, env=env, what="invoice run")
    floor_times: list[float] = []
    run_times: list[float] = []
    for attempt in range(1, repeat + 1):
        progress(f"floor {attempt}/{repeat}")
        floor_times.append(timed(floor, env=env, what="floor"))
        progress(f"invoice run {attempt}/{repeat}")
        run_times.append(timed(run, env=env, what="invoice run"))
    invoices = _count_invoices(root)
    if run_command is None and invoices == 0:
        raise MeterbillError(
            f"bench: the invoice run billed nothing through {through}; nothing to compare"
        )
    floor_best, run_best = min(floor_times), min(run_times)
    return BenchResult(
        events=events,
        customers=customers,
        invoices=invoices,
        floor_seconds=floor_best,
        run_seconds=run_best,
        ratio=run_best / floor_best,
        floor_times=tuple(floor_times),
        run_times=tuple(run_times),
    )


def format_bench(result: BenchResult) -> str:
    """The bench's figures as aligned lines of text, for the CLI."""
    verdict = "met" if result.meets_target else "MISSED"

    def times(values: tuple[float, ...]) -> str:
        return ", ".join(f"{value:.3f}" for value in values)

    return "\n".join(
        [
            f"events       {result.events:>14,}",
            f"customers    {result.customers:>14,}",
            f"invoices     {result.invoices:>14,}",
            f"floor        {result.floor_seconds:>12.3f} s   "
            f"(bare DuckDB GROUP BY; runs: {times(result.floor_times)})",
            f"invoice run  {result.run_seconds:>12.3f} s   "
            f"(whole process; runs: {times(result.run_times)})",
            f"ratio        {result.ratio:>12.2f} x   (target <= {TARGET_RATIO:g}x: {verdict})",
        ]
    )


def _read_manifest(root: Path) -> tuple[list[str], int, int]:
    """The lake's files (absolute), its event count, and the customer count."""
    if not (root / STATE_FILE).is_file():
        raise WorkspaceError(f"{root} has no {STATE_FILE}; generate a bench workspace first")
    with workspace_lock(root):
        con = connect_state(root)
        try:
            rows = con.execute("SELECT path FROM lake_files ORDER BY path").fetchall()
            events = scalar(con, "SELECT coalesce(sum(row_count), 0) FROM lake_files")
            customers = scalar(con, "SELECT count(*) FROM customers")
        finally:
            con.close()
    if not rows:
        raise WorkspaceError(f"{root} has no lake files to time")
    files = [str(root.joinpath(*path.split("/"))) for (path,) in rows]
    return files, int(events), int(customers)  # type: ignore[call-overload]


def _count_invoices(root: Path) -> int:
    with workspace_lock(root):
        con = connect_state(root)
        try:
            return int(scalar(con, "SELECT count(*) FROM invoices"))  # type: ignore[call-overload]
        finally:
            con.close()


def child_environment() -> dict[str, str]:
    """This environment, with the folder this meterbill came from first on PYTHONPATH.

    So that ``python -m meterbill`` in the child runs this very code, installed or not.
    """
    env = dict(os.environ)
    source = str(Path(__file__).resolve().parent.parent)
    paths = [source, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def timed(command: Sequence[str], *, env: dict[str, str], what: str) -> float:
    """Run ``command`` to completion; return its wall-clock seconds."""
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1] if lines else "no message"
        code = completed.returncode
        raise MeterbillError(f"bench: the {what} process failed (exit {code}): {last}")
    return elapsed
