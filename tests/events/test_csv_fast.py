"""The CSV fast path gives exactly what the exact (row by row) path gives.

Each case writes one CSV file and ingests it into fresh workspaces twice, once as
shipped (fast path on) and once with it switched off, then again into each (every row a
duplicate), and compares counts, lake rows, rejects and duplicates.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbill.events import csv_fast, ingest
from meterbill.events.shapes import SHAPES, Shape

from .helpers import ingest_outcome


def _both_paths(
    tmp: Path, data: bytes, monkeypatch: pytest.MonkeyPatch, *, name: str = "in.csv",
    chunk_bytes: int = 200, shape: Shape = "auto",
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    path = tmp / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    proved: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> csv_fast.CsvChunk | None:
        chunk = csv_fast.read_chunk(*args, **kwargs)
        if chunk is not None and chunk.table is not None:
            proved.append(chunk.table.num_rows)
        return chunk

    with monkeypatch.context() as patch:
        patch.setattr(ingest, "CSV_CHUNK_BYTES", chunk_bytes)
        patch.setattr(ingest, "read_csv_chunk", counted)
        fast = ingest_outcome(tmp / "fast", path, times=2, shape=shape)
    with monkeypatch.context() as patch:
        patch.setattr(ingest, "FAST_SHAPES", frozenset())
        exact = ingest_outcome(tmp / "exact", path, times=2, shape=shape)
    fast["proved"] = sum(proved)
    return fast, exact


HEADER = "event_id,event_name,customer_id,timestamp,source,properties.model,properties.tokens"
#: Lines at the edges of what the fast path may prove (one data row each, or blank).
EDGE_LINES = [
    "e1,llm.usage,c1,2024-03-01T12:00:00Z,,gpt-4o,12",
    "e2,llm.usage,c1,2024-03-01T12:00:00.123456+02:00,src,,0.1",
    "e3,llm.usage,c1,1709294400,,m,1e5",
    "e4,llm.usage,c1,1709294400123,,m,+1",
    "e5,llm.usage,c1,-5,,m,.5",
    "e6,llm.usage,c1,2024-02-30T00:00:00Z,,m,1",
    "e7,llm.usage,c1,2024-03-01T12:00:00z,,m,1",
    "e8,llm.usage,c1,2024-03-01 12:00:00Z,,m,1",
    "e9,llm.usage,c1,2024-03-01T12:00:00,,m,1",
    ",llm.usage,c1,2024-03-01T12:00:00Z,,m,1",
    ",llm.usage,c1,2024-03-01T12:00:00Z,,m,2",
    "  ,llm.usage,c1,2024-03-01T12:00:00Z,,m,1",
    "e13,  ,c1,2024-03-01T12:00:00Z,,m,1",
    "e14,\u3000,c1,2024-03-01T12:00:00Z,,m,1",
    "e15,llm.usage,,2024-03-01T12:00:00Z,,m,1",
    "e16,llm.usage,c1,,,m,1",
    "e17,llm.usage,c1,2024-03-01T12:00:00Z,,m",
    "e18,llm.usage,c1,2024-03-01T12:00:00Z,,m,1,extra",
    "",
    "   ",
    "e1,llm.usage,c1,2024-03-01T12:00:00Z,,again,1",
    "e20,ユーザー,c'; DROP TABLE x; --,2024-03-01T12:00:00Z,,٣,0.12345678901234",
    "e21,llm.usage,c1,0001-01-01T00:00:00+01:00,,m,123456789012345678901234567",
    "e22,llm.usage,c1,9999-12-31T23:59:59.999999Z,,m, 1",
    "e23,llm.usage,c1,99999999999999999,,m,1",
]


def _quoted(cell: str) -> str:
    """``cell`` as a quoted CSV cell."""
    return '"' + cell.replace('"', '""') + '"'


#: Lines with a quote that are whole rows (of ``HEADER``'s width or not).
QUOTED_LINES = [
    ",".join(map(_quoted, ["q1", "llm.usage", "c1", "2024-03-01T12:00:00Z", "", "gpt-4o", "12"])),
    'q2,llm.usage,c1,2024-03-01T12:00:00Z,,"a,b",1',
    'q3,llm.usage,c1,2024-03-01T12:00:00Z,,"say ""hi""","1"',
    'q4,llm.usage,c1,2024-03-01T12:00:00Z,,5" screen,1',  # a quote inside a cell is text
    'q5,llm.usage,c1,2024-03-01T12:00:00Z,, "m" ,1',
    'q6,"llm.usage",c1,2024-03-01T12:00:00Z,"","",""',  # empty: absent
    '"",llm.usage,c1,2024-03-01T12:00:00Z,,m,7',  # an empty id: derived
    'q8,"  ",c1,2024-03-01T12:00:00Z,,m,1',
    'q9,llm.usage,c1,"2024-03-01T12:00:00+02:00",,"ユ,ー","1e5"',
    'q10,llm.usage,c1,2024-03-01T12:00:00Z,,"a",1,"extra"',
    'q11,llm.usage,c1,2024-03-01T12:00:00Z,,"a"',
    '"q12",llm.usage,"c\'; DROP TABLE x; --",2024-03-01T12:00:00Z,,"m","0.1"',
    'q13,llm.usage,c1,2024-03-01T12:00:00Z,,"""",1',
    'q14,llm.usage,c1,2024-03-01T12:00:00Z,,"a"""," 2"',
    'q15,llm.usage,c1,"2024-03-01T12:00:00Z",,"m","1,5"',
    '"e1",llm.usage,c1,2024-03-01T12:00:00Z,,"again",1',
]


