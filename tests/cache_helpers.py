"""What the cache tests share: a small copy of the shipped catalog, a ``hwplan plan`` run against the cache and one
without it, and damage done to a cache file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardware_catalog import default_catalog_dir, load_catalog
from hardware_catalog.caching import answers_cache, cache, compiled
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.results import PlanResult
from planner.workload import Workload

DAMAGES = ("flip", "truncate", "empty", "garbage")
# the small catalog of the answers' and rows' tests, and the workload they plan
SMALL_HARDWARE = {"l4", "a10g", "h100-sxm", "a100-80gb"}
SMALL_MODELS = {"llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "qwen2.5-14b"}
CHATBOT = Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml"


def cached_run(directory: Path, w: Workload) -> PlanResult:
    """One ``hwplan plan`` run: fresh tables backed by the cache, a plan, what it found saved."""
    catalog = load_catalog(directory)
    tables = cache.catalog_tables(catalog, answers=True)
    result = plan(w, catalog, tables=tables)
    answers_cache.save(tables)
    return result


def fresh_plan(directory: Path, w: Workload) -> PlanResult:
    """The plan of tables with no cache, which compute every answer, screen and tuned cap themselves."""
    catalog = load_catalog(directory)
    return plan(w, catalog, tables=CatalogTables.from_catalog(catalog))


def small_catalog(dst: Path, hardware: set[str], models: set[str]) -> Path:
    """A copy of the shipped catalog at ``dst`` with only these chips and models (small arrays), its
    calibration cut to the chips kept."""
    shutil.copytree(default_catalog_dir(), dst)
    for kind, keep in (("hardware", hardware), ("models", models)):
        for path in (dst / kind).glob("*.yaml"):
            if path.stem not in keep:
                path.unlink()
    cal = yaml.safe_load((dst / "calibration.yaml").read_text())
    cal["entries"] = [e for e in cal["entries"] if e.get("hardware") in hardware]
    (dst / "calibration.yaml").write_text(yaml.safe_dump(cal))
    return dst


def damage(entry: Path, how: str) -> None:
    """Damage a cache file in place: one byte flipped, cut in half, emptied, or replaced by a pickle
    header and garbage."""
    data = bytearray(entry.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = bytearray()
    elif how == "garbage":
        data = bytearray(b"\x80\x05not a pickle at all")
    else:
        raise ValueError(f"unknown damage {how!r}, expected one of {DAMAGES}")
    entry.write_bytes(bytes(data))


def refuse_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every unpickling of a cache entry fail and record it (the sizes of the payloads it was
    asked for): a test asserts the list stays empty where an entry must never be unpickled. (Raising
    alone would not do: a failed unpickling passes for a corrupt entry and is rebuilt silently.)"""
    unpickled: list[int] = []

    def refuse(data: bytes) -> object:
        unpickled.append(len(data))
        raise ValueError("unpickled")

    monkeypatch.setattr(compiled.pickle, "loads", refuse)
    return unpickled


def concurrent_plan_runs(catalog_dir: Path, cache_in: Path, workload: Path, runs: int = 2) -> list[dict[str, Any]]:
    """``runs`` ``hwplan plan --json`` processes started together on one cache directory: each must exit 0;
    their documents, parsed."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "HWPLAN_CACHE_DIR": str(cache_in)}
    env.pop("HWPLAN_NO_CACHE", None)
    cmd = [sys.executable, "-m", "cli.main", "plan", str(workload), "--catalog", str(catalog_dir), "--json"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root)
             for _ in range(runs)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * runs, [o[1][-500:] for o in outs]
    return [json.loads(o[0]) for o in outs]
