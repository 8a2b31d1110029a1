"""Physical bounds on fitted coefficients: the collective latency of a tensor-parallel all-reduce.

A decode step's all-reduce carries a small message (hidden x 2 bytes per token: 16 KB for a
batch-1 step of an 8k-hidden model), so its time is a fixed latency. Published small-message
all-reduce latencies within one node:

* H100 8-GPU NVSwitch node, messages of 512 B - 32 KB, tp 2 / 4 / 8: 8.7-11.8 us through vLLM's
  NCCL path, 3.7-7.8 us with a custom one-shot kernel (sgl-project/sglang pull request #2904,
  unit-test table, 2025-01).
* 8-GPU node, PyTorch's low-latency one-shot all-reduce: ~6-15 us expected, ~17 us measured by a
  user (pytorch/pytorch issue #131739, 2024-07).

So on NVLink / NVSwitch-class links (and AMD's xGMI mesh, taken to be the same class of direct
GPU-to-GPU link, an assumption: no published figure was found) the fitted per-all-reduce latency
is held in [1, 20] us: 20 us covers the slowest published figure (17 us) with margin. Chips
whose GPUs talk over PCIe (interconnect below 300 GB/s) have no published figure here: they get
[1, 50] us [assumption: a PCIe peer-to-peer hop is slower than NVLink; flagged, not measured].
Other families (TPU, Gaudi, Trainium, Inferentia, MTIA, CPU, edge) have no published
small-message figure in this project's sources: their latency keeps the fit's generic bounds,
and ``physical_bound`` says so (None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from planner.domain import Hardware

__all__ = ["FAST_LINK_BYTES_PER_S", "LATENCY_FLOOR_S", "latency_bound", "physical_bound"]

FAST_LINK_BYTES_PER_S = 300e9  # NVLink 3+ / xGMI: at least this per chip; PCIe 4/5 x16: 64-128 GB/s
LATENCY_FLOOR_S = 1e-6  # no all-reduce completes faster than one link round trip
_NVLINK_CLASS_S = 20e-6
_PCIE_S = 50e-6
GENERIC = (1e-7, 1e-2)  # the fit's bounds where no physical figure exists


def physical_bound(hw: Hardware) -> tuple[float, float] | None:
    """(lowest, highest) per-all-reduce latency in seconds within one node, None where unknown."""
    if hw.family != "gpu":
        return None
    top = _NVLINK_CLASS_S if hw.interconnect_bytes_per_s >= FAST_LINK_BYTES_PER_S else _PCIE_S
    return LATENCY_FLOOR_S, top


def latency_bound(chips: Iterable[Hardware]) -> tuple[float, float]:
    """Log-space-ready bounds that hold for every chip given: the tightest physical interval
    (a family's coefficient serves every member), else the generic bounds."""
    known = [b for b in (physical_bound(h) for h in chips) if b is not None]
    if not known:
        return GENERIC
    return max(lo for lo, _ in known), min(hi for _, hi in known)


def log_bound(chips: Iterable[Hardware]) -> tuple[float, float]:
    lo, hi = latency_bound(chips)
    return math.log(lo), math.log(hi)
