"""A workspace folder without the rest of ``Workspace``: its catalog file's name, the check
that a folder is a workspace, and the shipped examples.

Light on purpose (no Polars, no catalog model): ``meterbill ingest`` needs only this and
the events stage, and every module it imports is process start-up time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from meterbill.errors import WorkspaceError

CATALOG_FILE = "catalog.toml"
EXAMPLES = ("openai-o1",)


def workspace_root(path: Path | str) -> Path:
    """The absolute path of an existing workspace.

    Raises:
        WorkspaceError: the folder is not a workspace (``meterbill init`` makes one).
    """
    root = Path(path).resolve()
    if not (root / CATALOG_FILE).is_file():
        raise WorkspaceError(
            f"{root} is not a meterbill workspace (no {CATALOG_FILE}); "
            "create one with: meterbill init DIR"
        )
    return root


def example_dir(name: str) -> Path:
    """The shipped example's folder (``meterbill/data/<name>`` or the checkout's ``data/``)."""
    package = Path(str(resources.files("meterbill")))
    for candidate in (package / "data" / name, package.parent.parent / "data" / name):
        if (candidate / CATALOG_FILE).is_file():
            return candidate
    raise WorkspaceError(f"example {name!r} not found; known examples are {', '.join(EXAMPLES)}")
