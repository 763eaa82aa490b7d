"""The compile cache: same inputs reuse the compiled SQL; any change compiles afresh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meterbill.catalog import load_catalog
from meterbill.compiler import compile as compile_module
from meterbill.compiler import compile_run
from meterbill.compiler.cache import CACHE_DIR, cache_key, compile_cached
from tests.conftest import ROOT


def test_second_compile_comes_from_the_cache(
    tmp_path: Path, example_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (example_dir / "catalog.toml").read_bytes()
    catalog = load_catalog(example_dir / "catalog.toml")
    first = compile_cached(catalog, catalog_text=text, plans=["openai_o1"], root=tmp_path)
    assert first == compile_run(catalog, plans=["openai_o1"])
    assert len(list((tmp_path / CACHE_DIR).glob("*.json"))) == 1

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(compile_module, "compile_run", refuse)
    again = compile_cached(catalog, catalog_text=text, plans=["openai_o1"], root=tmp_path)
    assert again == first


def test_key_changes_with_catalog_and_plans(example_dir: Path) -> None:
    text = (example_dir / "catalog.toml").read_bytes()
    key = cache_key(text, ["openai_o1"])
    assert key == cache_key(text, ["openai_o1"])
    assert key != cache_key(text + b"\n", ["openai_o1"])
    assert key != cache_key(text, [])


def test_unreadable_entry_is_compiled_afresh(tmp_path: Path, example_dir: Path) -> None:
    text = (example_dir / "catalog.toml").read_bytes()
    catalog = load_catalog(example_dir / "catalog.toml")
    entry = tmp_path / CACHE_DIR / f"{cache_key(text, ['openai_o1'])}.json"
    entry.parent.mkdir(parents=True)
    entry.write_text("{not json")
    compiled = compile_cached(catalog, catalog_text=text, plans=["openai_o1"], root=tmp_path)
    assert compiled == compile_run(catalog, plans=["openai_o1"])


def test_a_cached_invoice_run_loads_neither_jinja_nor_sqlglot(tmp_path: Path) -> None:
    """The run path's start-up is part of the speed bar (README, Benchmark)."""
    from meterbill import Workspace

    ws = Workspace.init(tmp_path / "ws", example="openai-o1")
    ws.invoice_run(through="2026-11-01")  # fills the cache
    code = (
        "import sys; from meterbill import Workspace;"
        f"Workspace({str(ws.root)!r}).invoice_run(through='2026-11-01');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'sqlglot')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
    )
    assert out.stdout.strip() == "[]"
