"""``.json`` files holding one JSON array (OpenMeter's CloudEvents batches)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from meterbill.events import json_arrays
from meterbill.events.json_arrays import is_json_array, read_json_array
from meterbill.events.rejects import Reject

from .helpers import Workspace, write_jsonl

EVENT = '{"event_name":"u","customer_id":"c","timestamp":1709294400}'
E = EVENT.encode()
CLOUDEVENT = (
    '{"specversion":"1.0","id":"b1","type":"u","subject":"c1",'
    '"time":"2024-03-01T12:00:00Z","data":{"tokens":100}}'
)


@pytest.mark.parametrize(
    ("name", "text", "array"),
    [
        ("a.json", "[]", True),
        ("a.json", "\ufeff \r\n [" + EVENT + "]", True),
        ("a.JSON", "[" + EVENT + "]", True),
        ("a.json", EVENT + "\n" + EVENT + "\n", False),  # JSON lines
        ("a.jsonl", "[" + EVENT + "]", False),  # .jsonl is always JSON lines
        ("a.ndjson", "[" + EVENT + "]", False),
        ("a.json", "", False),
        # a second BOM is no BOM: ``_items`` skips one, then expects the bracket
        ("a.json", "\ufeff\ufeff[" + EVENT + "]", False),
    ],
)
def test_which_files_are_arrays(tmp_path: Path, name: str, text: str, *, array: bool) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert is_json_array(path) is array


ELEMENTS: list[tuple[str, list[tuple[int, str, str | None]]]] = [
    ("[]", []),
    ("[ ]\n", []),
    (f"[{EVENT}]", [(1, EVENT, None)]),
    (f"[\n  {EVENT},\n  [1, 2]\n]\n", [(1, EVENT, None), (2, "[1, 2]", "not_an_object")]),
    (
        f'[{EVENT}, {{"a": 1, "a": 2}}]',
        [(1, EVENT, None), (2, '{"a": 1, "a": 2}', "duplicate_key")],
    ),
    (f'[{{"v": NaN}}, {EVENT}]', [(1, '{"v": NaN}', "bad_json"), (2, EVENT, None)]),
    # a broken document: what was read stands, the rest is one bad_json record
    (f"[{EVENT}, {{", [(1, EVENT, None), (2, "{", "bad_json")]),
    (f'[{EVENT}, {{"a": "]', [(1, EVENT, None), (2, '{"a": "]', "bad_json")]),
    (f"[{EVENT} {EVENT}]", [(1, f"{EVENT} {EVENT}", "bad_json")]),  # no comma: one
    # brackets that do not match: the rest of the document is one record
    (f'[{{"v": [1}}, {EVENT}]', [(1, f'{{"v": [1}}, {EVENT}]', "bad_json")]),
    # elements are found by brackets and quotes: a bad one does not end the document
    (
        f'[{{"v" 1}}, "x]", {EVENT}]',
        [(1, '{"v" 1}', "bad_json"), (2, '"x]"', "not_an_object"), (3, EVENT, None)],
    ),
    (
        "[" + "[" * 100_000 + "]" * 100_000 + f", {EVENT}]",
        [(1, "[" * 100_000 + "]" * 100_000, "bad_json"), (2, EVENT, None)],
    ),
    (f"[{EVENT},]", [(1, EVENT, None), (2, "", "bad_json")]),
    (f'[{EVENT}, "\\"]"]', [(1, EVENT, None), (2, '"\\"]"', "not_an_object")]),
    (f"[{EVENT}] x", [(1, EVENT, None), (2, "x", "bad_json")]),
    (f"[{EVENT}", [(1, EVENT, None), (2, "", "bad_json")]),
    # cut after a comma: the array not closed is the one reject, not an empty element too
    (f"[{EVENT}, \n", [(1, EVENT, None), (2, "", "bad_json")]),
    ("[", [(1, "", "bad_json")]),
    ("[] []", [(1, "[]", "bad_json")]),
    (f'\ufeff[{EVENT}, {{"ü": "€"}}]', [(1, EVENT, None), (2, '{"ü": "€"}', None)]),
]


def _records(path: Path) -> list[tuple[int, str, str | None]]:
    return [
        (r.record_number, r.raw, getattr(r.value, "reason", None)) for r in read_json_array(path)
    ]


@pytest.mark.parametrize(("text", "expected"), ELEMENTS)
def test_elements_are_records(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str | None]]
) -> None:
    path = tmp_path / "batch.json"
    path.write_text(text, encoding="utf-8")
    assert _records(path) == expected


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8])
def test_a_document_read_in_small_blocks_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Blocks cut elements, strings, escapes, UTF-8 characters and the BOM anywhere."""
    monkeypatch.setattr(json_arrays, "_BLOCK", block)
    for number, (text, expected) in enumerate(ELEMENTS):
        path = tmp_path / f"batch{number}.json"
        path.write_text(text, encoding="utf-8")
        assert _records(path) == expected, text[:80]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'[%s, {"a": "\xff"}, %s]' % (E, E),
            [(1, EVENT, None), (2, '{"a": "\\xff"}', "bad_encoding"), (3, EVENT, None)],
        ),
        (b"[%s] \xfe" % E, [(1, EVENT, None), (2, "\\xfe", "bad_json")]),
        (b'[%s, "\xe2\x82' % E, [(1, EVENT, None), (2, '"\\xe2\\x82', "bad_json")]),
    ],
)
def test_bytes_that_are_not_utf8_reject_their_element(
    tmp_path: Path, data: bytes, expected: list[tuple[int, str, str | None]]
) -> None:
    path = tmp_path / "batch.json"
    path.write_bytes(data)
    assert _records(path) == expected
    records = list(read_json_array(path))
    if expected[1][2] == "bad_encoding":
        assert records[1].value == json_arrays.Reject(
            "bad_encoding", "not UTF-8: invalid start byte at byte 7"
        )