@pytest.mark.parametrize("chunk_bytes", [200, 1 << 20])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize(
    ("lines", "counts", "proved"),
    [
        (EDGE_LINES, (23, 11, 1, 11), 8),
        (QUOTED_LINES + EDGE_LINES, (39, 23, 2, 14), 20),
    ],
    ids=["plain", "quoted"],
)
def test_edge_lines(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_bytes: int,
    newline: str,
    lines: list[str],
    counts: tuple[int, int, int, int],
    proved: int,
) -> None:
    """Both paths agree on every edge line, the fast path proving what it may (each
    ingest: the second finds every accepted row a duplicate)."""
    data = newline.join([HEADER, *lines]).encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=chunk_bytes)
    assert fast.pop("proved") == 2 * proved
    assert fast == exact
    read, accepted, duplicates, rejected = counts
    assert fast["counts"] == [counts, (read, 0, accepted + duplicates, rejected)]


def test_quoting_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cell of a file quoted (``csv.QUOTE_ALL``) gives the same lake rows and
    reject reasons, all proved where the unquoted file's are."""
    outcomes = []
    for quoting in (csv.QUOTE_NONE, csv.QUOTE_ALL):
        out = io.StringIO()
        writer = csv.writer(out, quoting=quoting, escapechar="\\", lineterminator="\n")
        for line in [HEADER, *EDGE_LINES]:
            writer.writerow(line.split(",") if line.strip() else [])
        (tmp := tmp_path / f"quoting{quoting}").mkdir()
        fast, exact = _both_paths(tmp, out.getvalue().encode(), monkeypatch)
        assert fast == {**exact, "proved": fast["proved"]}
        outcomes.append(fast)
    plain, quoted = outcomes
    assert plain["proved"] == quoted["proved"] > 0
    assert plain["counts"] == quoted["counts"]
    for outcome in outcomes:  # a derived id is the file's: the two files' ids differ
        for row in outcome["rows"]:
            row["event_id"] = row["event_id"].split(":")[0]
    assert sorted(map(repr, plain["rows"])) == sorted(map(repr, quoted["rows"]))
    reasons = [[reject[:3] for reject in outcome["rejects"]] for outcome in outcomes]
    assert reasons[0] == reasons[1]


