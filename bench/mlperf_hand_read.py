"""What the MLPerf Inference v6.0 submissions state beyond the files ``mlperf_round_records.py`` reads for every run
(loadgen summary, system JSON, measurements JSON, an NVIDIA or AMD harness config), read by hand from the round's
published files, each entry citing them: disaggregated pools (``STATED``), the atomic systems NVIDIA's scale-out runs
copy (``ATOMIC``), configs filed under another name (``CONFIG_DIRS``), and what a submission's scripts and
documentation say where its measurements JSON is a template (``SOURCED``). They hold for HAND_READ alone;
``check_tables`` fails on an entry that names none of its runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

HAND_READ = "v6.0"  # the round these were read from: another round's runs get none of them

# What a run's config states beyond the files read above, keyed by (submitter, system, benchmark, scenario): the
# config file is named in the record's ``mlperf.stated_source``. v6.0: NVIDIA's NVL72 runs served by Dynamo with
# separate prefill (CTX) and decode (GEN) workers, their pools from the config's own comment ("14 CTX DEP4 + 2 GEN
# DEP8 = 56 + 16 = 72 GPUs") and its worker counts (num_prefill_workers, num_decode_workers).
_PAIRS: tuple[tuple[str, int, str, tuple[str, ...], tuple[int, int], tuple[int, int], dict[str, Any]], ...] = (
    # chip, memory (GB), benchmark, scenarios, prefill chips / workers, decode chips / workers, also stated
    ("GB200", 186, "llama3.1-405b", ("Server", "Interactive"), (56, 14), (16, 2), {}),
    ("GB300", 288, "llama3.1-405b", ("Server", "Interactive"), (52, 26), (20, 5), {}),
    ("GB200", 186, "deepseek-r1", ("Interactive",), (8, 2), (64, 4),
     {"speculative_decoding": {"method": "mtp", "draft_tokens": 3}, "ep": 16}),  # (the decode yml's MTP, DEP16)
    ("GB300", 288, "deepseek-r1", ("Interactive",), (8, 4), (64, 4),
     {"speculative_decoding": {"method": "mtp", "draft_tokens": 3}, "ep": 16}),
)


def _stated_pair(chip: str, memory: int, bench: str, scenario: str, prefill: tuple[int, int], decode: tuple[int, int],
                 extra: dict[str, Any]) -> tuple[tuple[str, str, str, str], tuple[str, dict[str, Any]]]:
    """One NVL72 Dynamo run's STATED entry: its key, the configs cited and what they state."""
    system = f"{chip}-NVL72_{chip}-{memory}GB_aarch64x72"
    source = f"closed/NVIDIA/configs/{system}/{scenario}/{bench.replace('llama3.1', 'llama3_1')}.py"
    if bench == "deepseek-r1":  # the decode workers' own yml (MTP, DEP16)
        source += (f", closed/NVIDIA/configs/{chip}-NVL72_{chip}-{memory}GB_aarch64x16/Interactive/disagg_decode/"
                   "deepseek-r1.yml")
    pools = {"prefill_chips": prefill[0], "decode_chips": decode[0], "prefill_workers": prefill[1],
             "decode_workers": decode[1]}
    return ("NVIDIA", f"{system}_TRT", bench, scenario), (source, {"disaggregated": pools, **extra})


STATED: dict[tuple[str, str, str, str], tuple[str, dict[str, Any]]] = dict(
    _stated_pair(chip, memory, bench, scenario, prefill, decode, extra)
    for chip, memory, bench, scenarios, prefill, decode, extra in _PAIRS for scenario in scenarios)
# NVIDIA's NVL72 llama2-70b Server / Interactive runs: disaggregated too, their pools in the scale-out guide rather than
# the x72 config (which has no dynamo section): 28 one-GPU prefill workers and 44 one-GPU decode workers; the guide's
# --target-qps equal the summaries' target_qps and its script's 8,313 queries their min_query_count
_LLAMA2_PAIRS = ("closed/NVIDIA/scaleout/REPRODUCE.md (llama2_70b_disagg.sh --ctx-num-servers 28 "
                 "--gen-num-servers 44), closed/NVIDIA/scripts/slurm_llm/disagg_trtllm_llama2_70b/"
                 "NODE_ALLOCATION_SIMULATION.txt")
STATED |= {
    ("NVIDIA", f"{chip}-NVL72_{chip}-{memory}GB_aarch64x72_TRT", bench, scenario): (_LLAMA2_PAIRS, {"disaggregated": {
        "prefill_chips": 28, "decode_chips": 44, "prefill_workers": 28, "decode_workers": 44}})
    for chip, memory in (("GB200", 186), ("GB300", 288)) for bench in ("llama2-70b-99.9",)
    for scenario in ("Server", "Interactive")}