def test_memory_holds_about_a_block_not_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_arrays, "_BLOCK", 1024)
    held: list[int] = []
    more = json_arrays._Stream.more

    def spy(self: json_arrays._Stream, at_least: int = 0) -> bool:
        held.append(len(self.text))
        return more(self, at_least)

    monkeypatch.setattr(json_arrays._Stream, "more", spy)
    path = tmp_path / "big.json"
    path.write_text("[" + ",\n".join([EVENT] * 5000) + "]")  # ~300 kB
    assert len(_records(path)) == 5000
    assert len(held) > 250  # read a block at a time
    assert max(held) < 2 * 1024 + len(EVENT)


def test_a_batch_of_cloudevents_through_ingest(workspace: Workspace, tmp_path: Path) -> None:
    text = f"[\n{CLOUDEVENT},\n{CLOUDEVENT},\n{EVENT},\n42\n]\n"
    plain = tmp_path / "batch.json"
    plain.write_text(text)
    gz = tmp_path / "again.json.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    first = workspace.ingest(plain)
    assert (first.records_read, first.accepted, first.duplicates, first.rejected) == (4, 2, 1, 1)
    rows = workspace.lake_rows()
    assert [(r["event_id"], r["customer_id"], r["p__tokens"]) for r in rows] == [
        ("b1", "c1", "100"),
        (rows[1]["event_id"], "c", None),
    ]
    assert rows[1]["event_id"].startswith("derived:")
    assert workspace.rejects() == [(str(plain), 4, "not_an_object", "42")]
    again = workspace.ingest(plain)  # the same file again: derived ids too are duplicates
    assert (again.accepted, again.duplicates) == (0, 3)
    zipped = workspace.ingest(gz)  # the same content, compressed: the same derived id
    assert (zipped.accepted, zipped.duplicates) == (0, 3)


def test_json_lines_in_a_json_file_stay_json_lines(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "lines.json", [EVENT, "[1]"])
    result = workspace.ingest(path)
    assert (result.accepted, result.rejected) == (1, 1)
    assert workspace.rejects()[0][1:3] == (2, "not_an_object")


def test_runs_of_one_line_elements_for_the_fast_path(tmp_path: Path) -> None:
    pretty = '{\n  "a": 1\n}'
    path = tmp_path / "batch.json"
    path.write_bytes(
        f"[{EVENT}, {EVENT},\n{pretty}, {EVENT},, {EVENT}, ".encode() + b'"\xff", ' + E + b"]"
    )
    items = [
        item if isinstance(item, tuple) else (item.record_number, item.raw, str(item.value))
        for item in json_arrays.json_array_runs(path, run_bytes=2 * len(EVENT) + 2)
    ]
    assert items == [
        (1, E + b"\n" + E),  # a run is cut once it is run_bytes long
        (3, pretty, "{'a': JsonNumber(text='1')}"),
        (4, E),
        (5, "", str(Reject("bad_json", "invalid JSON: Expecting value at column 1"))),
        (6, E),
        (
            7,
            '"\\xff"',
            str(Reject("bad_encoding", "not UTF-8: invalid start byte at byte 1")),
        ),
        (8, E),
    ]


def _run_lines(path: Path) -> list[tuple[int, str]]:
    """``json_array_runs``'s elements, a run's lines one by one, as (number, raw text)."""
    out: list[tuple[int, str]] = []
    for item in json_arrays.json_array_runs(path, run_bytes=300):
        if isinstance(item, tuple):
            first, data = item
            out += [(first + i, line.decode()) for i, line in enumerate(data.split(b"\n"))]
        else:
            out.append((item.record_number, item.raw))
    return out


