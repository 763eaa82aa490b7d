"""Creating a workspace all at once: ``meterbill init`` killed at any moment leaves either
no workspace or the whole one, and the next ``init`` starts again cleanly.

A folder is a workspace once it has ``catalog.toml`` (``folder.workspace_root``). So init
builds everything (state, lake, and for an example its customers, subscription and
events) in a hidden staging folder inside the target, then moves the pieces up with
``rename``, ``catalog.toml`` last: that rename is the commit. Init holds the target's
workspace lock throughout, so a second init of the same folder waits, then finds the
workspace and refuses; other commands refuse the folder until ``catalog.toml`` arrives,
then wait for the lock.

Debris of a killed init (found by the next init, under the lock) is recognised by the
staging folder: without ``catalog.toml`` in the target, the staging folder and the pieces
it had already moved up are removed (a ``.publishing`` mark, written before the first
move, tells moved pieces from a user's folder of the same name); with it, the init had
committed and only the staging folder is left to remove.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from meterbill.errors import WorkspaceError
from meterbill.folder import CATALOG_FILE
from meterbill.state import STATE_FILE

STAGING = ".meterbill-init"
_MARK = ".publishing"
#: Moved up before ``catalog.toml``, in this order (a WAL only if DuckDB left one).
_PIECES = ("lake", STATE_FILE, f"{STATE_FILE}.wal")


def clear_debris(target: Path) -> None:
    """Remove what a killed init left in ``target`` (the caller holds its lock)."""
    staging = target / STAGING
    if not staging.is_dir():
        return
    if not (target / CATALOG_FILE).exists() and (staging / _MARK).exists():
        for piece in _PIECES:
            moved = target / piece
            if not (staging / piece).exists() and (moved.exists() or moved.is_symlink()):
                _remove(moved)
    shutil.rmtree(staging, ignore_errors=True)


def new_staging(target: Path) -> Path:
    """An empty staging folder inside ``target`` (after ``clear_debris``).

    Raises:
        WorkspaceError: it cannot be created (a read-only folder, a full disk).
    """
    staging = target / STAGING
    try:
        staging.mkdir()
    except OSError as exc:
        raise WorkspaceError(f"cannot create {target}: {exc.strerror or exc}") from None
    return staging


def publish(staging: Path, target: Path) -> None:
    """Move the built workspace up from ``staging`` into ``target``: the commit.

    Raises:
        WorkspaceError: a piece cannot be moved (``target`` has a ``lake`` folder that is
            not empty, say); what was moved is moved back, and nothing is committed.
    """
    (staging / _MARK).touch()
    moved: list[str] = []
    try:
        for piece in (*_PIECES, CATALOG_FILE):
            if (staging / piece).exists():
                os.rename(staging / piece, target / piece)
                moved.append(piece)
    except BaseException as exc:  # a piece in the way, or Ctrl-C: move back what moved
        if CATALOG_FILE not in moved:
            for back in reversed(moved):
                os.rename(target / back, staging / back)
        if isinstance(exc, OSError):
            raise WorkspaceError(
                f"cannot create the workspace in {target}: {target / piece}: {exc.strerror or exc}"
            ) from None
        raise
    shutil.rmtree(staging, ignore_errors=True)


def discard(staging: Path) -> None:
    """Remove a staging folder whose init failed (an error, not a kill)."""
    shutil.rmtree(staging, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