# Runs NVIDIA's scale-out guide (closed/NVIDIA/scaleout/REPRODUCE.md: --atomic-system S --dp-multiplicity N) runs
# as copies of a smaller system, whose config (configs/<S>/<scenario>/<benchmark>.py) states the parallelism; the
# results' own system directory has a config without it
ATOMIC: dict[tuple[str, str, str, str], str] = {
    ("NVIDIA", "B300-SXM-270GBx8_TRT", "llama3.1-405b", "Offline"): "B300-SXM-270GBx2",
    ("NVIDIA", "GB200-NVL72_GB200-186GB_aarch64x72_TRT", "llama3.1-405b", "Offline"):
        "GB200-NVL72_GB200-186GB_aarch64x4",
    ("NVIDIA", "GB300-NVL72_GB300-288GB_aarch64x72_TRT", "llama3.1-405b", "Offline"):
        "GB300-NVL72_GB300-288GB_aarch64x2",
    ("NVIDIA", "B300-SXM-270GBx8_TRT", "llama2-70b-99.9", "Offline"): "B300-SXM-270GBx1",
    ("NVIDIA", "B300-SXM-270GBx8_TRT", "llama2-70b-99.9", "Server"): "B300-SXM-270GBx1",
    ("NVIDIA", "GB200-NVL72_GB200-186GB_aarch64x72_TRT", "llama2-70b-99.9", "Offline"):
        "GB200-NVL72_GB200-186GB_aarch64x1",
    ("NVIDIA", "GB300-NVL72_GB300-288GB_aarch64x72_TRT", "llama2-70b-99.9", "Offline"):
        "GB300-NVL72_GB300-288GB_aarch64x1",
}


# Results systems whose NVIDIA-harness configs sit under another directory than configs/<system>: Cisco filed its
# X215M8 RTX PRO 6000 system's under an X210M8 name, Lenovo its SR675iV3's under src/
CONFIG_DIRS: dict[tuple[str, str], str] = {
    ("Cisco", "X215M8_X580P_RTXPro6000_96GBx4_TRT"): "closed/Cisco/configs/X210M8_X580P_RTXPro6000_96GBx4_TRT",
    ("Lenovo", "SR675iV3"): "closed/Lenovo/src/SR680aV4andSR675iV3/configs/SR675iV3",
}


@dataclass(frozen=True)
class Sourced:
    """What a submission's own scripts and documentation state where its measurements JSON is a template copied into
    every result: Intel's XPU runs all read INT8 (its llama3.1-8b ones naming Llama-2-70b as their starting weights),
    its Xeon ones are a ResNet-50 file, and Dell_MangoBoost's MI355X runs read its MI300X runs' fp8. Each entry is read
    by hand from the files ``source`` names (paths in the results repository) and applies to the runs whose submitter,
    system and benchmark directories match its patterns (whole names, any case) in ``scenarios``."""

    submitter: str
    systems: str
    benchmarks: str
    scenarios: tuple[str, ...]
    source: str
    weight_precision: str | None = None
    kv_precision: str | None = None
    tp: int | None = None
    pp: int | None = None
    runtime_ran: str | None = None  # the engine the run used, where the record's runtime stands in for it

    def stated(self) -> dict[str, Any]:
        """The record fields it states beyond the weights' precision."""
        return {k: v for k, v in (("tp", self.tp), ("pp", self.pp), ("kv_precision", self.kv_precision))
                if v is not None}

    def matches(self, submitter: str, system: str, bench: str, scenario: str) -> bool:
        """Whether it applies to a run of these directories (whole names, any case) and scenario."""
        return scenario in self.scenarios and all(
            re.fullmatch(pattern, name, re.IGNORECASE) for pattern, name in
            ((self.submitter, submitter), (self.systems, system), (self.benchmarks, bench)))


_INTEL_XPU = "closed/Intel/src/{bench}/pytorch-xpu/"
_INTEL_70B = ("closed/Intel/documentation/calibration.md (Llama2-70B (XPU): FP16 -> INT4); "
              + _INTEL_XPU.format(bench="llama2-70b-99.9") + "model_init/llama2-70b/init_env_shared "
              "(Llama-2-70b-chat-hf-gptq-w4g-1kv-fp8, VLLM_XPU_USE_W4A8=1), utils_model.py (kv_cache_dtype fp8), "
              "init_env_{scenario} (PP by device); " + _INTEL_XPU.format(bench="llama2-70b-99.9")
              + "init_env_base (TP=1)")
