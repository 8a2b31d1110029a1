"""What a catalog's tables keep between searches of one question besides the capacity answers: the screen and the
tuned engine per Universe row (``planner.search.shapes.row_memo``) and the enumeration of a workload whose
request rate alone changed (``candidates.enumerated``).

The basis is the computation without them: a kept value must be the value computed afresh (the screen of
the same rows, the enumeration of the same workload, the plan of a fresh process), a value kept for one
question is never handed to another, and a re-plan of an edited rate enumerates once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import planner.search.shapes.candidates as candidates_module
import planner.search.shapes.prepare as prepare_module
from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.model.serving import Served
from planner.search.planning import plan
from planner.search.shapes.answers import forget, question, shared
from planner.search.shapes.candidates import enumerate_candidates, enumerated, enumerations
from planner.search.shapes.row_memo import RowMemo, memoised, shared_rows
from planner.workload import Workload

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _rate(w: Workload, factor: float) -> Workload:
    t = w.traffic
    peak = None if t.peak_requests_per_s is None else t.peak_requests_per_s * factor
    return replace(w, traffic=replace(t, requests_per_s=t.requests_per_s * factor, peak_requests_per_s=peak))


def test_a_memo_gives_each_row_its_own_values_and_computes_only_the_rows_it_lacks() -> None:
    """Rows asked in another order, some kept and some not: each gets the values its own computation gives
    (a function of the row), and only the missing ones are computed."""
    memo = RowMemo()

    def values(rows: np.ndarray) -> np.ndarray:
        return np.vstack([rows * 2.0, rows + 0.5])

    asked: list[np.ndarray] = []

    def compute_for(rows: np.ndarray):  # type: ignore[no-untyped-def]
        def compute(index: np.ndarray) -> np.ndarray:
            asked.append(rows[index])
            return values(rows[index])
        return compute

    first = np.array([9, 1, 5, 5], dtype=np.int64)
    out = memoised(memo, b"q", "v", first, 2, compute_for(first))
    np.testing.assert_array_equal(out, values(first))
    second = np.array([7, 5, 2, 9, 1], dtype=np.int64)
    out = memoised(memo, b"q", "v", second, 2, compute_for(second))
    np.testing.assert_array_equal(out, values(second))
    np.testing.assert_array_equal(asked[-1], [7, 2])  # 5, 9 and 1 were kept
    # another question or another name: nothing kept for it
    hit, _ = memo.lookup(b"other", "v", second, 2)
    assert not hit.any()
    hit, _ = memo.lookup(b"q", "w", second, 2)
    assert not hit.any()
    assert len(memo) == 5  # 1, 5, 9, then 2, 7 (the duplicate 5 stored once)
    memo.clear()
    assert len(memo) == 0


def test_a_memo_keeps_its_bounds() -> None:
    """The least recently asked question goes first past either bound (questions, rows in all), and a
    question that alone passes the rows' bound keeps the rows it stored last (the others are computed again)."""
    one = np.ones((1, 2))
    memo = RowMemo(questions=2, rows=5)
    for q in (b"a", b"b"):
        memo.store(q, "v", np.array([1, 2], dtype=np.int64), one)
    memo.lookup(b"a", "v", np.array([1], dtype=np.int64), 1)  # a asked: b is now the oldest
    memo.store(b"c", "v", np.array([3], dtype=np.int64), np.ones((1, 1)))  # 3 questions: b goes
    assert memo.lookup(b"b", "v", np.array([1, 2], dtype=np.int64), 1)[0].tolist() == [False, False]
    assert memo.lookup(b"a", "v", np.array([1, 2], dtype=np.int64), 1)[0].tolist() == [True, True]
    memo.store(b"a", "w", np.array([7, 8], dtype=np.int64), one)  # 5 rows in all: within the bound
    assert len(memo) == 5
    memo.store(b"c", "v", np.array([4], dtype=np.int64), np.ones((1, 1)))  # 6: a (least recent) goes
    assert len(memo) == 2 and memo.lookup(b"c", "v", np.array([3, 4], dtype=np.int64), 1)[0].all()
    memo.store(b"d", "v", np.arange(10, 17, dtype=np.int64), np.full((1, 7), 7.0))  # 7 rows alone: past 5
    hit, values = memo.lookup(b"d", "v", np.arange(10, 17, dtype=np.int64), 1)
    assert hit.sum() == 5 and np.all(values[0, hit] == 7.0)
    assert not memo.lookup(b"c", "v", np.array([3], dtype=np.int64), 1)[0].any()
    with pytest.raises(ValueError, match="at least 1"):
        RowMemo(questions=0)


