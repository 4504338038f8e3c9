"""The screens' rooms: layouts/ builds (no callbacks), callbacks/ registers callbacks (and only that), and neither
imports worker, simulator or command-line code; shared rules come from the domain package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ("layouts", "callbacks")
# Rooms the screens never enter: worker code (shared rules live in dashboard.domain), the simulator, the CLI.
FORBIDDEN = ("workers", "simulator", "ops")
MAX_LINES = 600


def modules(room: str) -> list[Path]:
    """Every Python module of a screens' room, packages included."""
    return sorted((ROOT / room).rglob("*.py"))


def imported(tree: ast.Module) -> Iterator[str]:
    """The dotted names a module imports (at any depth, lazy imports included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def registers_callbacks(tree: ast.Module) -> bool:
    """True when the module registers a callback: `@callback(...)` on a function, or `clientside_callback(...)`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "clientside_callback":
            return True
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if (isinstance(target, ast.Name) and target.id == "callback") or (
                    isinstance(target, ast.Attribute) and target.attr == "callback"
                ):
                    return True
    return False


@pytest.mark.parametrize("path", [p for room in SCREENS for p in modules(room)], ids=lambda p: str(p.relative_to(ROOT)))
def test_screens_never_import_workers_simulator_or_the_cli(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = sorted({name for name in imported(tree) if name.split(".")[0] in FORBIDDEN})
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_callbacks_hold_callbacks_and_never_the_app() -> None:
    for path in modules("callbacks"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert registers_callbacks(tree), f"{path.relative_to(ROOT)} registers no dash.callback: move it to layouts/"
        names = set(imported(tree))
        assert not names & {"app", "dashboard.web.app", "dashboard.web.create_app"}, path.relative_to(ROOT)


def test_layouts_register_no_callbacks() -> None:
    for path in modules("layouts"):
        assert not registers_callbacks(ast.parse(path.read_text(encoding="utf-8"))), path.relative_to(ROOT)


def test_no_screen_module_is_over_600_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for room in SCREENS for p in modules(room)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long
