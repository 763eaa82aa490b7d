"""Tiered prices (volume and graduated) through the compiled SQL, against PRODUCT.md and a
pure-Decimal reference."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import bill

METER = '[meters.m]\nevent_name = "usage"\naggregation = "sum"\nfield = "q"\n'


def tiered(mode: str, tiers: list[tuple[str | None, str, str]]) -> str:
    rows = []
    for up_to, unit, flat in tiers:
        bound = f'up_to = "{up_to}", ' if up_to is not None else ""
        rows.append(f'{{ {bound}unit_amount = "{unit}", flat_amount = "{flat}" }}')
    return (
        METER
        + '[plans.p]\ncurrency = "USD"\ninterval = "month"\n[[plans.p.prices]]\n'
        + f'model = "tiered"\nmeter = "m"\nmode = "{mode}"\ntiers = [{", ".join(rows)}]\n'
    )


def amount(tmp_path: Path, catalog: str, q: str) -> Decimal:
    events = [{"properties": {"q": q}}] if Decimal(q) else []
    lines, _ = bill(tmp_path, catalog, events, [{"plan": "p"}])
    line = lines.row(0, named=True)
    assert line["billable_quantity"] == Decimal(q)
    assert line["price_model"] == "tiered"
    return line["amount"]


GRADUATED_A = [("5", "0", "0"), ("10", "2", "0"), (None, "3", "0")]
GRADUATED_B = [("1", "10", "0"), ("2", "20", "0"), (None, "30", "0")]
VOLUME = [("10", "50", "0"), ("20", "40", "0"), (None, "30", "0")]


@pytest.mark.parametrize(
    ("mode", "tiers", "q", "expected"),
    [
        ("graduated", GRADUATED_A, "3", "0"),
        ("graduated", GRADUATED_A, "7", "4"),
        ("graduated", GRADUATED_A, "11", "13"),
        ("graduated", GRADUATED_A, "15", "25"),
        ("graduated", GRADUATED_B, "2.5", "45"),
        ("graduated", GRADUATED_A, "0", "0"),
        ("volume", VOLUME, "5", "250"),
        ("volume", VOLUME, "10", "500"),
        ("volume", VOLUME, "15", "600"),
        ("volume", VOLUME, "25", "750"),
        ("volume", VOLUME, "0", "0"),
        # flat amounts: graduated adds each reached tier's flat; volume adds the one tier's
        ("graduated", [("10", "1", "5"), (None, "2", "7")], "10", "15"),
        ("graduated", [("10", "1", "5"), (None, "2", "7")], "11", "24"),
        ("volume", [("10", "1", "5"), (None, "2", "7")], "11", "29"),
        ("volume", [("10", "1", "5"), (None, "2", "7")], "0", "0"),
    ],
)
def test_tiers(
    tmp_path: Path, mode: str, tiers: list[tuple[str | None, str, str]], q: str, expected: str
) -> None:
    assert amount(tmp_path, tiered(mode, tiers), q) == Decimal(expected)


def test_volume_unit_amount_is_the_tier_used(tmp_path: Path) -> None:
    lines, _ = bill(
        tmp_path, tiered("volume", VOLUME), [{"properties": {"q": 15}}], [{"plan": "p"}]
    )
    assert lines["unit_amount"].item() == Decimal(40)


def reference(
    mode: str, tiers: list[tuple[Decimal | None, Decimal, Decimal]], q: Decimal
) -> Decimal:
    if q <= 0:
        return Decimal(0)
    total = Decimal(0)
    if mode == "volume":
        for up_to, unit, flat in tiers:
            if up_to is None or q <= up_to:
                total = q * unit + flat
                break
    else:
        lower = Decimal(0)
        for up_to, unit, flat in tiers:
            if q > lower:
                inside = (q if up_to is None else min(q, up_to)) - lower
                total += inside * unit + flat
            if up_to is not None:
                lower = up_to
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


money = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from(["volume", "graduated"]),
    bounds=st.lists(
        st.decimals(
            min_value="0.5", max_value=10**6, places=2, allow_nan=False, allow_infinity=False
        ),
        min_size=0,
        max_size=4,
        unique=True,
    ),
    units=st.lists(money, min_size=5, max_size=5),
    flats=st.lists(money, min_size=5, max_size=5),
    q=st.decimals(
        min_value=0, max_value=2 * 10**6, places=3, allow_nan=False, allow_infinity=False
    ),
)
def test_tiers_match_reference(
    tmp_path: Path,
    mode: str,
    bounds: list[Decimal],
    units: list[Decimal],
    flats: list[Decimal],
    q: Decimal,
) -> None:
    ups: list[Decimal | None] = [*sorted(bounds), None]
    tiers = [(up, units[i], flats[i]) for i, up in enumerate(ups)]
    catalog = tiered(
        mode, [(None if up is None else str(up), str(u), str(f)) for up, u, f in tiers]
    )
    assert amount(tmp_path, catalog, str(q)) == reference(mode, tiers, q)
