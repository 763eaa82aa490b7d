"""``meterbill sql``'s catalog views: ``meters`` and ``prices`` as a user queries them."""

from __future__ import annotations

from pathlib import Path

from meterbill import Workspace

CATALOG = """
[meters.eu_calls]
event_name = "api.call"
aggregation = "count"
filters = { status = [200, true], region = ["eu", "ü"] }

[meters.calls]
event_name = "api.call"
aggregation = "count"
"""


def test_meters_view_filters_are_json_text(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "ws")
    (workspace.root / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    rows = workspace.sql(
        "SELECT meter, filters, json_extract_string(filters, '$.region[1]') AS second_region"
        " FROM meters ORDER BY meter"
    ).rows()
    assert rows == [
        ("calls", None, None),
        ("eu_calls", '{"status": ["200", "true"], "region": ["eu", "ü"]}', "ü"),
    ]
