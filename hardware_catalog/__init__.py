"""The hardware/model/precision/runtime catalog: YAML files, their schema, and the loader."""

from hardware_catalog.loader import default_catalog_dir, load_catalog

__all__ = ["default_catalog_dir", "load_catalog"]
