"""Reading one catalog file: YAML parsing and pydantic validation, errors naming file and field.

Shared by every loader (``hardware_catalog.loader``, ``hardware_catalog.prices``,
``hardware_catalog.inputs.workload``), so they need not import one another.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from planner.errors import CatalogError

__all__ = ["SAFE_LOADER", "default_catalog_dir", "read_yaml", "validate_file"]

# libyaml's safe loader where PyYAML was built with it: the same documents, ~10x faster to parse
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FileModel = TypeVar("FileModel", bound=BaseModel)


def default_catalog_dir() -> Path:
    """The catalog shipped inside the package."""
    return Path(str(resources.files("hardware_catalog") / "data"))


def read_yaml(path: Path, *, loader: type[yaml.SafeLoader] | None = None) -> Any:
    """Parse one YAML file (with ``loader``, else libyaml's safe loader where present); syntax errors
    become a CatalogError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    try:
        return yaml.load(text, Loader=loader or SAFE_LOADER)  # noqa: S506 - both are safe loaders
    except ValueError as exc:  # a scalar YAML cannot construct, e.g. the date 2026-13-01
        raise CatalogError(f"invalid value: {exc}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"YAML syntax error: {problem}", file=str(path), field=where) from exc


def validate_file(model: type[FileModel], data: Any, *, file: str) -> FileModel:
    """Validate parsed YAML against a file model; the first error becomes one line."""
    if not isinstance(data, dict):
        raise CatalogError("expected a mapping at the top level", file=file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise CatalogError(_describe(first), file=file, field=field) from exc


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


