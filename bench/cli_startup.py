"""Start-up time of the CLI: wall time of a few commands as a ratio to ``python -c pass`` measured in
the same run (median of 5 each), the CPU time they use, and which heavy packages each imports.

    python bench/cli_startup.py [--repeat 5] [--examples] [--keep-answers] [--before TREE]

``--examples`` adds ``hwplan plan examples/<f>.yaml --json`` for every example (issue #21: each
within 20x ``python -c pass`` once the catalog caches are built; one unmeasured run per command
builds them) with the search's own ``search.elapsed_ms`` (the first search in a fresh process,
target 100 ms median) and what the process spends outside it. ``--before TREE`` measures the same
commands on another checkout too (``git worktree add --detach /tmp/st-base main``), alternating
runs so both see the same machine load, and prints before / after side by side.

Each run starts with the capacity answers and per-row values earlier runs saved
(hardware_catalog.caching.answers_cache) removed, so every search asks its questions for the first time,
as a new workload file does; ``--keep-answers`` keeps them: a re-run after an edit that leaves the token
lengths and SLOs alone (the request rate, the budget, a quota), where only shapes the new demand reaches
are evaluated.

Targets (issue #12): --help and catalog list < 0.4 s, estimate < 0.8 s on the reference machine;
the ratio makes a loaded or slower machine comparable (CPU seconds too: on a machine shared with
other work the wall time stretches, the CPU time much less). A ratio near 1 means the command
costs little more than starting Python.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("HWPLAN_BENCH_ROOT") or Path(__file__).resolve().parent.parent)  # the tree to measure
HWPLAN = [sys.executable, "-m", "cli.main"]
PACKAGES = ("planner", "hardware_catalog", "cli", "api")
COMMANDS = {
    "hwplan --help": ["--help"],
    "hwplan catalog list hardware": ["catalog", "list", "hardware"],
    "hwplan estimate --model llama-3.1-8b --hardware h100-sxm": ["estimate", "--model", "llama-3.1-8b",
                                                                 "--hardware", "h100-sxm"],
    "hwplan plan examples/support-chatbot.yaml": ["plan", "examples/support-chatbot.yaml"],
}
HEAVY = ("numpy", "scipy", "ortools", "pandas", "fastapi", "uvicorn", "httpx", "pydantic", "yaml", "rich")


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "100"}


KEEP_ANSWERS = False  # --keep-answers


def _forget_answers() -> None:
    """Remove the saved capacity answers and per-row values (``*.answers.npz``, ``*.rows.npz``: what a run keeps of
    the questions it asked; the catalog cache's other entries stay)."""
    from hardware_catalog.caching.cache_store import cache_dir

    folder = cache_dir()
    if folder.is_dir():
        for pattern in ("*.answers.npz", "*.rows.npz"):  # (literal: a --before tree may not know the second)
            for path in folder.glob(pattern):
                path.unlink(missing_ok=True)


def _once(argv: list[str], root: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, its stdout)."""
    if not KEEP_ANSWERS:
        _forget_answers()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=root, env=_env(root), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, proc.stdout


def _search_ms(stdout: str) -> float | None:
    try:
        return float(json.loads(stdout)["search"]["elapsed_ms"])
    except (ValueError, KeyError, TypeError):
        return None


def _measure(argv: list[str], roots: list[Path], repeat: int) -> list[dict[str, float | None]]:
    """Per tree: median wall, CPU and search ms over ``repeat`` runs, the trees' runs alternating."""
    for root in roots:  # build the catalog caches (and warm the page cache) unmeasured
        _once(argv, root)
    runs: list[list[tuple[float, float, float | None]]] = [[] for _ in roots]
    for _ in range(repeat):
        for i, root in enumerate(roots):
            wall, cpu, out = _once(argv, root)
            runs[i].append((wall, cpu, _search_ms(out)))
    out = []
    for r in runs:
        searches = [s for _, _, s in r if s is not None]
        out.append({"wall": statistics.median(w for w, _, _ in r), "cpu": statistics.median(c for _, c, _ in r),
                    "search_ms": statistics.median(searches) if searches else None})
    return out


def _heavy_imports(args: list[str], root: Path) -> list[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli.main", *args], cwd=root, env=_env(root),
                          capture_output=True, text=True, check=False)
    top = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
           if line.startswith("import time:")}
    return [h for h in HEAVY if h in top]


