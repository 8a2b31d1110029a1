"""Compiled dataclass methods (and forward references) kept between runs, for the CLI's start-up.

``dataclasses`` writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` ... as source text and compiles it when the class is created: for the dataclasses a
``hwplan plan`` imports (the planner's ~90 and pydantic's) that is ~750 compilations, 60-70 ms of a
cold plan on the 2-core reference machine, a quarter of its imports. ``install()`` (the console
script calls it first, ``cli.main.entry``) has the dataclasses module compile each distinct text
once: the code objects are kept in one file under the cache directory and reused by later
processes. The text is the key, so a class whose fields or options change writes another text
and is compiled afresh: an entry is never stale. The file is per Python version and
optimisation level (code objects are not portable across them). The typing module's
compilations, one per string annotation pydantic and typer resolve (``ForwardRef``, ~1,000 tiny
expressions, 10-15 ms), are kept the same way.

What runs is what the compiler gives for the same text, byte for byte: the text is compiled as
``exec`` would (mode "exec", no ``__future__`` flags inherited: the dataclasses module has none)
and the code is executed by ``exec`` in the namespace the dataclasses module passes
(tests/test_compiled_code.py compares every method's code with a process without it). The file
is read under the compiled catalog's checks (``compiled.read_entry``: owner-only, SHA-256 of the
payload; code objects run, so a file others may write is never read), and written back only by
a process that compiled something new (``save``). ``HWPLAN_NO_CACHE=1`` turns it off; ``hwplan
cache clear`` removes the file.
"""

from __future__ import annotations

import atexit
import builtins
import dataclasses
import hashlib
import marshal
import sys
import types
import typing
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import Any

from hardware_catalog.caching import compiled
from hardware_catalog.caching.cache_store import cache_dir, enabled

__all__ = ["LIMIT", "SUFFIX", "install", "installed", "path", "save"]

SUFFIX = ".code.pickle"
LIMIT = 4_000  # texts kept (a plan uses ~1,800, ~1 MB): past it the file keeps only the last run's


class _Codes:
    """The texts compiled (marshalled code) from the file, those this process used, and whether
    it compiled any text the file did not have."""

    def __init__(self, known: dict[str, bytes]) -> None:
        self.known = known
        self.used: dict[str, bytes] = {}
        self.new = False

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:  # noqa: A002
        """``exec`` for the dataclasses module: a text's code from the file, else compiled."""
        code = self.code(source, "exec") if isinstance(source, str) else source
        builtins.exec(code, globals, locals)  # noqa: S102 - the code of dataclasses' own text

    def compile(self, source: Any, filename: Any, mode: Any, flags: int = 0, dont_inherit: bool = False,
                optimize: int = -1) -> Any:
        """``compile`` for the typing module (a ``ForwardRef``'s expression): kept like the
        dataclasses' texts. Compiled without inherited flags either way: typing has none."""
        if isinstance(source, str) and (filename, mode, flags, optimize) == ("<string>", "eval", 0, -1):
            return self.code(source, "eval")
        return compile(source, filename, mode, flags, True, optimize)

    def code(self, source: str, mode: str) -> types.CodeType:
        """The code of ``source`` compiled in ``mode`` as the module asking would: from the file,
        else compiled (a SyntaxError is the compiler's)."""
        key = source if mode == "exec" else f"{mode}\0{source}"
        data = self.known.get(key)
        code = None if data is None else _unmarshal(data)
        if data is None or code is None:
            code = compile(source, "<string>", mode, dont_inherit=True)
            data = marshal.dumps(code)
            self.new = True
        self.used[key] = data
        return code


def _unmarshal(data: bytes) -> types.CodeType | None:
    try:
        code = marshal.loads(data)
    except (ValueError, EOFError, TypeError):  # (the file's digest checked out: not expected)
        return None
    return code if isinstance(code, types.CodeType) else None


_codes: _Codes | None = None


def path() -> Path:
    """This Python's file: per version, bytecode magic and optimisation level."""
    tag = hashlib.sha256(f"{sys.version}\n{MAGIC_NUMBER.hex()}\n{sys.flags.optimize}".encode()).hexdigest()[:16]
    return cache_dir() / f"class-code-{tag}{SUFFIX}"


def installed() -> bool:
    return _codes is not None


def install() -> None:
    """Route the dataclasses module's compilations through the kept code (once per process; not
    when the cache is off)."""
    global _codes
    if _codes is not None or not enabled():
        return
    known = compiled.read_entry(path(), dict)
    _codes = _Codes(known if known is not None and all(type(k) is str and type(v) is bytes
                                                       for k, v in known.items()) else {})
    dataclasses.exec = _codes.exec  # type: ignore[attr-defined]  # a module global shadows the builtin
    typing.compile = _codes.compile  # type: ignore[attr-defined]
    atexit.register(save)


def save() -> bool:
    """Write the file back when this process compiled a text it lacked: its texts and this run's
    (only this run's once that passes ``LIMIT``). False when there was nothing to write or it
    cannot be written."""
    if _codes is None or not _codes.new:
        return False
    merged = {**_codes.known, **_codes.used}
    if len(merged) > LIMIT:
        merged = dict(_codes.used)
    file = path()
    if not compiled.write_entry(file.parent, file, merged, suffix=SUFFIX, keep=4):
        return False
    _codes.known, _codes.new = merged, False
    return True
