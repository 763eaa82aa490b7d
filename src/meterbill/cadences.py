"""Each plan's cadence (interval and count): what billing periods need of the catalog.

Runs and subscriptions imports record every catalog plan's cadence in the state
(``plan_cadences``), so ``invoice finalize``, which prices nothing, can check drafts
against the subscriptions' periods without reading ``catalog.toml`` (a plan removed from
it since the run keeps the cadence its drafts were priced with).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from meterbill.catalog import Catalog
from meterbill.periods import Interval


@dataclass(frozen=True, slots=True)
class Cadence:
    """What a subscription's periods need of its plan (a ``Plan`` has the same names)."""

    interval: Interval
    interval_count: int


def of(source: Catalog | duckdb.DuckDBPyConnection) -> dict[str, Cadence]:
    """Each plan's interval: from the catalog, or as the state recorded it last
    (``plan_cadences``, kept by ``record``)."""
    if isinstance(source, Catalog):
        return {k: Cadence(p.interval, p.interval_count) for k, p in source.plans.items()}
    rows = source.execute("SELECT plan, plan_interval, interval_count FROM plan_cadences")
    return {plan: Cadence(interval, count) for plan, interval, count in rows.fetchall()}


def record(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    """Upsert the catalog's plan intervals into ``plan_cadences`` (a plan the catalog lost
    keeps the interval it had, which its drafts were priced with)."""
    rows = [(k, c.interval, c.interval_count) for k, c in of(catalog).items()]
    if rows:
        con.executemany(
            "INSERT OR REPLACE INTO plan_cadences VALUES (?, ?, ?)",
            rows,  # type: ignore[arg-type]
        )
