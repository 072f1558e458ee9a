"""Architecture rules that a reviewer would otherwise check by hand (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import runbench
from tests.conftest import REPO

PACKAGES = {
    "workload": "runbench.workload",
    "clients": "runbench.clients",
    "runbench": "runbench",
    "storage": "runbench.storage",
    "migrate": "runbench.migrate",
    "analysis": "runbench.analysis",
}
# what each package may import from runbench (DESIGN.md §2: data flows one way)
CORE = {
    "runbench.config",
    "runbench.errors",
    "runbench.records",
    "runbench.plan",
    "runbench.redact",
    "runbench.chat",
}
ALLOWED = {
    "runbench.workload": CORE | {"runbench.workload"},
    "runbench.clients": CORE
    | {"runbench.clients", "runbench.workload.tools", "runbench.workload.similarity"},
    "runbench.storage": {
        "runbench.config",
        "runbench.errors",
        "runbench.records",
        "runbench.storage",
    },
    "runbench.analysis": {
        "runbench.config",
        "runbench.matrix",
        "runbench.plan",
        "runbench.errors",
        "runbench.records",
        "runbench.storage",
        "runbench.analysis",
    },
}


def _modules() -> list[tuple[str, Path]]:
    return [
        (package, path)
        for folder, package in PACKAGES.items()
        for path in (REPO / folder).glob("*.py")
    ]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_imports_flow_one_way() -> None:
    for package, path in _modules():
        allowed = ALLOWED.get(package)
        if allowed is None:
            continue
        for name in _imports(path):
            if name.startswith("runbench"):
                assert any(name == a or name.startswith(a + ".") for a in allowed), (
                    f"{path.name} imports {name}"
                )


def test_only_the_cli_imports_typer_and_only_config_reads_the_environment() -> None:
    for _, path in _modules():
        source = path.read_text()
        if path.name != "cli.py":
            assert "typer" not in _imports(path), path
        if path.name != "config.py":
            assert "os.environ" not in source and "getenv" not in source, path
        assert "sys.exit" not in source or path.name == "cli.py", path
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
