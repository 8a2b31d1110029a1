"""Sustained tensor throughput of a power-capped part: datasheet peak limited by its board power.

A vendor sells one GPU die at several board powers (H100 SXM 700 W, H100 NVL 350-400 W, H100
PCIe 350 W; MI325X 1000 W and MI300X 750 W; MI355X 1400 W and MI350X 1000 W; GB200 1200 W and
B200 1000 W). The datasheet peak of each is its boost clock times its tensor units, but a dense
matrix multiply at that clock draws more power than a low-power part may take, so it runs at a
lower clock. The energy of one FLOP on one die (same process, same tensor units, same kernels)
is taken as that of the die's highest-power part at its datasheet peak, whose figure counts as
reached (the calibrated compute efficiency absorbs what it misses), so

    sustained = peak x min(1, (TDP / peak) / (TDP_ref / peak_ref))     (16-bit tensor peaks)

with ``ref`` the hardware entry's ``power_reference``; the one fraction scales every precision.

First order [assumption]: at a lower clock the voltage drops too, which makes a FLOP cheaper (the
cap costs less), while the board's fixed draw (HBM, I/O) takes a larger share of a lower TDP (the
cap costs more); the two are taken to cancel. Checked against published results
(tests/test_power.py): in MLPerf Inference v4.1 llama2-70b Offline, H100 NVL systems delivered
0.54-0.72 of an H100 SXM's throughput per chip (datasheet peaks alone: 0.84-0.96 in this model;
capped: 0.62-0.68), H100 PCIe 0.38 (0.74; capped 0.53). On the MLPerf Offline records
cross-validated by round (fit on the public records and one round, predict the other), the
linear form gives 10.6% median APE and 89% within 25%, a square-root one 10.8% and 88%, no cap
11.2% and 87% (with the MoE expert efficiency and the reference-harness skip in place).

A part whose TDP per peak FLOP is at least its reference's is not capped (H200 NVL at 600 W: a
user report measures its datasheet BF16 peak). Chips without a reference keep their datasheet peak.
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.domain import Hardware

__all__ = ["power_limited_fraction", "sustained_peak_flops"]


_TENSOR16 = ("bf16", "fp16")  # the die's 16-bit tensor rate: one figure every datasheet gives


def power_limited_fraction(hw: Hardware, reference: Hardware) -> float:
    """sustained / datasheet peak of ``hw`` (1 where power does not bind), from the 16-bit tensor
    peaks: a FLOP at another precision is taken to cost the same share of power on both parts."""
    p = next((q for q in _TENSOR16 if q in hw.peak_flops_per_s and q in reference.peak_flops_per_s), None)
    if hw.tdp_w is None or reference.tdp_w is None or p is None:
        return 1.0
    own = hw.tdp_w / hw.peak_flops_per_s[p]  # watts per peak FLOP/s
    ref = reference.tdp_w / reference.peak_flops_per_s[p]
    return min(1.0, own / ref)


def sustained_peak_flops(hw: Hardware, hardware: Mapping[str, Hardware]) -> dict[str, float]:
    """Per precision, the dense throughput ``hw`` sustains (module doc)."""
    if hw.power_reference is None:
        return dict(hw.peak_flops_per_s)
    fraction = power_limited_fraction(hw, hardware[hw.power_reference])
    return {p: f * fraction for p, f in hw.peak_flops_per_s.items()}
