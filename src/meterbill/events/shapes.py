"""Event shapes: turning one parsed record (a mapping) into a validated ``Event``.

Four shapes (PRODUCT.md, "Events"), each a function from a record to an ``Event``:

* ``native``: ``event_id``, ``event_name``, ``customer_id`` (or ``external_customer_id``),
  ``timestamp``, ``properties``, ``source``;
* ``cloudevents`` (as OpenMeter takes them): ``id`` -> event_id, ``type`` -> event_name,
  ``subject`` -> customer_id, ``time`` -> timestamp, ``data`` (with ``properties``,
  as the ``properties.<key>`` columns of CSV and Parquet give them) -> properties,
  ``source``;
* ``flexprice``: ``event_id``, ``event_name``, ``external_customer_id``, ``timestamp``,
  ``properties``, ``source`` (Flexprice's own ``customer_id`` is its internal id: ignored);
* ``lago``: ``transaction_id`` -> event_id, ``code`` -> event_name,
  ``external_subscription_id`` (resolved to that subscription's customer) or
  ``external_customer_id``, ``timestamp`` (epoch seconds, a fraction allowed),
  ``properties``.

``--shape auto`` (the default) detects the shape per record with ``detect_shape``.
Readers stay shape-blind: they hand over every field any shape knows (``SHAPE_FIELDS``).

Choices the contract left open, made here:

* unknown top-level fields are ignored (Flexprice and others send extras such as
  ``timestamp_ms`` or ``environment_id``; rejecting them would reject whole feeds);
* ``customer_id`` and its alias ``external_customer_id`` may both be given only if they
  are equal, else ``conflicting_fields`` (the same for a Lago subscription's customer
  and a given ``external_customer_id``);
* required strings that are only whitespace are ``empty_field``; values are never
  trimmed (meters match ``event_name`` exactly);
* a given ``event_id`` must be a non-blank string (``""`` is ``empty_field``, not "derive
  one": a producer that sends ``""`` meant an id and would lose its idempotency);
  CloudEvents ``id`` and Lago ``transaction_id`` are required, as those APIs require them;
* a timestamp is required in every shape (Lago and OpenMeter default it to the time of
  receipt, which would make a re-ingest bill differently);
* an empty ``source`` is stored as NULL;
* property keys must be non-empty and free of NUL (``bad_property_key``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

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

Shape = Literal["auto", "native", "cloudevents", "flexprice", "lago"]
#: Every ``--shape`` choice, ``auto`` first.
SHAPES: Final[tuple[Shape, ...]] = get_args(Shape)

# CloudEvents (OpenMeter) and Lago field names.
CE_ID: Final = "id"
CE_TYPE: Final = "type"
CE_SUBJECT: Final = "subject"
CE_TIME: Final = "time"
CE_DATA: Final = "data"
CE_SPECVERSION: Final = "specversion"
LAGO_TRANSACTION_ID: Final = "transaction_id"
LAGO_CODE: Final = "code"
LAGO_SUBSCRIPTION: Final = "external_subscription_id"

#: Every top-level field some shape reads: CSV and Parquet readers keep these columns.
SHAPE_FIELDS: Final = frozenset(
    {
        EVENT_ID,
        EVENT_NAME,
        CUSTOMER_ID,
        CUSTOMER_ID_ALIAS,
        TIMESTAMP,
        SOURCE,
        PROPERTIES,
        CE_ID,
        CE_TYPE,
        CE_SUBJECT,
        CE_TIME,
        CE_DATA,
        CE_SPECVERSION,
        LAGO_TRANSACTION_ID,
        LAGO_CODE,
        LAGO_SUBSCRIPTION,
    }
)
#: Fields holding an object of properties (a CSV cell or Parquet text is JSON).
OBJECT_FIELDS: Final = frozenset({PROPERTIES, CE_DATA})
#: Optional fields for which an empty CSV cell means "absent".
OPTIONAL_FIELDS: Final = frozenset({EVENT_ID, SOURCE, PROPERTIES, CE_DATA, CE_SPECVERSION})
#: Customer fields: when a CSV header has two of them, an empty cell means "absent".
CUSTOMER_FIELDS: Final = frozenset({CUSTOMER_ID, CUSTOMER_ID_ALIAS, LAGO_SUBSCRIPTION})
#: The fields only one shape reads (native and Flexprice count as one): a CSV header
#: with those of two shapes holds events of several shapes, where an empty cell is
#: "absent" in every column (the row's shape has no such field).
SHAPE_ONLY_FIELDS: Final = (
    frozenset({EVENT_NAME, CUSTOMER_ID}),
    frozenset({CE_ID, CE_TYPE, CE_SUBJECT, CE_TIME, CE_DATA, CE_SPECVERSION}),
    frozenset({LAGO_TRANSACTION_ID, LAGO_CODE, LAGO_SUBSCRIPTION}),
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


Subscriptions = Mapping[str, str]
"""subscription_id -> customer_id, for Lago's ``external_subscription_id``."""


