"""JSON array documents: a ``.json`` file that is one array of records.

OpenMeter takes CloudEvents one at a time or as a batch, a JSON array
(``application/cloudevents-batch+json``), so saved batches are ``.json`` files holding
one array. A ``.json`` file whose first character (after a BOM and whitespace) is ``[``
is read as such a document: each element is one record, numbered from 1 in the array,
its raw text the element's own text, parsed and rejected exactly as a JSON line is
(``readers.parse_json_record``). Every other ``.json`` file is JSON lines.

The document is streamed, a block of bytes at a time, so memory holds the element being
read (and the block around it), not the document: a 5 GB array ingests like 5 GB of
JSON lines. Elements are found by their brackets and quotes (``_element_end``), not by
parsing, so a bad element (a NaN, a missing colon, nesting too deep to parse) is one
``bad_json`` record and the next element is read as usual. Only where the brackets
themselves are broken (one left open, a ``]`` closing a ``{``, a string never closed) or
text follows the closing bracket is the rest of the document one ``bad_json`` record:
no record is lost, and none is guessed at. Bytes that are not UTF-8 make the element
holding them ``bad_encoding``, as they make a JSON line (the text is decoded with
``surrogateescape``, so such bytes survive as lone surrogates until their element is
checked, and the raw text keeps them as ``\\xNN``).

``json_array_runs`` hands the elements to the JSON lines fast path: runs of elements
that each fit on one line, as lines numbered by their place in the array. Where
elements fill whole lines, one a line followed by its comma (an array printed one
element a line), up to a block of such lines is taken at once in Arrow
(``_whole_lines``: one RE2 match a line, the grammar of ``_element_end``'s simple
objects, instead of ~4 us of Python an element); its elements are those the scan
would find, each line one element.
"""

from __future__ import annotations

import codecs
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from meterbill.events.readers import (
    ByteSource,
    Progress,
    SourceRecord,
    encoding_reject,
    is_gzip,
    parse_json_record,
)
from meterbill.events.rejects import Reject

_BOM: Final = "\ufeff"
_WHITESPACE: Final = " \t\r\n"
_CLOSERS: Final = {"[": "]", "{": "}"}
#: What matters to an element's end: quotes, brackets and commas.
_SPECIAL: Final = re.compile(r'["\[\]{},]')
#: The rest of a string after its opening quote, through its closing quote.
_STRING_REST: Final = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
#: An object the bracket scan would close where this match ends: strings without
#: backslashes, objects holding only flat objects, no arrays (one regular expression call
#: instead of ~30 for a typical event: ``_element_end`` tries it first).
_FLAT_OBJECT: Final = r'\{(?:[^"{}\[\]]++|"[^"\\]*+")*+\}'
_SIMPLE_OBJECT: Final = re.compile(rf'\{{(?:[^"{{}}\[\]]++|"[^"\\]*+"|{_FLAT_OBJECT})*+\}}')
_SPACE: Final = re.compile(r"[ \t\r\n]*+")
#: A byte that is not UTF-8, as ``surrogateescape`` decodes it.
_ESCAPED_BYTE: Final = re.compile("[\udc80-\udcff]")
#: An element filling one line, then its comma (RE2: ``_SIMPLE_OBJECT`` without line
#: ends; the element is the line without its leading space and its comma).
_FLAT_LINE_OBJECT: Final = r'\{(?:[^"{}\[\]\n]|"[^"\\\n]*")*\}'
_ELEMENT_LINE: Final = (
    rf'^[ \t]*\{{(?:[^"{{}}\[\]\n]|"[^"\\\n]*"|{_FLAT_LINE_OBJECT})*\}}[ \t\r]*,[ \t\r]*$'
)
#: After a run of fewer whole-line elements than this, ``_whole_lines`` is not tried
#: again for ``_LINES_AGAIN_AFTER`` elements (a document of other elements costs ~nothing).
_LINES_AT_LEAST: Final = 64
_LINES_AGAIN_AFTER: Final = 1024
#: Bytes read at a time (at least; more when one element is longer).
_BLOCK: Final = 1 << 20
#: ``_element_end`` when the text ends inside a bracket or a string.
_UNCLOSED: Final = -1
#: ``_element_end`` when a bracket is closed by the other kind.
_MISMATCHED: Final = -2


def is_json_array(path: Path) -> bool:
    """Whether a ``.json`` (or ``.json.gz``) file is one JSON array document."""
    name = path.name.lower()
    if not (name.endswith(".json") or name.endswith(".json.gz")):
        return False
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as handle:
        head = handle.read(4096)
    text = head.decode("utf-8", "replace").removeprefix(_BOM).lstrip(_WHITESPACE)
    return text.startswith("[")


