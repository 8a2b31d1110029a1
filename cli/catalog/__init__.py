"""The catalog maintainers' commands: the catalog, price sheets, the caches, validation and calibration."""

__all__ = ["cache_cmds", "calibration_cmds", "catalog_cmds", "prices_cmd"]
