"""Records of a later MLPerf Inference round, in the canonical measurements format, for an out-of-sample check.

    PYTHONPATH=$PWD .venv/bin/python bench/mlperf_round_records.py GIT_DIR ROUND URL_BASE TEMPLATE OUT \
        [--read-from TEXT]

The shipped out-of-sample file of MLPerf Inference v6.0 (tests/data/mlperf_v6_0_out_of_sample.yaml) was written with
GIT_DIR a copy of the v6.0 results (github.com/gbeezybez/inference_results_v6.0 at 232fbf9, the layout and files of
github.com/mlcommons/inference_results_v6.0), ROUND v6.0, URL_BASE
https://github.com/mlcommons/inference_results_v6.0/blob/main and TEMPLATE ../shared/calibration/mlperf.yaml.

GIT_DIR: a clone (a bare one will do) of an ``inference_results_vX.Y`` repository; ROUND: its round (``v6.0``);
URL_BASE: where its files are published (``https://github.com/<owner>/inference_results_v6.0/blob/<commit>``);
TEMPLATE: a measurements file whose MLPerf records carry each benchmark's length distribution (the shared
``mlperf.yaml``); OUT: the file written. Read per run (``results/<system>/<benchmark>/<scenario>/performance/run_1``):

* the loadgen summary (``mlperf_log_summary.txt``): completed samples and tokens per second, the scheduled
  (Poisson) rate, TTFT / TPOT / latency mean and p50 / p90 / p99, the run's SLO (``ttft_latency``,
  ``tpot_latency``) and whether it is VALID;
* the system description (``systems/<system>.json``): accelerator, accelerators per node, nodes, framework;
* the run's ``measurements.json`` (or ``measurements/<system>.json``): ``weight_data_types``.

Where the run's own files state them, the record carries tp, pp, expert parallelism, MTP and the KV cache's
precision: an NVIDIA-harness config (``configs/<system>/<scenario>/<benchmark>.py``, or the atomic system's that
NVIDIA's scale-out guide runs copies of: ``harness_config``, ``ATOMIC``), an AMD-harness vLLM YAML
(``src/<benchmark>/<scenario>_<chip>.yaml``: ``vllm_config``); a run served disaggregated carries its pools' chips and
workers (``STATED``, read by hand from its Dynamo config or NVIDIA's scale-out guide). Where a submission's
measurements JSON is a template copied into every result (Intel's, Dell_MangoBoost's MI355X), the weights' precision
and the rest come from its scripts and documentation (``SOURCED``, read by hand, each entry citing its files; a record
whose runtime stands in for the engine it used says so in ``mlperf.runtime_ran``). The hand-read tables (STATED,
ATOMIC, SOURCED: bench/mlperf_hand_read.py) hold for the round they were read from (``HAND_READ``) and name runs of
it (the script fails on one that names none). A board of several chips counts each (``CHIPS_PER_CARD``). The rest
stays null, as SCHEMA.md asks: tp / pp (``hwplan validate`` takes the tp a submitter tunes to), the KV cache's
precision (the runtime's default), expert parallelism, disaggregation and speculative decoding. Runs this script
cannot map (a benchmark without a length distribution in TEMPLATE, an accelerator or framework outside the catalog,
an invalid run, a mixed-accelerator system) are listed on stderr with the reason and not written. Benchmarks are
mapped to catalog models as the shared file maps them.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tokenize
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (its sibling, when loaded from elsewhere: the tests)
from mlperf_hand_read import ATOMIC, CONFIG_DIRS, HAND_READ, STATED, Sourced, check_tables, sourced  # noqa: E402

BENCHMARKS = {  # MLPerf benchmark directory -> (catalog model, the template's benchmark with its lengths)
    "llama2-70b-99": ("llama-2-70b", "llama2-70b-99"),
    "llama2-70b-99.9": ("llama-2-70b", "llama2-70b-99.9"),
    "llama3.1-8b": ("llama-3.1-8b", "llama3.1-8b"),
    "llama3_1-8b": ("llama-3.1-8b", "llama3.1-8b"),
    "llama3.1-405b": ("llama-3.1-405b", "llama3.1-405b"),
    "llama3_1-405b": ("llama-3.1-405b", "llama3.1-405b"),
    "deepseek-r1": ("deepseek-r1", "deepseek-r1"),
    "mixtral-8x7b": ("mixtral-8x7b", "mixtral-8x7b"),
}
def vllm_config(run: Run, hardware: str) -> tuple[str, dict[str, Any]]:
    """What an AMD-harness vLLM run's own YAML states (``src/[code/]<benchmark>/<scenario>_<chip>[_mn].yaml``, as AMD
    and the partners that ran its harness publish it: Cisco, Dell, GigaComputing, HPE, MiTAC): tp and the KV cache's
    precision, each only where every such file of the run agrees; ("", {}) without one."""
    base = f"{run.division}/{run.submitter}/src"
    paths = [f"{base}/{sub}{bench}/{run.scen.lower()}_{chip}{suffix}.yaml" for sub in ("", "code/")
             for bench in dict.fromkeys((run.bench, run.bench.removesuffix(".9")))  # (AMD's 99.9 runs: src/...-99/)
             for chip in (hardware, hardware.upper()) for suffix in ("", "_mn")]
    found: dict[str, set[Any]] = {"tp": set(), "kv": set()}
    read = []
    for path in paths:
        text = show(run.repo, path) if path in run.present else None
        if text is None:
            continue
        read.append(path)
        for key, value in _walk(yaml.safe_load(text)):
            if key == "tensor_parallel_size":
                found["tp"].add(int(value))
            elif key == "kv_cache_dtype":
                found["kv"].add(str(value))
    out: dict[str, Any] = {}
    if len(found["tp"]) == 1:
        out["tp"] = found["tp"].pop()
    if len(found["kv"]) == 1 and (kv := PRECISIONS.get(found["kv"].pop().lower())) is not None:
        out["kv_precision"] = kv
    return (", ".join(read), out) if out else ("", {})


def _walk(node: Any) -> list[tuple[str, Any]]:
    """Every (key, value) of a parsed YAML document, nested mappings and lists included."""
    if isinstance(node, dict):
        return [(str(k), v) for k, v in node.items()] + [kv for v in node.values() for kv in _walk(v)]
    if isinstance(node, list):
        return [kv for v in node for kv in _walk(v)]
    return []


SCENARIOS = {"offline": "Offline", "server": "Server", "interactive": "Interactive"}
# accelerator_model_name (as the systems' JSON spells it) -> catalog hardware id; first match wins
ACCELERATORS = (
    (r"GB300", "gb300"), (r"GB200", "gb200"), (r"B300", "b300"), (r"B200", "b200"),
    (r"H200-NVL", "h200-nvl"), (r"H200", "h200"), (r"H100-NVL", "h100-nvl"), (r"H100-PCIe", "h100-pcie"),
    (r"H100", "h100-sxm"), (r"RTX PRO 6000", "rtx-pro-6000"), (r"RTX PRO 4500", "rtx-pro-4500"),
    (r"L40S", "l40s"), (r"MI355X", "mi355x"), (r"MI350X", "mi350x"), (r"MI325X", "mi325x"), (r"MI300X", "mi300x"),
    (r"Arc Pro\(?R?\)? B60", "arc-pro-b60"), (r"Arc Pro\(?R?\)? B70", "arc-pro-b70"),
    (r"Arc Pro\(?R?\)? B50", "arc-pro-b50"),
)
# accelerator_model_name patterns of cards that carry several of the catalog's chips: Intel's "Arc Pro B60 Dual
# 48G" is two B60 GPUs (24 GB each) on one board, so a system of 4 such cards runs 8 B60s (its JSON states 48 GB
# per accelerator; the shared file's v5.1 record of the same system, 1-node-4x-BMG-Pro-B60-Dual, has chips: 8)
CHIPS_PER_CARD = ((r"Arc Pro.*B60 Dual", 2),)
CPUS = ((r"6787P", "xeon-6787p"), (r"6980P", "xeon-6980p"), (r"8592", "xeon-8592"), (r"8480", "xeon-8480"))
PRECISIONS = {"fp4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4", "fp8": "fp8", "int8": "int8", "int4": "int4",
              "bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}
SUMMARY = {  # observed field -> loadgen summary line (ns unless noted)
    "ttft_ms": "Mean First Token latency (ns)",
    "ttft_p50_ms": "50.00 percentile first token latency (ns)",
    "ttft_p90_ms": "90.00 percentile first token latency (ns)",
    "ttft_p99_ms": "99.00 percentile first token latency (ns)",
    "tpot_ms": "Mean Time per Output Token (ns)",
    "tpot_p50_ms": "50.00 percentile time to output token (ns)",
    "tpot_p90_ms": "90.00 percentile time to output token (ns)",
    "tpot_p99_ms": "99.00 percentile time to output token (ns)",
    "e2e_ms": "Mean latency (ns)",
    "e2e_p99_ms": "99.00 percentile latency (ns)",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True).stdout


def show(repo: Path, path: str) -> str | None:
    try:
        return git(repo, "show", f"HEAD:{path}")
    except subprocess.CalledProcessError:
        return None


def summary_fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            out.setdefault(key.strip(), value.strip())
    return out


CONFIG_NAMES = {"llama2-70b-99": "llama2-70b", "llama2-70b-99.9": "llama2-70b", "llama3.1-8b": "llama3_1-8b",
                "llama3_1-8b": "llama3_1-8b", "llama3.1-405b": "llama3_1-405b", "llama3_1-405b": "llama3_1-405b",
                "deepseek-r1": "deepseek-r1", "mixtral-8x7b": "mixtral-8x7b"}
_CONFIG_FIELDS = {  # what an NVIDIA-harness config (``configs/<system>/<scenario>/<benchmark>.py``) states
    "tp": re.compile(r"tensor_parallelism:\s*(\d+)"),
    "pp": re.compile(r"pipeline_parallelism:\s*(\d+)"),
    "ep": re.compile(r"moe_expert_parallelism:\s*(\d+)"),
    "mtp": re.compile(r"num_nextn_predict_layers['\"]?:\s*(\d+)"),
    "kv": re.compile(r"['\"]kv_cache_dtype['\"]:\s*['\"](\w+)['\"]"),
}


def harness_config(run: Run, round_: str) -> tuple[str, dict[str, Any]]:
    """What the run's own NVIDIA-harness config states (the submitter's ``configs/<system>/<scenario>/`` file of the
    benchmark, the system's directory named as its results', or without ``_TRT``; the atomic system's for a scale-out
    run, ATOMIC; the directory CONFIG_DIRS names where it is filed under another): tp, pp, expert parallelism, MTP
    speculation and the KV cache's precision, each only where every setting of the file agrees (a file also holds
    other accuracy targets and power settings); ("", {}) without such a file or a disaggregated one (its pools are
    stated by hand, STATED)."""
    name = CONFIG_NAMES.get(run.bench)
    hand = round_ == HAND_READ
    atomic = ATOMIC.get((run.submitter, run.system, run.bench, run.scenario or "")) if hand else None
    systems = (atomic,) if atomic else (run.system, run.system.removesuffix("_TRT"))
    dirs = [f"{run.division}/{run.submitter}/configs/{system}" for system in systems]
    if hand and not atomic and (filed := CONFIG_DIRS.get((run.submitter, run.system))):
        dirs = [filed]
    paths = [f"{d}/{run.scenario}/{name}.py" for d in dirs]
    path = next((p for p in paths if p in run.present), "")
    if atomic and not path:
        raise ValueError(f"{run.where}: ATOMIC names {atomic}, whose config {paths[0]} is not in the repository")
    text = show(run.repo, path) if name and path else None
    if text is None:
        return "", {}
    # a commented-out setting is not one (QCT's B300 405b Server: '#...tensor_parallelism: 4' above the 2 it ran)
    text = _uncommented(text)
    found = {key: set(pattern.findall(text)) for key, pattern in _CONFIG_FIELDS.items()}
    if "dynamo" in text:  # a disaggregated run's pools have their own parallelism (STATED): its KV precision only
        found = {"kv": found["kv"]}
    one = {key: values.pop() for key, values in found.items() if len(values) == 1}
    out: dict[str, Any] = {}
    for key in ("tp", "pp", "ep"):
        if key in one:
            out[key] = int(one[key])
    if "mtp" in one:
        out["speculative_decoding"] = {"method": "mtp", "draft_tokens": int(one["mtp"])}
    if "kv" in one and one["kv"] in PRECISIONS:
        out["kv_precision"] = PRECISIONS[one["kv"]]
    return (path, out) if out else ("", {})


def _uncommented(text: str) -> str:
    """A Python config's text without its comments (the tokenizer's: a '#' inside a string stays); the text itself
    where it does not tokenize."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type != tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError):
        return text
    return tokenize.untokenize(tokens)


