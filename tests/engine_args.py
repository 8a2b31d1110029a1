"""Parsers that know exactly an engine's published argument names (tests/fixtures/engine_args/).

Each fixture line is ``--name[,--alias] flag|value``, copied from the engine's own argument parser
at the commit its header cites; an option the engine does not have fails to parse.
"""

from __future__ import annotations

import argparse
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "engine_args"


def parser_from(fixture: str, prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False, exit_on_error=False)
    for line in (FIXTURES / fixture).read_text().splitlines():
        if line and not line.startswith("#"):
            names, kind = line.split()
            p.add_argument(*names.split(","), action="store_true" if kind == "flag" else "store")
    p.add_argument("positional", nargs="?")
    return p