def detect_shape(record: Mapping[str, object]) -> Shape:
    """The shape of one record: CloudEvents, Lago, else native (Flexprice is native too).

    A record with ``event_name`` is native whatever else it has. Otherwise
    ``specversion``, or ``type`` with ``subject``, mark a CloudEvent; ``code``,
    ``transaction_id`` or ``external_subscription_id`` mark a Lago event. A field whose
    value is null counts as absent: a Parquet file (or CSV) holding events of several
    shapes has every shape's columns, null where a row's shape has no such field.
    """

    def given(field: str) -> bool:
        return record.get(field) is not None

    if given(EVENT_NAME):
        return "native"
    if given(CE_SPECVERSION) or (given(CE_TYPE) and given(CE_SUBJECT)):
        return "cloudevents"
    if given(LAGO_CODE) or given(LAGO_TRANSACTION_ID) or given(LAGO_SUBSCRIPTION):
        return "lago"
    return "native"


def shape_event(record: Mapping[str, object], shape: Shape, subscriptions: Subscriptions) -> Event:
    """Validate a record as ``shape`` (``auto``: detected per record).

    Raises:
        RecordRejected: the first rule the record breaks.
    """
    if shape == "auto":
        shape = detect_shape(record)
    if shape == "lago":
        return lago_event(record, subscriptions)
    return _SHAPES[shape](record)


def native_event(record: Mapping[str, object]) -> Event:
    """Validate a record of the native shape.

    Raises:
        RecordRejected: the first rule the record breaks (fields checked in the order
            event_id, event_name, customer_id, timestamp, source, properties).
    """
    return Event(
        event_id=_optional_id(record, EVENT_ID),
        event_name=_required_string(record, EVENT_NAME),
        customer_id=_customer_id(record),
        timestamp_us=_timestamp(record, TIMESTAMP),
        source=_source(record, SOURCE),
        properties=_properties(record, PROPERTIES),
    )


def flexprice_event(record: Mapping[str, object]) -> Event:
    """Validate a Flexprice event: the customer is ``external_customer_id``."""
    return Event(
        event_id=_optional_id(record, EVENT_ID),
        event_name=_required_string(record, EVENT_NAME),
        customer_id=_required_string(record, CUSTOMER_ID_ALIAS),
        timestamp_us=_timestamp(record, TIMESTAMP),
        source=_source(record, SOURCE),
        properties=_properties(record, PROPERTIES),
    )


