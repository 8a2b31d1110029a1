"""Reading one catalog file: YAML parsing and pydantic validation, errors naming file and field.

Shared by every loader (``hardware_catalog.loader``, ``hardware_catalog.prices``,
``hardware_catalog.inputs.workload``), so they need not import one another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError

from hardware_catalog.input_bytes import read_bytes
from planner.errors import CatalogError

__all__ = ["KEY", "SAFE_LOADER", "TAG", "YAML_LOADER", "Label", "Sources", "Text", "default_catalog_dir", "field_path",
           "key_message", "read_yaml", "validate_file"]

# libyaml's safe loader where PyYAML was built with it: the same documents, ~10x faster to parse
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FileModel = TypeVar("FileModel", bound=BaseModel)

# Text a file states is bounded, far past any shipped entry (a name, vendor or system: 76 characters; a note or
# citation: 1,610), so that a hostile PUT or request cannot make every later listing carry megabytes
Label = Annotated[str, Field(max_length=256)]
Text = Annotated[str, Field(max_length=8_000)]
Sources = Annotated[dict[Annotated[str, Field(max_length=256)], Text], Field(max_length=256)]  # (18 keys at most)


def default_catalog_dir() -> Path:
    """The catalog shipped inside the package."""
    return Path(str(resources.files("hardware_catalog") / "data"))


def read_yaml(path: Path, *, loader: type[yaml.SafeLoader] | None = None) -> Any:
    """Parse one YAML file (with ``loader``, else libyaml's safe loader where present); syntax errors
    become a CatalogError naming the line."""
    try:
        text = read_bytes(path).decode("utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", file=str(path)) from exc
    try:
        return yaml.load(text, Loader=_unique_keys(loader or SAFE_LOADER))  # noqa: S506 - safe loaders
    except ValueError as exc:  # a scalar YAML cannot construct, e.g. the date 2026-13-01
        raise CatalogError(f"invalid value: {exc}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        kind = "YAML error" if problem.startswith("duplicate key") else "YAML syntax error"
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][:mark.column + 1]:
            problem += " (a tab: YAML indents with spaces only)"
        raise CatalogError(f"{kind}: {problem}", file=str(path), field=where) from exc


_UNIQUE: dict[type[yaml.SafeLoader], type[yaml.SafeLoader]] = {}  # per loader, its subclass below
# A float written without a dot or without the exponent's sign (2e7, 1.0e7): YAML 1.2 reads it as a number where
# YAML 1.1, which PyYAML follows, reads the string '2e7' (then refused as "Input should be a valid number")
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_INT_DIGITS = 4000  # a decimal integer this long is read as a float (inf past 1e308): Python refuses past 4,300 digits


def _unique_keys(loader: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """``loader`` refusing a mapping that names one key twice (PyYAML keeps the last, so an appended
    ``memory_gb: 48`` would silently replace the line above it); merge keys (``<<``) may still be
    overridden, as YAML defines. It also reads 2e7 and 1.0e7 as numbers (``_FLOAT_12``) and an integer of
    thousands of digits as a float, which validation then refuses naming the field (Python's own error,
    "Exceeds the limit (4300 digits) for integer string conversion", named none)."""

    if loader in _UNIQUE:
        return _UNIQUE[loader]

    class UniqueKeys(loader):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[str] = set()
            for key, _value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping", node.start_mark, f"duplicate key {key.value!r}", key.start_mark)
                    seen.add(key.value)
            return dict(super().construct_mapping(node, deep=deep))

        def construct_yaml_int(self, node: yaml.ScalarNode) -> int | float:
            text = str(self.construct_scalar(node)).replace("_", "")
            if len(text) > _INT_DIGITS and text.lstrip("+-").isdigit():
                return float(text)
            return int(super().construct_yaml_int(node))

    UniqueKeys.add_constructor("tag:yaml.org,2002:int", UniqueKeys.construct_yaml_int)
    UniqueKeys.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))
    return _UNIQUE.setdefault(loader, UniqueKeys)


YAML_LOADER = _unique_keys(SAFE_LOADER)  # what ``read_yaml`` parses a file with by default, for readers of bytes


TAG = "~"  # how a tagged union's tags begin: pydantic puts the tag in an error's location, a field path does not


KEY = "[key]"  # pydantic's last location part where a mapping's key (the part before it) is what is wrong


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A validation error's location as a dotted field path (``workloads.1.traffic.growth``), without the tags of
    tagged unions (``TAG``) and pydantic's ``KEY`` marker (``slo.ttft_ms.p42``, not ``slo.ttft_ms.p42.[key]``:
    ``key_message`` says it is the key)."""
    return ".".join(str(part) for part in loc
                    if not (isinstance(part, str) and (part.startswith(TAG) or part == KEY)))


def key_message(loc: tuple[Any, ...] | list[Any], message: str) -> str:
    """``message``, saying so where the error is about a mapping's key rather than its value."""
    return f"not an allowed key: {message}" if loc and loc[-1] == KEY else message


def validate_file(model: type[FileModel], data: Any, *, file: str) -> FileModel:
    """Validate parsed YAML against a file model; the first error becomes one line."""
    if not isinstance(data, dict):
        raise CatalogError("expected a mapping at the top level", file=file)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = telling_error(exc.errors())
        field = field_path(first["loc"]) or None
        raise CatalogError(_describe(first), file=file, field=field) from exc


def telling_error(errors: Sequence[Any]) -> Any:
    """The error to report first: a required field missing beside an unknown one in the same mapping is most likely
    that field misspelt, so the unknown one is named with the field it may mean (``request_per_s`` reported only
    ``requests_per_s: field required``); else the first."""
    for missing in (e for e in errors if e["type"] == "missing"):
        for extra in (e for e in errors if e["type"] == "extra_forbidden"):
            if tuple(extra["loc"][:-1]) == tuple(missing["loc"][:-1]):
                return {**extra, "meant": missing["loc"][-1]}
    return errors[0]


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field" + (f" (the required {error['meant']!r}, misspelt?)" if "meant" in error else "")
    if kind == "missing":
        return "field required"
    message = str(error["msg"])
    return key_message(error["loc"], message.removeprefix("Value error, "))


