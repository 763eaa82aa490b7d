"""Customers and subscriptions: reading import files, validating, upserting by id.

An import is all or nothing: every row is checked first (unknown plan, bad time zone,
``end`` before ``start``, missing ids, an id given twice), every problem is reported
with its row number, and only a clean file is written, in one transaction. A column
the import does not know is refused (a typo such as ``timezon`` would otherwise make
every customer UTC without a word); a known column the file lacks keeps the stored value
of an existing row (a file of names does not move customers to UTC, a file without
``end`` does not reopen ended subscriptions); an empty cell is the default (no ``end``,
UTC, anniversary).

``start``/``end`` are a date (local midnight in the customer's time zone), a timestamp
without offset (local wall clock) or a timestamp with offset (that instant). A wall clock
is kept (``subscription_wall_clocks``) and follows the customer's time zone when a
customers import changes it, as it does when subscriptions come first and create their
customers in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import polars as pl

from meterbill.catalog.model import Catalog
from meterbill.errors import SubscriptionError

_SHOWN = 10
CYCLES = ("anniversary", "calendar")
CUSTOMER_COLUMNS = ("customer_id", "name", "email", "timezone")
SUBSCRIPTION_COLUMNS = ("subscription_id", "customer_id", "plan", "start", "end", "billing_cycle")


def read_table(path: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows of a CSV, JSON lines or Parquet file, every value as text (or None).

    Raises:
        SubscriptionError: the file cannot be read, or has a column not in ``columns``.
    """
    if not path.is_file():
        raise SubscriptionError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            frame = pl.read_ndjson(path, infer_schema_length=None)
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            raise SubscriptionError(
                f"{path}: unknown format {suffix!r} (use .csv, .jsonl or .parquet)"
            )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SubscriptionError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from exc
    unknown = [name for name in frame.columns if name not in columns]
    if unknown:
        raise SubscriptionError(
            f"{path}: nothing imported: unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} "
            f"(the columns are {', '.join(columns)})"
        )
    rows = []
    for row in frame.iter_rows(named=True):
        rows.append({k: (None if v is None or v == "" else str(v)) for k, v in row.items()})
    return rows


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


def wall_clock(text: str) -> datetime | None:
    """The local wall clock ``text`` names (a date is its midnight), or None when it has
    an offset (an instant, whatever the time zone).

    Raises:
        ValueError: not a date or ISO 8601 timestamp.
    """
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time())
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is None else None


def _instant(local: datetime, timezone: str) -> datetime:
    """A wall clock in ``timezone`` as a UTC instant (as ``parse_instant`` reads it)."""
    return local.replace(tzinfo=_zone(timezone)).astimezone(UTC)


def parse_instant(text: str, timezone: str) -> datetime:
    """A date or timestamp as a UTC instant; no offset means the customer's local time."""
    _zone(timezone)  # an unknown zone is refused, even beside an offset
    try:
        local = wall_clock(text)
        if local is None:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        return _instant(local, timezone)
    except ValueError:
        raise ValueError(f"not a date or ISO 8601 timestamp: {text!r}") from None
    except OverflowError:  # year 1 or 9999 moved across the offset to UTC
        raise ValueError(f"out of the supported range of dates: {text!r}") from None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """How many rows an import inserted and updated."""

    inserted: int
    updated: int


def _refuse(path: Path, problems: list[str]) -> None:
    if problems:
        more = f" ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise SubscriptionError(f"{path}: nothing imported: {'; '.join(problems[:_SHOWN])}{more}")


def _twice(number: int, column: str, value: str, first: int) -> str:
    return f"row {number}: {column}: {value!r} is also row {first} (one row per id)"


def _existing(con: duckdb.DuckDBPyConnection, table: str, key: str, ids: Iterable[str]) -> set[str]:
    con.register("import_ids", pl.DataFrame({"id": list(ids)}, schema={"id": pl.String}).to_arrow())
    try:
        rows = con.execute(
            f"SELECT {key} FROM {table} WHERE {key} IN (SELECT id FROM import_ids)"  # noqa: S608 (our names)
        ).fetchall()
    finally:
        con.unregister("import_ids")
    return {row[0] for row in rows}


