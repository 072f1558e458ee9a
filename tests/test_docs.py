"""Docs are tested like code: every command has help with an example and is in the README."""

from __future__ import annotations

import typer.main

from runbench.cli import app
from tests.conftest import REPO

# every command a user is meant to type (hidden ones, like shard-worker, are internal)
COMMANDS = sorted(
    name
    for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
    if not command.hidden
)


def test_the_cli_has_the_commands_the_readme_documents() -> None:
    assert {"verify", "compact", "migrate", "report", "status", "compare"} <= set(COMMANDS)


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    group = typer.main.get_command(app)
    for name in COMMANDS:
        command = group.commands[name]  # type: ignore[attr-defined]
        assert command.help and "Example" in command.help, f"{name} lacks help with an example"
        assert f"`{name}" in readme, f"{name} is missing from README.md"


def test_readme_shows_the_two_commands_near_the_top() -> None:
    top = (REPO / "README.md").read_text()[:800]
    assert "make demo" in top and "make test" in top


def test_no_docstring_or_comment_cites_a_file_outside_the_repository() -> None:
    """The design notes are not shipped; code points at the repository's own docs instead."""
    outside = ("DESIGN" + ".md", "STYLE" + ".md")  # spelled apart so this file does not match
    sources = [REPO / "Makefile", REPO / "pyproject.toml"]
    for folder in ("runbench", "cli", "storage", "migrate", "analysis", "workload", "clients"):
        sources += sorted((REPO / folder).glob("*.py"))
    for folder in ("runners", "viewer", "tests", "bench", "scripts"):
        sources += sorted((REPO / folder).rglob("*.py"))
    citing = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if any(name in line for name in outside)
    ]
    assert not citing, f"cite files outside the repository: {citing}"
