"""Workloads whose outputs are all one token long (classification, scoring, reranking).

Basis: the definition of TPOT, (e2e - TTFT) / (output tokens - 1), which a one-token output does not
have (the reference simulation, planner.model.load.simulate, counts TPOT only for longer outputs). A TPOT
target there had bound the plan (an L4 at $552/month where the TTFT target alone takes $166) on a
figure no request has; it is refused, naming the field, and the TTFT target alone plans.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_catalog.inputs.workload import load_workload
from planner.errors import InputError

BODY = """name: out1
traffic: {{requests_per_s: 5, input_tokens: {{mean: 600, p95: 2000}}, output_tokens: {output}}}
slo: {slo}
"""


@pytest.mark.parametrize("output", ["{mean: 1}", "{histogram: [{up_to: 1, share: 1.0}]}"])
def test_a_tpot_target_on_one_token_outputs_is_refused_naming_it(tmp_path: Path, output: str) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(BODY.format(output=output, slo="{ttft_ms: {p99: 1500}, tpot_ms: {p99: 80}}"))
    with pytest.raises(InputError, match=r"one token long") as e:
        load_workload(f)
    assert e.value.field == "slo.tpot_ms" and str(f) in str(e.value)
    f.write_text(BODY.format(output=output, slo="{ttft_ms: {p99: 1500}}"))
    assert load_workload(f).traffic.output_tokens.mean == pytest.approx(1.0)


def test_outputs_of_two_tokens_keep_their_tpot_target(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(BODY.format(output="{mean: 2}", slo="{tpot_ms: {p99: 80}}"))
    assert load_workload(f).slo.targets["tpot_ms"] == {99: 80}
