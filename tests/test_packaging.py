"""The wheel carries every file the package reads at run time.

The basis is git: every tracked file under the catalog's data, its migrations and the web page's
static folder must be in the wheel ``pip wheel`` builds from this tree (an install that is not
editable reads only what the wheel holds: before this test, the price layer, ``data/prices/``, was
left out, so a wheel install planned with no prices).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("hardware_catalog/data", "hardware_catalog/migrations", "api/static")


def test_the_wheel_holds_every_shipped_data_file(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to list the tracked files")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", *SHIPPED], capture_output=True, text=True,
                             check=True).stdout.split()
    assert len(tracked) > 100  # the catalog's YAML files at least
    build = tmp_path / "build"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(build), "-w", str(tmp_path / "dist"), "--no-deps",
                    "--no-build-isolation", "-q"], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("hwplan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [path for path in tracked if path not in names]
    assert not missing, f"{len(missing)} shipped files not in the wheel, e.g. {missing[:5]}"
