"""The ``hwplan`` entry point: registers the command modules and maps errors to exit codes.

Exit codes (cli.app): 0 done, 1 no plan fits, 2 bad input (usage errors included), 3 the search
timed out before any plan, 141 stdout closed before the output was written. Every deliberate
error is one line on stderr naming the option or field; only bugs show a traceback.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Any, NoReturn

import typer

from cli.app import EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_PIPE, EXIT_TIMEOUT

__all__ = ["COMMAND_MODULES", "entry", "main", "register"]  # (and ``app``, through __getattr__)

# The module that registers each top-level command or group. ``main`` imports only the one the
# command line names (each module's imports cost start-up time, and typer builds every registered
# command's options before it runs one); ``--help``, no command or an unknown one import them all.
COMMAND_MODULES = {
    "plan": "commands.plan_cmd", "estimate": "commands.estimate_cmd", "finetune": "commands.finetune_cmd",
    "plan-fleet": "commands.fleet_cmd", "sweep": "commands.sweep_cmd", "export": "commands.export_cmds",
    "compare": "commands.export_cmds", "replan": "commands.export_cmds", "schema": "commands.schema_cmd",
    "serve": "commands.serve_cmd", "catalog": "catalog.catalog_cmds", "prices": "catalog.prices_cmd",
    "cache": "catalog.cache_cmds", "validate": "catalog.calibration_cmds", "calibrate": "catalog.calibration_cmds",
}
_ORDER = ("commands.plan_cmd", "commands.estimate_cmd", "commands.finetune_cmd", "commands.export_cmds",
          "commands.fleet_cmd", "commands.sweep_cmd", "catalog.catalog_cmds", "catalog.prices_cmd",
          "catalog.calibration_cmds", "catalog.cache_cmds", "commands.schema_cmd",
          "commands.serve_cmd")  # --help lists them in this order


def register(args: list[str] | None = None) -> typer.Typer:
    """The app with the command ``args`` names registered (every command when it names none)."""
    from cli.app import app

    name = next((a for a in args if not a.startswith("-")), None) if args else None
    for module in [COMMAND_MODULES[name]] if name in COMMAND_MODULES else _ORDER:
        import_module(f"cli.{module}")
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from cli.main import app``: the whole app
        return register()
    raise AttributeError(f"module 'cli.main' has no attribute {name!r}")


def _planner_exit(exc: Exception) -> int:
    from planner.errors import InfeasibleError, SolverTimeoutError

    if isinstance(exc, InfeasibleError):
        return EXIT_INFEASIBLE
    return EXIT_TIMEOUT if isinstance(exc, SolverTimeoutError) else EXIT_BAD_INPUT


def main(args: list[str] | None = None) -> None:
    """Console entry point: run the app; map errors to one line and an exit code."""
    from planner.errors import PlannerError

    app = register(sys.argv[1:] if args is None else args)
    try:
        code = app(args=args, standalone_mode=False, prog_name="hwplan")
    except PlannerError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(_planner_exit(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.TyperException as exc:  # click's (bundled) usage errors: unknown option, bad value ...
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:  # a file named on the command line that cannot be read or written
        # (no file name: the command's own output, e.g. stdout on a full disk, printed "error: : No space ...")
        typer.echo(f"error: {exc.filename or 'output'}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if isinstance(code, int) and code:  # typer.Exit(code) comes back as a value without standalone mode
        sys.exit(code)


def entry() -> NoReturn:
    """The ``hwplan`` console script (and ``python -m cli.main``): ``one_blas_thread``, the kept
    dataclass code (``hardware_catalog.caching.compiled_code``), ``main``, then ``exit_now``."""
    from hardware_catalog.caching import compiled_code

    one_blas_thread()
    compiled_code.install()
    try:
        main()
    except SystemExit as exc:
        exit_now(EXIT_PIPE if _stdout_closed() else exc.code)
    exit_now(0)


def _stdout_closed() -> bool:
    """Whether the command's stdout was closed before its output was written (piped to head): typer
    (as click) then replaces stdout with a wrapper that silences the failing flushes and exits 1, which
    here means "no plan meets every constraint"; the console (``cli.output.console``) takes rich's output
    the same way."""
    return type(sys.stdout).__name__ == "PacifyFlushWrapper"  # (click's, vendored in typer as typer._click)


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")  # what OpenBLAS reads, in order


def one_blas_thread() -> None:
    """Run numpy's OpenBLAS on one thread unless the environment says how many (before numpy is
    imported: it reads the variable once). The model's products are small batched matrices, too
    small to gain from BLAS threads; the thread pool costs a cold ``hwplan plan`` ~20 ms to start
    and, on a machine shared with other work, its threads spinning between products take cores
    from the search (40-170 ms of a plan on the 2-core reference machine). bench/plan_bench.py
    and the other benches pin the same."""
    if not any(os.environ.get(name) for name in BLAS_THREADS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


def exit_now(code: object) -> NoReturn:
    """End the process without tearing the interpreter down. After a command has run, Python's
    finalisation (freeing every module and object, OR-Tools' and OpenBLAS' teardown) is 40-80 ms of
    a cold ``hwplan plan`` on the reference machine, for a process that ends anyway. What a normal
    exit does that a caller can see is kept: the atexit handlers run and stdout and stderr are
    flushed first. The ordinary exit happens instead for an exit code that is not a number (a
    message), while another thread still runs (it would be joined) or when a flush fails (a closed
    pipe ends quietly with EXIT_PIPE)."""
    import atexit
    import threading

    run_atexit = getattr(atexit, "_run_exitfuncs", None)  # what finalisation calls first
    if not (code is None or isinstance(code, int)) or threading.active_count() > 1 or run_atexit is None:
        raise SystemExit(code)
    run_atexit()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader of stdout left before the last flush (piped to head)
        _stdout_to_devnull()
        os._exit(EXIT_PIPE)
    except (OSError, ValueError):
        raise SystemExit(code) from None
    os._exit(code or 0)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that what is still buffered for the closed pipe is dropped quietly
    (Python would report the failed flush at exit, and exit 120). A stdout without a descriptor (replaced
    in-process) has nothing to point."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    entry()
