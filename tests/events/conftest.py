"""Fixtures for the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meterbill.state import connect_state

from .helpers import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh, empty workspace."""
    root = tmp_path / "ws"
    root.mkdir()
    con = connect_state(root)
    try:
        yield Workspace(root, con)
    finally:
        con.close()
