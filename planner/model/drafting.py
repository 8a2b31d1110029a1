"""What a speculative draft pass costs, as shares of a one-token step of its target model.

Both drafters the planner models draft with one of the target's decoder layers and the target's own
vocabulary head:

* EAGLE (Li et al., ICML 2024, arXiv 2401.15077, s3.1): the draft model is the target's embedding and
  LM head (frozen) around an "autoregression head" of one FC layer (2h -> h, fusing feature and token
  embedding) and one decoder layer.
* DeepSeek-V3's multi-token prediction module (arXiv 2412.19437, s2.2): a shared embedding and a shared
  output head around a projection M (h x 2h) and one Transformer block.

So a draft pass runs, per token, one decoder layer's linear work, a 2h x h projection and the
vocab x h LM head, and one layer's attention and collectives. Its share of the target's one-token step:

    compute  (active body / layers + 2 h^2 + vocab h) / active parameters
    weights  (body / layers + 2 h^2 + vocab h) / parameters
    attention, KV and collectives: 1 / layers

where the body is the parameters less the embedding table and LM head (one table when tied). For
Llama 3.1 8B: (0.218 B + 0.034 B + 0.525 B) / 8.03 B = 9.7% (one layer alone, 1/32, was 3x too cheap:
the head is 6.5% of the model); for Llama 3.1 70B 2.9%; for DeepSeek-V3 4.3% of the compute and 1.8%
of the weights (a draft pass reads one layer's experts of 256, not 1/61 of the active ones).
[assumptions: EAGLE-2 and EAGLE-3 heads are charged the full vocabulary head (EAGLE-3's published heads
map to a smaller draft vocabulary, so this is an upper bound for them); for MoE targets the weight
share is of the whole model's weights, which the step reads in full only at large batch.]
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.domain import Model

__all__ = ["draft_columns", "draft_shares"]


def draft_shares(model: Model) -> tuple[float, float]:
    """(compute share, weight share) of one draft pass against one target step (module docstring)."""
    h, vocab = float(model.hidden_size), float(model.vocab_size)
    head = vocab * h  # LM head: vocab x hidden matmul per token
    tables = head if model.tied_embeddings else 2.0 * head  # embedding + head as counted in the parameters
    projection = 2.0 * h * h  # EAGLE's FC / MTP's M: 2h -> h
    drafted = projection + head  # beside the one decoder layer

    def share(total: float) -> float:
        layer = max(total - tables, 0.0) / model.layers  # one decoder layer of the body
        return min((layer + drafted) / total, 1.0)

    return share(model.active_params), share(model.params)


def draft_columns(models: Sequence[Model]) -> dict[str, list[float]]:
    """Per-model columns the performance model's grid carries (planner.model.grid)."""
    shares = [draft_shares(m) for m in models]
    return {"draft_compute_share": [c for c, _ in shares], "draft_weight_share": [w for _, w in shares]}