def read_json_array(path: Path, *, progress: Progress | None = None) -> Iterator[SourceRecord]:
    """Yield the elements of a JSON array document as records (see the module docstring).

    Raises:
        OSError: the file cannot be read.
    """
    for item in _items(path, progress):
        yield item if isinstance(item, SourceRecord) else _record(*item)


def json_array_runs(
    path: Path, *, run_bytes: int, progress: Progress | None = None
) -> Iterator[tuple[int, bytes] | SourceRecord]:
    """The elements of a JSON array document, for the JSON lines fast path: runs of
    elements each on one line (``(number of the first, the elements joined by
    newlines)``, about ``run_bytes`` long), and as a record each element no line can
    hold as it is (one spread over lines, an empty one, one whose bytes are not UTF-8)
    and the rest of a broken document. Read line by line, a run gives exactly the
    records ``read_json_array`` gives for its elements.

    Raises:
        OSError: the file cannot be read.
    """
    run: list[bytes] = []
    first = size = 0
    for item in _items(path, progress, whole_lines=True):
        if isinstance(item, _Lines):  # consecutive elements, joined by newlines already
            if not run:
                first = item.number
            run.append(item.data)
            size += len(item.data) + 1
            if size >= run_bytes:
                yield first, b"\n".join(run)
                run, size = [], 0
            continue
        if not isinstance(item, SourceRecord):
            number, text = item
            if text and "\n" not in text and _ESCAPED_BYTE.search(text) is None:
                line = text.encode("utf-8")
                if not run:
                    first = number
                run.append(line)
                size += len(line) + 1
                if size >= run_bytes:
                    yield first, b"\n".join(run)
                    run, size = [], 0
                continue
            item = _record(number, text)
        if run:
            yield first, b"\n".join(run)
            run, size = [], 0
        yield item
    if run:
        yield first, b"\n".join(run)


@dataclass(frozen=True, slots=True)
class _Lines:
    """Consecutive elements, each on one line: the first's number, and their texts
    joined by newlines (UTF-8)."""

    number: int
    data: bytes


def _items(
    path: Path, progress: Progress | None, *, whole_lines: bool = False
) -> Iterator[tuple[int, str] | _Lines | SourceRecord]:
    """Each element as ``(number, text)``, and a broken document's rest as its record;
    with ``whole_lines``, runs of elements filling whole lines as ``_Lines``."""
    with ByteSource(path) as source:
        stream = _Stream(source, progress)
        while not stream.text and stream.more():  # a first block may end inside the BOM
            pass
        position = stream.skip(1 if stream.text.startswith(_BOM) else 0)
        position = stream.skip(position + 1)  # after "["
        number = 1
        lines_from = 1 if whole_lines else None  # the element to try ``_whole_lines`` at
        if stream.text.startswith("]", position):  # an empty array
            end = position
        else:
            while True:
                if lines_from is not None and number >= lines_from:
                    if len(stream.text) - position < _BLOCK:
                        stream.more()  # a whole block of lines ahead, where there is one
                    count, data, after = _whole_lines(stream.text, position)
                    if count < _LINES_AT_LEAST:
                        lines_from = number + count + _LINES_AGAIN_AFTER
                    if count:
                        yield _Lines(number, data)
                        number += count
                        position = stream.skip(stream.forget(after))
                        continue
                end = stream.element_end(position)
                if end is None:
                    yield _broken(
                        number, stream.rest(position), "a bracket or a quote is not closed"
                    )
                    return
                element = stream.text[position:end].rstrip(_WHITESPACE)
                if end == len(stream.text):  # the end, not "]": a truncated document
                    if element:  # what was cut after a comma is no element of its own
                        yield number, element
                        number += 1
                    yield _broken(number, "", "the array is not closed")
                    return
                yield number, element
                number += 1
                if stream.text[end] == "]":
                    break
                position = stream.skip(stream.forget(end) + 1)
        position = stream.skip(end + 1)
        if position < len(stream.text):
            yield _broken(number, stream.rest(position), "text after the array")


