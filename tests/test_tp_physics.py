"""TP-scaling physics on the whole catalog: batch-1 TPOT does not rise when tp doubles within a node
unless communication within its physical bounds explains the rise.

Basis: doubling tp halves each chip's weight and KV reads and adds only all-reduces. So TPOT(2tp)
- TPOT(tp) can be positive only by the added communication; with the per-all-reduce latency held
to its published physical interval (planner.calibration.bounds: 20 us on NVLink-class links, from
sglang #2904 / pytorch #131739), that added time is bounded. A fitted latency above the bound (the
old calibration had 47-144 us) makes the rise exceed it and fails this test.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hardware_catalog import load_catalog
from planner.calibration.bounds import physical_bound
from planner.calibration.fit import BOUND_REASONS, at_bound
from planner.domain import Catalog
from planner.model.grid import CatalogTables, Grid
from planner.model.perf import step_time


def _configs(catalog: Catalog, t: CatalogTables) -> np.ndarray:
    rows = []
    for m in catalog.models.values():
        for h in catalog.hardware.values():
            for rid in h.runtimes:
                rt = catalog.runtimes.get(rid)
                if rt is None:
                    continue
                for p in rt.weight_precisions:
                    if catalog.precisions[p].compute_precision(h) is None:
                        continue
                    tp = 1
                    while 2 * tp <= h.chips_per_node:
                        rows.append((t.model_ids.index(m.id), t.hardware_ids.index(h.id), t.precision_ids.index(p),
                                     t.runtime_ids.index(rid), tp))
                        tp *= 2
    return np.array(rows)


def _grid(t: CatalogTables, a: np.ndarray, tp: np.ndarray) -> Grid:
    kv = np.full(len(a), t.precision_ids.index("fp16"))
    return t.gather(model=a[:, 0], hardware=a[:, 1], weight_precision=a[:, 2], kv_precision=kv, runtime=a[:, 3],
                    tp=tp, pp=np.ones(len(a)))


def test_batch1_tpot_rises_with_tp_only_by_physical_communication() -> None:
    catalog = load_catalog()
    t = CatalogTables.from_catalog(catalog)
    a = _configs(catalog, t)
    assert len(a) > 10_000  # the whole catalog, not a sample
    tp = a[:, 4].astype(float)
    g1, g2 = _grid(t, a, tp), _grid(t, a, 2 * tp)
    s1 = step_time(g1, decode_tokens=1.0, decode_context=1024.0)
    s2 = step_time(g2, decode_tokens=1.0, decode_context=1024.0)
    rise = s2.total - s1.total
    # the added communication with the latency at its physical ceiling (where one is published)
    top = np.array([(physical_bound(catalog.hardware[t.hardware_ids[h]]) or (0.0, np.nan))[1] for h in a[:, 1]])
    ceiling = np.where(np.isnan(top), g1.collective_latency_s, top)
    c1 = step_time(replace(g1, collective_latency_s=ceiling), decode_tokens=1.0, decode_context=1024.0).communication
    c2 = step_time(replace(g2, collective_latency_s=ceiling), decode_tokens=1.0, decode_context=1024.0).communication
    explained = np.maximum(c2 - c1, 0.0)
    bad = rise > explained * (1 + 1e-9) + 1e-12
    names = [f"{t.model_ids[m]} {t.hardware_ids[h]} {t.runtime_ids[r]} tp {k}->{2 * k}"
             for m, h, _p, r, k in a[bad][:5]]
    assert not bad.any(), f"{int(bad.sum())} configurations: {names}"
    # and the rises that remain are communication: without it TPOT never rises
    no_comm = (s2.total - s2.communication) - (s1.total - s1.communication)
    assert np.all(no_comm <= 1e-12)


def test_shipped_latencies_within_physical_bounds() -> None:
    catalog = load_catalog()
    for (hw, rt), e in catalog.calibration.pairs.items():
        bound = physical_bound(catalog.hardware[hw])
        if bound is not None:
            assert bound[0] * 0.999 <= e.collective_latency_s <= bound[1] * 1.001, (hw, rt, e.collective_latency_s)


def test_every_coefficient_at_a_bound_has_a_reason() -> None:
    catalog = load_catalog()
    stated = catalog.calibration.fitted_on.get("at_bound", {})
    assert isinstance(stated, dict)
    for label, coefs in stated.items():
        assert isinstance(coefs, dict) and coefs, label
        for reason in coefs.values():
            assert any(r in reason for r in BOUND_REASONS.values()), (label, reason)
    assert callable(at_bound)


def test_decode_reads_every_kv_shard_a_chip_holds() -> None:
    """Basis: bandwidth. A chip's decode step reads the KV cache it holds, which the memory model counts as
    ceil(kv_shards / tp) shards per chip (a GQA model with fewer KV heads than tp replicates them; MLA's one
    latent is on every chip): at batch B and context C, time >= B C x its KV bytes per token / bandwidth.
    The step model divided the KV read by tp regardless, so gemma-2b (1 KV head) at tp 8 read 2.2x below
    this floor (4.95 ms TPOT at batch 256, 7,500 tokens, on H100 SXM; the floor is 10.6 ms)."""
    from planner.model.perf import kv_bytes_per_token

    catalog = load_catalog()
    t = CatalogTables.from_catalog(catalog)
    models = np.arange(len(t.model_ids))
    h100, bf16, vllm = t.hardware_ids.index("h100-sxm"), t.precision_ids.index("bf16"), t.runtime_ids.index("vllm")
    tps = np.array([1.0, 2.0, 4.0, 8.0])
    m = np.repeat(models, len(tps))
    g = t.gather(model=m, hardware=np.full(len(m), h100), weight_precision=np.full(len(m), bf16),
                 kv_precision=np.full(len(m), bf16), runtime=np.full(len(m), vllm), tp=np.tile(tps, len(models)),
                 pp=np.ones(len(m)))
    batch, context = 256.0, 4096.0
    step = step_time(g, decode_tokens=batch, decode_context=context)
    floor = batch * context * kv_bytes_per_token(g) / g.memory_bandwidth_bytes_per_s
    window = np.array([catalog.models[t.model_ids[k]].attention.window > 0 for k in m])  # windows hold fewer
    bad = ~window & (step.total < floor * (1 - 1e-9))
    names = [f"{t.model_ids[k]} tp {int(x)}" for k, x in zip(m[bad], g.tp[bad], strict=True)][:5]
    assert not bad.any(), f"{int(bad.sum())} below the KV read floor: {names}"
    replicated = (g.kv_shards < g.tp) & ~window
    assert replicated.sum() >= 10  # the case this guards: several models with fewer KV heads than tp 8
