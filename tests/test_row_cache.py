"""Per-row values kept on disk between runs (hardware_catalog.caching.answers_cache.DiskRows) never change a plan.

What a search computes from a row's constants and its question alone (the screen and the cap tuned to the TPOT
targets: ``planner.search.shapes.row_memo``) is written at the end of a run and read by the next one (a fresh
process each, as ``hwplan plan``). The basis: plans of fresh tables with no cache, which screen and tune every
row themselves, and the screen computed afresh for the rows a file holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from cache_helpers import (
    CHATBOT,
    DAMAGES,
    cached_run,
    damage,
    fresh_plan,
)

from hardware_catalog import load_catalog
from hardware_catalog.caching import answers_cache, cache
from hardware_catalog.inputs.workload import load_workload
from planner.model.grid import CatalogTables
from planner.search.shapes.candidates import universe
from planner.search.shapes.capacity import screen
from planner.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("cache_in")  # a fresh cache directory per test (conftest)


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Rows each run screens (``capacity.screen`` as prepare calls it) and tunes (``capacity.tuned_cap`` as build
    calls it), appended as they go."""
    import planner.search.build as build_module
    import planner.search.shapes.prepare as prepare_module

    counts: dict[str, list[int]] = {"screen": [], "tuned_cap": []}

    def counting(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(step: Any, *args: Any, **kwargs: Any) -> Any:
            counts[name].append(len(step))
            return fn(step, *args, **kwargs)
        return counted

    monkeypatch.setattr(prepare_module, "screen", counting("screen", prepare_module.screen))
    monkeypatch.setattr(build_module, "tuned_cap", counting("tuned_cap", build_module.tuned_cap))
    return counts


def _screen_file(small_catalog_dir: Path, cache_in: Path, w: Workload) -> Path:
    """The screen file a cached run of ``w`` leaves (the one file of that name)."""
    cached_run(small_catalog_dir, w)
    (path,) = [p for p in answers_cache.row_entries(cache_in) if p.name.endswith(f"-screen{answers_cache.ROW_SUFFIX}")]
    return path


def test_the_next_run_screens_and_tunes_no_row_again_and_plans_the_same(
        small_catalog_dir: Path, cache_in: Path, computed: dict[str, list[int]]) -> None:
    """A run of the same question, and one with its traffic edited, take the rows the first run screened and
    tuned: nothing is screened or tuned again, and both plan what the planner plans with no cache."""
    w = load_workload(CHATBOT)
    first = cached_run(small_catalog_dir, w)
    assert sum(computed["screen"]) > 0 and sum(computed["tuned_cap"]) > 0
    names = {p.name.removesuffix(answers_cache.ROW_SUFFIX).rsplit("-", 1)[1]
             for p in answers_cache.row_entries(cache_in)}
    assert names == {"screen", "tuned_cap"}
    for c in computed.values():
        c.clear()
    again = cached_run(small_catalog_dir, w)
    assert sum(computed["screen"]) == 0 and sum(computed["tuned_cap"]) == 0
    assert again.plans == first.plans == fresh_plan(small_catalog_dir, w).plans
    edited = replace(w, traffic=replace(w.traffic, requests_per_s=w.traffic.requests_per_s * 1.7))
    assert cached_run(small_catalog_dir, edited).plans == fresh_plan(small_catalog_dir, edited).plans


def test_the_kept_screen_is_the_screen_computed_afresh(small_catalog_dir: Path, cache_in: Path) -> None:
    """Every row a screen file holds carries what ``capacity.screen`` gives that Universe row now (an
    independent recomputation, with none of the memo's bookkeeping): the row ids and values line up."""
    w = load_workload(CHATBOT)
    path = _screen_file(small_catalog_dir, cache_in, w)
    key, question, name = path.name.removesuffix(answers_cache.ROW_SUFFIX).split("-")
    loaded = answers_cache.DiskRows(cache_in, key).load(bytes.fromhex(question), name)
    assert loaded is not None
    rows, values = loaded
    assert len(rows) > 10 and values.shape == (4, len(rows))
    catalog = load_catalog(small_catalog_dir)
    tables = CatalogTables.from_catalog(catalog)
    step, mem = universe(tables).models(rows)
    ok, capacity, max_batch, ceiling = screen(step, mem, w.traffic, w.slo)  # (support-chatbot serves no feature)
    assert np.array_equal(values[0] > 0, ok)
    np.testing.assert_array_equal(values[1:], np.vstack([capacity, max_batch, ceiling]))


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_rows_file_is_computed_again(small_catalog_dir: Path, cache_in: Path, how: str,
                                               computed: dict[str, list[int]]) -> None:
    w = load_workload(CHATBOT)
    stored = _screen_file(small_catalog_dir, cache_in, w)
    damage(stored, how)
    computed["screen"].clear()
    assert cached_run(small_catalog_dir, w).plans == fresh_plan(small_catalog_dir, w).plans
    assert sum(computed["screen"]) > 0  # nothing taken from the damaged file
    computed["screen"].clear()
    cached_run(small_catalog_dir, w)  # rewritten whole by the run that computed it again
    assert sum(computed["screen"]) == 0


def test_rows_filed_under_another_question_or_name_are_not_taken(small_catalog_dir: Path, cache_in: Path) -> None:
    """A file renamed to another question's or name's file is ignored (its check covers the name; the rows of
    another question would carry another question's values)."""
    stored = _screen_file(small_catalog_dir, cache_in, load_workload(CHATBOT))
    key, question, _name = stored.name.removesuffix(answers_cache.ROW_SUFFIX).split("-")
    backing = answers_cache.DiskRows(cache_in, key)
    stored.rename(stored.with_name(f"{key}-{question}-tuned_cap{answers_cache.ROW_SUFFIX}"))
    assert backing.load(bytes.fromhex(question), "tuned_cap") is None
    with pytest.raises(ValueError, match="row memo name"):
        backing.path(bytes(16), "../x")


def test_a_rows_file_others_may_write_is_not_trusted(small_catalog_dir: Path, cache_in: Path,
                                                     computed: dict[str, list[int]]) -> None:
    w = load_workload(CHATBOT)
    stored = _screen_file(small_catalog_dir, cache_in, w)
    assert stored.stat().st_mode & 0o077 == 0  # written for its owner alone
    stored.chmod(0o664)
    computed["screen"].clear()
    assert cached_run(small_catalog_dir, w).plans == fresh_plan(small_catalog_dir, w).plans
    assert sum(computed["screen"]) > 0


def test_an_edited_catalog_file_takes_no_row_from_before(small_catalog_dir: Path, cache_in: Path) -> None:
    w = load_workload(CHATBOT)
    before = cached_run(small_catalog_dir, w)
    chip = sorted(before.plans[0].hardware_types)[0]
    path = small_catalog_dir / "hardware" / f"{chip}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["memory_bandwidth_gb_s"] = doc["memory_bandwidth_gb_s"] / 2
    path.write_text(yaml.safe_dump(doc))
    assert cached_run(small_catalog_dir, w).plans == fresh_plan(small_catalog_dir, w).plans
    keys = {p.name.split("-")[0] for p in answers_cache.row_entries(cache_in)}
    assert len(keys) == 2  # one set of files per catalog version


def test_info_counts_and_clear_removes_the_rows(small_catalog_dir: Path, cache_in: Path) -> None:
    cached_run(small_catalog_dir, load_workload(CHATBOT))
    assert len(cache.info()["rows"]) == 2
    cache.clear()
    assert cache.info()["rows"] == [] and not answers_cache.row_entries(cache_in)


def test_a_file_merges_the_rows_of_two_runs(tmp_path: Path) -> None:
    backing = answers_cache.DiskRows(tmp_path, "k" * 32)
    question = bytes(range(16))
    assert backing.save(question, "screen", np.array([2, 5, 9]), np.array([[1.0, 2.0, 3.0]]))
    assert backing.save(question, "screen", np.array([1, 5, 12]), np.array([[7.0, 8.0, 9.0]]))
    rows, values = backing.load(question, "screen") or (None, None)
    assert rows is not None and values is not None
    assert rows.tolist() == [1, 2, 5, 9, 12] and values.tolist() == [[7.0, 1.0, 2.0, 3.0, 9.0]]  # 5 keeps its first


def test_a_file_of_another_width_is_not_taken(small_catalog_dir: Path, cache_in: Path,
                                              computed: dict[str, list[int]]) -> None:
    """A screen file written (by its owner, with a valid check) with 3 values a row instead of 4 is not this
    name's layout: computed again, never a broadcast error mid-plan."""
    w = load_workload(CHATBOT)
    stored = _screen_file(small_catalog_dir, cache_in, w)
    key, question, name = stored.name.removesuffix(answers_cache.ROW_SUFFIX).split("-")
    backing = answers_cache.DiskRows(cache_in, key)
    rows, values = backing.load(bytes.fromhex(question), name) or (None, None)
    assert rows is not None and values is not None
    stored.unlink()
    assert backing.save(bytes.fromhex(question), name, rows, values[:3])
    computed["screen"].clear()
    assert cached_run(small_catalog_dir, w).plans == fresh_plan(small_catalog_dir, w).plans
    assert sum(computed["screen"]) > 0
