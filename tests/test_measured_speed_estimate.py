"""``hwplan estimate`` at the measured speed (planner.measured_speed, Estimate.at_measured_speed).

Where measured runs of a configuration's model or chip on its runtime reached less throughput than predicted
(measured_bias.yaml: TPU v5e on JetStream, 0.41x), the estimate is evaluated again at that speed. Bases: a
static batch is passes only, so its TTFT, TPOT and throughput scale by exactly the speed; under load the
capacity falls by at most the speed (the serving iteration's fixed cost, a per-runtime figure, is not slowed)
and not at all where nothing is slowed.
"""

from __future__ import annotations

import json

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.outputs import document, estimate_out
from planner.domain import Catalog
from planner.measured_speed import slowing_entries, slows
from planner.model.estimate import Scenario, estimate, resolve


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _tpu(catalog: Catalog, **kwargs):  # noqa: ANN003, ANN202
    config = resolve(catalog, model="qwen2.5-7b", hardware="tpu-v5e", runtime="jetstream", precision="int8")
    return estimate(catalog, config, **{"measured_speed": True} | kwargs)


def test_a_static_batch_at_the_measured_speed(catalog: Catalog) -> None:
    speed = next(b.median for b in slowing_entries(catalog) if b.model is None and b.hardware == ("tpu-v5e",))
    e = _tpu(catalog, batch=8, input_tokens=800, output_tokens=150)
    a = e.at_measured_speed
    assert a is not None and [b.hardware for b in e.measured if slows(b)] == [("tpu-v5e",)]
    assert a.tpot_s * speed == pytest.approx(e.tpot_s, rel=1e-9)
    assert a.ttft_s * speed == pytest.approx(e.ttft_s, rel=1e-9)
    assert a.output_tokens_per_s == pytest.approx(e.output_tokens_per_s * speed, rel=1e-9)
    assert a.efficiency.memory == pytest.approx(e.efficiency.memory * speed, rel=1e-12)  # (as the row ran)
    assert a.at_measured_speed is None  # (once)
    assert _tpu(catalog, batch=8, input_tokens=800, output_tokens=150, measured_speed=False).at_measured_speed is None
    doc = json.loads(document(estimate_out(e)))
    assert [m["slows"] for m in doc["measured"]] == [True] and doc["measured"][0]["median"] == pytest.approx(speed)
    assert doc["at_measured_speed"]["tpot_ms"] == pytest.approx(doc["tpot_ms"] / speed, rel=1e-3)


def test_under_load_the_capacity_falls_by_at_most_the_speed(catalog: Catalog) -> None:
    speed = next(b.median for b in slowing_entries(catalog) if b.model is None and b.hardware == ("tpu-v5e",))
    e = _tpu(catalog, scenario=Scenario.SERVER, request_rate=2.0, input_tokens=800, output_tokens=150)
    a = e.at_measured_speed
    assert a is not None and e.capacity_requests_per_s is not None and a.capacity_requests_per_s is not None
    assert speed * e.capacity_requests_per_s <= a.capacity_requests_per_s < e.capacity_requests_per_s
    assert a.tpot_p99_s is not None and e.tpot_p99_s is not None and a.tpot_p99_s > e.tpot_p99_s


def test_nothing_measured_nothing_again(catalog: Catalog) -> None:
    config = resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm")
    e = estimate(catalog, config, measured_speed=True)
    assert e.at_measured_speed is None
    assert "at_measured_speed" not in json.loads(document(estimate_out(e)))


def test_the_estimate_table_shows_it(hwplan) -> None:  # noqa: ANN001
    code, out, _ = hwplan("estimate", "--model", "qwen2.5-7b", "--hardware", "tpu-v5e", "--precision", "int8")
    text = " ".join(out.replace("│", " ").split())
    assert code == 0 and "at the measured speed tpu-v5e on jetstream at 0.41x: TTFT ms" in text