class _Stream:
    """The document's text, decoded block by block; ``text`` holds the part not yet
    forgotten (the element being read begins in it)."""

    def __init__(self, source: ByteSource, progress: Progress | None) -> None:
        self._source = source
        self._progress = progress
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._eof = False
        self.text = ""

    def more(self, at_least: int = 0) -> bool:
        """Read on (a block, or ``at_least`` bytes if more); False once there is no
        more text."""
        if self._eof:
            return False
        block = self._source.handle.read(max(at_least, _BLOCK))
        self._eof = not block
        decoded = self._decoder.decode(block, final=self._eof)  # at the end: a cut-off byte
        self.text += decoded
        if self._progress is not None:
            self._progress(self._source.position())
        return bool(block or decoded)

    def forget(self, position: int) -> int:
        """Drop the text before ``position`` once it is a block long; the position of
        the same character afterwards."""
        if position < _BLOCK:
            return position
        self.text = self.text[position:]
        return 0

    def skip(self, position: int) -> int:
        """The first position from ``position`` on that is not whitespace (or the end)."""
        while True:
            while position < len(self.text) and self.text[position] in _WHITESPACE:
                position += 1
            if position < len(self.text) or not self.more():
                return position

    def element_end(self, position: int) -> int | None:
        """``_element_end``, reading on while the element may go on past the text read."""
        while True:
            end = _element_end(self.text, position)
            if end == _MISMATCHED:
                return None
            if 0 <= end < len(self.text):
                return end
            if not self.more(len(self.text) - position):  # read as much again: linear
                return None if end == _UNCLOSED else end

    def rest(self, position: int) -> str:
        """The text from ``position`` to the end of the document."""
        while self.more():
            pass
        return self.text[position:]


def _whole_lines(text: str, position: int) -> tuple[int, bytes, int]:
    """The elements from ``position`` (an element's start) that each fill one line of
    ``text`` followed by their comma, up to a block of them: how many, their texts
    joined by newlines, and the position after their lines. A line of such an element
    is one ``_element_end`` ends at its comma: its brackets and quotes close on it."""
    cut = text.rfind("\n", position, position + _BLOCK) + 1
    odd = _ESCAPED_BYTE.search(text, position, cut)  # bytes not UTF-8: read one by one
    if odd is not None:
        cut = text.rfind("\n", position, odd.start()) + 1
    if cut <= position:
        return 0, b"", position
    region = pa.array([text[position : cut - 1].encode("utf-8")], pa.large_string())
    lines = pc.split_pattern(region, "\n").values
    fits = pc.match_substring_regex(lines, _ELEMENT_LINE)
    count = pc.index(fits, value=False).as_py()
    if count == -1:
        count = len(lines)
    if not count:
        return 0, b"", position
    taken = lines.slice(0, count)
    elements = pc.replace_substring_regex(
        pc.utf8_ltrim(taken, characters=" \t"), pattern=r"[ \t\r]*,[ \t\r]*$", replacement=""
    )
    joined = pc.binary_join(
        pa.LargeListArray.from_arrays([0, count], elements), pa.scalar("\n", pa.large_string())
    )
    after = position + pc.sum(pc.utf8_length(taken)).as_py() + count
    return count, joined[0].as_buffer().to_pybytes(), after


def _element_end(text: str, position: int) -> int:
    """Where the element starting at ``position`` ends: the index of the ``,`` or ``]``
    after it, outside strings and brackets, or the text's end (``len(text)``);
    ``_UNCLOSED`` if the text ends inside a bracket or a string, ``_MISMATCHED`` if a
    bracket is closed by the other kind."""
    simple = _SIMPLE_OBJECT.match(text, position)
    if simple is not None:
        after = _SPACE.match(text, simple.end()).end()
        if after < len(text) and text[after] in ",]":
            return after
    expected: list[str] = []
    index = position
    while (found := _SPECIAL.search(text, index)) is not None:
        char, index = found.group(), found.start()
        if char == '"':
            closing = _STRING_REST.match(text, index + 1)
            if closing is None:
                return _UNCLOSED
            index = closing.end()
            continue
        if char in _CLOSERS:
            expected.append(_CLOSERS[char])
        elif char in "]}":
            if not expected:
                return index if char == "]" else _MISMATCHED
            if expected.pop() != char:
                return _MISMATCHED
        elif not expected:  # a comma between elements
            return index
        index += 1
    return _UNCLOSED if expected else len(text)


def _record(number: int, text: str) -> SourceRecord:
    """One element as a record: parsed, or ``bad_encoding`` if its bytes are not UTF-8."""
    if _ESCAPED_BYTE.search(text) is not None:
        data = text.encode("utf-8", "surrogateescape")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return SourceRecord(
                number, data.decode("utf-8", "backslashreplace"), encoding_reject(exc)
            )
    return SourceRecord(number, text, parse_json_record(text))


def _broken(number: int, rest: str, why: str) -> SourceRecord:
    """The rest of a broken document, as one record (bytes not UTF-8 as ``\\xNN``)."""
    raw = rest.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return SourceRecord(number, raw, Reject("bad_json", f"invalid JSON array: {why}"))
