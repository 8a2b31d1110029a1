"""Load a catalog directory into planner's domain objects, validating every file.

Layout of a catalog directory::

    hardware/<id>.yaml     one chip per file          (HardwareFile)
    models/<id>.yaml       one model per file         (ModelFile)
    precisions.yaml        number formats             (PrecisionsFile)
    runtimes.yaml          serving engines            (RuntimesFile)
    calibration.yaml       fitted efficiencies        (CalibrationFile, optional)
    prices/<id>.yaml       public offers per chip     (prices.PriceFile, optional)
    owned.yaml             owned-hardware cost inputs (prices.OwnedFile, optional)
    quality.yaml           precision / adaptation quality effects (QualityFile, optional)
    measured_bias.yaml     where predictions measurably miss (MeasuredBiasFile, optional)

Overlay directories (``overlays=``) may hold only some of these (say one in-house chip); their
entries are added to, or replace, the base directory's. Every error names the file, the field
and the problem, as one line.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from hardware_catalog import convert
from hardware_catalog.content_hash import catalog_hash
from hardware_catalog.files import default_catalog_dir, read_yaml, validate_file
from hardware_catalog.input_bytes import refuse_special
from hardware_catalog.prices import load_owned, load_prices, refuse_repeats
from hardware_catalog.schema import (
    CalibrationFile,
    HardwareFile,
    MeasuredBiasFile,
    ModelFile,
    PrecisionsFile,
    QualityFile,
    RuntimesFile,
)
from planner.domain import Catalog
from planner.economics.owned import OwnedData
from planner.economics.pricing import PriceBook
from planner.errors import CatalogError

__all__ = ["default_catalog_dir", "load_catalog", "read_yaml", "validate_file"]

FileModel = TypeVar("FileModel", bound=BaseModel)
# The one-entry-per-file models: each has an ``id`` that must match its file name.
DirFile = TypeVar("DirFile", HardwareFile, ModelFile)


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
    raw = convert.RawCatalog()
    for folder in (base, *(Path(p) for p in overlays)):
        if not folder.is_dir():
            raise CatalogError("catalog directory does not exist" if not folder.exists() else
                               "not a directory: a catalog (or --add) names a directory of catalog files",
                               file=str(folder))
        _refuse_unread(folder)
        _read_into(raw, folder)
    for needed, table in (("precisions.yaml", raw.precisions), ("runtimes.yaml", raw.runtimes),
                          ("hardware/", raw.hardware), ("models/", raw.models)):
        if not table:
            raise CatalogError(f"catalog has no {needed} (a directory of extra files layered on the shipped "
                               "catalog is given with --add DIR)", file=str(base))
    catalog = convert.to_domain(raw, version=_digest(base, overlays))
    folders = (base, *(Path(p) for p in overlays))
    return replace(catalog, prices=_prices(folders, catalog.hardware), owned=_owned(folders))


def _prices(folders: Sequence[Path], hardware: Collection[str]) -> PriceBook:
    """Every folder's prices/ (an overlay's offers add to the base's); offers for chips the catalog
    lacks are kept in ``skipped`` with the reason."""
    books = [load_prices(folder / "prices", known_hardware=hardware)
             for folder in folders if (folder / "prices").is_dir()]
    refuse_repeats(o for b in books for o in b.offers)  # an overlay's copy of a shipped offer counted twice
    return PriceBook(offers=tuple(o for b in books for o in b.offers),
                     skipped=tuple(s for b in books for s in b.skipped))


def _owned(folders: Sequence[Path]) -> OwnedData | None:
    """The last folder's owned.yaml (an overlay may replace the base's); None when none has one."""
    files = [folder / "owned.yaml" for folder in folders if (folder / "owned.yaml").is_file()]
    return load_owned(files[-1]) if files else None


# What a catalog directory's YAML files may be: the files and folders ``_read_into`` and the price and
# owned loaders read, and two folders other commands read (hwplan export: deploy/; hwplan validate and
# calibrate: measurements/)
LIST_FILES = ("precisions.yaml", "runtimes.yaml", "calibration.yaml", "quality.yaml", "measured_bias.yaml",
              "owned.yaml")
ENTRY_FOLDERS = ("hardware", "models", "prices")
OTHER_FOLDERS = ("deploy", "measurements")


def _refuse_unread(folder: Path) -> None:
    """A YAML file the catalog would not read is an error naming it: a chip at hardwares/x.yaml, at the top
    level, or as hardware/x.yml was skipped without a word, and `hwplan catalog validate` said ok."""
    named = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))
    for path in named:
        refuse_special(path)  # before any read: a FIFO blocks the reader, /dev/zero never ends
    for path in (p for p in named if p.is_file()):
        rel = path.relative_to(folder)
        parts = rel.parts
        if parts[0] in OTHER_FOLDERS:
            continue
        if len(parts) == 1 and path.name in LIST_FILES:
            continue
        if len(parts) == 2 and parts[0] in ENTRY_FOLDERS and path.suffix == ".yaml":
            continue
        raise CatalogError(f"this file is not read: a catalog directory holds {', '.join(LIST_FILES)} and "
                           f"{', '.join(f + '/*.yaml' for f in ENTRY_FOLDERS)} (one entry per file; .yaml, not "
                           ".yml); move or rename it, or remove it", file=str(path))


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
        file, q = quality
        if not q.benchmarks and raw.quality is not None:  # an older overlay's: the benchmarks it replaced still hold
            q = q.model_copy(update={"benchmarks": raw.quality[1].benchmarks})
        raw.quality = (file, q)
    measured = _load_list_file(folder, "measured_bias.yaml", MeasuredBiasFile)
    if measured is not None:  # an overlay's replaces the base's (it was measured against its own catalog)
        raw.measured_bias = measured


def _digest(base: Path, overlays: Iterable[Path | str]) -> str:
    """Content hash of every YAML file: the catalog's version (the compiled catalog's key starts from it)."""
    return catalog_hash((base, *(Path(p) for p in overlays))).hexdigest()[:16]
