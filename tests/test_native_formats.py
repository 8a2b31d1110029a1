"""A runtime that computes a weight format natively only serves it on chips that compute it, except a model's own
published checkpoint in that format (runtimes.yaml native_only, planner.domain.Runtime.lacks_native).

A maintainer's audit (2026-12-07) saw SGLang planned with fp4 weights on chips without FP4: the examples' plans ran
Llama 3.1 70B fp4 on H100s and Qwen2.5-32B fp4 on an RTX 4090 under SGLang. Basis: SGLang's own code
(python/sglang/srt/layers/quantization/modelopt_quant.py @ 003ca3e5 and @ faeb9685: ModelOptFp4Config's
get_min_capability() is 100, Blackwell, and its FP4 linear layers are FP4 x FP4 GEMMs), where vLLM dequantises FP4
with Marlin weight-only kernels; gpt-oss's MXFP4 checkpoint is served on Hopper by both.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.domain import Catalog
from planner.errors import InputError
from planner.model.estimate import resolve
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload


def _chat(**constraints: object) -> Workload:
    return Workload(name="chat", traffic=Traffic(2.0, Tokens(500.0), Tokens(200.0)),
                    slo=Slo({"tpot_ms": {99: 200.0}}), constraints=Constraints(**constraints))  # type: ignore[arg-type]


@pytest.mark.parametrize("hardware", ["h100-sxm", "l4", "rtx-4090"])
def test_sglang_serves_nvfp4_weights_only_on_blackwell(catalog: Catalog, tables: CatalogTables, hardware: str) -> None:
    with pytest.raises(InputError, match="sglang runs fp4 weights only on chips that compute fp4"):
        resolve(catalog, model="llama-3.1-8b", hardware=hardware, precision="fp4", runtime="sglang")
    resolve(catalog, model="llama-3.1-8b", hardware=hardware, precision="fp4", runtime="vllm")  # Marlin
    resolve(catalog, model="llama-3.1-8b", hardware="b200", precision="fp4", runtime="sglang")  # computes FP4
    if hardware == "rtx-4090":
        return  # (no on-demand offer: the search drops it for its price first)
    w = _chat(models=("llama-3.1-8b",), hardware=(hardware,), runtimes=("sglang",), precisions=("fp4",))
    result = plan(w, catalog, top=1, tables=tables, time_limit_s=4.0)
    assert not result.plans and result.infeasible is not None
    assert any("natively only" in r for r in result.infeasible.reasons), result.infeasible.reasons


def test_a_models_own_fp4_checkpoint_is_served_where_the_format_is_not_computed(catalog: Catalog,
                                                                               tables: CatalogTables) -> None:
    assert catalog.models["gpt-oss-120b"].runs_checkpoint("fp4")
    resolve(catalog, model="gpt-oss-120b", hardware="h100-sxm", precision="fp4", runtime="sglang")
    # (on a chip that computes FP8, where its weight-only kernels run: not on an A100, which a review found planned)
    with pytest.raises(InputError, match="sglang runs fp4 weights only on chips that compute fp4"):
        resolve(catalog, model="gpt-oss-120b", hardware="a100-80gb", precision="fp4", runtime="sglang")
    w = _chat(models=("gpt-oss-120b",), hardware=("h100-sxm",), runtimes=("sglang",), precisions=("fp4",))
    plans = plan(replace(w, traffic=Traffic(0.5, Tokens(500.0), Tokens(200.0))), catalog, top=1, tables=tables,
                 time_limit_s=6.0, explain=False).plans
    assert plans and plans[0].precision == "fp4" and plans[0].runtime == "sglang"
