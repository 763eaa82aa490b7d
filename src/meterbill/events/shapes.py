"""Event shapes: turning one parsed record (a mapping) into a validated ``Event``.

Only the native shape lives here for now (PRODUCT.md, "Events"); CloudEvents, Flexprice
and Lago become sibling functions with the same signature, so readers stay shape-blind.

Choices the contract left open, made here:

* unknown top-level fields are ignored (Flexprice and others send extras such as
  ``timestamp_ms`` or ``environment_id``; rejecting them would reject whole feeds);
* ``customer_id`` and its alias ``external_customer_id`` may both be given only if they
  are equal, else ``conflicting_fields``;
* required strings that are only whitespace are ``empty_field``; values are never
  trimmed (meters match ``event_name`` exactly);
* a given ``event_id`` must be a non-blank string (``""`` is ``empty_field``, not "derive
  one": a producer that sends ``""`` meant an id and would lose its idempotency);
* an empty ``source`` is stored as NULL;
* property keys must be non-empty and free of NUL (``bad_property_key``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meterbill.events.rejects import RecordRejected
from meterbill.events.schema import (
    CUSTOMER_ID,
    CUSTOMER_ID_ALIAS,
    EVENT_ID,
    EVENT_NAME,
    PROPERTIES,
    SOURCE,
    TIMESTAMP,
    PropertyValue,
    parse_timestamp,
    property_value,
    type_name,
)


@dataclass(frozen=True, slots=True)
class Event:
    """One validated event, before it has an id (if derived) and an ingest.

    Attributes:
        event_id: the given idempotency key, or None when it must be derived.
        event_name: matched exactly by meters.
        customer_id: the customer (from ``customer_id`` or ``external_customer_id``).
        timestamp_us: the instant, microseconds since the epoch, UTC.
        source: optional free text; None when absent or empty.
        properties: key -> (text, number or None); absent and null values left out.
    """

    event_id: str | None
    event_name: str
    customer_id: str
    timestamp_us: int
    source: str | None
    properties: dict[str, PropertyValue]


def native_event(record: Mapping[str, object]) -> Event:
    """Validate a record of the native shape.

    Raises:
        RecordRejected: the first rule the record breaks (fields checked in the order
            event_id, event_name, customer_id, timestamp, source, properties).
    """
    event_id = record.get(EVENT_ID)
    if event_id is not None:
        event_id = _string(EVENT_ID, event_id)
    return Event(
        event_id=event_id,
        event_name=_required_string(record, EVENT_NAME),
        customer_id=_customer_id(record),
        timestamp_us=_timestamp(record),
        source=_source(record.get(SOURCE)),
        properties=_properties(record.get(PROPERTIES)),
    )


def _string(field: str, value: object) -> str:
    """Check a given string field: a string that is not blank."""
    if not isinstance(value, str):
        raise RecordRejected("bad_type", f"{field} must be a string, got {type_name(value)}")
    if not value.strip():
        raise RecordRejected("empty_field", f"{field} is empty")
    return value


def _required_string(record: Mapping[str, object], field: str) -> str:
    """A required string field (absent and null are ``missing_field``)."""
    value = record.get(field)
    if value is None:
        raise RecordRejected("missing_field", f"{field} is required")
    return _string(field, value)


def _customer_id(record: Mapping[str, object]) -> str:
    """``customer_id`` or its alias ``external_customer_id`` (equal if both are given)."""
    primary = record.get(CUSTOMER_ID)
    alias = record.get(CUSTOMER_ID_ALIAS)
    if primary is None and alias is None:
        raise RecordRejected("missing_field", f"{CUSTOMER_ID} (or {CUSTOMER_ID_ALIAS}) is required")
    if primary is None:
        return _string(CUSTOMER_ID_ALIAS, alias)
    customer_id = _string(CUSTOMER_ID, primary)
    if alias is not None and _string(CUSTOMER_ID_ALIAS, alias) != customer_id:
        raise RecordRejected(
            "conflicting_fields",
            f"{CUSTOMER_ID} {customer_id!r} and {CUSTOMER_ID_ALIAS} {alias!r} differ",
        )
    return customer_id


def _timestamp(record: Mapping[str, object]) -> int:
    """The required timestamp as epoch microseconds (UTC)."""
    value = record.get(TIMESTAMP)
    if value is None:
        raise RecordRejected("missing_field", f"{TIMESTAMP} is required")
    return parse_timestamp(value)


def _source(value: object) -> str | None:
    """The optional source; empty is the same as absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordRejected("bad_type", f"{SOURCE} must be a string, got {type_name(value)}")
    return value or None


def _properties(value: object) -> dict[str, PropertyValue]:
    """Convert the properties object; null values are absent."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordRejected(
            "properties_not_object", f"{PROPERTIES} must be an object, got {type_name(value)}"
        )
    properties: dict[str, PropertyValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise RecordRejected(
                "bad_property_key", f"property keys must be strings, got {type_name(key)}"
            )
        if not key or "\x00" in key:
            raise RecordRejected(
                "bad_property_key", f"property key {key!r} is empty or contains NUL"
            )
        try:
            converted = property_value(item)
        except RecordRejected as exc:
            raise RecordRejected(
                exc.reject.reason, f"property {key!r}: {exc.reject.message}"
            ) from None
        if converted is not None:
            properties[key] = converted
    return properties
