"""JSON array documents: a ``.json`` file that is one array of records.

OpenMeter takes CloudEvents one at a time or as a batch, a JSON array
(``application/cloudevents-batch+json``), so saved batches are ``.json`` files holding
one array. A ``.json`` file whose first character (after a BOM and whitespace) is ``[``
is read as such a document: each element is one record, numbered from 1 in the array,
its raw text the element's own text, parsed and rejected exactly as a JSON line is
(``readers.parse_json_record``). Every other ``.json`` file is JSON lines.

The document is read whole (an array has no line to stream by), so a large feed belongs
in JSON lines. If the array itself is broken (a syntax error between or inside
elements, text after the closing bracket, no closing bracket), the records read so far
stand and the rest of the document is one ``bad_json`` record: no record is lost, and
none is guessed at.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from meterbill.events.readers import SourceRecord, is_gzip, parse_json_record
from meterbill.events.rejects import Reject

_BOM: Final = "\ufeff"
_WHITESPACE: Final = " \t\r\n"
#: Finds where an element ends (NaN, duplicate keys and all): its text is then parsed
#: by the strict reader, which gives the record or its reject reason.
_SCANNER: Final = json.JSONDecoder(parse_constant=lambda _: None)


def _text(path: Path) -> bytes:
    if is_gzip(path):
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()


def is_json_array(path: Path) -> bool:
    """Whether a ``.json`` (or ``.json.gz``) file is one JSON array document."""
    name = path.name.lower()
    if not (name.endswith(".json") or name.endswith(".json.gz")):
        return False
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as handle:
        head = handle.read(4096)
    text = head.decode("utf-8", "replace").lstrip(_BOM).lstrip(_WHITESPACE)
    return text.startswith("[")


def read_json_array(path: Path) -> Iterator[SourceRecord]:
    """Yield the elements of a JSON array document as records (see the module docstring).

    Raises:
        OSError: the file cannot be read.
    """
    data = _text(path)
    try:
        text = data.decode("utf-8").lstrip(_BOM)
    except UnicodeDecodeError as exc:
        raw = data.decode("utf-8", "backslashreplace")
        yield SourceRecord(1, raw, Reject("bad_encoding", f"not UTF-8 at byte {exc.start}"))
        return
    position = _skip(text, 0) + 1  # after "["
    number = 0
    position = _skip(text, position)
    if text.startswith("]", position):
        position = _skip(text, position + 1)
        if position < len(text):
            yield _broken(1, text[position:], "text after the array")
        return
    while True:
        number += 1
        try:
            _, end = _SCANNER.raw_decode(text, position)
        except (json.JSONDecodeError, RecursionError):
            yield _broken(number, text[position:], "an element is not JSON")
            return
        yield SourceRecord(number, text[position:end], parse_json_record(text[position:end]))
        position = _skip(text, end)
        if text.startswith(",", position):
            position = _skip(text, position + 1)
            continue
        if text.startswith("]", position):
            position = _skip(text, position + 1)
            if position < len(text):
                yield _broken(number + 1, text[position:], "text after the array")
            return
        yield _broken(number + 1, text[position:], "expected ',' or ']' between elements")
        return


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _broken(number: int, rest: str, why: str) -> SourceRecord:
    """The rest of a broken document, as one record."""
    return SourceRecord(number, rest, Reject("bad_json", f"invalid JSON array: {why}"))
