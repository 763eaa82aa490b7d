"""Exports of invoices and line items to Parquet, CSV and JSON (lines).

Parquet keeps DECIMAL and UTC timestamps. CSV and JSON write amounts as decimal text with
the currency's places (``202.50``; a JPY amount has none), other decimals (quantities) as
plain decimal text and instants as ISO 8601 UTC (``2026-10-01T00:00:00Z``), so no reader
ever parses money or a quantity as a float. JSON keeps integers (counts, line numbers)
and booleans as JSON numbers and booleans.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

import polars as pl

from meterbill.errors import ExportError
from meterbill.money import format_amount

Format = Literal["parquet", "csv", "json"]
_AMOUNTS = ("amount", "subtotal", "total")


def _text(value: Any, column: str, currency: str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if column in _AMOUNTS and currency is not None:
        return format_amount(value, currency)
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "as_tuple"):  # Decimal: plain notation, no exponent, no padding zeros
        return f"{value.normalize():f}"
    return str(value)


def text_rows(frame: pl.DataFrame, *, keep: tuple[type, ...] = ()) -> list[dict[str, Any]]:
    """Rows with every value as the text CSV carries, but values of the ``keep`` types
    as they are (JSON keeps ``int``, and so ``bool``)."""
    out = []
    for row in frame.iter_rows(named=True):
        currency = row.get("currency")
        out.append(
            {
                column: value if isinstance(value, keep) else _text(value, column, currency)
                for column, value in row.items()
            }
        )
    return out


def write_frame(frame: pl.DataFrame, *, fmt: Format, out: Path) -> None:
    """Write a frame as Parquet, CSV or JSON lines, replacing ``out`` whole.

    The rows go to a hidden file beside ``out`` that is renamed over it when complete, so
    a failed write (disk full, a kill) never leaves a half-written export behind.

    Raises:
        ExportError: the file cannot be written.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(f"cannot write {out}: a parent of it is a file, not a folder") from None
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    partial = out.with_name(f".{out.name}.{uuid4().hex[:8]}.partial")
    try:
        _write(frame, fmt=fmt, out=partial)
        os.replace(partial, out)
    except (OSError, pl.exceptions.PolarsError) as exc:
        partial.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = re.sub(r" \(os error \d+\).*", "", reason).replace(str(partial), str(out))
        raise ExportError(f"cannot write {out}: {reason}") from None


def _write(frame: pl.DataFrame, *, fmt: Format, out: Path) -> None:
    if fmt == "parquet":
        frame.write_parquet(out)
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=frame.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(text_rows(frame))
        else:
            for row in text_rows(frame, keep=(int,)):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
