"""The CSV fast path gives exactly what the exact (row by row) path gives.

Each case writes one CSV file and ingests it into fresh workspaces twice, once as
shipped (fast path on) and once with it switched off, then again into each (every row a
duplicate), and compares counts, lake rows, rejects and duplicates.
"""

from __future__ import annotations

import gzip
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


@pytest.mark.parametrize("chunk_bytes", [200, 1 << 20])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_edge_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int, newline: str
) -> None:
    data = newline.join([HEADER, *EDGE_LINES]).encode()
    fast, exact = _both_paths(tmp_path, data, monkeypatch, chunk_bytes=chunk_bytes)
    assert 0 < fast.pop("proved") < 2 * len(EDGE_LINES)  # both paths at work
    assert fast == exact
    assert fast["counts"][0][3] > 0 and fast["counts"][1][2] > 0


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
            6,
            id="quotes-later",
        ),
        pytest.param(
            "\n".join([HEADER, *EDGE_LINES[:8]]).encode()
            + b"\nbad,\xff,c1,2024-03-01T12:00:00Z,,m,1\n"
            + "\n".join(EDGE_LINES[8:]).encode(),
            6,
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
            6,
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
            0,
            id="json-properties",
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
        ("event_name,customer_id,timestamp,properties", False),
        ("event_name,customer_id,external_customer_id,timestamp", False),
        ("type,subject,time,id", False),
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
    ["c1", "", "\t", "c\u2028"],
    ["2024-03-01T12:00:00Z", "2024-03-01T12:00:00.5-00:00", "2024-03-01T12:00:00+23:59",
     "2024-03-01T12:00:00z", "1709294400", "00001709294400", "100000000000", "999999999999999",
     "-1", " 1709294400", "2023-02-29T00:00:00Z", "0001-01-01T00:00:00+00:01",
     "9999-12-31T23:59:59.999999-00:01", "2024-03-01T12:00Z", "1709294400.5", ""],
    ["", "s", " "],
    ["", "1", "-0", "+.5", "1.", "1E-13", " 1", "abc", "٣", "1e26", "0.1234567890125", "NaN"],
    ["", "7", "12345678901234567890123456", "123456789012345678901234567"],
)  # fmt: skip


@st.composite
def _csv_files(draw: st.DrawFn) -> bytes:
    lines = [draw(st.sampled_from([HEADER, HEADER.replace("tokens", "Model"), f" {HEADER} "]))]
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.integers(0, 11))
        if kind == 0:  # blank, or not a row of the header's width
            lines.append(draw(st.sampled_from(["", " ", "\x1c", ",,,", "a,b,c,d,e,f,g,h"])))
        elif kind == 1:  # a line the fast path cannot read: the rest goes exact
            lines.append(draw(st.sampled_from(['q,"a",c1,1,,m,1', "r,a\rb,c1,1,,m,1"])))
        else:
            lines.append(",".join(draw(st.sampled_from(cells)) for cells in _CELLS))
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
