"""Priced rows (from the engine) and periods -> invoice line items and invoices, in Polars.

Flat fees are priced here, not in SQL: they need no events, and proration is a division
(``amount * days / full_days``) that must stay exact, which DuckDB would do in DOUBLE.
Every amount is rounded exactly once, here, by ``money.round_money_column`` (usage) or
``money.round_money`` (fixed), half away from zero, to the currency's minor unit.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import polars as pl

from meterbill.catalog.model import Catalog, FlatFee
from meterbill.money import (
    currency_places,
    prorate,
    round_money,
    round_money_column,
    round_quantity,
)

QUANTITY = pl.Decimal(38, 12)
MONEY = pl.Decimal(38, 4)
UTC_INSTANT = pl.Datetime("us", "UTC")

#: The contract's line item columns, in order (PRODUCT.md, Invoices).
LINE_ITEM_SCHEMA: dict[str, Any] = {
    "invoice_id": pl.String,
    "line_number": pl.Int32,
    "customer_id": pl.String,
    "subscription_id": pl.String,
    "plan": pl.String,
    "currency": pl.String,
    "period_start": UTC_INSTANT,
    "period_end": UTC_INSTANT,
    "line_type": pl.String,
    "meter": pl.String,
    "group": pl.String,
    "price_model": pl.String,
    "quantity": QUANTITY,
    "billable_quantity": QUANTITY,
    "unit_amount": QUANTITY,
    "amount": MONEY,
    "description": pl.String,
}
INVOICE_SCHEMA: dict[str, Any] = {
    "invoice_id": pl.String,
    "invoice_number": pl.String,
    "status": pl.String,
    "customer_id": pl.String,
    "subscription_id": pl.String,
    "plan": pl.String,
    "currency": pl.String,
    "period_start": UTC_INSTANT,
    "period_end": UTC_INSTANT,
    "subtotal": MONEY,
    "total": MONEY,
    "line_count": pl.Int64,
}
_PERIOD_COLUMNS = [
    "invoice_id",
    "customer_id",
    "subscription_id",
    "plan",
    "period_start",
    "period_end",
]


def _price_table(catalog: Catalog) -> pl.DataFrame:
    """One row per (plan, price index): model, currency, description, sort key."""
    rows = []
    for plan_key, plan in catalog.plans.items():
        for index, price in enumerate(plan.prices):
            rows.append(
                {
                    "plan": plan_key,
                    "price_index": index,
                    "price_model": price.model,
                    "currency": plan.currency,
                    "places": currency_places(plan.currency),
                    "description": describe_price(catalog, plan_key, index),
                }
            )
    schema = {
        "plan": pl.String,
        "price_index": pl.Int32,
        "price_model": pl.String,
        "currency": pl.String,
        "places": pl.Int32,
        "description": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def describe_price(catalog: Catalog, plan_key: str, index: int) -> str:
    """A human description of one price (``Input Tokens: 15.00 per 1000000``)."""
    price = catalog.plans[plan_key].prices[index]
    if isinstance(price, FlatFee):
        return price.name or f"{catalog.plans[plan_key].name or plan_key} fee"
    meter = catalog.meters[price.meter]
    label = price.name or meter.name or meter.key
    if price.model == "package":
        rounding = "" if price.round == "up" else ", rounded down"
        return f"{label}: {price.amount:f} per {price.package_size}{rounding}"
    if price.model == "per_unit":
        return f"{label}: {price.unit_amount:f} per unit"
    return f"{label}: {price.mode} tiers"


def group_text(catalog: Catalog, meters: list[str | None], values: list[Any]) -> list[str | None]:
    """JSON text of each row's group_by values (``{"region": "eu"}``), None without groups."""
    out: list[str | None] = []
    for meter, group_values in zip(meters, values, strict=True):
        if meter is None or group_values is None:
            out.append(None)
            continue
        keys = catalog.meters[meter].group_by
        out.append(json.dumps(dict(zip(keys, group_values, strict=True)), ensure_ascii=False))
    return out


