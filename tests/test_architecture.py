"""The rooms of the code keep their walls: no import cycle anywhere, no module imports another's private names, the
product never imports the simulator or the command line, the screens never import the workers, SQL stays in the
store, the domain stays pure, and no module grows past ~600 lines without saying why at its top."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The project's own top-level packages (and scripts) whose imports are checked.
PACKAGES = ("dashboard", "workers", "layouts", "callbacks", "simulator", "ops", "tests", "bench")
PRODUCT = ("dashboard", "workers", "layouts", "callbacks")
SCREENS = ("layouts", "callbacks")
# Statements that are SQL, by the names sqlalchemy exports for them.
SQL_NAMES = frozenset({"select", "update", "insert", "delete", "text", "func", "and_", "or_", "exists", "union"})
MAX_LINES = 600
# What a module over MAX_LINES says at the top of its docstring to explain its size.
LONG_MARK = "Why it is long:"


@dataclass
class Module:
    """One module of the project: its name, file, syntax tree and the project modules it imports."""

    name: str
    path: Path
    tree: ast.Module
    imports: set[str] = field(default_factory=set)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _parse(path: Path) -> ast.Module:
    """The syntax tree of `path`. CPython 3.11 (before 3.11.8) counts the depth of the tree it builds in one counter
    for the whole interpreter, so a parse in another thread meanwhile (a test server's, left by an earlier test in
    this process) makes it raise "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905):
    parsed again, it is the same tree."""
    source = path.read_text(encoding="utf-8")
    for _ in range(4):
        try:
            return ast.parse(source)
        except SystemError:
            continue
    return ast.parse(source)


@cache
def modules() -> dict[str, Module]:
    """Every Python module of the project's packages, with its imports resolved to project modules."""
    found: dict[str, Module] = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            found[_module_name(path)] = Module(_module_name(path), path, _parse(path))
    app = ROOT / "app.py"
    found["app"] = Module("app", app, _parse(app))
    for mod in found.values():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    target = sub if sub in found else node.module
                    if target in found:
                        mod.imports.add(target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in found:
                        mod.imports.add(alias.name)
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def _sccs(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Strongly connected components of more than one module, or of one that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    counter = [0]

    def visit(v: str) -> Iterator[list[str]]:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                yield from visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                yield sorted(comp)

    for v in sorted(graph):
        if v not in index:
            yield from visit(v)


def test_there_is_no_import_cycle_anywhere_in_the_project() -> None:
    graph = {name: mod.imports - {name} for name, mod in modules().items()}
    cycles = list(_sccs(graph))
    assert cycles == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_names() -> None:
    found = modules()
    offences: list[str] = []
    for mod in found.values():
        aliases: dict[str, str] = {}
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _top(node.module) in PACKAGES:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        where = f"{mod.path.relative_to(ROOT)}:{node.lineno}"
                        offences.append(f"{where} imports {node.module}.{alias.name}")
                    sub = f"{node.module}.{alias.name}"
                    if sub in found:
                        aliases[alias.asname or alias.name] = sub
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in found and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(mod.tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offences.append(f"{mod.path.relative_to(ROOT)}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert offences == []


@pytest.mark.parametrize("forbidden", ["simulator", "ops"])
def test_the_product_never_imports_the_simulator_or_the_command_line(forbidden: str) -> None:
    offences = sorted(f"{name} → {imp}" for name, mod in modules().items() if _top(name) in PRODUCT
                      for imp in mod.imports if _top(imp) == forbidden)
    assert offences == []


def test_the_simulator_never_imports_the_command_line() -> None:
    offences = sorted(f"{name} → {imp}" for name, mod in modules().items() if _top(name) == "simulator"
                      for imp in mod.imports if _top(imp) == "ops")
    assert offences == []


def test_the_screens_never_import_the_workers() -> None:
    offences = sorted(f"{name} → {imp}" for name, mod in modules().items() if _top(name) in SCREENS
                      for imp in mod.imports if _top(imp) == "workers")
    assert offences == []


def test_the_domain_is_pure_and_imports_only_the_domain() -> None:
    offences = sorted(f"{name} → {imp}" for name, mod in modules().items() if name.startswith("dashboard.domain")
                      for imp in mod.imports if not imp.startswith("dashboard.domain"))
    assert offences == []


def test_the_store_builds_only_on_the_domain_and_itself() -> None:
    allowed = ("dashboard.domain", "dashboard.store", "dashboard.config", "dashboard.outage")
    offences = sorted(f"{name} → {imp}" for name, mod in modules().items() if name.startswith("dashboard.store")
                      for imp in mod.imports if not imp.startswith(allowed))
    assert offences == []


def test_sql_is_written_only_in_the_store() -> None:
    offences: list[str] = []
    for name, mod in modules().items():
        if _top(name) not in (*PRODUCT, "simulator", "ops") or name.startswith("dashboard.store"):
            continue
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
                sql = sorted({a.name for a in node.names} & SQL_NAMES)
                if sql:
                    offences.append(f"{mod.path.relative_to(ROOT)}:{node.lineno} imports {', '.join(sql)}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "scalar", "scalars") and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("session", "s", "conn", "connection")):
                where = f"{mod.path.relative_to(ROOT)}:{node.lineno}"
                offences.append(f"{where} runs {node.func.value.id}.{node.func.attr}")
    assert offences == []


def test_no_module_is_over_600_lines_without_saying_why_at_its_top() -> None:
    offences: list[str] = []
    for name, mod in modules().items():
        if _top(name) == "tests":
            continue
        lines = mod.path.read_text(encoding="utf-8").count("\n")
        if lines <= MAX_LINES:
            continue
        doc = ast.get_docstring(mod.tree) or ""
        if LONG_MARK not in doc:
            offences.append(f"{mod.path.relative_to(ROOT)}: {lines} lines")
    assert offences == []


def test_every_package_says_what_it_holds() -> None:
    tops = ("dashboard", "workers", "layouts", "callbacks", "simulator", "ops")
    missing = sorted(str(p.relative_to(ROOT)) for top in tops for p in (ROOT / top).rglob("__init__.py")
                     if not re.search(r'^"""\S', p.read_text(encoding="utf-8")))
    assert missing == []