def runtime_of(system: dict[str, Any], hardware: str) -> str | None:
    text = f"{system.get('framework', '')} {system.get('other_software_stack', '')} {system.get('sw_notes', '')}"
    low = text.lower()
    if hardware.startswith("xeon"):
        return "ipex"  # as the shared file maps Intel's CPU runs (PyTorch with IPEX kernels)
    if "llmboost" in low:
        return "llmboost"
    if "tensorrt" in low:
        return "tensorrt-llm"
    if "sglang" in low:
        return "sglang"
    if "vllm" in low:
        return "vllm"
    if "rocm" in low and "pytorch" in low and "MI3" in str(system.get("accelerator_model_name", "")):
        return "vllm"  # AMD's harness (closed/AMD/code: vLLM on ROCm), partners' MI3xx systems name PyTorch + ROCm
    return None


def hardware_of(system: dict[str, Any]) -> str | None:
    name = str(system.get("accelerator_model_name", ""))
    if " and " in name:
        return None  # a mixed system (several accelerator kinds behind one load balancer)
    if name in ("", "N/A", "None"):
        cpu = str(system.get("host_processor_model_name", ""))
        return next((hw for pattern, hw in CPUS if re.search(pattern, cpu)), None)
    return next((hw for pattern, hw in ACCELERATORS if re.search(pattern, name)), None)


