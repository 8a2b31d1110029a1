"""Load a catalog directory into planner's domain objects, validating every file.

Layout of a catalog directory::

    hardware/<id>.yaml     one chip per file          (HardwareFile)
    models/<id>.yaml       one model per file         (ModelFile)
    precisions.yaml        number formats             (PrecisionsFile)
    runtimes.yaml          serving engines            (RuntimesFile)
    calibration.yaml       fitted efficiencies        (CalibrationFile, optional)
    quality.yaml           precision / adaptation quality effects (QualityFile, optional)

Overlay directories (``overlays=``) may hold only some of these (say one in-house chip); their
entries are added to, or replace, the base directory's. Every error names the file, the field
and the problem, as one line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hardware_catalog import convert
from hardware_catalog.schema import (
    CalibrationFile,
    HardwareFile,
    ModelFile,
    PrecisionsFile,
    QualityFile,
    RuntimesFile,
)
from planner.domain import Catalog
from planner.errors import CatalogError

__all__ = ["default_catalog_dir", "load_catalog", "read_yaml", "validate_file"]

# libyaml's safe loader where PyYAML was built with it: the same documents, ~10x faster to parse
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FileModel = TypeVar("FileModel", bound=BaseModel)
# The one-entry-per-file models: each has an ``id`` that must match its file name.
DirFile = TypeVar("DirFile", HardwareFile, ModelFile)


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


def _load_dir_files(directory: Path, sub: str, model: type[DirFile]) -> list[tuple[str, DirFile]]:
    folder = directory / sub
    if not folder.is_dir():
        return []
    entries: list[tuple[str, DirFile]] = []
    for path in sorted(folder.glob("*.yaml")):
        entry = validate_file(model, read_yaml(path), file=str(path))
        if entry.id != path.stem:
            raise CatalogError(f"id {entry.id!r} must match the file name {path.stem!r}",
                               file=str(path), field="id")
        entries.append((str(path), entry))
    return entries


def _load_list_file(directory: Path, name: str, model: type[FileModel]) -> tuple[str, FileModel] | None:
    path = directory / name
    if not path.is_file():
        return None
    return str(path), validate_file(model, read_yaml(path), file=str(path))


def load_catalog(directory: Path | str | None = None, *, overlays: Sequence[Path | str] = ()) -> Catalog:
    """Read, validate and cross-check a catalog directory (default: the shipped one)."""
    base = Path(directory) if directory is not None else default_catalog_dir()
    if not base.is_dir():
        raise CatalogError("catalog directory does not exist", file=str(base))
    raw = convert.RawCatalog()
    for folder in (base, *(Path(p) for p in overlays)):
        if not folder.is_dir():
            raise CatalogError("catalog directory does not exist", file=str(folder))
        _read_into(raw, folder)
    for needed, table in (("precisions.yaml", raw.precisions), ("runtimes.yaml", raw.runtimes),
                          ("hardware/", raw.hardware), ("models/", raw.models)):
        if not table:
            raise CatalogError(f"catalog has no {needed}", file=str(base))
    return convert.to_domain(raw, version=_digest(base, overlays))


def _read_into(raw: convert.RawCatalog, folder: Path) -> None:
    precisions = _load_list_file(folder, "precisions.yaml", PrecisionsFile)
    if precisions is not None:
        for entry in precisions[1].precisions:
            raw.precisions[entry.id] = (precisions[0], entry)
    runtimes = _load_list_file(folder, "runtimes.yaml", RuntimesFile)
    if runtimes is not None:
        for runtime in runtimes[1].runtimes:
            raw.runtimes[runtime.id] = (runtimes[0], runtime)
    for file, hw in _load_dir_files(folder, "hardware", HardwareFile):
        raw.hardware[hw.id] = (file, hw)
    for file, model in _load_dir_files(folder, "models", ModelFile):
        raw.models[model.id] = (file, model)
    calibration = _load_list_file(folder, "calibration.yaml", CalibrationFile)
    if calibration is not None:
        raw.calibration = calibration
    quality = _load_list_file(folder, "quality.yaml", QualityFile)
    if quality is not None:
        raw.quality = quality


def _digest(base: Path, overlays: Iterable[Path | str]) -> str:
    """Content hash of every YAML file: the catalog's version."""
    sha = hashlib.sha256()
    for folder in (base, *(Path(p) for p in overlays)):
        for path in sorted(Path(folder).rglob("*.yaml")):
            sha.update(str(path.relative_to(folder)).encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()[:16]
