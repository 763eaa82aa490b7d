"""catalog.toml -> ``Catalog``, refusing a bad catalog whole with every problem listed.

Problems are reported by TOML path (``plans.openai_o1.prices[2].package_size: must be
an integer >= 1``). Pydantic finds the shape problems; the cross references (a price's
meter must exist) are checked here on the raw document, so both kinds show together.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meterbill.catalog.model import Catalog
from meterbill.errors import CatalogError

_MODELS = ("flat_fee", "per_unit", "package", "tiered")
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
    problems: list[str] = []
    catalog: Catalog | None = None
    try:
        catalog = Catalog.model_validate(_with_keys(document))
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
    problems.extend(_cross_reference_problems(document))
    if catalog is not None:
        problems.extend(_case_conflicts(catalog))
    if problems:
        raise CatalogError(sorted(dict.fromkeys(problems), key=_natural), source=source)
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


def _describe(error: Any) -> str:
    """One ``toml.path: message`` line for one pydantic error."""
    loc = [part for part in error["loc"]]
    # A discriminated union inserts the tag ("package") after the list index.
    parts: list[str] = []
    for index, part in enumerate(loc):
        previous = loc[index - 1] if index else None
        if isinstance(part, str) and part in _MODELS and isinstance(previous, int):
            continue
        if isinstance(part, str) and (part.startswith("function-") or part == "[key]"):
            continue  # validator names, and the marker of a dict key (the key precedes it)
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append(_toml_key(part))
    message = _MESSAGES.get(error["type"]) or str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if error["type"] == "union_tag_invalid":
        message = f"unknown model; expected one of {', '.join(_MODELS)}"
    elif error["type"] == "union_tag_not_found":
        message = f"model: required, one of {', '.join(_MODELS)}"
    match = _PATH_PREFIX.match(message)
    if match:  # a model validator that names the field it is about
        parts.append(match.group(1))
        message = match.group(2)
    return f"{'.'.join(parts) or '<root>'}: {message}"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else '"' + key.replace('"', '\\"') + '"'


def _cross_reference_problems(document: dict[str, Any]) -> list[str]:
    """Prices that name a meter the catalog does not define."""
    meters = document.get("meters") if isinstance(document.get("meters"), dict) else {}
    plans = document.get("plans") if isinstance(document.get("plans"), dict) else {}
    known = sorted(meters)
    problems = []
    for plan_key, plan in plans.items():
        prices = plan.get("prices", []) if isinstance(plan, dict) else []
        if not isinstance(prices, list):
            continue
        for index, price in enumerate(prices):
            if not isinstance(price, dict) or "meter" not in price:
                continue
            if price["meter"] not in meters:
                hint = f"known meters are {', '.join(known)}" if known else "no meters are defined"
                problems.append(
                    f"plans.{_toml_key(plan_key)}.prices[{index}].meter: "
                    f"unknown meter {price['meter']!r}; {hint}"
                )
    return problems


def _case_conflicts(catalog: Catalog) -> list[str]:
    """Property keys that differ only in ASCII letter case (``Model``, ``model``).

    The lake holds one spelling per key (DuckDB column names ignore ASCII case, and
    ingest rejects the other spelling), so a meter reading the other one can never
    match; in one run the two columns would even bind to one, billing one key's values
    under the other (found in review: a ``model`` filter read ``Model``).
    """
    from meterbill.events.schema import fold_column_name  # lazily: it loads pyarrow

    first: dict[str, tuple[str, str]] = {}
    problems = []
    for meter_key, meter in catalog.meters.items():
        used = [("field", meter.field)] if meter.field else []
        used += [(f"filters.{_toml_key(key)}", key) for key in meter.filters]
        used += [(f"group_by[{i}]", key) for i, key in enumerate(meter.group_by)]
        for where, key in used:
            path = f"meters.{_toml_key(meter_key)}.{where}"
            spelling, seen_at = first.setdefault(fold_column_name(key), (key, path))
            if spelling != key:
                problems.append(
                    f"{path}: property key {key!r} differs only in letter case from "
                    f"{spelling!r} ({seen_at}); the lake keeps one spelling of a key"
                )
    return problems


def _natural(problem: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", problem)]
