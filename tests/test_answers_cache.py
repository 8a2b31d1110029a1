"""Capacity answers kept on disk between runs (hardware_catalog.caching.answers_cache) never change a plan.

The basis is the planner with no cache: every plan here is compared with the plan of fresh tables
that compute every capacity themselves. Each "run" is what ``hwplan plan`` does in a new process:
fresh tables backed by the cache directory (``catalog_tables(answers=True)``), a plan, a save.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cache_helpers import (
    CHATBOT,
    DAMAGES,
    SMALL_HARDWARE,
    SMALL_MODELS,
    cached_run,
    concurrent_plan_runs,
    damage,
    fresh_plan,
    small_catalog,
)

from hardware_catalog import load_catalog
from hardware_catalog.caching import answers_cache, cache
from hardware_catalog.inputs.workload import load_workload
from planner.search.planning import plan
from planner.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("cache_in")  # a fresh cache directory per test (conftest)


def _more_traffic(w: Workload) -> Workload:
    return replace(w, traffic=replace(w.traffic, requests_per_s=w.traffic.requests_per_s * 1.7))


def test_the_next_run_takes_the_answers_and_plans_the_same(small_catalog_dir: Path, cache_in: Path,
                                                           queued: list[int]) -> None:
    """A run after an edit of the traffic takes the first run's answers (fewer shapes through the
    queueing model than the same plan from scratch) and plans what the planner plans with no cache."""
    w = load_workload(CHATBOT)
    cached_run(small_catalog_dir, w)
    assert list(cache_in.glob(f"*{answers_cache.SUFFIX}"))
    queued.clear()
    edited = cached_run(small_catalog_dir, _more_traffic(w))
    with_answers = sum(queued)
    queued.clear()
    fresh = fresh_plan(small_catalog_dir, _more_traffic(w))
    assert edited.plans and edited.plans == fresh.plans
    assert with_answers < sum(queued)
    queued.clear()
    again = cached_run(small_catalog_dir, _more_traffic(w))  # the same question and demand: nothing left to ask
    assert sum(queued) == 0 and again.plans == fresh.plans


def test_an_edited_catalog_file_takes_no_answer_from_before(small_catalog_dir: Path, cache_in: Path,
                                                            queued: list[int]) -> None:
    """Halving a chip's memory bandwidth changes what its shapes carry: the answers kept for the old
    catalog are under another key, so the run plans as the planner does on the edited catalog."""
    w = load_workload(CHATBOT)
    before = cached_run(small_catalog_dir, w)
    chip = sorted(before.plans[0].hardware_types)[0]
    path = small_catalog_dir / "hardware" / f"{chip}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["memory_bandwidth_gb_s"] = doc["memory_bandwidth_gb_s"] / 2
    path.write_text(yaml.safe_dump(doc))
    after = cached_run(small_catalog_dir, w)
    assert after.plans == fresh_plan(small_catalog_dir, w).plans
    assert after.plans != before.plans
    assert len(list(cache_in.glob(f"*{answers_cache.SUFFIX}"))) == 2  # one file per catalog version


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_answers_file_is_computed_again(small_catalog_dir: Path, cache_in: Path, how: str,
                                                  queued: list[int]) -> None:
    w = load_workload(CHATBOT)
    cached_run(small_catalog_dir, w)
    (stored,) = cache_in.glob(f"*{answers_cache.SUFFIX}")
    damage(stored, how)
    queued.clear()
    result = cached_run(small_catalog_dir, w)
    assert sum(queued) > 0  # nothing taken from the damaged file
    assert result.plans == fresh_plan(small_catalog_dir, w).plans
    queued.clear()
    cached_run(small_catalog_dir, w)  # rewritten whole by the run that recomputed it
    assert sum(queued) == 0


def test_answers_filed_under_another_question_are_not_taken(small_catalog_dir: Path, cache_in: Path) -> None:
    """A file renamed to another question's name (its keys name their own question) is ignored."""
    w = load_workload(CHATBOT)
    cached_run(small_catalog_dir, w)
    (stored,) = cache_in.glob(f"*{answers_cache.SUFFIX}")
    key, question = stored.name.removesuffix(answers_cache.SUFFIX).split("-")
    other = bytes(16)
    stored.rename(stored.with_name(f"{key}-{other.hex()}{answers_cache.SUFFIX}"))
    backing = answers_cache.DiskAnswers(cache_in, key)
    assert backing.load(other) == [] and backing.load(bytes.fromhex(question)) == []


