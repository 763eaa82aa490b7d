"""The events stage: ingest event files into the lake, and find the lake's files.

``ingest_paths`` is the whole ingest (read, validate, de-duplicate, commit atomically);
``lake_file_paths`` is how later stages find the Parquet files an invoice run scans.
The modules behind them are private to this package.
"""

from meterbill.events.ingest import IngestResult, ingest_paths
from meterbill.events.lake import lake_file_paths
from meterbill.events.rejects import REJECT_CODES, RejectCode

__all__ = ["REJECT_CODES", "IngestResult", "RejectCode", "ingest_paths", "lake_file_paths"]