#: JSON ``properties`` cells at the edges of what the fast path may prove.
JSON_CELLS = [
    '{"model":"gpt-4o","tokens":12}',
    "{}",
    "",
    ' { "a" : 1 } ',
    '{"a":1,"a":2}',
    '{"a":{"b":1}}',
    "[1]",
    "5",
    "null",
    '{"a":null}',
    '{"a":"x\\"y"}',
    '{"a":1e5}',
    '{"a":0.1}',
    '{"a":12345678901234567890.5}',
    '{"a":true}',
    '{"model":"x"}',
    '{"":1}',
    '{"a":"ユ,\'; --"}',
    '{"a":NaN}',
    '{"a":"1"}',
    '{"a":1,}',
    '{"a":-0}',
    "not json",
    '{"tokens":"5","b":false}',
    '{"model":null}',
]


@pytest.mark.parametrize("model", ["", "m"])
def test_json_properties_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    """A JSON ``properties`` column beside a ``properties.model`` one: a key both give
    in one row is a duplicate key (``model``), in different rows not."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["event_id", "event_name", "customer_id", "timestamp", "properties.model",
                     "properties"])  # fmt: skip
    for number, cell in enumerate(JSON_CELLS):
        writer.writerow([f"j{number}", "u", "c1", "2024-03-01T12:00:00Z", model, cell])
    fast, exact = _both_paths(tmp_path, out.getvalue().encode(), monkeypatch)
    proved = fast.pop("proved")
    assert fast == exact
    assert proved == 2 * (9 if model else 12)  # j0, j15 and j24 name "model" too
    reasons = {reject[3].split(",")[0]: reject[1] for reject in fast["rejects"]}
    assert reasons["j4"] == reasons["j15" if model else "j4"] == "duplicate_key"
    assert ("j15" in reasons) is ("j24" in reasons) is bool(model)


@pytest.mark.parametrize(
    ("data", "proved"),
    [
        pytest.param(b"\xef\xbb\xbf" + "\n".join([HEADER, *EDGE_LINES[:3]]).encode(), 4, id="bom"),
        pytest.param(
            "\n".join(
                [
                    HEADER,
                    *EDGE_LINES[:8],
                    'q1,"llm.usage",c1,2024-03-01T12:00:00Z,,m,1',
                    'q2,llm.usage,c1,2024-03-01T12:00:00Z,,"multi',
                    'line",3',
                    *EDGE_LINES[8:],
                ]
            ).encode(),
            8,
            id="quotes-later",
        ),
        pytest.param(  # a quote closing before the cell ends: csv refuses the row
            "\n".join(
                [HEADER, *QUOTED_LINES[:4], '"q"x,llm.usage,c1,1,,m,1', *QUOTED_LINES[4:]]
            ).encode(),
            4,
            id="quote-then-text",
        ),
        pytest.param(
            "\n".join([HEADER, *EDGE_LINES[:8]]).encode()
            + b"\nbad,\xff,c1,2024-03-01T12:00:00Z,,m,1\n"
            + "\n".join(EDGE_LINES[8:]).encode(),
            8,
            id="not-utf8-later",
        ),
        pytest.param(
            "\n".join(
                [
                    HEADER,
                    *EDGE_LINES[:8],
                    "cr,llm\rusage,c1,2024-03-01T12:00:00Z,,m,1",
                    *EDGE_LINES[8:],
                ]
            ).encode(),
            8,
            id="lone-cr",
        ),
        pytest.param(
            "\n".join(
                [
                    "event_name,customer_id,timestamp,properties.Model,properties.model",
                    "a,c,2024-03-01T12:00:00Z,x,",
                    "a,c,2024-03-01T12:00:00Z,,y",
                    "a,c,2024-03-01T12:00:00Z,z,",
                ]
            ).encode(),
            4,
            id="key-clash",
        ),
        pytest.param(
            b"event_name,customer_id,timestamp,properties\na,c,2024-03-01T12:00:00Z,{}\n",
            2,
            id="json-properties",
        ),
        pytest.param(
            b"event_name,customer_id,timestamp,properties\n\n \n", 0, id="json-blank-lines"
        ),
        pytest.param(  # Flexprice's name for the customer: the native shape's alias
            b"event_name,external_customer_id,timestamp\na,c,2024-03-01T12:00:00Z\na, ,1\n",
            2,
            id="alias",
        ),
        pytest.param(  # both: the exact path checks they agree
            b"event_name,customer_id,external_customer_id,timestamp\na,c,c,2024-03-01T12:00:00Z\n",
            0,
            id="alias-and-customer",
        ),
        pytest.param(  # Arrow's CSV reader drops a BOM that starts its data; csv keeps it
            "\n".join(
                [HEADER, '\ufeffq1,"u",c1,2024-03-01T12:00:00Z,,m,1', 'q2,"u",c1,1,,m,2']
            ).encode(),
            2,
            id="bom-starts-a-quoted-line",
        ),
        pytest.param(  # no quoted line of the header's width: Arrow has none to read
            f'{HEADER}\nq1,"u",c1,2024-03-01T12:00:00Z,,m,1,extra\n'.encode(),
            0,
            id="quoted-line-of-another-width",
        ),
        pytest.param(  # a key given as null in the object is still given twice
            b"event_name,customer_id,timestamp,properties.model,properties\n"
            b'a,c,2024-03-01T12:00:00Z,m,"{""model"":null}"\n'
            b'a,c,2024-03-01T12:00:00Z,,"{""model"":null}"\n'
            b'a,c,2024-03-01T12:00:00Z,m,"{""a"":""model""}"\n'
            b'a,c,2024-03-01T12:00:00Z,m,"{""a"":null}"\n',
            4,
            id="json-null-beside-its-column",
        ),
        pytest.param(b"", 0, id="empty"),
        pytest.param(HEADER.encode(), 0, id="header-only"),
    ],
)
def test_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, proved: int) -> None:
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=150)
    assert fast.pop("proved") == proved  # fast rows before the hand-over, both ingests
    assert fast == exact


@pytest.mark.parametrize(
    ("header", "shape", "proved"),
    [
        ("event_name,external_customer_id,timestamp", "flexprice", 2),
        ("event_name,external_customer_id,timestamp", "native", 2),
        ("event_name,customer_id,timestamp", "flexprice", 0),  # Flexprice ignores customer_id
        ("event_name,customer_id,timestamp", "native", 2),
    ],
)
def test_flexprice_customer_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: str, shape: Shape, proved: int
) -> None:
    data = f"{header}\na,c,2024-03-01T12:00:00Z\n".encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, shape=shape)
    assert fast.pop("proved") == proved
    assert fast == exact


_CUSTOMER_HEADERS = {
    "external_customer_id": ["c1", "", " ", "c2"],
    "customer_id": ["c1", "", "c2", ""],
    "customer_id,external_customer_id": ["c1,c1", ",c2", "c1,", "c1,c2"],
    "external_customer_id,external_subscription_id": ["c1,", ",s1", "c1,s2", ","],
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("customer", list(_CUSTOMER_HEADERS))
def test_customer_columns_under_every_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customer: str, shape: Shape
) -> None:
    """Empty customer cells are absent only where the header has two customer fields."""
    cells = _CUSTOMER_HEADERS[customer]
    lines = [f"event_name,{customer},timestamp,properties.k"] + [
        f"u,{cell},2024-03-01T12:00:00Z,{number}" for number, cell in enumerate(cells)
    ]
    fast, exact = _both_paths(tmp_path, "\n".join(lines).encode(), monkeypatch, shape=shape)
    fast.pop("proved")
    assert fast == exact


def test_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = "\n".join([HEADER, *EDGE_LINES]).encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, name="in.csv.gz")
    assert fast.pop("proved") > 0
    assert fast == exact


@pytest.mark.parametrize(
    ("header", "fast"),
    [
        ("event_id,event_name,customer_id,timestamp,source", True),
        ("event_name,customer_id,timestamp,properties.k,other", True),
        ("event_name,customer_id,timestamp,properties", True),
        ("event_name,customer_id,external_customer_id,timestamp", False),
        ("type,subject,time,id", True),  # CloudEvents
        ("type,subject,time", False),  # a CloudEvent's id is required
        ("type,subject,time,id,properties.k", False),  # the exact path merges them with data
        ("transaction_id,code,external_subscription_id,timestamp,properties", True),  # Lago
        ("transaction_id,code,external_customer_id,external_subscription_id,timestamp", False),
        ("transaction_id,code,external_customer_id,timestamp,source", False),
        ("event_name,customer_id", False),
        ("event_name,customer_id,timestamp,properties.", False),
        ("event_name,event_name,customer_id,timestamp", False),
    ],
)
def test_which_headers_take_the_fast_path(tmp_path: Path, header: str, fast: bool) -> None:
    from meterbill.events.readers import CsvSource

    path = tmp_path / "h.csv"
    path.write_text(header + "\n")
    with CsvSource(path) as source:
        assert (csv_fast.fast_layout(source.layout) is not None) is fast


#: Cells at the edges of what the fast path may prove, per column of ``HEADER``.
_CELLS = (
    ["e1", "e2", "", " ", "\u3000"],
    ["llm.usage", " a", "", "\x1c", "\x85", "ユ"],
    ["c1", "", "\t", "c\u2028", "s1"],
    ["2024-03-01T12:00:00Z", "2024-03-01T12:00:00.5-00:00", "2024-03-01T12:00:00+23:59",
     "2024-03-01T12:00:00z", "1709294400", "00001709294400", "100000000000", "999999999999999",
     "-1", " 1709294400", "2023-02-29T00:00:00Z", "0001-01-01T00:00:00+00:01",
     "9999-12-31T23:59:59.999999-00:01", "2024-03-01T12:00Z", "1709294400.5", "", "-1.5", "170000000012.25", "1700000000.1234567",
     "99999999999.99999", "1709294400.50", "0.5"],
    ["", "s", " "],
    ["", "1", "-0", "+.5", "1.", "1E-13", " 1", "abc", "٣", "1e26", "0.1234567890125", "NaN"],
    ["", "7", "12345678901234567890123456", "123456789012345678901234567"],
)  # fmt: skip


#: Each shape's names for ``HEADER``'s columns (an unknown column is ignored).
_SHAPE_NAMES = {
    "cloudevents": {"event_id": "id", "event_name": "type", "customer_id": "subject",
                    "timestamp": "time", "properties": "data", "properties.model": "x.model",
                    "properties.tokens": "x.tokens", "properties.Model": "x.Model"},
    "lago": {"event_id": "transaction_id", "event_name": "code",
             "customer_id": "external_customer_id", "source": "x.source"},
    "lago-subscription": {"event_id": "transaction_id", "event_name": "code",
                          "customer_id": "external_subscription_id", "source": "x.source"},
}  # fmt: skip


def _header_as(header: str, kind: str) -> str:
    """``header`` (native names) with ``kind``'s names."""
    names = _SHAPE_NAMES.get(kind, {})
    return ",".join(names.get(name.strip(), name) for name in header.split(","))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", list(_SHAPE_NAMES))
