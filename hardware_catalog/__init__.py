"""The hardware/model/precision/runtime catalog: YAML files, their schema, and the loader.

The names below are imported on first use (PEP 562), so importing a light submodule
(``hardware_catalog.caching.compiled``, ``hardware_catalog.caching.cache_store``) does not load the YAML parser,
pydantic and the schema: a compiled-catalog hit never needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardware_catalog.files import default_catalog_dir
    from hardware_catalog.loader import load_catalog
    from hardware_catalog.prices import load_owned, load_price_sheet, load_prices

__all__ = ["default_catalog_dir", "load_catalog", "load_owned", "load_price_sheet", "load_prices"]

_HOME = {"default_catalog_dir": "hardware_catalog.files",  # (not the loader: the schema and prices ride with it)
         "load_catalog": "hardware_catalog.loader",
         "load_owned": "hardware_catalog.prices", "load_price_sheet": "hardware_catalog.prices",
         "load_prices": "hardware_catalog.prices"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hardware_catalog' has no attribute {name!r}")
