"""Architecture rules that a reviewer would otherwise check by hand (docs/ARCHITECTURE.md).

The allowed arrows between packages are one table, ``ALLOWED``, and ``docs/ARCHITECTURE.md``
shows the same table; a test keeps the two equal. Every import counts, also one inside a
function or under ``TYPE_CHECKING``: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import runbench
from tests.conftest import REPO

# package → the folder its modules live in
FOLDERS = {
    "core": REPO / "runbench",
    "cli": REPO / "cli",
    "storage": REPO / "storage",
    "migrate": REPO / "migrate",
    "analysis": REPO / "analysis",
    "workload": REPO / "workload",
    "clients": REPO / "clients",
    "runners": REPO / "runners",
    "viewer": REPO / "viewer",
}
# the public face, runbench/__init__.py, sits above the packages it re-exports
API = REPO / "runbench" / "__init__.py"

# what each package may import (besides itself); data flows one way
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "storage": {"core"},
    "migrate": {"core", "storage"},
    "analysis": {"core", "storage"},
    "workload": {"core"},
    "clients": {"core", "workload"},
    "runners": {"core", "storage", "workload", "clients"},
    "viewer": {"core", "storage", "analysis"},
    "cli": {"core", "storage", "migrate", "analysis", "workload", "runners", "viewer"},
    "api": {"core", "storage", "analysis"},
}
# the runner modules the CLI may use: the request/outcome API, not the engine's insides
CLI_MAY_USE_FROM_RUNNERS = {
    "runbench.runners.context",
    "runbench.runners.session",
    "runbench.runners.ultra",
    "runbench.runners.progress",
    "runbench.runners.rescore",  # judging stored transcripts: a run without a model
}


def package_of(module: str) -> str | None:
    """The package a ``runbench...`` module name belongs to."""
    parts = module.split(".")
    if parts[0] != "runbench":
        return None
    if len(parts) == 1:
        return "api"
    if parts[1] in FOLDERS and parts[1] != "core":  # runbench.cli, runbench.storage, …
        return parts[1]
    return "core"


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package, folder in FOLDERS.items():
        for path in sorted(folder.glob("*.py")):
            if path == API:
                found.append(("api", path))
            elif path.name != "__main__.py":
                found.append((package, path))
    return found


def _imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (top level, functions, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for package, path in _modules():
        for name in _imports(path):
            target = package_of(name)
            if target is not None and target != package:
                where = f"{path.relative_to(REPO)} imports {name}"
                edges.setdefault((package, target), []).append(where)
    return edges


def test_every_package_imports_only_what_the_table_allows() -> None:
    wrong = [
        where
        for (source, target), places in _edges().items()
        if target not in ALLOWED[source]
        for where in places
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_the_packages_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for source, target in _edges():
        graph.setdefault(source, set()).add(target)

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        for after in graph.get(node, ()):
            visit(after, (*path, node))

    for node in graph:
        visit(node, ())


def test_the_allowed_table_is_a_one_way_order() -> None:
    for source, targets in ALLOWED.items():
        for target in targets:
            assert source not in ALLOWED[target], f"{source} and {target} allow each other"


def test_the_cli_uses_no_runner_internals() -> None:
    for package, path in _modules():
        if package != "cli":
            continue
        for name in _imports(path):
            if package_of(name) == "runners" and name != "runbench.runners":
                module = ".".join(name.split(".")[:3])
                assert module in CLI_MAY_USE_FROM_RUNNERS, f"{path.name} imports {name}"


def test_architecture_doc_shows_the_same_table() -> None:
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \|", text, flags=re.MULTILINE)
    documented = {
        package: {name.strip("` ") for name in targets.split(",") if name.strip("` -")}
        for package, targets in rows
        if package in ALLOWED
    }
    assert documented == ALLOWED


def test_only_the_cli_imports_typer_and_only_config_reads_the_environment() -> None:
    for package, path in _modules():
        source = path.read_text()
        if package != "cli":
            assert "typer" not in _imports(path), path
            assert "sys.exit" not in source, path
        if path.name != "config.py":
            assert "os.environ" not in source and "getenv" not in source, path
        assert "\nglobal " not in source and " global " not in source, path


def test_exceptions_are_defined_only_in_errors_module() -> None:
    for _, path in _modules():
        if path.name == "errors.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert not any(
                    getattr(base, "id", "").endswith(("Error", "Exception")) for base in node.bases
                ), f"{path.name} defines {node.name}"


def test_public_api_is_the_documented_sorted_list() -> None:
    assert runbench.__all__ == sorted(runbench.__all__)
    assert set(runbench.__all__) == {
        "Record",
        "RunbenchError",
        "load_attempts",
        "load_results",
        "open_store",
    }


def test_cli_import_does_not_load_pyarrow() -> None:
    code = "import sys, runbench.cli; print('pyarrow' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
