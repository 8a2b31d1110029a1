"""The rich console the commands print through.

Rich's, except where stdout is closed before the output is written (``hwplan plan w.yaml | head``):
rich then exits 1 on its own, which in this CLI means "no plan meets every constraint". This one raises
the ``BrokenPipeError`` (EPIPE) that ``typer.echo`` meets there, which typer ends as it ends every
other output's (stdout wrapped, exit 1) and ``cli.main.entry`` reports as ``EXIT_PIPE``.
"""

from __future__ import annotations

import errno
import os

from rich.console import Console as RichConsole

__all__ = ["Console"]


class Console(RichConsole):
    def on_broken_pipe(self) -> None:
        self.quiet = True  # (nothing more is written: rich drops its buffer while quiet)
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
