"""The catalog cache checks an array file's checksum until the file's stamp is recorded, and again
whenever the file is written or replaced (hardware_catalog.caching.cache: ``_stamp``, ``SETTLED_NS``).

The independent basis: the checksum itself (the tests count its calls) and a plan with the cache
off; each damage is a real write to the file, as in tests/test_catalog_cache.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from cache_helpers import small_catalog

from hardware_catalog import load_catalog
from hardware_catalog.caching import cache
from hardware_catalog.inputs.workload import load_workload
from planner.model.grid import CatalogTables
from planner.search.planning import plan

pytestmark = pytest.mark.usefixtures("cache_in")  # a fresh cache directory per test (conftest)

HARDWARE = {"l4", "h100-sxm"}
MODELS = {"llama-3.1-8b", "qwen2.5-14b"}
WORKLOAD = Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml"


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A two-chip, two-model copy of the shipped catalog (small arrays)."""
    return small_catalog(tmp_path / "catalog", HARDWARE, MODELS)


def _plans(directory: Path, *, cached: bool) -> list[tuple[float, str, tuple[str, ...]]]:
    catalog = load_catalog(directory)
    tables = cache.catalog_tables(catalog) if cached else CatalogTables.from_catalog(catalog)
    result = plan(load_workload(WORKLOAD), catalog, tables=tables, explain=False)
    return [(p.cost.per_month, p.model, tuple(sorted(p.hardware_types))) for p in result.plans]


@pytest.fixture
def checksums(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the arrays checksummed (the checksum itself still runs)."""
    calls: list[int] = []
    real = cache._checksum

    def counted(a: np.ndarray) -> str:
        calls.append(a.size)
        return real(a)

    monkeypatch.setattr(cache, "_checksum", counted)
    return calls


def _state(directory: Path) -> str:
    catalog = load_catalog(directory)
    return cache.prepare_tables(catalog, CatalogTables.from_catalog(catalog))


def _settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the files had been written long ago (their change time can only be set by a write)."""
    monkeypatch.setattr(cache, "SETTLED_NS", -10**12)


def _meta(cache_in: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(next(cache_in.glob("*.json")).read_text())
    return data


def test_fresh_files_are_checked_on_every_read(catalog_dir: Path, cache_in: Path, checksums: list[int]) -> None:
    assert _state(catalog_dir) == "built"
    built = len(checksums)
    assert _state(catalog_dir) == "hit" and _state(catalog_dir) == "hit"
    assert len(checksums) == built + 2 * len(cache.ARRAYS)  # just written: no stamp yet
    assert "verified" not in _meta(cache_in)


def test_a_settled_checked_file_is_read_without_the_checksum(catalog_dir: Path, cache_in: Path,
                                                              checksums: list[int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _plans(catalog_dir, cached=False)
    assert _state(catalog_dir) == "built"
    _settled(monkeypatch)
    assert _state(catalog_dir) == "hit"  # checked, then stamped
    assert set(_meta(cache_in)["verified"]) == set(cache.ARRAYS)  # type: ignore[arg-type]
    before = len(checksums)
    assert _state(catalog_dir) == "hit"
    assert len(checksums) == before  # the stamp stands for the checksum
    assert _plans(catalog_dir, cached=True) == expected


@pytest.mark.parametrize("damage", ["flip", "replace", "truncate"])
def test_a_stamped_file_written_again_is_checked_and_rebuilt(catalog_dir: Path, cache_in: Path,
                                                             checksums: list[int], damage: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _plans(catalog_dir, cached=False)
    assert _state(catalog_dir) == "built"
    _settled(monkeypatch)
    assert _state(catalog_dir) == "hit"
    step = next(cache_in.glob("*.step.npy"))
    time.sleep(0.05)  # past the file clock's tick (the stamp would otherwise need SETTLED_NS)
    data = bytearray(step.read_bytes())
    if damage == "flip":  # in place, same size, one word changed, modification time put back
        st = step.stat()
        data[len(data) // 2] ^= 0xFF
        step.write_bytes(bytes(data))
        os.utime(step, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif damage == "replace":  # another file renamed into its place
        data[len(data) // 2] ^= 0xFF
        other = step.with_name("other.npy")
        other.write_bytes(bytes(data))
        shutil.move(other, step)
    else:
        step.write_bytes(bytes(data[: len(data) // 3]))
    before = len(checksums)
    assert _state(catalog_dir) == "built"  # detected, rebuilt silently
    assert damage == "truncate" or len(checksums) > before  # the checksum caught it
    assert _plans(catalog_dir, cached=True) == expected


def test_a_garbled_stamp_is_only_a_missing_one(catalog_dir: Path, cache_in: Path, checksums: list[int]) -> None:
    assert _state(catalog_dir) == "built"
    meta_path = next(cache_in.glob("*.json"))
    meta = json.loads(meta_path.read_text())
    for garbled in ("yes", {"step": "yes"}, [1, 2]):
        meta_path.write_text(json.dumps({**meta, "verified": garbled}))
        before = len(checksums)
        assert _state(catalog_dir) == "hit"
        assert len(checksums) == before + len(cache.ARRAYS)