def test_the_kept_screen_is_the_screen_and_stays_with_its_question(catalog: Catalog) -> None:
    """``prepare``'s screen of Universe rows through the memo equals the screen computed afresh, for rows
    screened before and rows not; a workload with a tighter TPOT target (another question, another
    ceiling) gets its own screen, not the first one's."""
    tables = CatalogTables.from_catalog(catalog)
    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    tighter = replace(w, slo=w.slo.with_target("tpot_ms", 99, w.slo.targets["tpot_ms"][99] * 0.5))
    rows = enumerate_candidates(catalog, tables, w).universe_row
    first, second = rows[: len(rows) // 2], rows[len(rows) // 4:]  # overlapping halves
    memo, served = RowMemo(), Served()
    prepare_module._screen(tables, first, w, served, (memo, question(served, w)))
    kept = prepare_module._screen(tables, second, w, served, (memo, question(served, w)))
    fresh = prepare_module._screen(tables, second, w, served)
    for a, b in zip(kept, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    other = prepare_module._screen(tables, second, tighter, served, (memo, question(served, tighter)))
    alone = prepare_module._screen(tables, second, tighter, served)
    for a, b in zip(other, alone, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(other[3], fresh[3])  # the tighter target moves the ceiling: a real check


def test_an_edited_rate_enumerates_once_and_plans_as_a_fresh_process(catalog: Catalog,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-plan of the same workload at 1.3x its rate on the same tables takes the first plan's enumeration
    (one enumeration for both) and its kept screen and tuned engines, and plans exactly as the same search
    on tables with no history."""
    calls: list[int] = []
    real = candidates_module.enumerate_candidates

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(candidates_module, "enumerate_candidates", counted)
    tables = CatalogTables.from_catalog(catalog)
    w = load_workload(EXAMPLES / "code-assistant.yaml")
    plan(w, catalog, tables=tables, explain=False)
    kept_rows = len(shared_rows(tables))
    edited = _rate(w, 1.3)
    after = plan(edited, catalog, tables=tables, explain=False)
    assert len(calls) == 1 and kept_rows > 0
    fresh = plan(edited, catalog, tables=CatalogTables.from_catalog(catalog), explain=False)
    assert after.plans and after.plans == fresh.plans


def test_an_enumeration_is_handed_out_as_a_copy_and_kept_per_filter(catalog: Catalog) -> None:
    """``enumerated`` gives what ``enumerate_candidates`` gives; a caller filtering its copy leaves the next
    copy whole; a workload that differs in what a filter reads (an excluded chip) is enumerated afresh."""
    tables = CatalogTables.from_catalog(catalog)
    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    first = enumerated(catalog, tables, w)
    direct = enumerate_candidates(catalog, tables, w)
    np.testing.assert_array_equal(first.universe_row, direct.universe_row)
    assert first.dropped == direct.dropped and first.choices == direct.choices
    first.keep(np.zeros(len(first), dtype=bool), "test")
    again = enumerated(catalog, tables, _rate(w, 2.0))
    assert len(again) == len(direct) and "test" not in again.dropped
    chip = catalog.hardware[next(iter(catalog.hardware))].id
    without = replace(w, constraints=replace(w.constraints, exclude_hardware=(chip,)))
    other = enumerated(catalog, tables, without)
    np.testing.assert_array_equal(other.universe_row, enumerate_candidates(catalog, tables, without).universe_row)
    assert len(other) < len(direct)
    # the one-time cost limit moves the adaptation choices (domain-task adapts): a key of its own
    d = load_workload(EXAMPLES / "domain-task.yaml")
    tight = replace(d, budget=replace(d.budget, max_one_time_cost=1.0, max_cost_per_month=123.0))
    enumerated(catalog, tables, d)
    kept, fresh = enumerated(catalog, tables, tight), enumerate_candidates(catalog, tables, tight)
    np.testing.assert_array_equal(kept.universe_row, fresh.universe_row)
    assert kept.choices == fresh.choices != enumerate_candidates(catalog, tables, d).choices


def test_forget_empties_what_the_tables_keep(catalog: Catalog) -> None:
    tables = CatalogTables.from_catalog(catalog)
    plan(load_workload(EXAMPLES / "edge-assistant.yaml"), catalog, tables=tables, explain=False)
    assert len(shared(tables)) and len(shared_rows(tables)) and len(enumerations(tables))
    forget(tables)
    assert not len(shared(tables)) and not len(shared_rows(tables)) and not len(enumerations(tables))


def test_a_universe_at_measured_speed_takes_the_catalog_rows_it_leaves_alone(catalog: Catalog) -> None:
    """``derived_universe``: the tables of the catalog at measured speed get, for every row, the constants a
    Universe of their own builds (rows the slowing reaches among them), the unslowed ones from the catalog's
    Universe; tables that differ in more than the speed (another serving iteration cost) get none of it."""
    from planner.measured_speed import at_measured_speed
    from planner.search.shapes.candidates import PARALLEL, Universe, derived_universe

    tables = CatalogTables.from_catalog(catalog)
    slow = CatalogTables.from_catalog(at_measured_speed(catalog))
    derived, own = derived_universe(slow, tables), Universe(slow)
    rows = np.arange(derived.n_blocks * len(PARALLEL), dtype=np.int64)
    combo, model = np.divmod(rows // len(PARALLEL), len(slow.model_ids))
    slowed = slow.speed[model, derived.combo_columns[0][combo], derived.combo_columns[1][combo]] != 1.0
    assert slowed.any() and not slowed.all()
    rng = np.random.default_rng(3)
    pick = np.sort(np.concatenate([rng.choice(rows[slowed], 300, replace=False),
                                   rng.choice(rows[~slowed], 3000, replace=False)]))
    for got, want in zip(derived._gather(pick), own._gather(pick), strict=True):
        np.testing.assert_array_equal(got, want)
    cal = catalog.calibration
    other = CatalogTables.from_catalog(replace(catalog, calibration=replace(
        cal, serving_iteration_s=(cal.serving_iteration_s or 0.0) + 0.001)))
    assert derived_universe(other, tables)._base is None


def test_the_catalog_at_measured_speed_reuses_what_reads_no_slowed_speed(catalog: Catalog) -> None:
    """The adaptation choices of the catalog at measured speed take its origin's quality, teachers and training
    costs where the slowing cannot reach them (``measured_speed.origin``): the same choices, and the same
    teacher throughput on every chip, as a copy of that catalog with no origin computes from scratch; on a
    chip the slowing names (tpu-v5e's JetStream entry) the teacher is served slower than on the origin."""
    from planner.levers import finetune
    from planner.levers.adaptation import choose
    from planner.measured_speed import at_measured_speed, origin

    variant = at_measured_speed(catalog)
    fresh = replace(variant, version=variant.version + "+fresh")  # the same catalog, no origin: computed afresh
    assert origin(variant) is catalog and origin(fresh) is None
    assert any(m is None for m, _h, _r in variant.calibration.slowed)  # a chip's entry: reaches teachers
    w = load_workload(EXAMPLES / "domain-task.yaml")
    models = ("llama-3.1-8b", "qwen2.5-7b", "qwen2.5-14b", "llama-3.1-70b")
    assert [choose(variant, catalog.models[m], "bf16", w) for m in models] == \
        [choose(fresh, catalog.models[m], "bf16", w) for m in models]
    teacher = catalog.models["qwen2.5-32b"]  # (fits 8 tpu-v5e chips, which the 72B does not)
    rates = {}
    for hw in catalog.hardware.values():
        got = finetune._served_generation_s(variant, teacher, hw, 8, 1e6, 2048)
        assert got == finetune._served_generation_s(fresh, teacher, hw, 8, 1e6, 2048), hw.id
        rates[hw.id] = (got, finetune._served_generation_s(catalog, teacher, hw, 8, 1e6, 2048))
    slowed = [h for h, (slow, base) in rates.items() if slow is not None and base is not None and slow != base]
    assert slowed == ["tpu-v5e"]


def test_a_bounded_map_drops_the_least_recently_used() -> None:
    from planner.memo import Bounded

    kept = Bounded[int](2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1  # a used: b is now the least recent
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, None, 3, 2)
    with pytest.raises(ValueError, match="at least 1"):
        Bounded[int](0)