def test_an_unwritable_cache_directory_still_plans(small_catalog_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker / "cache"))
    w = load_workload(CHATBOT)
    catalog = load_catalog(small_catalog_dir)
    tables = cache.catalog_tables(catalog, answers=True)
    result = plan(w, catalog, tables=tables)
    assert answers_cache.save(tables) == 0
    assert result.plans == fresh_plan(small_catalog_dir, w).plans


def test_off_means_no_answers_kept(small_catalog_dir: Path, cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV_OFF, "1")
    cached_run(small_catalog_dir, load_workload(CHATBOT))
    assert not cache_in.exists() or not list(cache_in.glob(f"*{answers_cache.SUFFIX}"))


def test_info_counts_and_clear_removes_the_answers(small_catalog_dir: Path, cache_in: Path) -> None:
    cached_run(small_catalog_dir, load_workload(CHATBOT))
    assert len(cache.info()["answers"]) == 1
    cache.clear()
    assert cache.info()["answers"] == [] and not list(cache_in.glob(f"*{answers_cache.SUFFIX}"))


def test_a_file_keeps_the_newest_answers_per_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers_cache, "PER_QUESTION", 3)
    backing = answers_cache.DiskAnswers(tmp_path, "k" * 32)
    question = bytes(range(16))
    assert backing.save(question, [(question + bytes([i]) * 8, (float(i), i, 1.0)) for i in range(5)])
    assert backing.save(question, [(question + bytes([1]) * 8, (9.0, 1, 1.0))])  # newest again
    kept = backing.load(question)
    assert [k[-1] for k, _ in kept] == [3, 4, 1] and kept[-1][1] == (9.0, 1, 1.0)
    assert isinstance(kept[0][1][1], int)  # the rung comes back an int, as Prepared files it


def test_two_concurrent_runs_both_succeed_and_agree(small_catalog_dir: Path, cache_in: Path) -> None:
    """Two ``hwplan plan`` processes at once save the same question: both succeed, both plan what the
    planner plans with no cache, and the file they leave is whole."""
    docs = concurrent_plan_runs(small_catalog_dir, cache_in, CHATBOT)
    for d in docs:
        d["search"].pop("elapsed_ms")
    assert docs[0] == docs[1]
    expected = fresh_plan(small_catalog_dir, load_workload(CHATBOT)).plans
    assert [(p["model"], p["cost"]["per_month"]) for p in docs[0]["plans"]] == \
        [(p.model, pytest.approx(p.cost.per_month, rel=1e-4)) for p in expected]
    (stored,) = cache_in.glob(f"*{answers_cache.SUFFIX}")
    key, question = stored.name.removesuffix(answers_cache.SUFFIX).split("-")
    assert answers_cache.DiskAnswers(cache_in, key).load(bytes.fromhex(question))


def test_a_file_others_may_write_is_not_trusted(small_catalog_dir: Path, cache_in: Path, queued: list[int]) -> None:
    """Answers in a file the group or others may write (a shared cache directory) are never taken: anyone
    could have put answers there that make another plan."""
    w = load_workload(CHATBOT)
    cached_run(small_catalog_dir, w)
    (stored,) = cache_in.glob(f"*{answers_cache.SUFFIX}")
    assert stored.stat().st_mode & 0o077 == 0  # written for its owner alone
    stored.chmod(0o664)
    queued.clear()
    assert cached_run(small_catalog_dir, w).plans == fresh_plan(small_catalog_dir, w).plans
    assert sum(queued) > 0


def _service_plan(small_catalog_dir: Path, body: dict[str, object]) -> dict[str, object]:
    """One service start: a plan request, then the shutdown (which writes what ``save_later`` has due)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    with TestClient(create_app(Settings(small_catalog_dir=small_catalog_dir))) as client:
        r = client.post("/v1/plans", json=body)
        assert r.status_code == 200, r.text
        out: dict[str, object] = r.json()
    out.pop("search")  # its timing and counters differ between the runs
    return out


def test_a_service_keeps_its_answers_for_its_next_start(tmp_path: Path, cache_in: Path, queued: list[int]) -> None:
    """The service takes the answers kept for its catalog version at start and writes the ones it finds
    (off the request's path, and at shutdown): a restarted service, or another worker process, plans a
    workload already asked without the queueing model, and plans what the first start planned."""
    directory = small_catalog(tmp_path / "catalog", SMALL_HARDWARE, SMALL_MODELS)
    body = yaml.safe_load(CHATBOT.read_text())
    first = _service_plan(directory, body)
    assert sum(queued) > 0
    assert answers_cache.entries(cache_in)  # written by the shutdown at the latest
    queued.clear()
    second = _service_plan(directory, body)
    assert sum(queued) == 0
    assert second == first
