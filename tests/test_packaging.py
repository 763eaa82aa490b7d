"""The wheel ships the SQL templates and the example; ``import meterbill`` stays light."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_wheel_contains_sql_and_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("meterbill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "meterbill/sql/invoice_run.sql",
        "meterbill/sql/macros/price_package.sql",
        "meterbill/data/openai-o1/catalog.toml",
        "meterbill/data/openai-o1/events.jsonl",
        "meterbill/templates/invoices.html",
    }
    missing = expected - names
    assert not missing, (
        f"the wheel lacks {sorted(missing)}: keep [tool.hatch.build.targets.wheel.force-include] "
        '"sql" = "meterbill/sql" and "data" = "meterbill/data" in pyproject.toml'
    )


def test_templates_found_from_the_installed_package() -> None:
    from meterbill.compiler.environment import templates_dir

    assert (templates_dir() / "invoice_run.sql").is_file()


def test_import_meterbill_loads_no_cli_or_spark() -> None:
    code = (
        "import sys, meterbill; "
        "print(sorted(m for m in ('click', 'rich', 'pyspark') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_meterbill_ingest_starts_without_polars_or_the_catalog(tmp_path: Path) -> None:
    """Process start is part of ingest's time: the command loads the events stage only."""
    from meterbill.folder import CATALOG_FILE

    (tmp_path / CATALOG_FILE).write_text("", encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"event_id": "e1", "event_name": "n", "customer_id": "c", '
        '"timestamp": "2024-03-01T00:00:00Z"}\n',
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from meterbill.cli.main import cli\n"
        "try:\n"
        "    cli(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('polars', 'pydantic', 'jinja2', 'meterbill.workspace', 'meterbill.catalog')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "ingest", str(events), "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.splitlines() == ["read 1: accepted 1, duplicates 0, rejected 0", "[]"]