def chips_per_card(system: dict[str, Any]) -> int:
    """The catalog's chips on one of the system's accelerators (``CHIPS_PER_CARD``; 1 for every other card)."""
    name = str(system.get("accelerator_model_name", ""))
    return next((n for pattern, n in CHIPS_PER_CARD if re.search(pattern, name)), 1)


def templates(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(template benchmark, scenario) -> a record of the newest round carrying that benchmark's lengths."""
    data = yaml.load(path.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(data["measurements"], key=lambda r: r["mlperf"]["round"]):
        if r.get("lengths") and r["mlperf"]["division"] == "closed":
            out[(r["mlperf"]["benchmark"], r["mlperf"]["scenario_name"])] = r
    return out


LLM = re.compile(r"(llama|deepseek|mixtral|gpt-oss|qwen)")
SUMMARY_PATH = re.compile(r"(closed|open)/([^/]+)/results/([^/]+)/([^/]+)/([^/]+)/performance/run_1/"
                          r"mlperf_log_summary\.txt")


@dataclass(frozen=True)
class Run:
    """One run's files: ``{division}/{submitter}/results/{system}/{bench}/{scen}``."""

    repo: Path
    present: frozenset[str]
    path: str  # its loadgen summary
    division: str
    submitter: str
    system: str
    bench: str
    scen: str

    @property
    def scenario(self) -> str | None:
        return SCENARIOS.get(self.scen.lower())

    @property
    def where(self) -> str:
        return f"{self.division}/{self.submitter}/{self.system}/{self.bench}/{self.scen}"

    def measurements(self) -> tuple[str | None, dict[str, Any]]:
        """The run's measurements JSON (its path, its content: {} where none)."""
        run_dir = f"{self.division}/{self.submitter}/results/{self.system}/{self.bench}/{self.scen}"
        path = next((p for p in (f"{run_dir}/measurements.json", f"{run_dir}/measurements/{self.system}.json",
                                 f"{self.division}/{self.submitter}/measurements/{self.system}/{self.bench}/"
                                 f"{self.scen}/{self.system}.json") if p in self.present), None)
        return path, json.loads(show(self.repo, path) or "{}") if path else {}


def _observed(fields: dict[str, str], scenario: str) -> tuple[dict[str, float | None], dict[str, float] | None,
                                                                float | None]:
    """The summary's observed figures, the run's SLO and its scheduled rate (None, None for Offline)."""
    samples = float(fields.get("Completed samples per second") or fields["Samples per second"])
    tokens = float(fields.get("Completed tokens per second") or fields.get("Tokens per second") or "nan")
    observed: dict[str, float | None] = {"output_tokens_per_s": tokens, "requests_per_s": samples}
    if scenario == "Offline":
        return observed, None, None
    for key, line in SUMMARY.items():
        observed[key] = round(float(fields[line]) / 1e6, 3) if line in fields else None
    slo = {"ttft_p99_ms": float(fields["ttft_latency (ns)"]) / 1e6,
           "tpot_p99_ms": float(fields["tpot_latency (ns)"]) / 1e6}
    return observed, slo, float(fields["Scheduled samples per second"])


def record(run: Run, fields: dict[str, str], template: dict[str, Any], round_: str, url_base: str
           ) -> dict[str, Any] | str:
    """The run's canonical record, or why it is not written."""
    scenario = run.scenario
    assert scenario is not None
    if fields.get("Result is") != "VALID":
        return f"invalid run ({run.where})"
    sys_text = show(run.repo, f"{run.division}/{run.submitter}/systems/{run.system}.json")
    if sys_text is None:
        return f"no system description ({run.where})"
    system = json.loads(sys_text)
    hardware = hardware_of(system)
    if hardware is None:
        return f"accelerator {system.get('accelerator_model_name')!r} not mapped"
    runtime = runtime_of(system, hardware)
    if runtime is None:
        return f"framework {system.get('framework')!r} not mapped ({run.submitter})"
    meas_path, meas = run.measurements()
    key = (run.submitter, run.system, run.bench, scenario)
    extra = sourced(key, round_)  # the submission's own files, where its measurements JSON is a template
    precision = PRECISIONS.get(str(meas.get("weight_data_types", "")).strip().lower())
    precision_source = f"weight_data_types {meas.get('weight_data_types')!r} in {meas_path}"
    if extra is not None and extra.weight_precision is not None:
        precision = extra.weight_precision
        precision_source = (f"{extra.source} (its measurements JSON, {meas_path}, reads "
                            f"{meas.get('weight_data_types')!r}: a template copied into every result)")
    if precision is None:
        return f"weight_data_types {meas.get('weight_data_types')!r} not mapped ({run.where})"
    per_node, nodes = int(system.get("accelerators_per_node") or 0), int(system.get("number_of_nodes") or 1)
    chips = _chips(system, per_node, nodes)
    observed, slo, rate = _observed(fields, scenario)
    samples, tokens = observed["requests_per_s"], observed["output_tokens_per_s"]
    source, stated = STATED.get(key, ("", {})) if round_ == HAND_READ else ("", {})
    config_path, config = _stated_config(run, round_, runtime, hardware, disaggregated=bool(source), extra=extra)
    record_fields = {k: config[k] for k in ("tp", "pp", "kv_precision") if k in config}
    run_fields: dict[str, Any] = {k: config[k] for k in ("ep", "speculative_decoding") if k in config}
    if extra is not None and extra.runtime_ran is not None:
        run_fields["runtime_ran"] = extra.runtime_ran
    return {
        "id": f"mlperf-{round_}-{run.submitter}-{run.system}-{run.bench}-{run.scen}".lower(),
        "source": f"{url_base}/{run.path}",
        "model": BENCHMARKS[run.bench][0], "hardware": hardware, "chips": chips,
        "tp": record_fields.get("tp"), "pp": record_fields.get("pp"),
        "weight_precision": precision, "kv_precision": record_fields.get("kv_precision"), "quant_method": None,
        "runtime": runtime, "runtime_version": None,
        "scenario": "max_throughput" if scenario == "Offline" else "server",
        "input_tokens": template["input_tokens"], "output_tokens": template["output_tokens"],
        "batch": None, "request_rate": rate,
        "lengths": {k: v for k, v in template["lengths"].items() if k not in ("input_source", "notes")},
        "slo": slo, "observed": observed, "confidence": "high", "orig_id": f"{round_}/{run.where}",
        "mlperf": {
            "round": round_, "division": run.division, "submitter": run.submitter, "system": run.system,
            "system_name": system.get("system_name"), "benchmark": run.bench, "scenario_name": scenario,
            "valid": True, "accelerator_model_name": system.get("accelerator_model_name"),
            "accelerators_per_node": per_node, "number_of_nodes": nodes, "framework": system.get("framework"),
            "target_qps": float(fields["target_qps"]) if "target_qps" in fields else None,
            "ep": None, "replicas": None, "disaggregated": None, "speculative_decoding": None, "modified_model": None,
            "precision_source": precision_source,
            "output_tokens_per_sample_observed": round(tokens / samples, 1) if samples and tokens else None,
            **stated, **run_fields,
            **({"stated_source": source or config_path} if source or config_path else {}),
            "same_log_as": None,
        },
    }


def _chips(system: dict[str, Any], per_node: int, nodes: int) -> int:
    """The system's chips: nodes x accelerators per node (sockets of a CPU-only system), the count its accelerator's
    name states where it states one ("AMD Instinct MI355X 288GB HBM3e (x87)"), each board's chips counted."""
    chips = per_node * nodes if per_node else int(system.get("host_processors_per_node") or 1) * nodes
    named = re.search(r"\(x(\d+)\)", str(system.get("accelerator_model_name", "")))
    if named:
        chips = int(named.group(1))
    return chips * chips_per_card(system)


def _stated_config(run: Run, round_: str, runtime: str, hardware: str, *, disaggregated: bool,
                   extra: Sourced | None) -> tuple[str, dict[str, Any]]:
    """What the run's own files state of tp, pp, expert parallelism, MTP and the KV cache (the files named, the
    settings): its NVIDIA-harness config or AMD-harness YAML, only its KV precision where a disaggregated run's pools
    are stated apart (STATED), and what the hand-read entry (SOURCED) adds."""
    path, config = harness_config(run, round_) if runtime == "tensorrt-llm" else \
        vllm_config(run, hardware) if runtime == "vllm" and hardware.startswith("mi3") else ("", {})
    if disaggregated:
        config = {k: v for k, v in config.items() if k == "kv_precision"}
    if extra is not None and extra.stated():
        config, path = config | extra.stated(), "; ".join(p for p in (path, extra.source) if p)
    return path, config


def records(repo: Path, round_: str, url_base: str, tmpl: dict[tuple[str, str], dict[str, Any]], *,
            whole: bool = False) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Every closed-division LLM run's record, and the runs not written by reason. ``whole``: the repository holds
    the whole round, so every hand-read entry of HAND_READ must name one of its runs (``check_tables``)."""
    files = git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
    present = frozenset(files)
    out, skipped = [], Counter[str]()
    logs: set[str] = set()  # summaries written: a byte-identical one is the same run (99 / 99.9 targets)
    runs: list[Run] = []  # every closed-division run of a benchmark with lengths: what the hand-read tables name
    for f in files:
        m = SUMMARY_PATH.fullmatch(f)
        if not m:
            continue
        run = Run(repo, present, f, *m.groups())
        if run.scenario is None or not LLM.match(run.bench):
            continue
        if run.division != "closed":
            skipped["open division (the model may be modified)"] += 1
            continue
        template = tmpl.get((BENCHMARKS.get(run.bench, ("", ""))[1], run.scenario))
        template = template or tmpl.get((BENCHMARKS.get(run.bench, ("", ""))[1], "Server"))
        if run.bench not in BENCHMARKS or template is None:
            skipped[f"{run.bench}: no length distribution in the template (or not a catalog model)"] += 1
            continue
        runs.append(run)
        text = show(repo, f) or ""
        if text in logs:
            skipped["a byte-identical log of a run already written (99 / 99.9 accuracy targets of one run)"] += 1
            continue
        rec = record(run, summary_fields(text), template, round_, url_base)
        if isinstance(rec, str):
            skipped[rec] += 1
            continue
        logs.add(text)
        out.append(rec)
    if whole and round_ == HAND_READ:
        check_tables({(r.submitter, r.system, r.bench, r.scenario or "") for r in runs})
    return out, skipped


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("round")
    ap.add_argument("url_base")
    ap.add_argument("template", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--read-from", default="that repository", help="the copy the files were read from, for the header")
    args = ap.parse_args()
    written, skipped = records(args.git_dir, args.round, args.url_base, templates(args.template), whole=True)
    header = (f"# MLPerf Inference {args.round} LLM results (closed division), OUT OF SAMPLE: no fit reads this file.\n"
              f"# Written by bench/mlperf_round_records.py from {args.url_base} (loadgen summaries,\n"
              f"# system JSON, measurements JSON; read from {args.read_from});\n"
              f"# lengths and model mapping from the shared mlperf.yaml's records of the same benchmark. tp / pp,\n"
              f"# the KV cache's precision, expert parallelism, disaggregation and speculative decoding: where a\n"
              f"# run's own files state them (its harness config or YAML, the submission's scripts; named in\n"
              f"# mlperf.stated_source), else null (the validator's tp rule and the runtime's defaults). Where a\n"
              f"# measurements JSON is a template, the weights' precision is the submission's (precision_source).\n"
              f"# Runs not written: {', '.join(f'{n} {r}' for r, n in sorted(skipped.items()))}.\n"
              f"# Canonical format: ../shared/calibration/SCHEMA.md.\n")
    args.out.write_text(header + yaml.safe_dump({"measurements": written}, sort_keys=False, width=110))
    print(f"{len(written)} records written to {args.out}", file=sys.stderr)
    for reason, n in sorted(skipped.items()):
        print(f"skipped {n}: {reason}", file=sys.stderr)


if __name__ == "__main__":
    main()
