"""The CLI stays a thin skin: each option declared once, every command body short."""

from __future__ import annotations

import ast
import inspect
from collections import Counter
from pathlib import Path

import typer.main

from runbench.cli import app

CLI = Path(__file__).resolve().parents[2] / "cli"
MAX_BODY_LINES = 25


def _option_strings() -> Counter[str]:
    """Every "--flag" literal passed to typer.Option / _option in the CLI package."""
    found: Counter[str] = Counter()
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name not in ("Option", "_option", "_old"):
                continue
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("-"):
                    for flag in str(arg.value).split("/"):
                        found[flag] += 1
    return found


def test_no_option_string_is_declared_twice() -> None:
    twice = [flag for flag, count in _option_strings().items() if count > 1]
    assert not twice, f"declared more than once: {twice}"


def test_every_command_body_is_at_most_25_lines() -> None:
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        function = inspect.unwrap(command.callback)
        source = inspect.getsource(function)
        tree = ast.parse(source.lstrip() if source[0] == " " else source)
        body = tree.body[0].body  # type: ignore[attr-defined]
        if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring is help text, not logic
        lines = body[-1].end_lineno - body[0].lineno + 1
        assert lines <= MAX_BODY_LINES, f"{name}: {lines} lines"
