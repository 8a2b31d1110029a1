"""The compute dies the calibration's optional overhead tie groups chips by (planner.calibration.fit).

Basis: the datasheets (hardware_facts.md, via the catalog's sources). H100 SXM, H200 and GH200 carry the
same GH100 compute at the same clocks (989 dense BF16 TFLOPS each) with other memory; H100 PCIe / NVL and
H200 NVL are power-capped parts naming their reference (``power_reference``); B200 is GB200's die at a
lower board power; MI325X is MI300X's die with more HBM. An A100 and an H100, or a B200 and an H100, are
not one die.
"""

from __future__ import annotations

import numpy as np

from hardware_catalog import load_catalog
from planner.calibration.fit import _die_ties, compute_dies


def test_chips_of_one_die_are_grouped_and_others_are_not() -> None:
    die = compute_dies(load_catalog())
    hopper = {"h100-sxm", "h100-pcie", "h100-nvl", "h200", "h200-nvl", "gh200"}
    assert len({die[h] for h in hopper}) == 1
    assert die["b200"] == die["gb200"] and die["mi300x"] == die["mi325x"]
    assert len({die["a100-80gb"], die["h100-sxm"], die["b200"], die["l40s"], die["mi300x"]}) == 5


def test_ties_join_one_runtime_on_one_die_only() -> None:
    catalog = load_catalog()
    pairs = [("h100-sxm", "vllm"), ("h200", "vllm"), ("h200", "tensorrt-llm"), ("a100-80gb", "vllm"),
             ("h100-sxm", "tensorrt-llm"), ("b200", "vllm")]
    ties = {tuple(sorted((pairs[a], pairs[b]))) for a, b in _die_ties(catalog, pairs).tolist()}
    assert ties == {(("h100-sxm", "vllm"), ("h200", "vllm")),
                    (("h100-sxm", "tensorrt-llm"), ("h200", "tensorrt-llm"))}
    assert _die_ties(catalog, pairs[:1]).shape == (0, 2) and _die_ties(catalog, pairs).dtype == np.int64
