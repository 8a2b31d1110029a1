"""The console script ends the process without interpreter teardown (cli.main.exit_now) and what a
caller sees is what ``main`` with an ordinary exit gives: stdout, stderr, the exit code, atexit
handlers run; the ordinary exit when a thread still runs or a flush fails.

Independent basis: the same command line through ``main()`` and Python's own exit, in another
process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAIN = "import sys; from cli.main import main; sys.argv[0] = 'hwplan'; main()"
ENTRY = "import sys; from cli.main import entry; sys.argv[0] = 'hwplan'; entry()"


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=300)


@pytest.mark.parametrize("args", [
    ("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--json"),  # 0
    ("estimate", "--model", "no-such-model", "--hardware", "h100-sxm"),  # 2: an unknown id
    ("plan", "no-such-file.yaml", "--json"),  # 2: a file that cannot be read
    ("--version",),
    ("estimate", "--no-such-option"),  # a usage error
])
def test_the_console_script_is_main_with_an_ordinary_exit(args: tuple[str, ...]) -> None:
    plain, fast = _run(PLAIN, *args), _run(ENTRY, *args)
    assert (fast.returncode, fast.stdout, fast.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_an_infeasible_plan_exits_1_with_its_document() -> None:
    args = ("plan", "examples/infeasible.yaml", "--json")
    plain, fast = _run(PLAIN, *args), _run(ENTRY, *args)
    assert plain.returncode == fast.returncode == 1
    assert '"infeasible"' in fast.stdout and fast.stdout.rstrip().endswith("}")


def test_atexit_handlers_run_last() -> None:
    code = ("import atexit, sys; atexit.register(lambda: print('handler ran', flush=True)); "
            "sys.argv[0] = 'hwplan'; from cli.main import entry; entry()")
    out = _run(code, "--version")
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "handler ran"


def test_a_running_thread_is_joined_as_before() -> None:
    code = ("import sys, threading, time; "
            "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start(); "
            "sys.argv[0] = 'hwplan'; from cli.main import entry; entry()")
    out = _run(code, "--version")
    # joined: its line is printed (a process ending without the join would end before it; on a loaded machine the
    # command's own line may come after it, which read as a failure)
    assert out.returncode == 0 and "thread done" in out.stdout.splitlines()


def test_a_failed_flush_exits_as_a_closed_pipe() -> None:
    """stdout that cannot be flushed (a reader that went away): Python's own exit reports it and exits 120;
    the console script ends as for every closed pipe, 141 with nothing on stderr (README "Exit codes")."""
    code = ("import sys, io\n"
            "class Broken(io.TextIOWrapper):\n"  # the command's own flush works, later ones fail
            "    flushes = 0\n"
            "    def flush(self):\n"
            "        Broken.flushes += 1\n"
            "        if Broken.flushes > 1: raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.stdout = Broken(io.BytesIO())\n"
            "sys.argv[0] = 'hwplan'\n"
            "from cli.main import {}; {}()\n")
    plain, fast = _run(code.format("main", "main"), "--version"), _run(code.format("entry", "entry"), "--version")
    assert plain.returncode == 120 and "BrokenPipeError" in plain.stderr
    assert fast.returncode == 141 and fast.stderr == "", fast.stderr
