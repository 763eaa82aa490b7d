"""Export formats: what CSV, JSON lines and HTML carry for each kind of value, and a
failed write leaving neither a partial file nor a clobbered old one."""

from __future__ import annotations

import csv
import errno
import json
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from meterbill import export
from meterbill.errors import ExportError
from meterbill.export import write_frame

FRAME = pl.DataFrame(
    {
        "invoice_id": ["inv_1", "inv_2"],
        "currency": ["USD", "JPY"],
        "line_number": [1, 2],
        "quantity": [Decimal("1000000.500000000000"), Decimal("3")],
        "amount": [Decimal("202.5"), Decimal("1001")],
        "period_start": [datetime(2026, 10, 1, tzinfo=UTC)] * 2,
        "finalized": [True, False],
        "group": [None, '["eu"]'],
    },
    schema_overrides={"quantity": pl.Decimal(38, 12), "amount": pl.Decimal(38, 4)},
)


def test_json_lines_keep_integers_and_booleans_and_money_as_text(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    write_frame(FRAME, fmt="json", out=out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows == [
        {"invoice_id": "inv_1", "currency": "USD", "line_number": 1,
         "quantity": "1000000.5", "amount": "202.50", "period_start": "2026-10-01T00:00:00Z",
         "finalized": True, "group": None},
        {"invoice_id": "inv_2", "currency": "JPY", "line_number": 2,
         "quantity": "3", "amount": "1001", "period_start": "2026-10-01T00:00:00Z",
         "finalized": False, "group": '["eu"]'},
    ]  # fmt: skip


def test_csv_is_all_text(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    write_frame(FRAME, fmt="csv", out=out)
    assert out.read_text(encoding="utf-8").splitlines() == [
        "invoice_id,currency,line_number,quantity,amount,period_start,finalized,group",
        "inv_1,USD,1,1000000.5,202.50,2026-10-01T00:00:00Z,true,",
        'inv_2,JPY,2,3,1001,2026-10-01T00:00:00Z,false,"[""eu""]"',
    ]


class _Cells(HTMLParser):
    """The text of every table row's cells (th and td), row by row; ``dd`` texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.dds: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "dd"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._cell is not None and tag in ("td", "th", "dd"):
            text = "".join(self._cell)
            (self.dds if tag == "dd" else self.rows[-1]).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_cells(text: str) -> _Cells:
    """Parse an HTML export (entities decoded, as a browser shows them)."""
    parser = _Cells()
    parser.feed(text)
    parser.close()
    return parser


def test_html_table_shows_what_csv_carries(tmp_path: Path) -> None:
    write_frame(FRAME, fmt="html", out=tmp_path / "x.html")
    write_frame(FRAME, fmt="csv", out=tmp_path / "x.csv")
    html = (tmp_path / "x.html").read_text(encoding="utf-8")
    with (tmp_path / "x.csv").open(encoding="utf-8", newline="") as handle:
        assert html_cells(html).rows == list(csv.reader(handle))
    assert html.startswith("<!doctype html>") and html.endswith("</html>\n")


def test_html_escapes_every_value(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> & <b>Co</b>'
    frame = pl.DataFrame({"name": [hostile], "amount": [Decimal("1.5")], "currency": ["KWD"]})
    write_frame(frame, fmt="html", out=tmp_path / "x.html")
    html = (tmp_path / "x.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in html
    assert html_cells(html).rows[1] == [hostile, "1.500", "KWD"]


RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: reverses the text after it up to its paragraph's end


@pytest.mark.parametrize(
    ("customer_id", "name", "email", "shown"),
    [
        ("c1", "Acme", "ap@acme.example",
         "<bdi>c1</bdi>: <bdi>Acme</bdi> &lt;<bdi>ap@acme.example</bdi>&gt;"),
        # a name cannot reverse the email after it, nor an id the name
        (f"{RLO}c1", f"{RLO}Acme", "ap@acme.example",
         f"<bdi>{RLO}c1</bdi>: <bdi>{RLO}Acme</bdi> &lt;<bdi>ap@acme.example</bdi>&gt;"),
        ("c1", "\u05d0\u05d1", None, "<bdi>c1</bdi>: <bdi>\u05d0\u05d1</bdi>"),  # Hebrew
        ("c1", None, None, "<bdi>c1</bdi>"),  # a customer missing from customers
    ],
    ids=["plain", "override marks", "hebrew", "no customer row"],
)  # fmt: skip
def test_invoice_pages_isolate_each_customer_value_from_the_next(
    tmp_path: Path, customer_id: str, name: str | None, email: str | None, shown: str
) -> None:
    invoices, lines = _one_invoice(customer_id)
    known = [(customer_id, name, email)] if name else []
    customers = pl.DataFrame(known, schema=["customer_id", "name", "email"], orient="row")
    export.write_invoice_pages(invoices, lines, customers, out=tmp_path / "i.html")
    html = (tmp_path / "i.html").read_text(encoding="utf-8")
    assert f"<dt>Customer</dt><dd>{shown}</dd>" in html


def _one_invoice(
    customer_id: str,
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
    end: datetime = datetime(2026, 11, 1, tzinfo=UTC),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(invoices, line_items) of one draft invoice with one line."""
    invoices = pl.DataFrame(
        {"invoice_id": ["in_1"], "invoice_number": [None], "status": ["draft"],
         "customer_id": [customer_id], "subscription_id": ["s1"], "plan": ["p"],
         "currency": ["USD"], "period_start": [start], "period_end": [end],
         "subtotal": [Decimal("1")], "total": [Decimal("1")]},
        schema_overrides={"invoice_number": pl.String},
    )  # fmt: skip
    lines = pl.DataFrame({"invoice_id": ["in_1"], "line_number": [1], "currency": ["USD"],
         "description": ["Fee"], "group": [None], "quantity": [Decimal("1")],
         "billable_quantity": [Decimal("1")], "unit_amount": [Decimal("1")],
         "amount": [Decimal("1")]}, schema_overrides={"group": pl.String})  # fmt: skip
    return invoices, lines


@pytest.mark.parametrize(
    ("timezone", "local"),
    [
        ("Asia/Kolkata", "2026-10-01 00:00 to 2026-11-01 00:00 (Asia/Kolkata)"),
        ("America/New_York", "2026-09-30 14:30 to 2026-10-31 14:30 (America/New_York)"),
        (None, "2026-09-30 18:30 to 2026-10-31 18:30 (UTC)"),  # a customer not on file
    ],
)
def test_invoice_pages_show_the_period_in_the_customers_time_zone(
    tmp_path: Path, timezone: str | None, local: str
) -> None:
    # Kolkata's October, as the ledger stores it: UTC instants
    start, end = (
        datetime(2026, 9, 30, 18, 30, tzinfo=UTC),
        datetime(2026, 10, 31, 18, 30, tzinfo=UTC),
    )
    invoices, lines = _one_invoice("c1", start, end)
    known = [("c1", "One", "", timezone)] if timezone else []
    customers = pl.DataFrame(
        known, schema=["customer_id", "name", "email", "timezone"], orient="row"
    )
    export.write_invoice_pages(invoices, lines, customers, out=tmp_path / "i.html")
    dds = html_cells((tmp_path / "i.html").read_text(encoding="utf-8")).dds
    assert dds[5:7] == [local, "2026-09-30T18:30:00Z to 2026-10-31T18:30:00Z"]


def test_invoice_pages_of_no_invoice_say_so(tmp_path: Path) -> None:
    invoices, lines = _one_invoice("c1")
    customers = pl.DataFrame(schema=["customer_id", "name", "email", "timezone"])
    export.write_invoice_pages(invoices.clear(), lines.clear(), customers, out=tmp_path / "i.html")
    html = (tmp_path / "i.html").read_text(encoding="utf-8")
    assert "<p>No invoices.</p>" in html and "<article" not in html


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "html"])
def test_a_failed_write_leaves_the_old_file_and_no_partial(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / f"invoices.{fmt}"
    out.write_text("the previous export")

    def disk_full(frame: pl.DataFrame, *, fmt: str, out: Path) -> None:
        out.write_text("half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "_write", disk_full)
    with pytest.raises(ExportError, match=rf"^cannot write {out}: No space left on device$"):
        export.write_frame(pl.DataFrame({"a": [1]}), fmt=fmt, out=out)  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert out.read_text() == "the previous export"


def test_an_interrupted_write_leaves_the_old_file_and_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "invoices.csv"
    out.write_text("the previous export")

    def interrupted(frame: pl.DataFrame, *, fmt: str, out: Path) -> None:
        out.write_text("half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.write_frame(pl.DataFrame({"a": [1]}), fmt="csv", out=out)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    assert out.read_text() == "the previous export"


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "html"])
def test_an_export_replaces_an_existing_file_whole(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "sub" / f"x.{fmt}"
    out.parent.mkdir()
    out.write_text("old " * 1000)
    export.write_frame(pl.DataFrame({"a": [1]}), fmt=fmt, out=out)  # type: ignore[arg-type]
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    assert "old" not in out.read_bytes().decode("utf-8", "replace")
