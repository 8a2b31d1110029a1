"""Speculative decoding and disaggregation as MLPerf records state them (issue #16), and the
``Served`` transform they go through.

Bases: the quantiles of a monotone map of a distribution are the map of its quantiles (a histogram
stays a histogram); the speedup of speculative decoding is bounded by the tokens one verify pass
emits, E = (1 - a^(k+1)) / (1 - a) (Leviathan et al. 2023, arXiv 2211.17192, eq. 1).
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import MeasurementIn, MeasurementsRead, read_measurements, to_measurement
from planner.calibration.predict import METRICS, Measurement, predict, prepare
from planner.calibration.speculation import StatedDisaggregation, StatedSpeculation
from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.model.load.queueing import LengthDist
from planner.model.serving import Served, accepted_tokens, drafter_for
from planner.search.shapes.capacity import length_dists
from planner.workload import Prefix, Tokens, Traffic


def _histogram_traffic() -> Traffic:
    out = LengthDist.histogram(((200.0, 0.5), (1000.0, 0.4), (4000.0, 0.1)))  # a long tail of outputs
    inp = LengthDist.histogram(((500.0, 0.7), (3000.0, 0.3)))
    return Traffic(requests_per_s=1.0, input_tokens=Tokens(inp.mean, None, inp.knots),
                   output_tokens=Tokens(out.mean, None, out.knots), prefix=Prefix(shared_tokens=100.0, hit_rate=1.0))


def test_served_traffic_keeps_a_histogram_length_distribution() -> None:
    """A drafter turns O output tokens into 1 + (O - 1) / E decode iterations and a cached prefix
    takes h S tokens off every prompt: both monotone, so each quantile maps as the tokens do."""
    t = _histogram_traffic()
    drafter = drafter_for("mtp")
    e = float(accepted_tokens(drafter.acceptance, drafter.draft_tokens))
    seen_in, seen_out = length_dists(Served(prefix_tokens=100.0, shared_tokens=100.0, drafter=drafter).traffic(t))
    plain_in, plain_out = length_dists(t)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert seen_out.quantile(q) == pytest.approx(1.0 + (plain_out.quantile(q) - 1.0) / e)
        assert seen_in.quantile(q) == pytest.approx(plain_in.quantile(q) - 100.0)
    assert seen_out.mean == pytest.approx(1.0 + (plain_out.mean - 1.0) / e)
    assert seen_out.quantile(0.99) > 2.0 * seen_out.mean  # the tail is kept, not collapsed to the mean


# --- records stating speculative decoding or disaggregation (hardware_catalog.inputs.measurements) ---------------

SHIPPED = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
STATE_KEYS = ("speculative_decoding", "disaggregated")


@cache
def _raw() -> tuple[dict[str, Any], ...]:
    return tuple(yaml.safe_load(SHIPPED.read_text())["measurements"])


@cache
def _catalog() -> tuple[Catalog, CatalogTables]:
    cat = load_catalog()
    return cat, CatalogTables.from_catalog(cat)


def _record(model: str, scenario: str) -> dict[str, Any]:
    """The first shipped record of ``model`` and MLPerf ``scenario`` that is predicted as stated."""
    cat, tables = _catalog()
    for raw in _raw():
        if raw["model"] == model and raw["mlperf"]["scenario_name"] == scenario and \
                raw["mlperf"].get("same_log_as") is None:
            m = MeasurementIn.model_validate(raw)
            if not prepare(cat, tables, [to_measurement(m)])[1]:
                return copy.deepcopy(raw)
    raise AssertionError(f"no predicted {model} {scenario} record")


def _stating(raw: dict[str, Any], **mlperf: object) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["mlperf"].update(mlperf)
    out["id"] = f"{raw['id']}-{'-'.join(f'{k}={v}' for k, v in mlperf.items())}"
    return out


def _read(tmp_path: Path, records: list[dict[str, Any]]) -> MeasurementsRead:
    path = tmp_path / "records.yaml"
    path.write_text(yaml.safe_dump({"measurements": records}))
    return read_measurements(path)


def _predict(records: tuple[Measurement, ...]) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    cat, tables = _catalog()
    rs, skipped = prepare(cat, tables, records)
    out = predict(tables, rs)
    return ({m.id: dict(zip(METRICS, row, strict=True)) for m, row in zip(rs.records, out, strict=True)},
            {s.id: s.reason for s in skipped})


@pytest.mark.parametrize(("stated", "expected"), [
    (None, None), (False, None), ("none", None), ("None", None),
    ("mtp", StatedSpeculation("mtp")), ("NextN", StatedSpeculation("mtp")), ("EAGLE3", StatedSpeculation("eagle3")),
    ("eagle-2", StatedSpeculation("eagle2")), ("Medusa", StatedSpeculation("medusa")),
    ("draft model", StatedSpeculation("draft_model")),
    ({"method": "eagle", "k": 3, "acceptance_rate": 0.7}, StatedSpeculation("eagle", 3, 0.7)),
    ({"method": "deepseek_mtp", "num_speculative_tokens": 3, "mean_accepted_length": 2.5, "draft_model": "nextn"},
     StatedSpeculation("mtp", 3, None, 2.5, "nextn")),
    ({"method": "draft_model", "draft_tokens": 4, "draft_model": "llama3.2-1b", "source": "submitter README"},
     StatedSpeculation("draft_model", 4, None, None, "llama3.2-1b")),
])
def test_speculative_forms_parse(tmp_path: Path, stated: object, expected: StatedSpeculation | None) -> None:
    read = _read(tmp_path, [_stating(_record("llama-3.1-8b", "Server"), speculative_decoding=stated)])
    assert read.bad == ()
    assert read.records[0].speculative == expected


@pytest.mark.parametrize(("stated", "expected"), [
    (None, None), (False, None), ("no", None), (True, StatedDisaggregation()), ("yes", StatedDisaggregation()),
    ({"prefill_chips": 8, "decode_chips": 16}, StatedDisaggregation(8, 16)),
    ({"prefill_gpus": 4, "decode_gpus": 4}, StatedDisaggregation(4, 4)),
    ({"prefill_chips": 8, "decode_chips": 64, "num_prefill_workers": 2, "gen_workers": 4},
     StatedDisaggregation(8, 64, 2, 4)),
])
def test_disaggregated_forms_parse(tmp_path: Path, stated: object, expected: StatedDisaggregation | None) -> None:
    read = _read(tmp_path, [_stating(_record("llama-3.1-8b", "Server"), disaggregated=stated)])
    assert read.bad == ()
    assert read.records[0].disaggregated == expected


@pytest.mark.parametrize(("key", "stated", "problem"), [
    ("speculative_decoding", True, "which method"),
    ("speculative_decoding", "turbo", "unknown speculative decoding method"),
    ("speculative_decoding", 3, "expected null"),
    ("speculative_decoding", {"method": "eagle", "acceptance_rate": 1.5}, "less than 1"),
    ("speculative_decoding", {"method": "eagle", "k": 2, "mean_accepted_length": 4.0}, "exceeds k + 1"),
    ("speculative_decoding", {"methd": "mtp"}, ""),
    ("speculative_decoding", {"method": "mtp", "k": 0}, "greater than 0"),
    ("disaggregated", "maybe", "expected true"),
    ("disaggregated", {"prefill_chips": -1}, "greater than 0"),
    ("disaggregated", {"prefill_pool": 4}, "unknown field"),
])
def test_bad_forms_name_the_field(tmp_path: Path, key: str, stated: object, problem: str) -> None:
    good = _record("llama-3.1-8b", "Server")
    read = _read(tmp_path, [_stating(good, **{key: stated}), good])
    assert [r.id for r in read.records] == [good["id"]]  # the other record still loads
    (bad,) = read.bad
    assert bad.field is not None and bad.field.startswith(f"mlperf.{key}")
    assert problem in bad.reason


# method stated per (model, scenario): MTP on DeepSeek-R1, EAGLE on Llama 3.1 8B (the forms later rounds state)
CASES = [("deepseek-r1", "Offline", "mtp"), ("deepseek-r1", "Server", "mtp"), ("llama-3.1-8b", "Offline", "eagle"),
         ("llama-3.1-8b", "Server", "eagle"), ("llama-3.1-8b", "Interactive", "eagle")]


def _speedups(tmp_path: Path, plain: dict[str, Any], method: str) -> tuple[dict[str, float], float]:
    """plain / drafted TPOT (mean and p99) of one record, and the drafter's E = (1 - a^(k+1)) / (1 - a)."""
    drafted = _stating(plain, speculative_decoding=method)
    got, skipped = _predict(_read(tmp_path, [plain, drafted]).records)
    assert skipped == {}
    d = drafter_for(method)
    e = float(accepted_tokens(d.acceptance, d.draft_tokens))
    tokens = got[plain["id"]]["output_tokens_per_s"], got[drafted["id"]]["output_tokens_per_s"]
    if plain["scenario"] == "server":
        if np.isfinite(tokens).all():  # both stable: every request's tokens leave
            assert tokens[1] == pytest.approx(tokens[0], rel=1e-9)
        # (else one is past its capacity at the record's rate: no steady-state throughput to compare)
    else:  # the same batch, each pass emitting at most E tokens per sequence at no less than a step's time
        assert tokens[1] <= e * tokens[0] * (1 + 1e-9)
    return ({metric: got[plain["id"]][metric] / got[drafted["id"]][metric] for metric in ("tpot_s", "tpot_p99_s")},
            e)


