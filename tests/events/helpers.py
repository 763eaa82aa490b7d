"""Helpers for the ingest tests: a workspace wrapper, file writers and lake readers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from meterbill.events import IngestResult, ingest_paths, lake_file_paths
from meterbill.events.shapes import Shape
from meterbill.state import connect_state


@dataclass
class Workspace:
    """A workspace folder with its open state connection."""

    root: Path
    con: duckdb.DuckDBPyConnection

    def ingest(
        self, *paths: str | Path, strict: bool = False, shape: Shape = "auto"
    ) -> IngestResult:
        """Ingest and check the reconciliation identity against the ingest log."""
        result = ingest_paths(
            self.root, self.con, [str(p) for p in paths], strict=strict, shape=shape
        )
        assert result.accepted + result.duplicates + result.rejected == result.records_read
        logged = self.con.execute(
            "SELECT records_read, accepted, duplicates, rejected FROM ingests WHERE ingest_id = ?",
            [result.ingest_id],
        ).fetchone()
        assert logged == (
            result.records_read,
            result.accepted,
            result.duplicates,
            result.rejected,
        )
        return result

    def count(self, table: str) -> int:
        """Rows in a state table (a fixed name from the schema)."""
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])

    def rejects(self) -> list[tuple[Any, ...]]:
        """(source_file, record_number, reason, raw) of every reject, in order."""
        return self.con.execute(
            "SELECT source_file, record_number, reason, raw FROM rejected_events "
            "ORDER BY ingest_id, source_file, record_number"
        ).fetchall()

    def lake_rows(self) -> list[dict[str, Any]]:
        """Every event in the lake, as dicts, ordered by event_id."""
        files = lake_file_paths(self.con, self.root)
        if not files:
            return []
        with duckdb.connect() as reader:
            reader.execute("SET TimeZone = 'UTC'")
            relation = reader.sql(
                "SELECT * FROM read_parquet(?, union_by_name = true, hive_partitioning = false) "
                "ORDER BY event_id",
                params=[files],
            )
            names = relation.columns
            return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]

    def disk_files(self) -> set[Path]:
        """Every file under the lake folder."""
        lake = self.root / "lake"
        return {p for p in lake.rglob("*") if p.is_file()} if lake.exists() else set()


def native(**fields: Any) -> dict[str, Any]:
    """A valid native event, with fields overridden (a value of ... removes the field)."""
    base: dict[str, Any] = {
        "event_name": "llm.usage",
        "customer_id": "cust-1",
        "timestamp": "2024-03-01T12:00:00Z",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def write_jsonl(path: Path, records: Sequence[dict[str, Any] | str | bytes]) -> Path:
    """Write records (dicts as JSON; str and bytes verbatim) one per line."""
    out = bytearray()
    for record in records:
        if isinstance(record, bytes):
            out += record
        elif isinstance(record, str):
            out += record.encode()
        else:
            out += json.dumps(record, ensure_ascii=False).encode()
        out += b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    """Write a CSV file with csv.writer quoting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


#: The subscriptions of ``ingest_outcome``'s workspaces (id -> customer), for Lago's
#: ``external_subscription_id``.
SUBSCRIPTIONS = {"s1": "c1", "s2": "c2", "sub-ü '; --": "c3"}


def ingest_outcome(
    root: Path, path: Path, *, times: int = 1, shape: Shape = "auto"
) -> dict[str, Any]:
    """Ingest ``path`` ``times`` times into a new workspace at ``root`` (holding
    ``SUBSCRIPTIONS``); return what any reading of it must give alike: the counts of each
    ingest, the lake rows (without ingest ids), the rejects and the duplicates."""
    root.mkdir(parents=True)
    con = connect_state(root)
    try:
        con.executemany(
            "INSERT INTO subscriptions VALUES (?, ?, 'basic', "
            "TIMESTAMPTZ '2024-01-01 00:00:00+00', NULL, 'anniversary')",
            list(SUBSCRIPTIONS.items()),
        )
        results = [ingest_paths(root, con, [str(path)], shape=shape) for _ in range(times)]
        rejects = con.execute(
            "SELECT record_number, reason, message, raw FROM rejected_events "
            "ORDER BY ingest_id, record_number"
        ).fetchall()
        duplicates = con.execute(
            "SELECT event_id, record_number, raw FROM duplicate_events "
            "ORDER BY ingest_id, record_number"
        ).fetchall()
        rows = Workspace(root, con).lake_rows()
    finally:
        con.close()
    for row in rows:
        del row["ingest_id"]
    counts = [(r.records_read, r.accepted, r.duplicates, r.rejected) for r in results]
    return {"counts": counts, "rows": rows, "rejects": rejects, "duplicates": duplicates}