def cloudevents_event(record: Mapping[str, object]) -> Event:
    """Validate a CloudEvent as OpenMeter takes it (``id`` is required).

    The properties are ``data`` together with ``properties``: CSV and Parquet give
    properties as ``properties.<key>`` columns in every shape, which the readers hand
    over as ``properties`` (dropping them would lose usage silently). A key in both is
    ``duplicate_key``, as a ``properties.<key>`` column of a key in a JSON
    ``properties`` column is.
    """
    event_id = _required_string(record, CE_ID)
    event_name = _required_string(record, CE_TYPE)
    customer_id = _required_string(record, CE_SUBJECT)
    timestamp_us = _timestamp(record, CE_TIME)
    source = _source(record, SOURCE)
    properties = _properties(record, CE_DATA)
    more = _properties(record, PROPERTIES)
    if more:
        given = record.get(CE_DATA)
        both = sorted(set(given).intersection(more)) if isinstance(given, Mapping) else []
        if both:
            raise RecordRejected(
                "duplicate_key", f"property {both[0]!r} is both in {CE_DATA} and {PROPERTIES}"
            )
        properties = {**properties, **more}
    return Event(
        event_id=event_id,
        event_name=event_name,
        customer_id=customer_id,
        timestamp_us=timestamp_us,
        source=source,
        properties=properties,
    )


def lago_event(record: Mapping[str, object], subscriptions: Subscriptions) -> Event:
    """Validate a Lago event; ``external_subscription_id`` names a known subscription.

    Raises:
        RecordRejected: as the other shapes, plus ``unknown_subscription``.
    """
    return Event(
        event_id=_required_string(record, LAGO_TRANSACTION_ID),
        event_name=_required_string(record, LAGO_CODE),
        customer_id=_lago_customer(record, subscriptions),
        timestamp_us=_timestamp(record, TIMESTAMP),
        source=None,
        properties=_properties(record, PROPERTIES),
    )


_SHAPES: Final[dict[str, Callable[[Mapping[str, object]], Event]]] = {
    "native": native_event,
    "cloudevents": cloudevents_event,
    "flexprice": flexprice_event,
}


def _string(field: str, value: object) -> str:
    """Check a given string field: a string that is not blank."""
    if not isinstance(value, str):
        raise RecordRejected("bad_type", f"{field} must be a string, got {type_name(value)}")
    if not value.strip():
        raise RecordRejected("empty_field", f"{field} is empty")
    return value


def _optional_id(record: Mapping[str, object], field: str) -> str | None:
    """An optional id: absent or null means "derive one"; given, a non-blank string."""
    value = record.get(field)
    return None if value is None else _string(field, value)


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


def _lago_customer(record: Mapping[str, object], subscriptions: Subscriptions) -> str:
    """The customer of ``external_subscription_id``, or ``external_customer_id``."""
    subscription = record.get(LAGO_SUBSCRIPTION)
    alias = record.get(CUSTOMER_ID_ALIAS)
    if subscription is None:
        if alias is None:
            raise RecordRejected(
                "missing_field", f"{LAGO_SUBSCRIPTION} (or {CUSTOMER_ID_ALIAS}) is required"
            )
        return _string(CUSTOMER_ID_ALIAS, alias)
    subscription_id = _string(LAGO_SUBSCRIPTION, subscription)
    customer_id = subscriptions.get(subscription_id)
    if customer_id is None:
        raise RecordRejected(
            "unknown_subscription",
            f"{LAGO_SUBSCRIPTION} {subscription_id!r} is not a known subscription "
            "(import subscriptions first)",
        )
    if alias is not None and _string(CUSTOMER_ID_ALIAS, alias) != customer_id:
        raise RecordRejected(
            "conflicting_fields",
            f"subscription {subscription_id!r} belongs to {customer_id!r}, "
            f"not {CUSTOMER_ID_ALIAS} {alias!r}",
        )
    return customer_id


def _timestamp(record: Mapping[str, object], field: str) -> int:
    """The required timestamp as epoch microseconds (UTC)."""
    value = record.get(field)
    if value is None:
        raise RecordRejected("missing_field", f"{field} is required")
    return parse_timestamp(value)


def _source(record: Mapping[str, object], field: str) -> str | None:
    """The optional source; empty is the same as absent."""
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordRejected("bad_type", f"{field} must be a string, got {type_name(value)}")
    return value or None


def _properties(record: Mapping[str, object], field: str) -> dict[str, PropertyValue]:
    """Convert the properties object; null values are absent."""
    value = record.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordRejected(
            "properties_not_object", f"{field} must be an object, got {type_name(value)}"
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
