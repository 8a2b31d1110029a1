"""The compiled workload (hardware_catalog.caching.compiled_workload) gives the workload the loader gives.

The independent basis of every test is the loader itself (``hardware_catalog.inputs.workload``:
YAML, pydantic) run on the same files with no cache in the way.
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

from hardware_catalog.caching import cache, compiled, compiled_workload
from hardware_catalog.inputs.workload import load_workload as load_file
from planner.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHEET = EXAMPLES / "my-accelerator" / "prices" / "acme-npu-1.yaml"

pytestmark = pytest.mark.usefixtures("cache_in")  # a fresh cache directory per test (conftest)


@pytest.fixture
def workload(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLES / "support-chatbot.yaml", tmp_path / "w.yaml"))


def _entry(cache_in: Path) -> Path:
    (path,) = compiled_workload.entries(cache_in)
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_a_hit_is_the_loaded_workload(name: str, cache_in: Path) -> None:
    built = compiled_workload.load_workload(EXAMPLES / name)
    entry = _entry(cache_in)
    assert entry.stat().st_mode & 0o077 == 0  # only the user may read or write it
    hit = compiled_workload.load_workload(EXAMPLES / name)
    assert hit is not built
    assert hit == built == load_file(EXAMPLES / name)


def test_a_price_sheet_is_part_of_the_key(workload: Path, cache_in: Path, tmp_path: Path) -> None:
    plain = compiled_workload.load_workload(workload)
    sheet = compiled_workload.load_workload(workload, prices=SHEET)
    assert sheet != plain and sheet == load_file(workload, prices=SHEET)
    assert len(compiled_workload.entries(cache_in)) == 2
    moved = Path(shutil.copy(SHEET, tmp_path / "sheet.yaml"))  # each offer names its file
    assert compiled_workload.load_workload(workload, prices=moved) == load_file(workload, prices=moved)
    doc = yaml.safe_load(moved.read_text())
    doc["offers"][0]["usd_per_chip_hour"] = doc["offers"][0]["usd_per_chip_hour"] * 2 + 0.01
    moved.write_text(yaml.safe_dump(doc))
    edited = compiled_workload.load_workload(workload, prices=moved)
    assert edited == load_file(workload, prices=moved)
    assert edited.constraints.pricing.sheet is not None
    assert edited.constraints.pricing.sheet.offers[0].usd_per_chip_hour == doc["offers"][0]["usd_per_chip_hour"]


def test_an_edited_file_gives_the_new_workload(workload: Path) -> None:
    before = compiled_workload.load_workload(workload)
    doc = yaml.safe_load(workload.read_text())
    doc["traffic"]["requests_per_s"] = doc["traffic"]["requests_per_s"] / 2
    workload.write_text(yaml.safe_dump(doc))
    after = compiled_workload.load_workload(workload)
    assert after != before and after == load_file(workload)
    assert after.traffic.requests_per_s == doc["traffic"]["requests_per_s"]


def test_an_edited_module_gives_a_new_key(workload: Path, cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled_workload.load_workload(workload)
    monkeypatch.setattr(compiled, "code_digest", lambda: b"another source")
    compiled_workload.load_workload(workload)
    assert len(compiled_workload.entries(cache_in)) == 2


def test_a_bad_file_is_the_loaders_error_and_never_stored(workload: Path, cache_in: Path) -> None:
    doc = yaml.safe_load(workload.read_text())
    doc["traffic"]["requests_per_s"] = -1
    workload.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogError) as raised:
        compiled_workload.load_workload(workload)
    assert str(workload) in str(raised.value) and "requests_per_s" in str(raised.value)
    assert compiled_workload.entries(cache_in) == []
    with pytest.raises(CatalogError, match="cannot read"):
        compiled_workload.load_workload(workload.with_name("missing.yaml"))


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_corrupt_entry_is_rebuilt(workload: Path, cache_in: Path, damage: str) -> None:
    expected = compiled_workload.load_workload(workload)
    entry = _entry(cache_in)
    damage_file(entry, damage)
    assert compiled_workload.load_workload(workload) == expected  # rebuilt silently
    assert entry.read_bytes()[: len(compiled._MAGIC)] == compiled._MAGIC
    assert compiled_workload.load_workload(workload) == expected


def test_an_entry_holding_another_object_is_rebuilt(workload: Path, cache_in: Path) -> None:
    expected = compiled_workload.load_workload(workload)
    entry = _entry(cache_in)
    entry.unlink()
    compiled.write_entry(cache_in, entry, {"not": "a workload"}, suffix=compiled_workload.SUFFIX, keep=8)
    assert compiled_workload.load_workload(workload) == expected
    assert compiled.read_entry(entry, type(expected)) == expected


def test_an_entry_others_may_write_is_never_unpickled(workload: Path, cache_in: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    expected = compiled_workload.load_workload(workload)
    os.chmod(_entry(cache_in), 0o666)
    unpickled = refuse_unpickling(monkeypatch)
    assert compiled_workload.load_workload(workload) == expected  # loaded from the file instead
    assert unpickled == []


def test_off_writes_nothing(workload: Path, cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_OFF, "1")
    assert compiled_workload.load_workload(workload) == load_file(workload)
    assert not cache_in.exists()


def test_an_unwritable_cache_directory_still_loads(workload: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker / "cache"))
    assert compiled_workload.load_workload(workload) == load_file(workload)


def test_info_lists_and_clear_removes_compiled_workloads(workload: Path, cache_in: Path) -> None:
    compiled_workload.load_workload(workload)
    assert [w["key"] for w in cache.info()["workloads"]] == [_entry(cache_in).name.removesuffix(".workload.pickle")]
    assert cache.clear() > 0
    assert compiled_workload.entries(cache_in) == []


def test_only_the_most_recent_entries_are_kept(tmp_path: Path, cache_in: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_workload, "KEEP", 2)
    for rate in (1, 2, 3):
        path = tmp_path / f"w{rate}.yaml"
        doc = yaml.safe_load((EXAMPLES / "support-chatbot.yaml").read_text())
        doc["traffic"]["requests_per_s"] = rate
        path.write_text(yaml.safe_dump(doc))
        compiled_workload.load_workload(path)
    assert len(compiled_workload.entries(cache_in)) == 2


def test_a_plan_with_a_compiled_workload_imports_no_yaml_or_workload_schema(cache_in: Path) -> None:
    """What makes it fast (issue #21): a second `hwplan plan --json` of the same file gets the
    workload and the catalog without the YAML parser, the workload and price-sheet schemas, the
    catalog loader, rich, scipy, pandas or the web stack."""
    code = ("import sys\nfrom cli.main import main\n"
            "sys.argv = ['hwplan', 'plan', 'examples/edge-assistant.yaml', '--json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None, 1), e.code\n"
            "print('LOADED', sorted(m for m in ('yaml', 'hardware_catalog.inputs.workload', 'hardware_catalog.prices', "
            "'hardware_catalog.files', 'hardware_catalog.loader', 'hardware_catalog.schema', 'rich', 'scipy', "
            "'pandas', 'fastapi', 'uvicorn', 'httpx') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), cache.ENV_DIR: str(cache_in)}
    runs = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert all('"plans"' in out for out in runs)  # both planned
    assert "'yaml'" in runs[0].strip().splitlines()[-1]  # the first run loaded the files
    assert runs[1].strip().splitlines()[-1] == "LOADED []"
