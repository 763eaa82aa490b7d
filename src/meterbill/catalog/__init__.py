"""The plan catalog: meters and plans, loaded from catalog.toml and validated whole."""

from meterbill.catalog.load import load_catalog, parse_catalog
from meterbill.catalog.model import Catalog, Meter, Plan, Price

__all__ = ["Catalog", "Meter", "Plan", "Price", "load_catalog", "parse_catalog"]
