"""Crash consistency of catalog writes (api/store.py): a writer process is killed (os._exit, so no
cleanup runs) at each step of the write sequence, then a new store starts on the directory.
Afterwards every acknowledged change is in the history, nothing outside the history survives,
and the catalog serves. Fault injection at named steps, not timing luck."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from api.files import etag_of
from api.store import CatalogStore
from hardware_catalog import default_catalog_dir

ROOT = Path(__file__).resolve().parents[1]
PRICE = 7.77  # the killed write sets l40s's tdp_w to this (prices moved to prices/ in issue #14)

# step -> (function to wrap, which call dies, before or after the original runs)
STEPS = {
    "torn pending line": ("api.store._append_line", 1, "torn"),
    "after pending line": ("api.store._append_line", 1, "after"),
    "temp file written, before rename": ("api.files.os.replace", 1, "before"),
    "after rename, before directory fsync": ("api.files._fsync_dir", 1, "before"),
    "after file replaced": ("api.store._write_or_remove", 1, "after"),
    "after version bump": ("api.store.CatalogStore._bump_version", 1, "after"),
    "torn committed line": ("api.store._append_line", 2, "torn"),
    "after committed line": ("api.store._append_line", 2, "after"),
}
COMMITTED = {"after committed line"}  # the only step after which the change was acknowledged


def child(directory: str, step: str) -> None:
    """Runs in the writer process: wrap the step's function to die there, then PUT."""
    import importlib

    target, nth, when = STEPS[step]
    module_name, _, attr = target.rpartition(".")
    owner: object
    try:
        owner = importlib.import_module(module_name)
    except ModuleNotFoundError:  # a method: module.Class.attr
        module_name, _, cls = module_name.rpartition(".")
        owner = getattr(importlib.import_module(module_name), cls)
    original = getattr(owner, attr)
    calls = [0]

    def dying(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == nth:
            if when == "before":
                os._exit(9)
            if when == "torn":  # half the line reaches the disk
                file, data = args
                with open(file, "ab") as f:  # type: ignore[call-overload]
                    f.write(data[: len(data) // 2])  # type: ignore[index]
                os._exit(9)
            original(*args, **kwargs)
            os._exit(9)
        return original(*args, **kwargs)

    setattr(owner, attr, dying)
    store = CatalogStore(Path(directory))
    path = Path(directory) / "hardware" / "l40s.yaml"
    content = yaml.safe_load(path.read_text())
    content["tdp_w"] = PRICE
    store.put("hardware", "l40s", content, if_match=etag_of(path.read_bytes()), if_none_match=None,
              actor="default")
    os._exit(0)


@pytest.fixture
def cat_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), directory)
    CatalogStore(directory).initialise()
    return directory


def _kill_at(directory: Path, step: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, str(directory), step], env=env, timeout=120,
                          capture_output=True, text=True)
    return done.returncode


@pytest.mark.parametrize("step", list(STEPS))
def test_kill_at_each_step_then_restart(cat_dir: Path, step: str) -> None:
    before = (cat_dir / "hardware" / "l40s.yaml").read_bytes()
    code = _kill_at(cat_dir, step)
    assert code == 9, f"the writer was not killed at {step!r} (exit {code})"
    store = CatalogStore(cat_dir)
    store.initialise()  # recovery
    after = (cat_dir / "hardware" / "l40s.yaml").read_bytes()
    history = store.history(100)
    if step in COMMITTED:
        assert yaml.safe_load(after)["tdp_w"] == PRICE
        assert [(e["seq"], e["etag_after"]) for e in history] == [(1, etag_of(after))]
    else:  # not acknowledged: rolled back, byte for byte, and not in the history
        assert after == before and history == []
    # invariant: the file is what the history's last change left (or the shipped one)
    assert (history[0]["etag_after"] if history else etag_of(before)) == etag_of(after)
    assert not list(cat_dir.rglob("*.tmp"))
    assert store.snapshot().catalog.hardware["l40s"]  # serves
    lines = (cat_dir / ".history.jsonl").read_bytes()
    assert lines == b"" or lines.endswith(b"\n") and all(json.loads(x) for x in lines.splitlines())
    # the next write works and gets a sequence number no line has used (aborted ones included)
    used = [json.loads(x)["seq"] for x in lines.splitlines()]
    content = yaml.safe_load(after)
    content["tdp_w"] = 1.25
    store.put("hardware", "l40s", content, if_match=etag_of(after), if_none_match=None, actor="default")
    assert store.history(1)[0]["seq"] == max(used, default=0) + 1


def test_failure_inside_the_process_rolls_back_at_once(cat_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a restart: a step that raises leaves the old file, an 'aborted' line, no change."""
    before = (cat_dir / "hardware" / "l40s.yaml").read_bytes()
    store = CatalogStore(cat_dir)

    def fails(self: CatalogStore, seq: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(CatalogStore, "_bump_version", fails)
    content = yaml.safe_load(before)
    content["tdp_w"] = PRICE
    with pytest.raises(OSError):
        store.put("hardware", "l40s", content, if_match=etag_of(before), if_none_match=None, actor="default")
    assert (cat_dir / "hardware" / "l40s.yaml").read_bytes() == before
    assert store.history(10) == []
    states = [json.loads(x)["state"] for x in (cat_dir / ".history.jsonl").read_text().splitlines()]
    assert states == ["pending", "aborted"]


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2])
