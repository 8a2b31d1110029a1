"""The ``hwplan`` entry point: registers the command modules and maps errors to exit codes.

Every deliberate error (``PlannerError``) becomes one line on stderr and exit code 2; only
bugs show a traceback.
"""

from __future__ import annotations

import sys

import click
import typer

from cli import calibration_cmds, catalog_cmds, estimate_cmd, finetune_cmd, plan_cmd, serve_cmd  # noqa: F401  (each registers its commands)
from cli.app import app
from planner.errors import PlannerError

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: map the domain error tree to one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except PlannerError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors carry their own exit code (2)
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
