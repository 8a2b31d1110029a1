"""Record or compare what hwplan prints for every example, a grid of estimates and the shared
calibration file, so a refactor (or a cache) can show it changes no number.

    python bench/golden_diff.py record OUT.json     # run the CLI, keep its JSON
    python bench/golden_diff.py compare OUT.json    # run again, print every difference; exit 1 on any

Volatile fields (wall times, solver timings) are dropped before comparing; floats compare to a
relative 1e-9.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HWPLAN = [sys.executable, "-c", "import sys; from cli.main import main; sys.argv[0] = 'hwplan'; main()"]
VOLATILE = {"elapsed_ms", "elapsed_s", "seconds", "wall_s", "solve_ms", "time_s", "timing", "search_ms", "saved_at"}
ESTIMATES = [
    ["--model", "llama-3.1-8b", "--hardware", "h100-sxm"],
    ["--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--tp", "4", "--chips", "4", "--precision", "fp8"],
    ["--model", "mixtral-8x7b", "--hardware", "mi300x", "--scenario", "max_throughput"],
    ["--model", "llama-3.1-8b", "--hardware", "l4", "--scenario", "server", "--request-rate", "2"],
    ["--model", "qwen2.5-7b", "--hardware", "tpu-v5e", "--tp", "4", "--chips", "4"],
    ["--model", "llama-3.1-8b", "--hardware", "inferentia2", "--tp", "2", "--chips", "2"],
]
CALIBRATION = ROOT.parent / "shared" / "calibration" / "public_benchmarks.yaml"


def _run(args: list[str]) -> Any:
    out = subprocess.run([*HWPLAN, *args, "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        return {"rc": out.returncode, "doc": _strip(json.loads(out.stdout))}
    except json.JSONDecodeError:  # an error is compared by its message
        return {"rc": out.returncode, "stdout": out.stdout[-2000:], "stderr": out.stderr[-2000:]}


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    if isinstance(doc, str):  # file paths name the tree they ran in
        return doc.replace(str(ROOT), "<root>")
    return doc


def snapshot() -> dict[str, Any]:
    docs: dict[str, Any] = {}
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        docs[f"plan {example.name}"] = _run(["plan", str(example)])
    for args in ESTIMATES:
        docs["estimate " + " ".join(args)] = _run(["estimate", *args])
    if CALIBRATION.exists():
        docs["validate public_benchmarks"] = _run(["validate", str(CALIBRATION)])
    return docs


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in before" for k in a.keys() - b.keys()]
        out += [f"{path}.{k}: only in after" for k in b.keys() - a.keys()]
        for k in a.keys() & b.keys():
            out += diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items -> {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        return []
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def main() -> int:
    mode, path = sys.argv[1], Path(sys.argv[2])
    now = snapshot()
    if mode == "record":
        path.write_text(json.dumps(now, indent=1, sort_keys=True))
        print(f"recorded {len(now)} documents to {path}")
        return 0
    before = json.loads(path.read_text())
    problems = diff(before, now)
    for p in problems[:200]:
        print(p)
    print(f"{len(now)} documents compared, {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
