"""The compiled catalog (hardware_catalog.caching.compiled) gives the catalog the loader gives.

The independent basis of every test is the loader itself (``hardware_catalog.loader``: YAML,
pydantic, cross-checks) run on the same files with no cache in the way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cache_helpers import DAMAGES, refuse_unpickling
from cache_helpers import damage as damage_file

from hardware_catalog import default_catalog_dir
from hardware_catalog.caching import cache, compiled
from hardware_catalog.loader import load_catalog as load_files
from planner.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(default_catalog_dir(), tmp_path / "catalog"))


pytestmark = pytest.mark.usefixtures("cache_in")  # a fresh cache directory per test (conftest)


def _entry(cache_in: Path) -> Path:
    (path,) = compiled.entries(cache_in)
    return path


def test_a_hit_is_the_loaded_catalog(catalog_dir: Path, cache_in: Path) -> None:
    built = compiled.load_catalog(catalog_dir)
    entry = _entry(cache_in)
    assert entry.stat().st_mode & 0o077 == 0  # only the user may read or write it
    hit = compiled.load_catalog(catalog_dir)
    assert hit is not built
    assert hit == built == load_files(catalog_dir)
    assert hit.version == load_files(catalog_dir).version


def test_an_edited_price_gives_the_new_catalog(catalog_dir: Path) -> None:
    before = compiled.load_catalog(catalog_dir)
    path = next((catalog_dir / "prices").glob("*.yaml"))
    doc = yaml.safe_load(path.read_text())
    doc["offers"][0]["usd_per_chip_hour"] = round(doc["offers"][0]["usd_per_chip_hour"] * 3 + 0.01, 4)
    path.write_text(yaml.safe_dump(doc))
    after = compiled.load_catalog(catalog_dir)
    assert after != before and after.version != before.version
    assert after == load_files(catalog_dir)
    assert [o.usd_per_chip_hour for o in after.prices.offers] != [o.usd_per_chip_hour for o in before.prices.offers]


def test_a_deleted_hardware_file_is_gone(catalog_dir: Path) -> None:
    chip = sorted(compiled.load_catalog(catalog_dir).hardware)[0]
    (catalog_dir / "hardware" / f"{chip}.yaml").unlink()
    try:
        expected = load_files(catalog_dir)
    except CatalogError as exc:  # something still names it: the same error, never the stale catalog
        with pytest.raises(CatalogError, match=str(exc.file or "")):
            compiled.load_catalog(catalog_dir)
        return
    after = compiled.load_catalog(catalog_dir)
    assert chip not in after.hardware and after == expected


def test_an_overlay_is_part_of_the_key(catalog_dir: Path, tmp_path: Path) -> None:
    overlay = Path(shutil.copytree(ROOT / "examples" / "my-accelerator", tmp_path / "overlay"))
    plain = compiled.load_catalog(catalog_dir)
    layered = compiled.load_catalog(catalog_dir, overlays=[overlay])
    assert "acme-npu-1" in layered.hardware and "acme-npu-1" not in plain.hardware
    assert layered == load_files(catalog_dir, overlays=[overlay])
    assert compiled.load_catalog(catalog_dir) == plain


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupt_entry_is_rebuilt(catalog_dir: Path, cache_in: Path, damage: str) -> None:
    expected = compiled.load_catalog(catalog_dir)
    entry = _entry(cache_in)
    damage_file(entry, damage)
    assert compiled.load_catalog(catalog_dir) == expected  # rebuilt silently
    assert entry.read_bytes()[: len(compiled._MAGIC)] == compiled._MAGIC
    assert compiled.load_catalog(catalog_dir) == expected


def test_an_entry_others_may_write_is_never_unpickled(catalog_dir: Path, cache_in: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    expected = compiled.load_catalog(catalog_dir)
    entry = _entry(cache_in)
    os.chmod(entry, 0o666)
    unpickled = refuse_unpickling(monkeypatch)
    assert compiled.load_catalog(catalog_dir) == expected  # loaded from the files instead
    assert unpickled == []


def test_an_unwritable_cache_directory_still_loads(catalog_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker / "cache"))
    assert compiled.load_catalog(catalog_dir) == load_files(catalog_dir)


def test_off_writes_nothing(catalog_dir: Path, cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_OFF, "1")
    assert compiled.load_catalog(catalog_dir) == load_files(catalog_dir)
    assert not cache_in.exists()


def test_a_missing_directory_is_the_loaders_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        compiled.load_catalog(tmp_path / "nowhere")


def test_clear_removes_compiled_catalogs(catalog_dir: Path, cache_in: Path) -> None:
    compiled.load_catalog(catalog_dir)
    assert len(cache.info()["catalogs"]) == 1
    assert cache.clear() > 0
    assert compiled.entries(cache_in) == []


def test_a_hit_never_loads_yaml_or_the_schema(catalog_dir: Path, cache_in: Path) -> None:
    """What makes it fast: a second process gets the catalog without the parser, the pydantic
    schema or the loader."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), cache.ENV_DIR: str(cache_in)}
    code = ("import sys; from hardware_catalog.caching.compiled import load_catalog; "
            f"c = load_catalog({str(catalog_dir)!r}); "
            "print(len(c.hardware), sorted(m for m in ('yaml', 'hardware_catalog.schema', "
            "'hardware_catalog.loader') if m in sys.modules))")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    n = len(load_files(catalog_dir).hardware)
    assert first.stdout.split()[0] == second.stdout.split()[0] == str(n)
    assert "yaml" in first.stdout  # the miss ran the loader
    assert second.stdout.strip() == f"{n} []"
