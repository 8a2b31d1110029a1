"""The package structure: dependencies point inward and nothing imports in a circle.

Every import statement counts, including ones inside functions and ``TYPE_CHECKING`` blocks: a
cycle hidden there is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "hardware_catalog", "api", "cli")
# which top-level package may import which (STYLE.md: cli/api -> hardware_catalog -> planner)
ALLOWED = {"planner": {"planner"}, "hardware_catalog": {"hardware_catalog", "planner"},
           "api": {"api", "hardware_catalog", "planner"}, "cli": {"cli", "hardware_catalog", "planner"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file. ``from pkg import sub`` of a submodule
    depends on that submodule only (its package is initialised first anyway); ``from pkg import
    name`` of a name defined in the package depends on the package's ``__init__``."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            out.update(submodules)
            if len(submodules) < len(node.names):  # a name defined in the package itself
                out.add(base)
    return {m for m in out if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_in_a_circle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_no_subpackage_imports_in_a_circle() -> None:
    """Collapsed to subpackages (planner.model, planner.search, ...), the graph is still acyclic."""
    def unit(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2])

    collapsed: dict[str, set[str]] = {}
    for src, dsts in _graph().items():
        collapsed.setdefault(unit(src), set()).update(unit(d) for d in dsts if unit(d) != unit(src))
    cycle = _cycle(collapsed)
    assert cycle is None, " -> ".join(cycle or [])


def test_dependencies_point_inward() -> None:
    wrong = [f"{src} imports {dst}" for src, dsts in _graph().items() for dst in dsts
             if dst.split(".")[0] not in ALLOWED[src.split(".")[0]]]
    assert not wrong, wrong


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a made-up two-module loop is reported."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_package_states_its_public_names() -> None:
    missing = [name for name, path in _modules().items()
               if path.name == "__init__.py" and name.startswith("planner") and "__all__" not in path.read_text()]
    assert not missing, missing