def test_cloudevents_and_lago_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, shape: Shape
) -> None:
    """CSV files of the CloudEvents and Lago shapes take the fast path under ``auto``
    and their own ``--shape`` (a proved row reads as that shape), and give what the
    exact path gives under every shape."""
    header = _header_as("event_id,event_name,customer_id,timestamp,source,properties", kind)
    rows = [
        ["e1", "u", "s1", "2024-03-01T12:00:00Z", "src", '{"k":1}'],
        ["e2", "u", "s2", "1709294400", "", ""],
        ["", "u", "s1", "2024-03-01T12:00:00Z", "", "{}"],  # a required id: empty_field
        ["e4", "u", "zz", "2024-03-01T12:00:00Z", "", '{"k":"x"}'],  # no such subscription
        ["e5", " ", "s1", "2024-03-01T12:00:00Z", "", ""],
        ["e6", "u", "sub-ü '; --", "2024-03-01T12:00:00+02:00", "", '{"k":2.5}'],
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    fast, exact = _both_paths(tmp_path, out.getvalue().encode(), monkeypatch, shape=shape)
    proved = fast.pop("proved")
    assert fast == exact
    if shape in ("auto", kind.split("-")[0]):
        taken = 3 if kind == "lago-subscription" else 4
        assert proved == 2 * taken
        assert fast["counts"][0] == (6, taken, 0, 6 - taken)
    else:
        assert proved == 0


#: Lines that may not be whole rows: the fast path hands the rest of the file over.
#: Lines that are blank, or rows the exact path reads (of another width, a BOM first).
_OTHER_LINES = ["", " ", "\x1c", ",,,", "a,b,c,d,e,f,g,h", '"a",b', '\ufeffq,"u",c1,1,,m,1']
_NOT_ROWS = ['q,"a"b,c1,1,,m,1', 'q,"a\nb",c1,1,,m,1', "r,a\rb,c1,1,,m,1", 'q,"a,c1,1,,m,1']


@st.composite
def _csv_files(draw: st.DrawFn) -> bytes:
    headers = [HEADER, HEADER.replace("tokens", "Model"), f" {HEADER} ", f"{HEADER},properties"]
    lines = [draw(st.sampled_from(headers))]
    json = lines[0].endswith("properties")
    lines[0] = _header_as(lines[0], draw(st.sampled_from(["native", *_SHAPE_NAMES])))
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.integers(0, 11))
        if kind == 0:  # blank, or not a row of the header's width
            lines.append(draw(st.sampled_from(_OTHER_LINES)))
        elif kind == 1:  # a line the fast path cannot read: the rest goes exact
            lines.append(draw(st.sampled_from(_NOT_ROWS)))
        else:
            cells = [draw(st.sampled_from(cells)) for cells in _CELLS]
            if json:
                cells.append(draw(st.sampled_from(JSON_CELLS)))
            quoted = [_quoted(cell) if '"' in cell or "," in cell else cell for cell in cells]
            lines.append(",".join(draw(st.sampled_from([cell, _quoted(cell)])) for cell in quoted))
    ends = st.sampled_from(["\n", "\r\n"])
    return "".join(line + draw(ends) for line in lines).encode()[: -draw(st.integers(0, 1)) or None]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_csv_files(), chunk_bytes=st.integers(1, 120), gzipped=st.booleans())
