"""Why a record is not an event: the reject reason codes and how a reader reports one.

A reject is data, not an error: ingest keeps going, and every rejected record lands in
``rejected_events`` with one short code from ``RejectCode`` and a one-line message. The
codes are a closed ``Literal`` so a typo in a reader is a type error and the set stays
documentable (README, ``meterbill sql`` users filter on them).

Deep validation code raises ``RecordRejected``; the reader or shape that owns the record
catches it and turns it into a ``Reject`` value, so one bad record never unwinds more
than its own parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

RejectCode = Literal[
    "bad_encoding",  # bytes are not UTF-8, or a JSON \u escape is a lone surrogate
    "bad_json",  # not valid JSON (includes NaN/Infinity and absurd nesting)
    "bad_csv",  # malformed CSV row: quoting error or wrong number of fields
    "not_an_object",  # the JSON record is not an object
    "duplicate_key",  # a key appears twice in one object (or a column twice in a header)
    "missing_field",  # a required field is absent or null
    "empty_field",  # a required (or given) string field is empty or only whitespace
    "bad_type",  # a field has the wrong type (e.g. a number where a string is required)
    "conflicting_fields",  # customer_id and external_customer_id disagree
    "bad_timestamp",  # the timestamp cannot be read or is out of range
    "timestamp_without_offset",  # an ISO 8601 string without ``Z`` or ``+hh:mm``
    "properties_not_object",  # properties is not an object (or map/struct)
    "nested_property",  # a property value is an object or array
    "bad_property_key",  # a property key is empty or contains NUL
    "property_key_conflict",  # a key differs only in ASCII case from a known key
    "bad_number",  # a property value is a non-finite float (NaN, Infinity)
    "unknown_subscription",  # a Lago external_subscription_id no subscription has
]

#: Every reason code, in the order above (docs and tests iterate it).
REJECT_CODES: tuple[RejectCode, ...] = get_args(RejectCode)


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that cannot be an event: a reason code and a one-line message."""

    reason: RejectCode
    message: str


class RecordRejected(Exception):
    """Raised inside record validation; caught by the owner of the record.

    Not a ``MeterbillError``: it never leaves the events package.
    """

    def __init__(self, reason: RejectCode, message: str) -> None:
        self.reject = Reject(reason, _one_line(message))
        super().__init__(f"{reason}: {self.reject.message}")


#: Longest message kept; raw text is stored separately, the message only names the issue.
_MAX_MESSAGE = 300


def _one_line(message: str) -> str:
    """Collapse a message to one line of bounded length."""
    flat = " ".join(message.split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 3] + "..."
