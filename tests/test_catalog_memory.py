"""Accelerator memory in the catalog is what the device reports, not the marketed figure.

A runtime sizes its KV cache from the device's own total (vLLM's gpu_memory_utilization, TensorRT-LLM's
free-memory fraction), and marketed "GB" are mostly GiB or less: an H200's 141 GB is 143,771 MiB =
150.75e9 bytes, 7% more. Entries that mixed the two (H100 SXM at its reported 85.52, H200 at a marketed
141) gave one chip 7% less room for sequences than another by the convention alone.

Basis: the device total each entry's memory source quotes from public logs (nvidia-smi / hl-smi MiB,
rocm-smi bytes, torch's total_memory), against the number typed in memory_gb; an entry without such a
figure must say how its number is derived ([D]).
"""

from __future__ import annotations

import re

import pytest

from hardware_catalog.files import read_yaml
from hardware_catalog.loader import default_catalog_dir

DISCRETE = ("gpu", "gaudi")  # accelerators with their own memory, whose tools report its total
MIB = re.compile(r"(\d{4,6}) ?Mi?B\b")  # "143771MiB", "146831 MiB", torch.xpu's "23256MB" (MiB)
BYTES = re.compile(r"\b(\d{10,})\b")  # rocm-smi "VRAM Total Memory (B): 206141652992", in bytes


def _entries() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((default_catalog_dir() / "hardware").glob("*.yaml")):
        data = read_yaml(path)
        if data.get("family") in DISCRETE:
            out.append((path.stem, data))
    return out


@pytest.mark.parametrize(("chip", "data"), _entries(), ids=[c for c, _ in _entries()])
def test_memory_is_the_device_reported_total(chip: str, data: dict) -> None:
    note = data["sources"]["memory_gb"]
    if note.startswith("[D]"):  # derived from a sibling's report: the note states the result it derived
        assert "report" in note and f"= {data['memory_gb']:.2f}e9 bytes" in note, note
        return
    mib, raw = MIB.search(note), BYTES.search(note)
    assert mib or raw, f"{chip}: the memory source quotes no device-reported total: {note}"
    reported = int(raw.group(1)) if raw else int(mib.group(1)) * 2**20
    assert data["memory_gb"] == pytest.approx(reported / 1e9, abs=0.006), (chip, data["memory_gb"], reported)


def test_the_sibling_boards_of_a_die_report_alike() -> None:
    """H100 SXM and PCIe print 81,559 MiB, H200 SXM and NVL 143,771 MiB: boards of one memory stack
    hold the same number, whatever their marketing says (H100 NVL's 94 GB is another stack)."""
    memory = {c: d["memory_gb"] for c, d in _entries()}
    assert memory["h100-sxm"] == memory["h100-pcie"] and memory["h200"] == memory["h200-nvl"]
    assert memory["mi350x"] == memory["mi355x"]


def test_the_derived_totals_follow_their_siblings_reports() -> None:
    """The [D] entries' arithmetic, from the sibling figures their notes cite: AMD's rocm-smi totals are the stack's
    GiB less 16 MiB (MI300X 206,141,652,992 B = 192 GiB - 16 MiB, MI355X 309,220,868,096 B = 288 GiB - 16 MiB),
    so MI325X's 256 GiB reads 274.86e9; Intel's B60 reports 23,256 MiB of its 24 GiB, and the B50 / B70 the same
    share of 16 / 32 GiB."""
    memory = {c: d["memory_gb"] for c, d in _entries()}
    gib, mib = 2**30, 2**20
    assert 192 * gib - 16 * mib == 206_141_652_992 and 288 * gib - 16 * mib == 309_220_868_096
    assert memory["mi325x"] == pytest.approx((256 * gib - 16 * mib) / 1e9, abs=0.006)
    share = 23_256 / (24 * 1024)  # B60: MiB reported / MiB of its GiB
    for chip, size in (("arc-pro-b50", 16), ("arc-pro-b70", 32)):
        assert memory[chip] == pytest.approx(round(size * 1024 * share) * mib / 1e9, abs=0.006), chip
