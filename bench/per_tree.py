"""Shared harness of the per-example, per-source-tree benchmarks (bench/first_search.py,
bench/eval_counts.py): their command line (--trees, --only) and one fresh child process per
(tree, example) that runs a script with that tree first on the path and prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def parse(doc: str | None) -> tuple[list[Path], list[Path]]:
    """(trees, examples) from the command line; trees resolved, examples in name order."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", nargs="*", default=[str(ROOT)], help="source trees to measure (default: this one)")
    parser.add_argument("--only", nargs="*", default=None, help="example names (file stems)")
    args = parser.parse_args()
    examples = [p for p in sorted((ROOT / "examples").glob("*.yaml")) if args.only is None or p.stem in args.only]
    return [Path(t).resolve() for t in args.trees], examples


def run_child(script: str, tree: Path, example: Path) -> dict[str, Any]:
    """The last stdout line of ``script`` (run with ``tree`` on PYTHONPATH, the example's path as
    argv[1]) as JSON."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", script, str(example)], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))
