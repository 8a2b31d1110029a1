"""Datasheet order at batch-1 decode: where a chip is predicted slower than a chip it matches or beats on paper.

Batch-1 decode reads every weight once per token (weight bytes / bandwidth) and adds the engine's fixed
work per step, so a chip of the same vendor and family with at least another's memory bandwidth and at
least its peak in every precision does not take longer per token with the same engine, model, precision
and tensor parallelism. Each hardware x runtime pair's efficiencies are fitted on its own records
(planner.calibration.fit), and nothing in the fit enforces that order: H200 x TensorRT-LLM's fitted 7.8 ms
fixed cost per step against H100 SXM's 4.0 ms makes llama-3.1-8b fp8 read 9.52 ms per token on the H200
and 6.84 ms on the H100 (the shipped calibration, 2026-12-07). Where a plan's chip is more than ``SLACK``
slower than a calibrated chip it dominates, the plan says so (its latency there likely overstated, its
capacity understated) rather than ranking on the inversion silently. ``bench/chip_order.py`` lists every
such pair of the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from planner.domain import Catalog, Hardware

__all__ = ["SLACK", "OrderFlag", "dominates", "order_flags"]

SLACK = 1.10  # two separate fits' noise: cross-validated throughput is predicted within ~8% (docs/accuracy.md)


@dataclass(frozen=True)
class OrderFlag:
    """``hardware`` x ``runtime`` predicted ``ratio`` times slower per token at batch 1 than ``slower_than``,
    a chip it matches or beats on bandwidth and every peak."""

    hardware: str
    runtime: str
    slower_than: str
    ratio: float
    tpot_s: float
    other_tpot_s: float
    overhead_s: float  # the two pairs' fitted fixed cost per step (the usual cause)
    other_overhead_s: float

    @property
    def note(self) -> str:
        return (f"{self.hardware} x {self.runtime} is predicted {self.ratio:.2f}x slower per token at batch 1 "
                f"({self.tpot_s * 1e3:.3g} ms) than {self.slower_than} ({self.other_tpot_s * 1e3:.3g} ms), a chip "
                f"it matches or beats on bandwidth and every peak; the two pairs' fits differ (fixed cost per "
                f"step {self.overhead_s * 1e3:.3g} against {self.other_overhead_s * 1e3:.3g} ms), so its latency "
                "here is likely overstated and its capacity understated (bench/chip_order.py)")


def dominates(a: Hardware, b: Hardware) -> bool:
    """``a`` has at least ``b``'s bandwidth and peak in every precision ``b`` lists (same vendor and family)."""
    return (a.id != b.id and a.vendor == b.vendor and a.family == b.family
            and a.memory_bandwidth_bytes_per_s >= b.memory_bandwidth_bytes_per_s
            and all(a.peak_flops_per_s.get(p, 0.0) >= v for p, v in b.peak_flops_per_s.items()))


def order_flags(catalog: Catalog, *, runtime: str, hardware: str,
                tpot: Callable[[str], tuple[int, float] | None]) -> tuple[OrderFlag, ...]:
    """The worst inversion for ``hardware`` against the calibrated chips it dominates with ``runtime``,
    when it is more than ``SLACK``; else (). ``tpot(chip)``: (tp, batch-1 TPOT in s) of the same model,
    precision and tp on that chip, None where it does not fit (planner.model.estimate.batch1_tpot)."""
    chip = catalog.hardware.get(hardware)
    rt = catalog.runtimes.get(runtime)
    if chip is None or rt is None:
        return ()
    others = [catalog.hardware[h] for h, r in catalog.calibration.pairs
              if r == runtime and h in catalog.hardware and dominates(chip, catalog.hardware[h])]
    own = tpot(hardware) if others else None
    if own is None:  # (no calibrated chip it dominates runs this runtime: nothing to compare, no estimate run)
        return ()
    worst: OrderFlag | None = None
    for other in others:
        other_id = other.id
        theirs = tpot(other_id)
        if theirs is None or theirs[0] != own[0] or own[1] <= SLACK * theirs[1]:
            continue
        if worst is None or own[1] / theirs[1] > worst.ratio:
            worst = OrderFlag(hardware=hardware, runtime=runtime, slower_than=other_id, ratio=own[1] / theirs[1],
                              tpot_s=own[1], other_tpot_s=theirs[1],
                              overhead_s=catalog.efficiency(chip, rt).step_overhead_s,
                              other_overhead_s=catalog.efficiency(other, rt).step_overhead_s)
    return () if worst is None else (worst,)
