"""Start-up time of the CLI: wall time of a few commands as a ratio to ``python -c pass`` measured in
the same run (median of 5 each), and which heavy packages each command imports.

    python bench/cli_startup.py [--repeat 5]

Targets (issue #12): --help and catalog list < 0.4 s, estimate < 0.8 s on the reference machine;
the ratio makes a loaded or slower machine comparable. A ratio near 1 means the command costs little
more than starting Python.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("HWPLAN_BENCH_ROOT") or Path(__file__).resolve().parent.parent)  # the tree to measure
HWPLAN = [sys.executable, "-m", "cli.main"]
COMMANDS = {
    "hwplan --help": ["--help"],
    "hwplan catalog list hardware": ["catalog", "list", "hardware"],
    "hwplan estimate --model llama-3.1-8b --hardware h100-sxm": ["estimate", "--model", "llama-3.1-8b",
                                                                 "--hardware", "h100-sxm"],
    "hwplan plan examples/support-chatbot.yaml": ["plan", "examples/support-chatbot.yaml"],
}
HEAVY = ("numpy", "scipy", "ortools", "fastapi", "uvicorn", "httpx", "pydantic")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}


def _wall(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _heavy_imports(args: list[str]) -> list[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli.main", *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, check=False)
    top = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
           if line.startswith("import time:")}
    return [h for h in HEAVY if h in top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--examples", action="store_true",
                        help="also `hwplan plan` on every examples/*.yaml (issue #21: within 20x python -c pass)")
    args = parser.parse_args()
    base = _wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"python -c pass: {base:.3f} s (median of {args.repeat})")
    print(f"{'command':58} {'wall s':>7} {'ratio':>6}  heavy imports")
    for name, argv in COMMANDS.items():
        wall = _wall([*HWPLAN, *argv], args.repeat)
        print(f"{name:58} {wall:7.3f} {wall / base:6.1f}  {', '.join(_heavy_imports(argv)) or '-'}")
    if args.examples:
        ratios = []
        for path in sorted((ROOT / "examples").glob("*.yaml")):
            argv = ["plan", f"examples/{path.name}"]
            wall = _wall([*HWPLAN, *argv], args.repeat)
            ratios.append(wall / base)
            print(f"{'hwplan plan examples/' + path.name:58} {wall:7.3f} {wall / base:6.1f}  "
                  f"{', '.join(_heavy_imports(argv)) or '-'}")
        print(f"plan over the examples: ratio median {statistics.median(ratios):.1f}, max {max(ratios):.1f}")


if __name__ == "__main__":
    main()
