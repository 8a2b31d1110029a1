"""The kept dataclass code (hardware_catalog.caching.compiled_code) gives every dataclass the methods the
compiler gives it.

Independent basis: a process without it (the dataclasses module compiling every text itself);
each generated method's code object (bytecode, constants, names, flags, line table), annotations and
defaults must be
the same, for every dataclass that the imports of ``hwplan plan`` create (the planner's, pydantic's,
typer's).
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hardware_catalog.caching import cache, compiled, compiled_code

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = ("import cli.commands.plan_cmd, hardware_catalog.caching.cache, hardware_catalog.outputs, "
           "hardware_catalog.inputs.workload")
DUMP = """
import dataclasses, hashlib, json, sys, types
{install}
{imports}

def canon(c):  # everything a code object runs by (its marshalled bytes also carry reference flags)
    return [c.co_name, c.co_qualname, c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_flags,
            c.co_stacksize, c.co_code.hex(), c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars,
            c.co_filename, c.co_firstlineno, c.co_linetable.hex(), c.co_exceptiontable.hex(),
            [canon(k) if isinstance(k, types.CodeType) else repr(k) for k in c.co_consts]]

out = {{}}
for name, module in sorted(sys.modules.items()):
    for cls in list(vars(module).values()):
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == name):
            continue
        for attr, fn in sorted(vars(cls).items()):
            code = getattr(fn, "__code__", None)
            if code is not None and code.co_filename == "<string>":  # written by dataclasses
                out[f"{{name}}.{{cls.__qualname__}}.{{attr}}"] = [
                    hashlib.sha256(json.dumps(canon(code)).encode()).hexdigest(), repr(fn.__annotations__),
                    repr(fn.__defaults__), repr(fn.__kwdefaults__), fn.__qualname__]
refs = {{}}
if len(sys.argv) > 1:  # the code of these forward references (typing compiles them, or the kept code)
    import typing
    for text in json.loads(open(sys.argv[1]).read()):
        refs[text] = hashlib.sha256(json.dumps(canon(typing.ForwardRef(text).__forward_code__)).encode()).hexdigest()
from hardware_catalog.caching import compiled_code
codes = compiled_code._codes
state = None if codes is None else [codes.new, len(codes.used)]
texts = [] if codes is None else [k.split("\\0", 1)[1] for k in codes.used if k.startswith("eval\\0")]
print(json.dumps({{"methods": out, "state": state, "texts": texts, "refs": refs}}))
"""


def _dump(cache_in: Path, *, install: bool, env: dict[str, str] | None = None,
          refs: Path | None = None) -> dict[str, Any]:
    code = DUMP.format(install="from hardware_catalog.caching import compiled_code; compiled_code.install()" if install
                       else "", imports=IMPORTS)
    base = {k: v for k, v in os.environ.items() if k != cache.ENV_OFF}  # (conftest turns caches off)
    env = {**base, "PYTHONPATH": str(ROOT), cache.ENV_DIR: str(cache_in), **(env or {})}
    out = subprocess.run([sys.executable, "-c", code, *([str(refs)] if refs else [])], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.fixture
def plain(cache_in: Path) -> dict[str, Any]:
    return _dump(cache_in, install=False)


def test_kept_code_is_the_compilers(cache_in: Path, plain: dict[str, Any]) -> None:
    methods = plain["methods"]
    assert isinstance(methods, dict) and len(methods) > 300  # __init__, __repr__, __eq__ ... of ~150 classes
    assert any(k.startswith("planner.") for k in methods) and any(k.startswith("pydantic") for k in methods)
    first = _dump(cache_in, install=True)  # compiles every text and keeps it
    assert first["methods"] == methods
    assert first["state"][0] is True
    assert len(list(cache_in.glob(f"*{compiled_code.SUFFIX}"))) == 1
    second = _dump(cache_in, install=True)  # every text from the file
    assert second["methods"] == methods
    new, used = second["state"]
    assert new is False and used >= len(methods)


def test_kept_forward_references_are_the_compilers(cache_in: Path, tmp_path: Path) -> None:
    """Every string annotation resolved on the way to a plan (pydantic's and typer's): the code
    typing compiles for it without the kept code, and with it from the file."""
    _dump(cache_in, install=True)
    texts = _dump(cache_in, install=True)["texts"]
    assert len(texts) > 300 and "str | None" in texts
    listed = tmp_path / "texts.json"
    listed.write_text(json.dumps(texts))
    kept = _dump(cache_in, install=True, refs=listed)
    assert kept["state"][0] is False  # all from the file
    assert kept["refs"] == _dump(cache_in, install=False, refs=listed)["refs"]


def test_a_file_others_may_write_is_never_read(cache_in: Path, plain: dict[str, Any]) -> None:
    _dump(cache_in, install=True)
    (file,) = cache_in.glob(f"*{compiled_code.SUFFIX}")
    os.chmod(file, 0o666)
    again = _dump(cache_in, install=True)
    assert again["methods"] == plain["methods"]
    assert again["state"][0] is True  # compiled everything itself


def test_a_corrupt_file_is_compiled_afresh(cache_in: Path, plain: dict[str, Any]) -> None:
    _dump(cache_in, install=True)
    (file,) = cache_in.glob(f"*{compiled_code.SUFFIX}")
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    again = _dump(cache_in, install=True)
    assert again["methods"] == plain["methods"] and again["state"][0] is True
    assert _dump(cache_in, install=True)["state"][0] is False  # rewritten whole


def test_off_installs_nothing(cache_in: Path) -> None:
    out = _dump(cache_in, install=True, env={cache.ENV_OFF: "1"})
    assert out["state"] is None and not cache_in.exists()


def test_info_lists_the_file_and_clear_removes_it(cache_in: Path) -> None:
    _dump(cache_in, install=True)
    kept = list(cache_in.glob(f"*{compiled_code.SUFFIX}"))
    assert kept
    listed = cache.info()
    assert [c["key"] for c in listed["code"]] == [kept[0].name.removesuffix(compiled_code.SUFFIX)]
    assert listed["bytes"] >= kept[0].stat().st_size and not listed["catalogs"] and not listed["workloads"]
    assert cache.clear() > 0
    assert not list(cache_in.glob(f"*{compiled_code.SUFFIX}"))


def test_the_console_script_keeps_the_code(cache_in: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), cache.ENV_DIR: str(cache_in)}
    env.pop(cache.ENV_OFF, None)
    out = subprocess.run([sys.executable, "-m", "cli.main", "estimate", "--model", "llama-3.1-8b", "--hardware",
                          "h100-sxm", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and '"fits"' in out.stdout
    assert len(list(cache_in.glob(f"*{compiled_code.SUFFIX}"))) == 1


def test_the_file_keeps_what_was_known_until_the_limit(cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = {f"x{i} = {i}": marshal.dumps(compile(f"x{i} = {i}", "<string>", "exec", dont_inherit=True))
             for i in range(4)}
    monkeypatch.setattr(compiled_code, "_codes", compiled_code._Codes(dict(known)))
    monkeypatch.setattr(compiled_code, "LIMIT", 6)
    codes = compiled_code._codes
    assert codes is not None and not compiled_code.save()  # nothing new: nothing written
    codes.code("y = 1", "exec")
    assert compiled_code.save()
    assert set(compiled.read_entry(compiled_code.path(), dict) or {}) == {*known, "y = 1"}  # merged
    codes.code("z = 2", "exec")
    codes.code("w", "eval")
    assert compiled_code.save()  # 7 texts > 6: only this run's
    assert set(compiled.read_entry(compiled_code.path(), dict) or {}) == {"y = 1", "z = 2", "eval\0w"}
