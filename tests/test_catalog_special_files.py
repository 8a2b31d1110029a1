"""A catalog directory's YAML paths that are not regular files are refused by name, never read.

The files are found by globbing, so a FIFO or a link to a device can sit among them. Before: with a FIFO
at an --add directory's hardware/x.yaml, `hwplan catalog validate --add DIR` waited forever for a writer;
with a link to /dev/zero the catalog's content hash read it whole (no size cap) until the kernel killed
the process. The expected outcome is the documented one (docs/catalog.md, "Rules every file obeys"): exit 2,
one line naming the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hardware_catalog import input_bytes
from hardware_catalog.caching import compiled
from hardware_catalog.content_hash import catalog_hash
from hardware_catalog.loader import load_catalog as load_files
from planner.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX special files")


def _overlay(tmp_path: Path) -> Path:
    (tmp_path / "add" / "hardware").mkdir(parents=True)
    return tmp_path / "add"


@pytest.mark.parametrize("no_cache", ["", "1"])
def test_a_fifo_in_an_overlay_is_refused_not_waited_on(tmp_path: Path, no_cache: str) -> None:
    """In a subprocess with a timeout: the failure this guards against is a hang."""
    add = _overlay(tmp_path)
    fifo = add / "hardware" / "x.yaml"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HWPLAN_CACHE_DIR": str(tmp_path / "cache"),
           "HWPLAN_NO_CACHE": no_cache}
    try:
        done = subprocess.run([sys.executable, "-m", "cli.main", "catalog", "validate", "--add", str(add)],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("catalog validate blocked on a FIFO in the catalog directory")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and str(fifo) in done.stderr and "not a regular file" in done.stderr


@pytest.mark.parametrize("load", [load_files, compiled.load_catalog])
def test_a_link_to_a_device_is_refused_by_name(tmp_path: Path, load: object, cache_in: Path) -> None:
    """/dev/null rather than /dev/zero: a broken fix then fails this test instead of exhausting memory."""
    add = _overlay(tmp_path)
    link = add / "hardware" / "dev.yaml"
    link.symlink_to(os.devnull)
    with pytest.raises(CatalogError, match="not a regular file") as caught:
        load(overlays=[add])  # type: ignore[operator]
    assert caught.value.file == str(link)


def test_the_content_hash_reads_no_more_than_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash runs before the loader (the compiled catalog's key), so it holds to the loader's cap too."""
    monkeypatch.setattr(input_bytes, "MAX_FILE_BYTES", 4096)
    add = _overlay(tmp_path)
    big = add / "hardware" / "big.yaml"
    big.write_text("#" + "x" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="larger than") as caught:
        catalog_hash([add])
    assert caught.value.file == str(big)
