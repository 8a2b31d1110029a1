"""The catalog maintainers' commands: the catalog, price sheets, the caches, validation and calibration."""