def usage_lines(catalog: Catalog, periods: pl.DataFrame, priced: pl.DataFrame) -> pl.DataFrame:
    """Line items for usage prices, from the engine's priced rows."""
    prices = _price_table(catalog)
    rows = priced.join(periods.select(_PERIOD_COLUMNS), on="invoice_id", how="inner").join(
        prices, on=["plan", "price_index"], how="left"
    )
    group = group_text(catalog, rows["meter"].to_list(), rows["group_values"].to_list())
    return rows.with_columns(
        pl.Series("group", group, dtype=pl.String),
        pl.lit("usage").alias("line_type"),
        pl.col("quantity").cast(QUANTITY),
        pl.col("billable_quantity").cast(QUANTITY),
        pl.col("unit_amount").cast(QUANTITY),
        round_money_column(pl.col("amount"), pl.col("places")).alias("amount"),
    )


def fixed_lines(catalog: Catalog, periods: pl.DataFrame) -> pl.DataFrame:
    """Line items for flat fees: one per period and flat price, prorated by days."""
    rows = []
    for period in periods.iter_rows(named=True):
        plan = catalog.plans[period["plan"]]
        for index, price in enumerate(plan.prices):
            if not isinstance(price, FlatFee):
                continue
            days, full_days = period["days"], period["full_days"]
            fraction = round_quantity(Decimal(days) / Decimal(full_days))
            rows.append(
                {
                    **{key: period[key] for key in _PERIOD_COLUMNS},
                    "price_index": index,
                    "line_type": "fixed",
                    "meter": None,
                    "group": None,
                    "quantity": fraction,
                    "billable_quantity": fraction,
                    "unit_amount": price.amount,
                    "amount": round_money(prorate(price.amount, days, full_days), plan.currency),
                }
            )
    schema = {
        **{key: LINE_ITEM_SCHEMA[key] for key in _PERIOD_COLUMNS},
        "price_index": pl.Int32,
        "line_type": pl.String,
        "meter": pl.String,
        "group": pl.String,
        "quantity": QUANTITY,
        "billable_quantity": QUANTITY,
        "unit_amount": QUANTITY,
        "amount": MONEY,
    }
    return pl.DataFrame(rows, schema=schema).join(
        _price_table(catalog), on=["plan", "price_index"], how="left"
    )


def assemble(
    catalog: Catalog, periods: pl.DataFrame, priced: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Line items and invoices (drafts) for the periods, in the contract's columns."""
    columns = [c for c in LINE_ITEM_SCHEMA if c != "line_number"] + ["price_index"]
    parts = [fixed_lines(catalog, periods).select(columns)]
    if priced.height:
        parts.append(usage_lines(catalog, periods, priced).select(columns))
    lines = (
        pl.concat(parts, how="vertical_relaxed")
        .sort(["invoice_id", "price_index", "group"], nulls_last=False)
        .with_columns(
            (pl.int_range(pl.len()).over("invoice_id") + 1).cast(pl.Int32).alias("line_number")
        )
        .select(list(LINE_ITEM_SCHEMA))
        .cast(LINE_ITEM_SCHEMA)  # type: ignore[arg-type]
    )
    totals = lines.group_by("invoice_id").agg(
        pl.col("amount").sum().cast(MONEY).alias("subtotal"),
        pl.len().cast(pl.Int64).alias("line_count"),
    )
    invoices = (
        periods.select(_PERIOD_COLUMNS)
        .join(
            pl.DataFrame(
                {
                    "plan": list(catalog.plans),
                    "currency": [p.currency for p in catalog.plans.values()],
                },
                schema={"plan": pl.String, "currency": pl.String},
            ),
            on="plan",
            how="left",
        )
        .join(totals, on="invoice_id", how="left")
        .with_columns(
            pl.lit(None, dtype=pl.String).alias("invoice_number"),
            pl.lit("draft").alias("status"),
            pl.col("subtotal").fill_null(Decimal(0)).cast(MONEY),
            pl.col("line_count").fill_null(0),
        )
        .with_columns(pl.col("subtotal").alias("total"))
        .select(list(INVOICE_SCHEMA))
        .cast(INVOICE_SCHEMA)  # type: ignore[arg-type]
        .sort(["period_start", "customer_id", "subscription_id"])
    )
    return lines, invoices
