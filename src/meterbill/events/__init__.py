"""The events stage: ingest event files into the lake, and find the lake's files.

``ingest_paths`` is the whole ingest (read, validate, de-duplicate, commit atomically),
``ingest_workspace`` the same under the workspace lock on a connection of its own;
``lake_file_paths`` (from ``meterbill.state``, which keeps the manifest) is how every
stage finds the lake's Parquet files for a time range.
The modules behind them are private to this package.
"""

from meterbill.events.ingest import IngestResult, ingest_paths, ingest_workspace
from meterbill.events.rejects import REJECT_CODES, RejectCode
from meterbill.state import lake_file_paths

__all__ = [
    "REJECT_CODES",
    "IngestResult",
    "RejectCode",
    "ingest_paths",
    "ingest_workspace",
    "lake_file_paths",
]
