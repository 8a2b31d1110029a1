"""The compiled catalog cache (hardware_catalog.caching.cache) never changes a plan.

Every test plans on a four-chip, four-model copy of the shipped catalog and compares against a plan
built with the cache off (the independent basis: the planner computing every constant itself).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cache_helpers import concurrent_plan_runs, small_catalog

from hardware_catalog import load_catalog
from hardware_catalog.caching import cache
from hardware_catalog.inputs.workload import load_workload
from planner.model.grid import CatalogTables
from planner.search.planning import plan

ROOT = Path(__file__).resolve().parents[1]
HARDWARE = {"l4", "a10g", "h100-sxm", "a100-80gb"}
MODELS = {"llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "qwen2.5-14b"}
WORKLOAD = ROOT / "examples" / "support-chatbot.yaml"


def _small_catalog(dst: Path) -> Path:
    return small_catalog(dst, HARDWARE, MODELS)


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return _small_catalog(tmp_path / "catalog")


pytestmark = pytest.mark.usefixtures("cache_in")  # a fresh cache directory per test (conftest)


def _plans(directory: Path, *, cached: bool) -> list[tuple[float, str, tuple[str, ...]]]:
    catalog = load_catalog(directory)
    tables = cache.catalog_tables(catalog) if cached else CatalogTables.from_catalog(catalog)
    result = plan(load_workload(WORKLOAD), catalog, tables=tables, explain=False)
    return [(p.cost.per_month, p.model, tuple(sorted(p.hardware_types))) for p in result.plans]


def _state(directory: Path) -> str:
    catalog = load_catalog(directory)
    return cache.prepare_tables(catalog, CatalogTables.from_catalog(catalog))


def test_a_cached_plan_is_the_plan_without_the_cache(catalog_dir: Path) -> None:
    assert _state(catalog_dir) == "built"
    assert _state(catalog_dir) == "hit"
    plans = _plans(catalog_dir, cached=True)
    assert plans and plans == _plans(catalog_dir, cached=False)


def test_an_edited_price_changes_the_next_plan(catalog_dir: Path) -> None:
    before = _plans(catalog_dir, cached=True)
    chip = before[0][2][0]
    path = catalog_dir / "prices" / f"{chip}.yaml"  # the price layer: one file of offers per chip
    text = path.read_text()
    doc = yaml.safe_load(text)
    for offer in doc["offers"]:
        offer["usd_per_chip_hour"] = round(offer["usd_per_chip_hour"] * 3, 4)
    path.write_text(yaml.safe_dump(doc))
    assert path.read_text() != text
    after = _plans(catalog_dir, cached=True)
    assert after != before
    assert after == _plans(catalog_dir, cached=False)  # the planner's own answer on the edited catalog


def test_a_deleted_hardware_file_is_never_planned_again(catalog_dir: Path) -> None:
    chip = _plans(catalog_dir, cached=True)[0][2][0]
    (catalog_dir / "hardware" / f"{chip}.yaml").unlink()
    cal = yaml.safe_load((catalog_dir / "calibration.yaml").read_text())
    cal["entries"] = [e for e in cal["entries"] if e.get("hardware") != chip]
    (catalog_dir / "calibration.yaml").write_text(yaml.safe_dump(cal))
    after = _plans(catalog_dir, cached=True)
    assert after and all(chip not in hardware for _, _, hardware in after)
    assert after == _plans(catalog_dir, cached=False)


@pytest.mark.parametrize("damage", ["flip", "truncate", "meta"])
def test_a_corrupt_cache_entry_is_rebuilt(catalog_dir: Path, cache_in: Path, damage: str) -> None:
    expected = _plans(catalog_dir, cached=False)
    assert _state(catalog_dir) == "built"
    step = next(cache_in.glob("*.step.npy"))
    if damage == "flip":  # same size, one byte changed past the header
        data = bytearray(step.read_bytes())
        data[len(data) // 2] ^= 0xFF
        step.write_bytes(bytes(data))
    elif damage == "truncate":
        step.write_bytes(step.read_bytes()[: step.stat().st_size // 3])
    else:
        next(cache_in.glob("*.json")).write_text("{not json")
    assert _state(catalog_dir) == "built"  # rebuilt silently
    assert _state(catalog_dir) == "hit"
    assert _plans(catalog_dir, cached=True) == expected


def test_an_unwritable_cache_directory_still_plans(catalog_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker / "cache"))
    assert _state(catalog_dir) == "unwritable"
    assert _plans(catalog_dir, cached=True) == _plans(catalog_dir, cached=False)


def test_the_cache_can_be_turned_off(catalog_dir: Path, cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_OFF, "1")
    assert _state(catalog_dir) == "off"
    assert not cache_in.exists()


def test_info_and_clear(catalog_dir: Path) -> None:
    _state(catalog_dir)
    entries = cache.info()["entries"]
    assert len(entries) == 1 and entries[0]["catalog_version"] == load_catalog(catalog_dir).version
    assert cache.clear() > 0
    assert cache.info()["entries"] == []


def test_two_concurrent_first_runs_both_succeed(catalog_dir: Path, cache_in: Path) -> None:
    docs = concurrent_plan_runs(catalog_dir, cache_in, WORKLOAD)
    for d in docs:
        d["search"].pop("elapsed_ms")
    assert docs[0] == docs[1]
    assert _state(catalog_dir) == "hit"
    expected = _plans(catalog_dir, cached=False)
    assert [p["model"] for p in docs[0]["plans"]] == [m for _, m, _ in expected]
    assert [p["cost"]["per_month"] for p in docs[0]["plans"]] == pytest.approx([c for c, _, _ in expected], rel=1e-4)


def test_what_a_killed_writer_left_is_removed_by_the_next_write(catalog_dir: Path, cache_in: Path) -> None:
    """A kill -9 mid-write leaves a temporary array (172 MB, named .<file>.<pid>.<hex>.tmp) or arrays whose
    description was never written; neither is an entry, so neither was ever pruned (2.0 GB on disk where
    `cache info` counted 1.6). The next entry written removes those of a dead process, and old undescribed
    arrays; a live writer's temporary stays."""
    import os
    import subprocess
    import sys
    import time

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    cache_in.mkdir(parents=True, exist_ok=True)
    leftover = cache_in / f".deadbeef.step.npy.{pid}.0a0fd0f0.tmp"
    leftover.write_bytes(b"x" * 1000)
    live = cache_in / f".cafe.step.npy.{os.getpid()}.11111111.tmp"  # this process: a write in progress
    live.write_bytes(b"y")
    orphan = cache_in / "78822d3c.memory.npy"  # renamed into place, its description never written
    orphan.write_bytes(b"z" * 1000)
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    _state(catalog_dir)  # writes an entry
    assert not leftover.exists() and not orphan.exists()
    assert live.exists()
    assert len(cache.info()["entries"]) == 1
