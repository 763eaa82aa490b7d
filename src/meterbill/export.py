"""Exports of invoices and line items to Parquet, CSV, JSON (lines) and HTML.

Parquet keeps DECIMAL and UTC timestamps. CSV and JSON write amounts as decimal text with
the currency's places (``202.50``; a JPY amount has none), other decimals (quantities) as
plain decimal text and instants as ISO 8601 UTC (``2026-10-01T00:00:00Z``), so no reader
ever parses money or a quantity as a float. JSON keeps integers (counts, line numbers)
and booleans as JSON numbers and booleans.

HTML is for people: invoices as printable pages, one per invoice with its lines
(``write_invoice_pages``), any other frame as a table; the values are the text CSV
carries, and Jinja escapes every one of them (names, descriptions and ids are data,
never markup). The page is ``templates/invoices.html``, shipped in the package.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from uuid import uuid4
from zoneinfo import ZoneInfo

import polars as pl

from meterbill.errors import ExportError
from meterbill.money import format_amount

if TYPE_CHECKING:
    import jinja2

Format = Literal["parquet", "csv", "json", "html"]
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
    """Write a frame as Parquet, CSV, JSON lines or an HTML table, replacing ``out`` whole.

    Raises:
        ExportError: the file cannot be written.
    """
    _replace(out, lambda partial: _write(frame, fmt=fmt, out=partial))


def write_invoice_pages(
    invoices: pl.DataFrame, line_items: pl.DataFrame, customers: pl.DataFrame, *, out: Path
) -> None:
    """Write ``invoices`` as one HTML page, each invoice with its customer's name and
    email (from ``customers``), its period in the customer's time zone as well as in UTC,
    and its lines (from ``line_items``), replacing ``out``.

    Raises:
        ExportError: the file cannot be written.
    """
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in text_rows(line_items.sort("invoice_id", "line_number")):
        lines[line["invoice_id"]].append(line)
    who = {row["customer_id"]: row for row in customers.iter_rows(named=True)}
    pages = []
    for invoice, instants in zip(
        text_rows(invoices), invoices.select("period_start", "period_end").rows(), strict=True
    ):
        customer = who.get(invoice["customer_id"], {})
        zone = customer.get("timezone") or "UTC"
        local = [f"{instant.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}" for instant in instants]
        pages.append(
            {
                **invoice,
                "name": customer.get("name"),
                "email": customer.get("email"),
                "local_period": f"{local[0]} to {local[1]} ({zone})",
                "lines": lines[invoice["invoice_id"]],
            }
        )
    html = _page().render(title="Invoices", invoices=pages, table=None)
    _replace(out, lambda partial: partial.write_text(html, encoding="utf-8"))


def _replace(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` on a hidden file beside ``out``, renamed over it when complete, so a
    failed write (disk full, a kill) never leaves a half-written export behind."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ExportError(f"cannot write {out}: a parent of it is a file, not a folder") from None
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    partial = out.with_name(f".{out.name}.{uuid4().hex[:8]}.partial")
    try:
        write(partial)
        os.replace(partial, out)
    except (OSError, pl.exceptions.PolarsError) as exc:
        partial.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = re.sub(r" \(os error \d+\).*", "", reason).replace(str(partial), str(out))
        raise ExportError(f"cannot write {out}: {reason}") from None
    except BaseException:  # Ctrl-C, an encoding error: no partial file left either
        partial.unlink(missing_ok=True)
        raise


def _write(frame: pl.DataFrame, *, fmt: Format, out: Path) -> None:
    if fmt == "parquet":
        frame.write_parquet(out)
        return
    if fmt == "html":
        rows = [list(row.values()) for row in text_rows(frame)]
        table = {"columns": frame.columns, "rows": rows}
        out.write_text(
            _page().render(title="meterbill export", invoices=[], table=table), encoding="utf-8"
        )
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=frame.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(text_rows(frame))
        else:
            for row in text_rows(frame, keep=(int,)):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@functools.cache
def _page() -> jinja2.Template:
    """The HTML page template (autoescaping, strict about undefined names)."""
    import jinja2

    environment = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    source = (files("meterbill") / "templates" / "invoices.html").read_text(encoding="utf-8")
    return environment.from_string(source)
