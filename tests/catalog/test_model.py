"""The catalog models: built directly (not through ``parse_catalog``), they keep every rule."""

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from meterbill.catalog.model import (
    INVALID,
    Meter,
    Tiered,
    meter_rule_problems,
    tier_rule_problems,
)


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (Meter, {"event_name": "x", "aggregation": "sum"}, "field: required for aggregation"),
        (
            Meter,
            {"event_name": "x", "aggregation": "count", "multiplier": "2"},
            "multiplier: only for aggregation 'sum_with_multiplier'",
        ),
        (
            Tiered,
            {"model": "tiered", "meter": "m", "mode": "volume", "tiers": [{"up_to": "5"}]},
            "tiers: the last tier must have no up_to",
        ),
    ],
)
def test_models_built_directly_keep_their_rules(
    model: type[Meter | Tiered], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(fields)


@pytest.mark.parametrize(
    ("aggregation", "field", "multiplier", "expected"),
    [
        ("sum", None, None, ["field: required for aggregation 'sum'"]),
        ("sum", INVALID, None, []),
        (INVALID, None, Decimal(2), []),
        ("count", "f", Decimal(2), ["field: not used", "multiplier: only for"]),
        ("sum_with_multiplier", "f", INVALID, []),
        ("sum_with_multiplier", INVALID, Decimal(0), ["multiplier: must be a decimal > 0"]),
        ("sum_with_multiplier", "f", Decimal("1.5"), []),
    ],
)
def test_meter_rules_skip_fields_with_their_own_problem(
    aggregation: Any, field: Any, multiplier: Any, expected: list[str]
) -> None:
    found = meter_rule_problems(aggregation, field, multiplier)
    assert len(found) == len(expected)
    assert all(f.startswith(e) for f, e in zip(found, expected, strict=True)), found


@pytest.mark.parametrize(
    ("up_tos", "expected"),
    [
        ([None], []),
        ([Decimal(5), None], []),
        ([Decimal(5), Decimal(5), Decimal(9)], ["tiers: the last", "tiers[1].up_to: must be"]),
        ([Decimal(5), INVALID, Decimal(3), None], []),
        ([None, Decimal(3), INVALID], ["tiers[0].up_to: required"]),
        ([Decimal(5), None, Decimal(3), None], ["tiers[1].up_to: required"]),
    ],
)
def test_tier_rules_skip_bounds_with_their_own_problem(
    up_tos: list[Any], expected: list[str]
) -> None:
    found = tier_rule_problems(up_tos)
    assert len(found) == len(expected)
    assert all(f.startswith(e) for f, e in zip(found, expected, strict=True)), found