SOURCED: tuple[Sourced, ...] = (
    Sourced("Intel", r"1-node-4x-BMG-(B60|Pro-B60-Dual)", r"llama2-70b-99(\.9)?", ("Offline",),
            _INTEL_70B.format(scenario="offline"), weight_precision="int4", kv_precision="fp8", tp=1, pp=4),
    Sourced("Intel", r"1-node-4x-BMG-(B60|Pro-B60-Dual)", r"llama2-70b-99(\.9)?", ("Server",),
            _INTEL_70B.format(scenario="server"), weight_precision="int4", kv_precision="fp8", tp=1, pp=2),
    Sourced("Intel", r"1-node-4x-BMG-B70", r"llama2-70b-99(\.9)?", ("Offline", "Server"),
            _INTEL_70B.format(scenario="offline, init_env_server"), weight_precision="int4", kv_precision="fp8",
            tp=1, pp=2),
    Sourced("Intel", r"1-node-4x-BMG-(B50|B60|B70|Pro-B60-Dual)", r"llama3_1-8b", ("Offline", "Server"),
            "closed/Intel/documentation/calibration.md (Llama3.1-8B (XPU): BF16 -> INT4); "
            + _INTEL_XPU.format(bench="llama3.1-8b") + "model_init/llama3_1-8b/init_env_shared "
            "(Llama-3.1-8B-Instruct-autoround-w4g-1-iters512-xpu, VLLM_XPU_USE_W4A8=1, VLLM_USE_TRITON_XPU_ATTN=1), "
            "utils_model.py (KV_DTYPE fp8_e5m2 with Triton attention); "
            + _INTEL_XPU.format(bench="llama3.1-8b") + "init_env_base (TP=1, PP=1)",
            weight_precision="int4", kv_precision="fp8", tp=1, pp=1),
    # every partner's README runs Intel's image (intel/mlperf:mlperf-inference-6.0-llama3.1-8b); QCT ships the same
    # configure_workload.sh (closed/Quanta_Cloud_Technology/src/llama3_1-8b/pytorch-cpu/)
    Sourced(r"Intel|Supermicro|Dell|Cisco|Lenovo|Quanta_Cloud_Technology", r".*gnr.*", r"llama3(\.|_)1-8b",
            ("Offline", "Server"),
            "closed/Intel/documentation/calibration.md (Llama3.1-8B (CPU): BF16 -> INT4); "
            "closed/Intel/src/llama3.1-8b/pytorch-cpu/configure_workload.sh (SGLANG_USE_CPU_W4A8=1, "
            "Llama-3.1-8B-Instruct-autoround-w4g128-iters128-cpu), launch_servers.sh (sglang.launch_server "
            "--device cpu)", weight_precision="int4", runtime_ran="sglang"),
    Sourced("Dell_MangoBoost", r"8xMI355X_2xEPYC_9965.*", r"llama2-70b-99(\.9)?", ("Offline", "Server", "Interactive"),
            "closed/Dell_MangoBoost/results/8xMI355X_2xEPYC_9965/llama2-70b-99.9/Offline/README.md (the FP8 model is "
            "MI300X's and MI325X's; MI355X downloads AMD's FP4 model, closed/AMD/results/87xMI355X_22xEPYC_9575F/"
            "llama2-70b-99.9/Offline/README.md, download_model_fp4.sh)", weight_precision="fp4"),
)


def sourced(key: tuple[str, str, str, str], round_: str) -> Sourced | None:
    """The ``SOURCED`` entry of a run (key: submitter, system, benchmark, scenario) of ``round_`` (None: none, or
    another round than HAND_READ)."""
    found = [e for e in SOURCED if round_ == HAND_READ and e.matches(*key)]
    if len(found) > 1:
        raise ValueError(f"{'/'.join(key)}: several SOURCED entries match: {found}")
    return found[0] if found else None


def check_tables(keys: set[tuple[str, str, str, str]]) -> None:
    """Every STATED, ATOMIC and SOURCED entry names one of a round's runs (keys: submitter, system, benchmark,
    scenario; a misspelt system would apply to none: Cisco's 'MI350x' systems were missed so)."""
    missing = [f"STATED {k}" for k in STATED if k not in keys] + [f"ATOMIC {k}" for k in ATOMIC if k not in keys]
    missing += [f"CONFIG_DIRS {k}" for k in CONFIG_DIRS if k not in {key[:2] for key in keys}]
    missing += [f"SOURCED {e.submitter} / {e.systems} / {e.benchmarks}" for e in SOURCED
                if not any(e.matches(*k) for k in keys)]
    if missing:
        raise ValueError(f"hand-read entries that name no run of the repository: {'; '.join(missing)}")