def _at_rate(raw: dict[str, Any], share: float) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["request_rate"] = raw["request_rate"] * share
    return out


@pytest.mark.parametrize(("model", "scenario", "method"), CASES)
def test_a_drafter_speeds_tpot_up_by_at_most_the_accepted_tokens(tmp_path: Path, model: str, scenario: str,
                                                                  method: str) -> None:
    """Against the same record without it, TPOT speeds up by at most E, the tokens one verify pass
    emits: the pass is never cheaper than a one-token step at the same batch (ServedStep). Offline
    runs the same batch; under load the drafted queue may hold fewer sequences, each pass then
    cheaper by at most the plain pass at the record's rate over the plain pass at no load (batch 1)."""
    plain = _record(model, scenario)
    speedup, e = _speedups(tmp_path, plain, method)
    queue = 1.0
    if scenario != "Offline":
        idle = _predict(_read(tmp_path, [_at_rate(plain, 1e-4)]).records)[0][plain["id"]]
        loaded = _predict(_read(tmp_path, [plain]).records)[0][plain["id"]]
        queue = loaded["tpot_s"] / idle["tpot_s"]
    assert speedup["tpot_s"] <= e * queue * (1 + 1e-9)
    assert speedup["tpot_p99_s"] <= e * queue * (1 + 1e-9) or scenario != "Offline"