def _upsert(con: duckdb.DuckDBPyConnection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """``executemany`` that accepts no rows (DuckDB refuses an empty parameter list)."""
    if rows:
        con.executemany(statement, rows)


def import_customers(con: duckdb.DuckDBPyConnection, path: Path) -> ImportResult:
    """Upsert customers from a file (columns customer_id, name, email, timezone)."""
    rows = read_table(path, CUSTOMER_COLUMNS)
    problems, clean, rows_of = [], {}, {}
    for number, row in enumerate(rows, 1):
        customer_id = row.get("customer_id")
        if not customer_id:
            problems.append(f"row {number}: customer_id: required")
            continue
        if customer_id in rows_of:
            problems.append(_twice(number, "customer_id", customer_id, rows_of[customer_id]))
            continue
        rows_of[customer_id] = number
        timezone = row.get("timezone") or "UTC"
        try:
            _zone(timezone)
        except ValueError as exc:
            problems.append(f"row {number}: timezone: {exc}")
            continue
        clean[customer_id] = (customer_id, row.get("name"), row.get("email"), timezone)
    _refuse(path, problems)
    existing = _existing(con, "customers", "customer_id", clean)
    header = set(rows[0]) if rows else set()  # a column the file lacks keeps stored values
    zones_before = dict(con.execute("SELECT customer_id, timezone FROM customers").fetchall())
    moved = {
        cid: row[3]
        for cid, row in clean.items()
        if "timezone" in header and cid in zones_before and zones_before[cid] != row[3]
    }
    given = [c for c in ("name", "email", "timezone") if c in header]
    update = (
        "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in given)
        if given
        else "DO NOTHING"
    )
    _upsert(
        con,
        f"INSERT INTO customers VALUES (?, ?, ?, ?) ON CONFLICT (customer_id) {update}",  # noqa: S608 (our names)
        list(clean.values()),
    )
    _follow_time_zones(con, path, moved)
    return ImportResult(inserted=len(clean) - len(existing), updated=len(existing))


def _follow_time_zones(con: duckdb.DuckDBPyConnection, path: Path, moved: dict[str, str]) -> None:
    """Move the starts and ends given as wall clocks of customers whose time zone changed
    (``moved``: customer -> new zone) to that wall clock in the new zone.

    Raises:
        SubscriptionError: a moved start would reach its end (nothing is committed).
    """
    if not moved:
        return
    rows = con.execute(
        "SELECT s.subscription_id, s.customer_id, s.start_at, s.end_at, w.start_local,"
        " w.end_local FROM subscriptions AS s JOIN subscription_wall_clocks AS w"
        " USING (subscription_id) WHERE list_contains(?, s.customer_id)"
        " ORDER BY s.subscription_id",
        [sorted(moved)],
    ).fetchall()
    updates, problems = [], []
    for sub_id, customer_id, start, end, start_local, end_local in rows:
        zone = moved[customer_id]
        start = start if start_local is None else _instant(start_local, zone)
        end = end if end_local is None else _instant(end_local, zone)
        if end is not None and end <= start:
            problems.append(
                f"customer {customer_id!r}: timezone {zone}: subscription {sub_id!r} would "
                "end before it starts"
            )
        updates.append((start, end, sub_id))
    _refuse(path, problems)
    _upsert(con, "UPDATE subscriptions SET start_at = ?, end_at = ? WHERE subscription_id = ?",
            updates)  # fmt: skip


def import_subscriptions(
    con: duckdb.DuckDBPyConnection, path: Path, catalog: Catalog
) -> ImportResult:
    """Upsert subscriptions (subscription_id, customer_id, plan, start, end, billing_cycle).

    A customer that does not exist yet is created with time zone UTC.
    """
    rows = read_table(path, SUBSCRIPTION_COLUMNS)
    zones = dict(con.execute("SELECT customer_id, timezone FROM customers").fetchall())
    # a column the file lacks keeps an existing subscription's stored value
    keep_end = bool(rows) and "end" not in rows[0]
    keep_cycle = bool(rows) and "billing_cycle" not in rows[0]
    stored = {
        sub_id: (end_at, cycle, end_local)
        for sub_id, end_at, cycle, end_local in con.execute(
            "SELECT s.subscription_id, s.end_at, s.billing_cycle, w.end_local"
            " FROM subscriptions AS s LEFT JOIN subscription_wall_clocks AS w"
            " USING (subscription_id)"
        ).fetchall()
    }
    clocks: list[tuple[str, datetime | None, datetime | None]] = []
    problems: list[str] = []
    clean: dict[str, tuple[Any, ...]] = {}
    rows_of: dict[str, int] = {}
    new_customers: set[str] = set()
    for number, row in enumerate(rows, 1):
        where = f"row {number}"
        missing = [k for k in ("subscription_id", "customer_id", "plan", "start") if not row.get(k)]
        if missing:
            problems.append(f"{where}: {', '.join(missing)}: required")
            continue
        subscription_id = row["subscription_id"]
        if subscription_id in rows_of:
            problems.append(
                _twice(number, "subscription_id", subscription_id, rows_of[subscription_id])
            )
            continue
        rows_of[subscription_id] = number
        plan = row["plan"]
        if plan not in catalog.plans:
            known = ", ".join(sorted(catalog.plans)) or "none"
            problems.append(f"{where}: plan: unknown plan {plan!r}; known plans are {known}")
            continue
        before = stored.get(subscription_id)
        cycle = (before[1] if keep_cycle and before else row.get("billing_cycle")) or "anniversary"
        if cycle not in CYCLES:
            problems.append(
                f"{where}: billing_cycle: must be anniversary or calendar, not {cycle!r}"
            )
            continue
        customer_id = row["customer_id"]
        timezone = zones.get(customer_id, "UTC")
        try:
            start = parse_instant(row["start"], timezone)
        except ValueError as exc:
            problems.append(f"{where}: start: {exc}")
            continue
        try:
            end = parse_instant(row["end"], timezone) if row.get("end") else None
        except ValueError as exc:
            problems.append(f"{where}: end: {exc}")
            continue
        end_local = wall_clock(row["end"]) if row.get("end") else None
        if keep_end and before:
            end, end_local = before[0], before[2]
        if end is not None and end <= start:
            kept = " (the stored end: the file has no end column)" if keep_end and before else ""
            problems.append(f"{where}: end: must be after start{kept}")
            continue
        if customer_id not in zones:
            new_customers.add(customer_id)
        clocks.append((subscription_id, wall_clock(row["start"]), end_local))
        clean[row["subscription_id"]] = (
            row["subscription_id"],
            customer_id,
            plan,
            start,
            end,
            cycle,
        )
    _refuse(path, problems)
    existing = _existing(con, "subscriptions", "subscription_id", clean)
    _upsert(
        con,
        "INSERT INTO customers VALUES (?, NULL, NULL, 'UTC') ON CONFLICT DO NOTHING",
        [(c,) for c in sorted(new_customers)],
    )
    _upsert(
        con,
        "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (subscription_id) DO UPDATE"
        " SET customer_id = excluded.customer_id, plan = excluded.plan,"
        " start_at = excluded.start_at, end_at = excluded.end_at,"
        " billing_cycle = excluded.billing_cycle",
        list(clean.values()),
    )
    _upsert(
        con,
        "INSERT OR REPLACE INTO subscription_wall_clocks VALUES (?, ?, ?)",
        [clock for clock in clocks if clock[1] is not None or clock[2] is not None],
    )
    _upsert(
        con,
        "DELETE FROM subscription_wall_clocks WHERE subscription_id = ?",
        [(clock[0],) for clock in clocks if clock[1] is None and clock[2] is None],
    )
    return ImportResult(inserted=len(clean) - len(existing), updated=len(existing))