def test_generated_files_give_the_same_lake_and_rejects(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    chunk_bytes: int,
    gzipped: bool,
) -> None:
    tmp = tmp_path_factory.mktemp("gen")
    name = "in.csv.gz" if gzipped else "in.csv"
    fast, exact = _both_paths(tmp, data, monkeypatch, name=name, chunk_bytes=chunk_bytes)
    fast.pop("proved")
    assert fast == exact


_T = "2024-03-01T12:00:00Z"
#: Files pinned by the differential review of the quoted and JSON fast path (with how
#: many rows the fast path proves, both ingests): no difference from the exact path.
REVIEW_FILES = {
    "quoted-specials": (
        [HEADER, f'a,"u\u2028",c1,{_T},,"\x85",1', f'b,"\x85",c1,{_T},,m,1', f'c,u,c1,{_T},,"\t",1',
         f'"\ufeff",u,c1,{_T},,m,1', f'd," ""u"" ",c1,{_T},,m,""""', f'e, "u",c1,{_T},,m,1'],
        10,
    ),
    "quoted-header-keys": (
        ['"event_name","customer_id", timestamp ,"properties.a,b","properties.a\nb","properties.a""b"',
         f'u,c1,{_T},1,2,3', f'u,"c1",{_T},"4",,"x""y"'],
        4,
    ),
    "calendar": (
        [HEADER, *(f"d{n},u,c1,{day}T00:00:00Z,,m,1" for n, day in enumerate(
            ["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01", "0000-02-29",
             "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32", "2024-04-31", "0001-01-01"]))],
        6,
    ),
    "json-unquoted-and-unicode-keys": (
        ["event_name,customer_id,timestamp,properties.k,properties",
         f'u,c1,{_T},1,{{"a":1}}', f'u,c1,{_T},,"{{""é"":1,""e\u0301"":2}}"',
         f'u,c1,{_T},2,"{{""\u212a"":1,""ǅ"":""x""}}"',
         f'u,c1,{_T},,"{{""k"":0.5,""a"":-123456789012345}}"',
         f'u,c1,{_T},4,"{{""a"":-0.000000000001}}"'],  # DuckDB re-prints -1e-12: exact
        8,
    ),
}  # fmt: skip


