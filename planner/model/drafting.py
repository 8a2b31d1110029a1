"""What a speculative draft pass costs, as shares of a one-token step of its target model.

Both drafters the planner models draft with one of the target's decoder layers and the target's own
vocabulary head:

* EAGLE (Li et al., ICML 2024, arXiv 2401.15077, s3.1): the draft model is the target's embedding and
  LM head (frozen) around an "autoregression head" of one FC layer (2h -> h, fusing feature and token
  embedding) and one decoder layer.
* DeepSeek-V3's multi-token prediction module (arXiv 2412.19437, s2.2): a shared embedding and a shared
  output head around a projection M (h x 2h) and one Transformer block.

So a draft pass runs, per token, one decoder layer's linear work, a 2h x h projection and the
vocab x h LM head, and one layer's attention and collectives. Against the target's one-token step:

    compute       (active body / layers + 2 h^2 + vocab h) / active parameters (a share of the step's)
    dense weights (dense body / layers + 2 h^2 + vocab h) parameters, read once per draft pass
    experts       1 / MoE layers of the routed experts the step's tokens touch (one MoE layer's)
    attention, KV and collectives: 1 / layers of the step's

where the body is the parameters less the embedding table and LM head (one table when tied) and the dense
body less the routed experts. For Llama 3.1 8B: (0.218 B + 0.034 B + 0.525 B) / 8.03 B = 9.7% of a step
(one layer alone, 1/32, was 3x too cheap: the head is 6.5% of the model); for Llama 3.1 70B 2.9%. For an MoE
target the experts a draft pass reads follow the batch as the step's do: at batch 1 DeepSeek-V3's MTP
block reads its 8 touched experts, not 1/61 of all 256 (a weight share of the whole model, the first form
here, charged Qwen3-30B-A3B's draft 3.7x too little at small batch: a maintainer's review).
[assumptions: EAGLE-2 and EAGLE-3 heads are charged the full vocabulary head (EAGLE-3's published heads
map to a smaller draft vocabulary: an upper bound there) and a 2h -> h projection (EAGLE-3 fuses three
layers' features, 3h -> h: h^2 more, under 1% of an 8B step); an EAGLE head of an MoE target is a dense
decoder layer, charged here as one of the target's MoE layers (the same weights at batch 1, more at large
batch).]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from planner.domain import Model

__all__ = ["DraftPass", "draft_columns", "draft_pass"]


@dataclass(frozen=True)
class DraftPass:
    """One draft pass of a target model (module docstring)."""

    compute_share: float  # of a one-token step's linear compute
    dense_params: float  # non-expert weights it reads: one layer's dense body, the projection and the LM head
    expert_share: float  # of the routed experts a step reads: one MoE layer's (0 for a dense model)


def draft_pass(model: Model) -> DraftPass:
    """A draft pass's cost against one target step (module docstring)."""
    h, vocab = float(model.hidden_size), float(model.vocab_size)
    head = vocab * h  # LM head: vocab x hidden matmul per token
    tables = head if model.tied_embeddings else 2.0 * head  # embedding + head as counted in the parameters
    drafted = 2.0 * h * h + head  # EAGLE's FC / MTP's M (2h -> h) and the LM head, beside the one decoder layer
    layer = max(model.active_params - tables, 0.0) / model.layers  # one decoder layer of the active body
    dense_layer = max(model.params - model.expert_params - tables, 0.0) / model.layers
    return DraftPass(compute_share=min((layer + drafted) / model.active_params, 1.0),
                     dense_params=dense_layer + drafted,
                     expert_share=1.0 / model.moe_layers if model.moe_layers else 0.0)


def draft_columns(models: Sequence[Model]) -> dict[str, list[float]]:
    """Per-model columns the performance model's grid carries (planner.model.grid)."""
    passes = [draft_pass(m) for m in models]
    return {"draft_compute_share": [d.compute_share for d in passes],
            "draft_dense_params": [d.dense_params for d in passes],
            "draft_expert_share": [d.expert_share for d in passes]}
