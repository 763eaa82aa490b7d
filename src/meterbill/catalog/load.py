"""catalog.toml -> ``Catalog``, refusing a bad catalog whole with every problem listed.

Problems are reported by TOML path (``plans.openai_o1.prices[2].package_size: must be
an integer >= 1``), sorted by path. Pydantic finds each field's own problems; the rules
between fields (``model.meter_rule_problems``), the cross references (a price's meter
must exist) and letter-case conflicts between keys are checked here on the raw document,
on every field without a problem of its own, so all kinds show together in one run. A
check that reads a field with a problem of its own is skipped: its complaint would only
echo that problem (a bad ``aggregation`` is one problem, not also a ``field`` one).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meterbill.catalog.model import (
    DEFER_RULES,
    INVALID,
    Catalog,
    decimal_text,
    meter_rule_problems,
    tier_rule_problems,
)
from meterbill.errors import CatalogError

_MODELS = ("flat_fee", "per_unit", "package", "tiered")
#: Price models without a meter: a ``meter`` key there is one problem, an unknown key.
_UNMETERED = ("flat_fee",)
#: Where pydantic reports a bad dict key: after the key, as in ``(..., "filters", "", "[key]")``.
_KEY = "[key]"

Location = tuple[str | int, ...]
"""A TOML location: table keys and array indexes, ``("plans", "p", "prices", 0, "meter")``."""
_PATH_PREFIX = re.compile(
    r"^([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): (.*)$", re.S
)
_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown key",
    "literal_error": None,  # pydantic's own text lists the allowed values
}


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog file.

    Raises:
        CatalogError: the file is missing, not TOML, or breaks any rule (all listed).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([f"file not found: {path}"], source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise CatalogError(
            [f"not UTF-8 text: {exc.reason} at byte {exc.start}"], source=str(path)
        ) from None
    except OSError as exc:
        raise CatalogError([f"cannot read: {exc.strerror or exc}"], source=str(path)) from None
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, *, source: str = "catalog.toml") -> Catalog:
    """Validate catalog TOML text; see ``load_catalog``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError([f"not valid TOML: {exc}"], source=source) from None
    problems: list[tuple[Location, str]] = []
    catalog: Catalog | None = None
    try:
        catalog = Catalog.model_validate(_with_keys(document), context=DEFER_RULES)
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
    invalid = {where for where, _ in problems}
    problems.extend(_rule_problems(document, invalid))
    problems.extend(_cross_reference_problems(document))
    problems.extend(_case_conflicts(document, invalid))
    if problems:
        ordered = sorted(problems, key=lambda p: (_natural(_toml_path(p[0])), p[1]))
        lines = [f"{_toml_path(where)}: {message}" for where, message in ordered]
        raise CatalogError(list(dict.fromkeys(lines)), source=source)
    assert catalog is not None
    return catalog


def _with_keys(document: dict[str, Any]) -> dict[str, Any]:
    """Copy the TOML table keys into each meter and plan as their ``key``."""
    out = dict(document)
    for section in ("meters", "plans"):
        table = document.get(section)
        if isinstance(table, dict):
            out[section] = {
                name: {**body, "key": name} if isinstance(body, dict) else body
                for name, body in table.items()
            }
    return out


def _describe(error: Any) -> tuple[Location, str]:
    """The location and message of one pydantic error."""
    loc = list(error["loc"])
    where: list[str | int] = []
    for index, part in enumerate(loc):
        previous = loc[index - 1] if index else None
        if isinstance(part, str) and part in _MODELS and isinstance(previous, int):
            continue  # a discriminated union inserts the tag ("package") after the list index
        if isinstance(part, str) and part.startswith("function-"):
            continue  # validator names
        where.append(part)
    message = _MESSAGES.get(error["type"]) or str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if error["type"] == "union_tag_invalid":
        message = f"unknown model; expected one of {', '.join(_MODELS)}"
    elif error["type"] == "union_tag_not_found":
        message = f"model: required, one of {', '.join(_MODELS)}"
    return _located(tuple(where), message)


def _located(where: Location, message: str) -> tuple[Location, str]:
    """``message`` at ``where``, or deeper when it starts with the path it is about."""
    match = _PATH_PREFIX.match(message)
    if match:  # a rule that names the field it is about: "tiers[1].up_to: ..."
        for key, index in re.findall(r"([^.\[]+)(?:\[(\d+)\])?", match.group(1)):
            where += (key,) if index == "" else (key, int(index))
        message = match.group(2)
    return where, message