#: Epoch timestamps at the edges: the range's ends (years 1 and 9999) as seconds and as
#: milliseconds, the seconds/milliseconds threshold (1e11), fractions of 6 and 3 places,
#: negative values, 15 and 16 digits, leading zeros and forms the fast path leaves exact.
EPOCH_EDGES = ["-62135596800", "-62135596800.000001", "-62135596801", "253402300799",
               "253402300799.999", "253402300800", "253402300799999", "253402300800000",
               "-62135596800000", "-62135596800001", "99999999999.9999", "99999999999",
               "100000000000", "100000000000.001", "-100000000000.5", "-1.000001", "1.000001",
               "0", "000000000000001", "0.5", "-0.5", "1.0", "1e11", "+1", "999999999999999",
               "12345678901234.5", "1234567890123456", "1709294400.1234567"]  # fmt: skip
#: Files of every shape pinned by the differential review of the CloudEvents and Lago
#: fast paths and of fractional epochs: (lines, --shape, rows the fast path proves in
#: both ingests); no difference from the exact path.
SHAPE_REVIEW_FILES: dict[str, tuple[list[str], Shape, int]] = {
    "epochs-lago-subscription": (
        ["transaction_id,code,external_subscription_id,timestamp",
         *(f"e{n},u,s1,{stamp}" for n, stamp in enumerate(EPOCH_EDGES))],
        "auto", 2 * 16,
    ),
    "epochs-cloudevents": (
        ["id,type,subject,time", *(f"e{n},u,c1,{stamp}" for n, stamp in enumerate(EPOCH_EDGES))],
        "cloudevents", 2 * 16,
    ),
    "cloudevents-blank-and-odd-cells": (
        ["specversion,time,subject,type,id,source,data,Type",
         f"1.0,{_T},c1,u,a,,,x", f" ,{_T},c1, ,b,,,", f",{_T},c1,u,\u3000,,,", f",{_T},c1,u,,s,,",
         f",{_T},,u,e,,,", "2,1709294400.5,c1,u,f, ,{},", f',{_T},c1,u,g,,"{{""k"":1}}",',
         f",{_T},c1,u,h,,null,", f',{_T},c1,u,i,,"{{""k"":1,""K"":2}}",'],
        "auto", 2 * 3,
    ),
    "lago-subscriptions": (
        ["transaction_id,code,external_subscription_id,timestamp,properties",
         *(f'e{n},u,{sub},1709294400.25,"{{""k"":{n}}}"'
           for n, sub in enumerate(["s1", "S1", " s1", "s1 ", "", "zz", '"sub-ü \'; --"', "c1"]))],
        "lago", 2 * 2,
    ),
}  # fmt: skip


#: Every review case: (lines, --shape, rows the fast path proves in both ingests).
_REVIEW_CASES: dict[str, tuple[list[str], Shape, int]] = {
    **{case: (lines, "auto", proved) for case, (lines, proved) in REVIEW_FILES.items()},
    **SHAPE_REVIEW_FILES,
}


@pytest.mark.parametrize("chunk_bytes", [1, 1 << 20])
@pytest.mark.parametrize("case", list(_REVIEW_CASES))
def test_review_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, chunk_bytes: int
) -> None:
    lines, shape, proved = _REVIEW_CASES[case]
    data = "\n".join(lines).encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=chunk_bytes, shape=shape)
    assert fast.pop("proved") == proved
    assert fast == exact