def _bytecode(root: Path) -> str:
    """How many of the tree's modules have current bytecode (the README's compileall writes it; with
    PYTHONDONTWRITEBYTECODE set no run does, and each run compiles the rest again)."""
    import importlib.util
    sources = [p for d in PACKAGES for p in (root / d).rglob("*.py")]
    current = 0
    for src in sources:
        pyc = Path(importlib.util.cache_from_source(str(src)))
        current += pyc.exists() and pyc.stat().st_mtime_ns >= src.stat().st_mtime_ns
    flag = " (PYTHONDONTWRITEBYTECODE set: runs write none)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    return f"{current} of {len(sources)} modules compiled{flag}"


def _row(name: str, figures: list[dict[str, float | None]], base: float, heavy: str) -> str:
    cells = []
    for f in figures:
        wall, cpu, search = f["wall"] or 0.0, f["cpu"] or 0.0, f["search_ms"]
        cells.append(f"{wall:7.3f} {wall / base:6.1f} {cpu:6.2f} {'' if search is None else f'{search:7.0f}':>7}")
    return f"{name:58} {' | '.join(cells)}  {heavy}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--examples", action="store_true",
                        help="also `hwplan plan examples/<f>.yaml --json` on every example (issue #21: within 20x)")
    parser.add_argument("--before", type=Path, help="another checkout to measure alongside (printed first)")
    parser.add_argument("--keep-answers", action="store_true",
                        help="keep the capacity answers earlier runs saved (a re-run after a rate or budget edit)")
    args = parser.parse_args()
    global KEEP_ANSWERS
    KEEP_ANSWERS = args.keep_answers
    print("capacity answers of earlier runs: " + ("kept (a re-run)" if KEEP_ANSWERS else
                                                  "removed before each run (every question new)"))
    roots = [args.before.resolve(), ROOT] if args.before else [ROOT]
    base = statistics.median(_once([sys.executable, "-c", "pass"], ROOT)[0] for _ in range(max(args.repeat, 5)))
    print(f"python -c pass: {base:.3f} s (median of {max(args.repeat, 5)}); trees: "
          f"{' | '.join(str(r) for r in roots)}")
    for root in roots:
        print(f"bytecode ({root.name}): {_bytecode(root)}")
    head = f"{'wall s':>7} {'ratio':>6} {'cpu s':>6} {'search':>7}"
    print(f"{'command':58} {' | '.join([head] * len(roots))}  heavy imports ({roots[-1].name})")
    ratios: list[list[float]] = [[] for _ in roots]
    searches: list[list[float]] = [[] for _ in roots]
    commands = dict(COMMANDS)
    if args.examples:
        commands |= {f"hwplan plan examples/{p.name} --json": ["plan", f"examples/{p.name}", "--json"]
                     for p in sorted((ROOT / "examples").glob("*.yaml"))}
    for name, argv in commands.items():
        figures = _measure([*HWPLAN, *argv], roots, args.repeat)
        print(_row(name, figures, base, ", ".join(_heavy_imports(argv, ROOT)) or "-"), flush=True)
        if name.endswith("--json"):
            for i, f in enumerate(figures):
                ratios[i].append((f["wall"] or 0.0) / base)
                if f["search_ms"] is not None:
                    searches[i].append(f["search_ms"])
    if args.examples:
        for root, r, s in zip(roots, ratios, searches, strict=True):
            print(f"plan --json over the {len(r)} examples ({root}): ratio median {statistics.median(r):.1f}, "
                  f"max {max(r):.1f} (target 20); first search in a fresh process median "
                  f"{statistics.median(s):.0f} ms (target 100)")


if __name__ == "__main__":
    main()
