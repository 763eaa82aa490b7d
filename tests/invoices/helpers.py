"""A small workspace built from text: a catalog with flat fees, customers, subscriptions, events."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from meterbill import Workspace

#: Two monthly plans: basic (31.00 + 0.01 per call) and pro (62.00 + 0.02 per call, and
#: token sums for weighted checks).
CATALOG = """
[meters.calls]
name = "API calls"
event_name = "api.call"
aggregation = "count"

[meters.tokens]
name = "Tokens"
event_name = "api.call"
aggregation = "sum"
field = "tokens"

[plans.basic]
name = "Basic"
currency = "USD"
interval = "month"

[[plans.basic.prices]]
model = "flat_fee"
amount = "31.00"

[[plans.basic.prices]]
meter = "calls"
model = "per_unit"
unit_amount = "0.01"

[plans.pro]
name = "Pro"
currency = "USD"
interval = "month"

[[plans.pro.prices]]
model = "flat_fee"
amount = "62.00"

[[plans.pro.prices]]
meter = "calls"
model = "per_unit"
unit_amount = "0.02"

[[plans.pro.prices]]
meter = "tokens"
model = "package"
package_size = 1000
amount = "1.00"
"""


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def call(event_id: str, customer: str, timestamp: str, tokens: int = 100) -> dict[str, Any]:
    """One ``api.call`` event."""
    return {
        "event_id": event_id,
        "event_name": "api.call",
        "customer_id": customer,
        "timestamp": timestamp,
        "properties": {"tokens": tokens},
    }


def ingest(workspace: Workspace, path: Path, events: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    workspace.ingest([str(path)])


def make_workspace(
    tmp_path: Path,
    *,
    customers: list[dict[str, Any]],
    subscriptions: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
    catalog: str = CATALOG,
) -> Workspace:
    """A workspace with a catalog, these customers and subscriptions, and these events."""
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.root / "catalog.toml").write_text(catalog)
    workspace.import_customers(write_csv(tmp_path / "customers.csv", customers))
    workspace.import_subscriptions(write_csv(tmp_path / "subscriptions.csv", subscriptions))
    if events:
        ingest(workspace, tmp_path / "events.jsonl", events)
    return workspace