# ServedStep still charges each of EAGLE's k = 4 draft passes a whole pass's per-pass overhead (fitted
# ~4.4-4.9 ms for TensorRT-LLM, against a 0.7-1.9 ms weight read of an 8B model); with that alone the
# drafted 8B TPOT came out higher at low load (strict xfails until 2026-12-04). A verify step now also
# amortises the engine step's serving iteration cost (planner.model.load.scheduler) over E tokens, which
# outweighs it: the 8B cases pass, with a smaller speedup than EAGLE's 2-3x.
LOW_LOAD = [("deepseek-r1", "Offline", "mtp"), ("deepseek-r1", "Server", "mtp"),
            ("llama-2-70b", "Interactive", "eagle"),
            ("llama-3.1-405b", "Interactive", "eagle"),
            ("llama-3.1-8b", "Server", "eagle"),
            ("llama-3.1-8b", "Interactive", "eagle")]


@pytest.mark.parametrize(("model", "scenario", "method"), LOW_LOAD)
def test_a_drafter_lowers_tpot_where_memory_bound(tmp_path: Path, model: str, scenario: str, method: str) -> None:
    """At 1% of the record's rate (a few sequences per pass) decode is bound by reading the weights, so
    a verify pass costs about one step plus the drafts and TPOT falls (Leviathan et al. 2023 s3;
    EAGLE 2.7-3.5x at batch 1); it stays at most E. DeepSeek-R1 Offline too: a pass reads the experts
    its tokens route to, and one MTP token per pass (k = 1) adds little (DeepSeek-V3 report s5.4.3:
    1.8x tokens per second with MTP)."""
    raw = _record(model, scenario)
    speedup, e = _speedups(tmp_path, raw if scenario == "Offline" else _at_rate(raw, 0.01), method)
    for metric, value in speedup.items():
        assert 1.0 < value <= e * (1 + 1e-9), metric


