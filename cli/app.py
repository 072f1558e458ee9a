"""The ``runbench`` Typer app: the commands, and the one place an error becomes a line and a code.

This package is the only one that imports Typer and the only place that exits. Every error a user
can cause reaches ``main`` as a ``RunbenchError`` (or Click's usage error) and is printed as one
``Error:`` line, at most one ``Hint:`` line, and the error's exit code — never a traceback.
"""

from __future__ import annotations

import inspect
import logging
import signal
import sys
from itertools import pairwise
from typing import Annotated, Any

import typer
import typer.main

from runbench.cli import browse, catalog, rescore, results, run, store
from runbench.cli.output import (
    error_lines,
    log_to_terminal,
    print_json,
    stdout,
    stop_logging_to_terminal,
)
from runbench.errors import EXIT_INTERRUPTED, EXIT_USAGE, Interrupted, RunbenchError, StoreError

app = typer.Typer(
    name="runbench",
    help=(
        "Run agentic tool-use benchmarks against LLM APIs and keep every result safely.\n\n"
        "Examples:\n\n"
        "  runbench smart-batch --model sim-average --phase 5.1\n\n"
        "  runbench migrate                     # JSON store -> Parquet store\n\n"
        "  STORAGE_FORMAT=parquet runbench report --by model,prompt_type"
    ),
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command()(store.verify)
app.command()(store.compact)
app.command()(store.migrate)
app.command()(results.report)
app.command()(results.status)
app.command()(results.compare)
app.command()(rescore.rescore)
app.command()(browse.runs)
app.command()(browse.errors)
app.command()(browse.show)
app.command()(browse.view)
app.command("smart-batch")(run.smart_batch)
app.command()(run.batch)
app.command("provider-parallel")(run.provider_parallel)
app.command("ultra-parallel")(run.ultra_parallel)
app.command("shard-worker", hidden=True)(run.shard_worker)
app.command()(catalog.models)
app.command()(catalog.tools)
app.command()(catalog.tasks)


def build_command() -> Any:
    """The Click command Typer builds from ``app``, with flags shown without a ``<bool>``.

    Typer labels every option with its type; for an on/off flag that label says nothing, so
    flags (the help option included) get an empty one.
    """
    command = typer.main.get_command(app)
    for each in [command, *getattr(command, "commands", {}).values()]:
        for param in each.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        _blank_help_label(each)
        each.help = _reflowed(each.help)
    return command


def _reflowed(text: str | None) -> str | None:
    """Help text whose prose paragraphs are joined into one line each, for the terminal to wrap.

    Docstrings are wrapped at 100 columns for the source; printed as they are, an 80-column
    terminal breaks every line twice. Paragraphs with indented lines (examples) keep their lines.
    """
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph
        if any(line.startswith(" ") for line in paragraph.splitlines()[1:])
        else " ".join(paragraph.split("\n"))
        for paragraph in paragraphs
    )


def _blank_help_label(command: Any) -> None:
    original = command.get_help_option

    def get_help_option(context: Any) -> Any:
        option = original(context)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        stdout.out(f"runbench {version('runbench')}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    context: typer.Context,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Print help when no command is given."""
    if context.invoked_subcommand is None:
        stdout.out(context.get_help())
        raise typer.Exit(0)


def _fail(message: str, hint: str | None, code: int, *, as_json: bool = False) -> None:
    error_lines(message, hint)
    if as_json:  # a CI script reading stdout still gets one JSON object
        print_json({"error": message, "hint": hint, "exit_code": code})
    sys.exit(code)


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM outside a run's own handling end the command: one line, exit 130.

    Raised as a runbench error rather than KeyboardInterrupt, which Typer turns into a bare
    exit code 130 with nothing said.
    """
    raise Interrupted(
        f"interrupted by {signal.Signals(signum).name}",
        hint="nothing half-written: run the same command again to go on",
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every user-caused or operational error becomes one line and an exit code."""
    logging.basicConfig(
        level=logging.WARNING, format="[%(levelname)s] %(message)s", stream=sys.stderr
    )
    log_to_terminal()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    arguments = sys.argv[1:] if argv is None else list(argv)
    sys.argv = ["runbench", *arguments]  # what manifests and resume lines record, however called
    as_json = _asks_json(arguments)
    try:
        _run_command(argv, as_json)
    finally:  # called in-process (tests, notebooks), the next caller's logging is its own
        stop_logging_to_terminal()


def _asks_json(arguments: list[str]) -> bool:
    """Whether the command line asks for JSON output: ``--json``, or ``--format json``.

    ``report --json`` is ``report --format json``; a CI script gets its error as one JSON object
    on stdout either way.
    """
    if "--json" in arguments or "--format=json" in arguments:
        return True
    return any(flag == "--format" and value == "json" for flag, value in pairwise(arguments))


def _run_command(argv: list[str] | None, as_json: bool) -> None:
    """The command line parsed and run; errors become one line and an exit code (SystemExit)."""
    try:
        code = build_command().main(args=argv, prog_name="runbench", standalone_mode=False)
    except RunbenchError as exc:
        _fail(exc.message, exc.hint, exc.exit_code, as_json=as_json)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", None, EXIT_INTERRUPTED, as_json=as_json)
    except OSError as exc:  # disk full, read-only store, a path that cannot be: one line
        error = StoreError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        _fail(error.message, None, error.exit_code, as_json=as_json)
    except RecursionError:
        _fail("input nested too deeply to read", None, EXIT_USAGE, as_json=as_json)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "runbench"
        hint = f"see '{command} --help'"
        _fail(exc.format_message(), hint, EXIT_USAGE, as_json=as_json)  # type: ignore[attr-defined]
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: Exception) -> bool:
    """Click's usage errors (a bad flag or value), recognised by shape.

    Typer vendors its own copy of Click in a private module, so the class cannot be imported
    portably; every usage error carries exit code 2 and a ``format_message`` method.
    """
    return getattr(exc, "exit_code", None) == EXIT_USAGE and callable(
        getattr(exc, "format_message", None)
    )
