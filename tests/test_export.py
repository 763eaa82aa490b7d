"""write_frame: a failed write leaves neither a partial file nor a clobbered old one."""

from __future__ import annotations

import errno
from pathlib import Path

import polars as pl
import pytest

from meterbill import export
from meterbill.errors import ExportError


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
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


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_an_export_replaces_an_existing_file_whole(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "sub" / f"x.{fmt}"
    out.parent.mkdir()
    out.write_text("old " * 1000)
    export.write_frame(pl.DataFrame({"a": [1]}), fmt=fmt, out=out)  # type: ignore[arg-type]
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    assert "old" not in out.read_bytes().decode("utf-8", "replace")