def test_a_drafter_can_cost_tpot_when_compute_bound(tmp_path: Path) -> None:
    """Offline Llama 3.1 8B at its full batch is compute-bound: a verify pass runs k + 1 = 5 positions
    per sequence for E = 3.36 tokens, so TPOT rises (the planner's documented trade-off,
    planner.model.serving): the prediction is not a blanket discount."""
    speedup, _ = _speedups(tmp_path, _record("llama-3.1-8b", "Offline"), "eagle")
    assert speedup["tpot_s"] < 1.0


def test_an_unsourced_method_is_skipped_unless_the_record_publishes_its_acceptance(tmp_path: Path) -> None:
    plain = _record("llama-3.1-8b", "Offline")
    bare = _stating(plain, speculative_decoding="eagle3")
    published = _stating(plain, speculative_decoding={"method": "eagle3", "k": 3, "mean_accepted_length": 3.0})
    read = _read(tmp_path, [bare, published])
    got, skipped = _predict(read.records)
    assert set(skipped) == {bare["id"]}
    assert "mlperf.speculative_decoding" in skipped[bare["id"]] and "no sourced" in skipped[bare["id"]]
    drafter = read.records[1].drafter()
    assert drafter is not None
    assert float(accepted_tokens(drafter.acceptance, 3)) == pytest.approx(3.0)  # the stated E, solved back
    assert published["id"] in got


def test_disaggregated_records_are_skipped_with_the_reason(tmp_path: Path) -> None:
    plain = _record("llama-3.1-8b", "Server")
    split = _stating(plain, disaggregated={"prefill_chips": 4, "decode_chips": 4})
    got, skipped = _predict(_read(tmp_path, [plain, split]).records)
    assert set(got) == {plain["id"]}
    assert skipped[split["id"]].startswith("mlperf.disaggregated.prefill_workers: ")  # (the first unstated)
    assert "not predicted as aggregated" in skipped[split["id"]]


def test_not_used_predicts_as_unstated(tmp_path: Path) -> None:
    plain = _record("deepseek-r1", "Server")
    read = _read(tmp_path, [plain, _stating(plain, speculative_decoding="none", disaggregated=False)])
    got, _ = _predict(read.records)
    a, b = got.values()
    assert a == pytest.approx(b, nan_ok=True)


@pytest.mark.parametrize(("k", "length", "a"), [(1, 1.85, 0.85), (2, 1.0 + 0.5 + 0.25, 0.5), (3, 4.0, 1.0)])
def test_acceptance_from_a_stated_mean_length_by_hand(k: int, length: float, a: float) -> None:
    """E = 1 + a + ... + a^k (the geometric sum behind Leviathan et al.'s eq. 1), solved by hand: k = 1,
    E = 1.85 -> a = 0.85; k = 2, E = 1.75 -> a = 0.5; E = k + 1 -> every draft accepted."""
    from planner.calibration.speculation import drafter_of

    d = drafter_of(StatedSpeculation("eagle3", draft_tokens=k, accepted_length=length))
    assert d.acceptance == pytest.approx(a, abs=1e-9) and d.draft_tokens == k
