"""The hardware/model/precision/runtime catalog: YAML files, their schema, and the loader."""

from hardware_catalog.loader import default_catalog_dir, load_catalog
from hardware_catalog.prices import load_owned, load_price_sheet, load_prices

__all__ = ["default_catalog_dir", "load_catalog", "load_owned", "load_price_sheet", "load_prices"]
