"""Shared fixtures: example paths, a tiny lake writer, and the engine run used by pricing tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meterbill.catalog import parse_catalog
from meterbill.compiler import compile_run
from meterbill.engines.duckdb import DuckDBEngine
from meterbill.invoices.assemble import assemble
from meterbill.invoices.billing import PERIOD_SCHEMA

os.environ.setdefault("TZ", "UTC")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "openai-o1"
OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def example_dir() -> Path:
    """The shipped O1 example (catalog, customers, subscriptions, events)."""
    return EXAMPLE


def write_lake_file(path: Path, events: list[dict[str, Any]]) -> Path:
    """Write events as one lake file: base columns plus p__/n__ columns per property.

    ``events`` items: customer_id, timestamp (datetime), event_name, properties dict.
    Property values: str (text; numeric if it reads as a decimal), int/Decimal (number),
    bool (text only).
    """
    keys = sorted({k for e in events for k in e.get("properties", {})})
    columns: dict[str, Any] = {
        "event_id": pa.array(
            [e.get("event_id", f"e{i}") for i, e in enumerate(events)], pa.string()
        ),
        "event_name": pa.array([e.get("event_name", "usage") for e in events], pa.string()),
        "customer_id": pa.array([e.get("customer_id", "c1") for e in events], pa.string()),
        "timestamp": pa.array([e.get("timestamp", OCT) for e in events], pa.timestamp("us", "UTC")),
        "source": pa.array([None] * len(events), pa.string()),
    }
    for key in keys:
        texts, numbers = [], []
        for e in events:
            value = e.get("properties", {}).get(key)
            if value is None:
                texts.append(None)
                numbers.append(None)
            elif isinstance(value, bool):
                texts.append(str(value).lower())
                numbers.append(None)
            else:
                texts.append(str(value))
                try:
                    with localcontext() as context:  # 26 + 12 digits: beyond the default 28
                        context.prec = 38
                        numbers.append(Decimal(str(value)).quantize(Decimal("1e-12")))
                except ArithmeticError:
                    numbers.append(None)
        columns["p__" + key] = pa.array(texts, pa.string())
        columns["n__" + key] = pa.array(numbers, pa.decimal128(38, 12))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def periods_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A billing_periods frame: invoice_id, subscription_id, customer_id, plan, bounds, days."""
    full = [
        {
            "invoice_id": r.get("invoice_id", f"inv_{r.get('customer_id', 'c1')}"),
            "subscription_id": r.get("subscription_id", f"sub_{r.get('customer_id', 'c1')}"),
            "customer_id": r.get("customer_id", "c1"),
            "plan": r["plan"],
            "period_start": r.get("period_start", OCT),
            "period_end": r.get("period_end", NOV),
            "days": r.get("days", 31),
            "full_days": r.get("full_days", 31),
        }
        for r in rows
    ]
    return pl.DataFrame(full, schema=PERIOD_SCHEMA)


def price(
    tmp_path: Path, catalog_text: str, events: list[dict[str, Any]], periods: list[dict[str, Any]]
) -> pl.DataFrame:
    """Compile a catalog and price the events through DuckDB: the engine's priced rows."""
    compiled = compile_run(parse_catalog(catalog_text))
    files = [write_lake_file(tmp_path / "lake" / "part.parquet", events)] if events else []
    return (
        DuckDBEngine()
        .run(
            compiled,
            lake_files=files,
            periods=periods_frame(periods),
            sql_path=tmp_path / "run.sql",
        )
        .priced
    )


def bill(
    tmp_path: Path, catalog_text: str, events: list[dict[str, Any]], periods: list[dict[str, Any]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Compile, price through DuckDB, assemble: (line items, invoices)."""
    priced = price(tmp_path, catalog_text, events, periods)
    return assemble(parse_catalog(catalog_text), periods_frame(periods), priced)
