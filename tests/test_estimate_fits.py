"""`estimate` never claims a misfit fits, and tensor-parallel communication follows the ring.

Independent bases: the memory parts the estimate itself reports (a fit means their sum is within
capacity: arithmetic, not the model), the model card's context length, the ring all-reduce volume
2 (n - 1) / n x bytes per chip (Patarasuk & Yuan 2009, the algorithm NCCL's ring implements), and
the physics bound that a collective spanning nodes cannot be faster than the same one inside a node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from planner.domain import Catalog
from planner.model.estimate import Scenario, estimate, resolve
from planner.model.grid import ACTIVATION_BYTES, CatalogTables, Grid
from planner.model.perf import step_time


def test_issue_example_overflowing_memory_does_not_fit(catalog: Catalog) -> None:
    """Issue 13: llama-3.1-8b on h100-sxm, max_throughput 1024/1024 printed 86.08 / 85.52 GB, fits. The batch
    was the most that fit beside one sequence's activations; it is now the most that fits beside its own
    (``MemoryModel.fitting_batch``): the parts sum within capacity and the estimate fits. A static batch
    past it, asked for explicitly, still overflows and says so, with how many sequences do fit."""
    config = resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm")
    est = estimate(catalog, config, scenario=Scenario.MAX_THROUGHPUT, input_tokens=1024, output_tokens=1024)
    assert est.total_bytes <= est.capacity_bytes and est.fits is True
    over = estimate(catalog, config, scenario=Scenario.STATIC_BATCH, input_tokens=1024, output_tokens=1024,
                    batch=int(est.batch) + 8)
    assert over.total_bytes > over.capacity_bytes and over.fits is False
    assert over.reason is not None and "GB per chip" in over.reason and "sequences fit" in over.reason


@pytest.mark.parametrize("scenario", list(Scenario))
@pytest.mark.parametrize("model", ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"])
@pytest.mark.parametrize("hardware", ["h100-sxm", "l40s", "a10g", "mi300x"])
def test_fits_implies_every_part_and_the_total_within_capacity(catalog: Catalog, scenario: Scenario, model: str,
                                                               hardware: str) -> None:
    for tp in (1, 2, 4, 8):
        try:
            config = resolve(catalog, model=model, hardware=hardware, tp=tp)
        except Exception:  # noqa: BLE001 - a shape the catalog cannot run is not this test's subject
            continue
        for i, o in ((128, 128), (1024, 1024), (4000, 64)):
            est = estimate(catalog, config, scenario=scenario, input_tokens=i, output_tokens=o,
                           request_rate=0.5 if scenario is Scenario.SERVER else None)
            parts = (est.weights_bytes, est.kv_cache_bytes, est.activations_bytes, est.overhead_bytes)
            if est.fits:
                assert max(parts) <= est.capacity_bytes and sum(parts) <= est.capacity_bytes * (1 + 1e-12), \
                    (tp, i, o, est)
            else:
                assert est.reason


def test_context_beyond_the_models_window_does_not_fit(catalog: Catalog) -> None:
    """Issue 13: a 32,640-token prompt was accepted on a 4k-context model."""
    short = min(catalog.models.values(), key=lambda m: m.context_length)
    hardware = "h100-sxm"
    config = resolve(catalog, model=short.id, hardware=hardware, tp=8 if short.params > 1e11 else 1)
    limit = short.context_length
    inside = estimate(catalog, config, input_tokens=limit - 16, output_tokens=16)
    beyond = estimate(catalog, config, input_tokens=limit - 15, output_tokens=16)
    assert beyond.fits is False and beyond.reason is not None and "context" in beyond.reason
    assert inside.reason is None or "context" not in inside.reason


def _switched_in_node(one_row: Callable[..., Grid], tp: int) -> Grid:
    grid = one_row(model="llama-3.1-70b", hardware="h100-sxm", tp=tp)
    assert float(grid.mesh_links[0]) == 0.0 and tp <= float(grid.chips_per_node[0])  # switched NVLink, one node
    return grid


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_allreduce_time_is_the_ring_volume_over_one_link_direction(one_row: Callable[..., Grid], tp: int) -> None:
    """Communication of a decode step of T tokens: two all-reduces per layer (after attention and
    after the MLP) of T x hidden 16-bit activations; a ring moves 2 (n - 1) / n of it per chip,
    over one direction (half) of the bidirectional NVLink figure, plus the fixed latency."""
    grid = _switched_in_node(one_row, tp)
    tokens = 64.0
    layers, hidden = float(grid.layers[0]), float(grid.hidden[0])
    payload = tokens * hidden * ACTIVATION_BYTES  # bytes per all-reduce
    volume = 2.0 * (tp - 1) / tp * payload  # ring: reduce-scatter + all-gather
    one_way = 0.5 * float(grid.link_bytes_per_s[0]) * float(grid.eff_communication[0])
    expected = 2.0 * layers * (volume / one_way + float(grid.collective_latency_s[0]))
    got = float(step_time(grid, decode_tokens=tokens, decode_context=512.0).communication[0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_tensor_parallel_across_nodes_is_never_faster(catalog: Catalog, tables: CatalogTables) -> None:
    """At equal chips, the same tp spanning two nodes vs one node that holds them all: every
    hardware with a scale-out network, several models and token counts."""
    checked = 0
    for h, hw in enumerate(tables.hardware_ids):
        per_node = int(tables.hardware["chips_per_node"][h])
        if not tables.hardware["scale_out_bytes_per_s"][h] or per_node > 8:
            continue
        tp = 2 * per_node
        for m in range(len(tables.model_ids)):
            bf16 = tables.precision_ids.index("bf16") if np.isfinite(
                tables.peak_linear[h, tables.precision_ids.index("bf16")]) else tables.precision_ids.index("fp16")
            across = tables.gather(model=np.array([m]), hardware=np.array([h]), weight_precision=np.array([bf16]),
                                   kv_precision=np.array([bf16]), runtime=np.array([0]), tp=tp, pp=1)
            within = replace(across, chips_per_node=np.full(1, float(tp)))
            for tokens in (1.0, 32.0, 4096.0):
                slow = step_time(across, decode_tokens=tokens, decode_context=1024.0).total
                fast = step_time(within, decode_tokens=tokens, decode_context=1024.0).total
                assert float(slow[0]) >= float(fast[0]), (hw, tables.model_ids[m], tokens)
                checked += 1
    assert checked > 0, "no hardware with a scale-out network in the catalog"


@pytest.mark.parametrize(("hardware", "tp", "pp"), [("h100-nvl", 2, 2), ("l40s", 8, 2), ("h100-nvl", 4, 1)])
def test_a_replica_past_one_node_without_a_network_does_not_fit(catalog: Catalog, hardware: str, tp: int,
                                                                pp: int) -> None:
    """Basis: the catalog's own node size and network. tp x pp chips past one node need a scale-out
    network to pass activations between stages; without one the estimate said fits with no latency,
    zero throughput and a price (the plan search already drops such shapes)."""
    hw = catalog.hardware[hardware]
    assert tp * pp > hw.chips_per_node and hw.scale_out_bytes_per_s is None
    config = resolve(catalog, model="gemma-2-27b", hardware=hardware, tp=tp, pp=pp)
    est = estimate(catalog, config, scenario=Scenario.STATIC_BATCH, input_tokens=512, output_tokens=128, batch=1)
    assert est.fits is False and est.reason is not None and "scale-out network" in est.reason
