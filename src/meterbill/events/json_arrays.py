"""JSON array documents: a ``.json`` file that is one array of records.

OpenMeter takes CloudEvents one at a time or as a batch, a JSON array
(``application/cloudevents-batch+json``), so saved batches are ``.json`` files holding
one array. A ``.json`` file whose first character (after a BOM and whitespace) is ``[``
is read as such a document: each element is one record, numbered from 1 in the array,
its raw text the element's own text, parsed and rejected exactly as a JSON line is
(``readers.parse_json_record``). Every other ``.json`` file is JSON lines.

The document is read whole (an array has no line to stream by), so a large feed belongs
in JSON lines. Elements are found by their brackets and quotes (``_element_end``), not
by parsing, so a bad element (a NaN, a missing colon, nesting too deep to parse) is
one ``bad_json`` record and the next element is read as usual. Only where the
brackets themselves are broken (one left open, a ``]`` closing a ``{``, a string never
closed) or text follows the closing bracket is the rest of the document one
``bad_json`` record: no record is lost, and none is guessed at.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from meterbill.events.readers import SourceRecord, is_gzip, parse_json_record
from meterbill.events.rejects import Reject

_BOM: Final = "\ufeff"
_WHITESPACE: Final = " \t\r\n"
_CLOSERS: Final = {"[": "]", "{": "}"}
#: What matters to an element's end: quotes, brackets and commas.
_SPECIAL: Final = re.compile(r'["\[\]{},]')
#: The rest of a string after its opening quote, through its closing quote.
_STRING_REST: Final = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)


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
    position = _skip(text, _skip(text, 0) + 1)  # after "["
    number = 1
    if text.startswith("]", position):  # an empty array
        end = position
    else:
        while True:
            end = _element_end(text, position)
            if end is None:
                yield _broken(number, text[position:], "a bracket or a quote is not closed")
                return
            element = text[position:end].rstrip(_WHITESPACE)
            yield SourceRecord(number, element, parse_json_record(element))
            number += 1
            if end == len(text):  # a whole element, then the end: a truncated document
                yield _broken(number, "", "the array is not closed")
                return
            if text[end] == "]":
                break
            position = _skip(text, end + 1)
    position = _skip(text, end + 1)
    if position < len(text):
        yield _broken(number, text[position:], "text after the array")


def _element_end(text: str, position: int) -> int | None:
    """Where the element starting at ``position`` ends: the index of the ``,`` or ``]``
    after it, outside strings and brackets, or the text's end; None if a bracket or a
    string is not closed (or a bracket is closed by the other kind)."""
    expected: list[str] = []
    index = position
    while (found := _SPECIAL.search(text, index)) is not None:
        char, index = found.group(), found.start()
        if char == '"':
            closing = _STRING_REST.match(text, index + 1)
            if closing is None:
                return None
            index = closing.end()
            continue
        if char in _CLOSERS:
            expected.append(_CLOSERS[char])
        elif char in "]}":
            if not expected:
                return index if char == "]" else None
            if expected.pop() != char:
                return None
        elif not expected:  # a comma between elements
            return index
        index += 1
    return None if expected else len(text)


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _broken(number: int, rest: str, why: str) -> SourceRecord:
    """The rest of a broken document, as one record."""
    return SourceRecord(number, rest, Reject("bad_json", f"invalid JSON array: {why}"))