def _toml_path(where: Location) -> str:
    """``plans.p.prices[0].meter``: keys quoted as TOML needs, without the ``[key]`` marker."""
    parts: list[str] = []
    for part in where:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif part != _KEY:
            parts.append(_toml_key(part))
    return ".".join(parts) or "<root>"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'


def _tables(document: dict[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
    """The meters or plans of the raw document that are TOML tables."""
    table = document.get(section)
    if not isinstance(table, dict):
        return []
    return [(key, body) for key, body in table.items() if isinstance(body, dict)]


def _prices(document: dict[str, Any]) -> list[tuple[Location, dict[str, Any]]]:
    """Every price of the raw document that is a TOML table, with its location."""
    return [
        (("plans", plan_key, "prices", index), price)
        for plan_key, plan in _tables(document, "plans")
        if isinstance(plan.get("prices"), list)
        for index, price in enumerate(plan["prices"])
        if isinstance(price, dict)
    ]


def _valid(
    body: dict[str, Any], where: Location, key: str, invalid: set[Location], convert: Any = None
) -> Any:
    """``body[key]`` as validated, ``None`` when absent, ``INVALID`` with a problem of its own."""
    if (*where, key) in invalid:
        return INVALID
    if key not in body:
        return None
    return body[key] if convert is None else convert(body[key])


def _rule_problems(document: dict[str, Any], invalid: set[Location]) -> list[tuple[Location, str]]:
    """The rules between the fields of each meter and tiered price, on the valid fields."""
    problems = []
    for meter_key, meter in _tables(document, "meters"):
        where: Location = ("meters", meter_key)
        broken = meter_rule_problems(
            _valid(meter, where, "aggregation", invalid),
            _valid(meter, where, "field", invalid),
            _valid(meter, where, "multiplier", invalid, decimal_text),
        )
        problems += [_located(where, message) for message in broken]
    for where, price in _prices(document):
        tiers = price.get("tiers")
        if price.get("model") != "tiered" or (*where, "tiers") in invalid:
            continue  # not tiers, or tiers that are no list of at least one tier
        up_tos = [
            _valid(tier, (*where, "tiers", index), "up_to", invalid, decimal_text)
            if isinstance(tier, dict)
            else INVALID
            for index, tier in enumerate(tiers)
        ]
        problems += [_located(where, message) for message in tier_rule_problems(up_tos)]
    return problems


def _cross_reference_problems(document: dict[str, Any]) -> list[tuple[Location, str]]:
    """Prices that name a meter the catalog does not define.

    A ``meter`` that is no string has its own problem; one on a flat fee is an unknown key.
    """
    meters = document.get("meters") if isinstance(document.get("meters"), dict) else {}
    known = sorted(meters)
    problems = []
    for where, price in _prices(document):
        meter = price.get("meter")
        if not isinstance(meter, str) or price.get("model") in _UNMETERED:
            continue
        if meter not in meters:
            hint = f"known meters are {', '.join(known)}" if known else "no meters are defined"
            problems.append(((*where, "meter"), f"unknown meter {meter!r}; {hint}"))
    return problems


def _case_conflicts(document: dict[str, Any], invalid: set[Location]) -> list[tuple[Location, str]]:
    """Property keys that differ only in ASCII letter case (``Model``, ``model``).

    The lake holds one spelling per key (DuckDB column names ignore ASCII case, and
    ingest rejects the other spelling), so a meter reading the other one can never
    match; in one run the two columns would even bind to one, billing one key's values
    under the other (found in review: a ``model`` filter read ``Model``). A key with a
    problem of its own (empty, NUL) is left out.
    """
    from meterbill.events.schema import fold_column_name  # lazily: it loads pyarrow

    first: dict[str, tuple[str, Location]] = {}
    problems = []
    for meter_key, meter in _tables(document, "meters"):
        at: Location = ("meters", meter_key)
        used: list[tuple[Location, Any]] = [((*at, "field"), meter.get("field"))]
        if isinstance(meter.get("filters"), dict):
            used += [((*at, "filters", key), key) for key in meter["filters"]]
        if isinstance(meter.get("group_by"), list):
            used += [((*at, "group_by", i), key) for i, key in enumerate(meter["group_by"])]
        for where, key in used:
            if not isinstance(key, str) or where in invalid or (*where, _KEY) in invalid:
                continue
            spelling, seen_at = first.setdefault(fold_column_name(key), (key, where))
            if spelling != key:
                problems.append(
                    (
                        where,
                        f"property key {key!r} differs only in letter case from "
                        f"{spelling!r} ({_toml_path(seen_at)}); the lake keeps one spelling "
                        "of a key",
                    )
                )
    return problems


def _natural(problem: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", problem)]
