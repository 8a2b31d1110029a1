"""The console script runs numpy's OpenBLAS on one thread unless the environment says otherwise
(cli.main.one_blas_thread): a cold ``hwplan plan`` neither starts BLAS's thread pool nor has its
threads spinning beside the search.

Independent basis: the threads the process itself has (/proc/self/task) once numpy is loaded, with
``main()`` (no setting) beside the console script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT = ("import atexit, os, sys; atexit.register(lambda: print('BLAS', os.environ.get('OPENBLAS_NUM_THREADS'), "
          "'numpy' in sys.modules, len(os.listdir('/proc/self/task')), flush=True)); sys.argv[0] = 'hwplan'; ")
ARGS = ("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--json")  # loads numpy


def _report(call: str, env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                                             "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", REPORT + call, *ARGS], cwd=ROOT, capture_output=True, text=True,
                         env={**base, "PYTHONPATH": str(ROOT), **env}, check=True, timeout=300)
    return out.stdout.strip().splitlines()[-1].split()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2,
                    reason="counts threads in /proc on a machine with BLAS threads to start")
def test_the_console_script_starts_no_blas_threads() -> None:
    _, setting, numpy, threads = _report("from cli.main import entry; entry()", {})
    assert (setting, numpy, threads) == ("1", "True", "1")
    _, setting, numpy, threads = _report("from cli.main import main; main()", {})  # BLAS's own default
    assert (setting, numpy) == ("None", "True") and int(threads) > 1


@pytest.mark.parametrize("name", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])
def test_a_thread_count_in_the_environment_wins(name: str) -> None:
    _, setting, _, _ = _report("from cli.main import entry; entry()", {name: "2"})
    assert setting == ("2" if name == "OPENBLAS_NUM_THREADS" else "None")