#: Lines of an array printed one element a line, and lines that are not such an element.
_WHOLE_LINES = [f"  {EVENT},", f"\t{EVENT} ,\r", f"{CLOUDEVENT},", '{"a":{"b":"x, y"}, "c":1},']
_OTHER_LINES = [
    f"{EVENT}, {EVENT},",  # two elements on one line
    '{"a":\n  1\n},',  # spread over lines
    '{"a":[1,2]},',  # an array inside
    '{"a":"say \\"hi\\""},',  # an escape
    '{"a":"x\udcff"},',  # a byte that is not UTF-8 (written as the byte)
    ",",  # an empty element
]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
@pytest.mark.parametrize(("at_least", "again_after"), [(1, 0), (3, 2), (64, 0), (64, 1024)])
def test_elements_filling_whole_lines_read_as_the_scan_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, at_least: int, again_after: int
) -> None:
    """Runs of whole-line elements (taken in Arrow) between elements of every other
    kind give the records, numbers and raw texts the element scan gives."""
    monkeypatch.setattr(json_arrays, "_BLOCK", block)
    monkeypatch.setattr(json_arrays, "_LINES_AT_LEAST", at_least)
    monkeypatch.setattr(json_arrays, "_LINES_AGAIN_AFTER", again_after)
    whole_lines = json_arrays._whole_lines
    taken: list[int] = []

    def spy(text: str, position: int) -> tuple[int, bytes, int]:
        found = whole_lines(text, position)
        taken.append(found[0])
        return found

    monkeypatch.setattr(json_arrays, "_whole_lines", spy)
    lines = []
    for number, other in enumerate(_OTHER_LINES):
        lines += _WHOLE_LINES[number % 4 :] + _WHOLE_LINES * 3 + [other]
    path = tmp_path / "batch.json"
    text = "[\n" + "\n".join(lines) + f"\n{EVENT}\n]\n"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    scanned = [(record.record_number, record.raw) for record in read_json_array(path)]
    assert _run_lines(path) == scanned
    # whole lines (4 + 3 + 2 + 1 + 4 + 3 + 6 * 12), the others (7 records), the last
    assert len(scanned) == 17 + 72 + 7 + 1
    if block > len(text) and not again_after:  # one block: every run of whole lines at once
        assert sum(taken) == 17 + 72 + 1  # and the second of two elements ends its line
    assert (sum(taken) > 0) is (block > len(EVENT))


#: Documents pinned by the differential review of ``_whole_lines``: the elements (number,
#: raw text) the scan gives, which the whole-line runs must give too.
REVIEW_DOCUMENTS: list[tuple[str, list[tuple[int, str]]]] = [
    (f"[\n{EVENT},\n{EVENT},\n]\n", [(1, EVENT), (2, EVENT), (3, "")]),  # a trailing comma
    (f"[\n{EVENT},\n{EVENT},\n", [(1, EVENT), (2, EVENT), (3, "")]),  # cut after a comma
    (f"[{EVENT},\n{EVENT}", [(1, EVENT), (2, EVENT), (3, "")]),  # cut after an element
    (f"[{EVENT} \r, \r\n\t{EVENT},\r\n]", [(1, EVENT), (2, EVENT), (3, "")]),
    (f"[{EVENT},\n\r{EVENT},\n{EVENT}]", [(1, EVENT), (2, EVENT), (3, EVENT)]),
    (f"[{EVENT},\ufeff\n{EVENT}]", [(1, EVENT), (2, f"\ufeff\n{EVENT}")]),
    ('[{"a":"]}"},\n{"a":{"b":"}"}},\n{"a":1} x,\n{}]',
     [(1, '{"a":"]}"}'), (2, '{"a":{"b":"}"}}'), (3, '{"a":1} x'), (4, "{}")]),
    (f"[{EVENT}, {EVENT},\n{EVENT},\n]", [(1, EVENT), (2, EVENT), (3, EVENT), (4, "")]),
]  # fmt: skip


@pytest.mark.parametrize("block", [7, 1 << 20])
@pytest.mark.parametrize(("text", "elements"), REVIEW_DOCUMENTS)
def test_review_documents(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    elements: list[tuple[int, str]],
    block: int,
) -> None:
    monkeypatch.setattr(json_arrays, "_BLOCK", block)
    monkeypatch.setattr(json_arrays, "_LINES_AT_LEAST", 1)
    monkeypatch.setattr(json_arrays, "_LINES_AGAIN_AFTER", 0)
    path = tmp_path / "batch.json"
    path.write_text(text, encoding="utf-8")
    scanned = [(record.record_number, record.raw) for record in read_json_array(path)]
    assert scanned == elements
    assert _run_lines(path) == scanned
