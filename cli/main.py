"""The ``hwplan`` entry point: registers the command modules and maps errors to exit codes.

Exit codes (cli.app): 0 done, 1 no plan fits, 2 bad input (usage errors included), 3 the search
timed out before any plan. Every deliberate error is one line on stderr naming the option or
field; only bugs show a traceback.
"""

from __future__ import annotations

import sys

import typer

from cli import (  # noqa: F401  (each registers its commands)
    cache_cmds,
    calibration_cmds,
    catalog_cmds,
    estimate_cmd,
    export_cmds,
    finetune_cmd,
    fleet_cmd,
    plan_cmd,
    prices_cmd,
    schema_cmd,
    serve_cmd,
    sweep_cmd,
)
from cli.app import EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_TIMEOUT, app

__all__ = ["app", "main"]


def _planner_exit(exc: Exception) -> int:
    from planner.errors import InfeasibleError, SolverTimeoutError

    if isinstance(exc, InfeasibleError):
        return EXIT_INFEASIBLE
    return EXIT_TIMEOUT if isinstance(exc, SolverTimeoutError) else EXIT_BAD_INPUT


def main(args: list[str] | None = None) -> None:
    """Console entry point: run the app; map errors to one line and an exit code."""
    from planner.errors import PlannerError

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
        typer.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if isinstance(code, int) and code:  # typer.Exit(code) comes back as a value without standalone mode
        sys.exit(code)


if __name__ == "__main__":
    main()
