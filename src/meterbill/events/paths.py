"""Which files an ingest reads: expanding the command's files, folders and globs.

The order of the list is the order "first copy wins" follows for duplicates within one
ingest, so it is deterministic: the arguments in the order given, and inside a folder or
a glob, the matches sorted by path. A file reached twice is read once.

Choices the contract left open, made here:

* a folder is searched recursively for the supported suffixes (case-insensitive),
  leaving out hidden names (starting with ``.`` or ``_``, at any depth below it: a
  Spark output folder's ``_temporary/`` holds copies of files being written, which
  would count twice), and everything under the workspace's own ``lake/`` folder is
  skipped (ingesting the workspace folder must not re-read the lake); a file named
  explicitly, or matched by a glob, is read whatever its name;
* a glob may match folders (searched the same way) and files of other suffixes (left
  out); a file named explicitly must have a supported suffix;
* paths are made absolute (not resolved through symlinks) for the ingest log.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from meterbill.errors import IngestError
from meterbill.events.readers import SUFFIX_FORMATS, file_format

_GLOB_CHARACTERS: Final = frozenset("*?[")
#: Names a folder scan leaves out (hidden, or work in progress of Spark and Hadoop).
_HIDDEN: Final = (".", "_")
_SUFFIXES_TEXT: Final = ", ".join(sorted(SUFFIX_FORMATS)) + " (JSON lines and CSV also .gz)"


def expand_paths(paths: Sequence[str], *, skip: Path | None = None) -> list[Path]:
    """Return the absolute event files named by ``paths``, in ingest order.

    Args:
        paths: files, folders or globs (``**`` recurses).
        skip: a folder whose contents are never ingested (the workspace's lake).

    Raises:
        IngestError: a path matches no event file, or names a file of another type.
    """
    skipped = _absolute(skip) if skip is not None else None
    found: dict[Path, None] = {}
    for given in paths:
        if not given:  # an unset shell variable: never "the current folder"
            raise IngestError("an empty path names no file")
        matches = _expand_one(given, skipped)
        if not matches:
            raise IngestError(_no_match(given))
        found.update(dict.fromkeys(matches))
    return list(found)


def _no_match(given: str) -> str:
    """Why ``given`` named no event file: a missing path, an empty folder or glob."""
    path = Path(given).expanduser()
    if path.is_dir():
        return f"no event files in the folder {given} (looked for {_SUFFIXES_TEXT})"
    if path.exists():
        return f"not a regular file: {given}"
    if _GLOB_CHARACTERS.intersection(given):
        return f"no event files match {given} (looked for {_SUFFIXES_TEXT})"
    return f"no such file or folder: {given}"


def _expand_one(given: str, skip: Path | None) -> list[Path]:
    path = Path(given).expanduser()
    if path.is_file():
        if file_format(path) is None:
            raise IngestError(f"unsupported file type: {given} (expected one of {_SUFFIXES_TEXT})")
        return [_absolute(path)]
    if path.is_dir():
        return _event_files(_folder_files(path), skip)
    if _GLOB_CHARACTERS.intersection(given):
        matches: list[Path] = []
        for match in sorted(glob.glob(os.path.expanduser(given), recursive=True)):
            candidate = Path(match)
            if candidate.is_dir():
                matches.extend(_event_files(_folder_files(candidate), skip))
            else:
                matches.extend(_event_files([candidate], skip))
        return matches
    return []


def _folder_files(folder: Path) -> Iterable[Path]:
    """Everything under ``folder`` but what is hidden: a name starting with ``.`` or
    ``_`` (Spark's ``_temporary/`` attempts, ``.``-files of editors and macOS), at any
    depth below the folder, as ``pyarrow.dataset`` and Spark skip them."""
    for candidate in folder.rglob("*"):
        if not any(part.startswith(_HIDDEN) for part in candidate.relative_to(folder).parts):
            yield candidate


def _event_files(candidates: Iterable[Path], skip: Path | None) -> list[Path]:
    """The files among ``candidates`` with a supported suffix, outside ``skip``, sorted."""
    files = []
    for candidate in candidates:
        if file_format(candidate) is None or not candidate.is_file():
            continue
        absolute = _absolute(candidate)
        if skip is not None and absolute.is_relative_to(skip):
            continue
        files.append(absolute)
    return sorted(files)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))
