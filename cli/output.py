"""Where the CLI's words go: results on stdout, everything else on stderr, one style for both.

Results (tables, JSON, reports) go to stdout so they can be piped; ``[INFO]`` lines, progress and
errors go to stderr. When stdout is not a terminal, tables are laid out wide instead of being cut,
so a log file or a pipe never loses a model or category name.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from runbench.config import RunbenchConfig, StoreLocation, resolve_store_location
from runbench.errors import StoreError, UsageError
from runbench.redact import escape_control

if TYPE_CHECKING:
    from runbench.storage import Store

# a console that is not a terminal gets room enough that no column has to be cut
PIPE_WIDTH = 400

stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
stderr = Console(stderr=True, soft_wrap=True)


def info(text: str) -> None:
    """One ``[INFO]`` line on stderr (control characters escaped)."""
    stderr.print(f"[INFO] {escape_control(text)}", highlight=False, markup=False)


def error_lines(message: str, hint: str | None) -> None:
    """``Error: <message>`` and, when there is one, ``Hint: <hint>`` on stderr (escaped)."""
    stderr.print(f"Error: {escape_control(message)}", highlight=False, markup=False)
    if hint:
        stderr.print(f"Hint: {escape_control(hint)}", highlight=False, markup=False)


def stderr_line(text: str) -> None:
    """One plain line on stderr (an error reason, a resume hint), control characters escaped."""
    stderr.print(escape_control(text), highlight=False, markup=False)


def line(text: str) -> None:
    """One plain result line on stdout (control characters escaped)."""
    stdout.print(escape_control(text), highlight=False, markup=False)


def print_json(payload: Any) -> None:
    stdout.out(json.dumps(payload, indent=2, default=str), highlight=False)


def emit(text: str, output: Path | None) -> None:
    """Text to stdout, or to a file written whole (a temporary name, then a rename).

    Raises:
        UsageError: the file's folder does not exist or cannot be written.
    """
    if output is None:
        sys.stdout.write(text)
        return
    write_file(output, text.encode("utf-8"))


def write_file(path: Path, data: bytes) -> None:
    """Write a whole output file, or nothing: a temporary name beside it, then a rename.

    Raises:
        UsageError: the folder is missing, or the file cannot be written (disk full, read-only).
    """
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
    info(f"wrote {path}")


def store_location(storage: str | None, store: Path | str | None) -> StoreLocation:
    return resolve_store_location(storage, store)


def open_store(
    storage: str | None,
    store: Path | str | None,
    *,
    must_exist: bool = False,
    create: bool = True,
) -> Store:
    """Open the store the flags and environment name, and say which on stderr.

    ``must_exist`` is for commands that only read: they never create a store. ``create=False``
    (a dry run) reads a store that does not exist yet as an empty one, made in a temporary
    folder removed at exit, so nothing appears at the path.

    Raises:
        UsageError: ``must_exist`` and there is no store there.
        StoreError: the path is a file, or cannot be created.
    """
    from runbench.storage import open_store as open_location

    location = resolve_store_location(storage, store)
    if location.remote is not None:
        opened = open_location(location.root, location.format, remote=location.remote)
        from runbench.storage.object_store import ObjectParquetStore

        if (
            must_exist
            and isinstance(opened, ObjectParquetStore)
            and not opened.bucket.has_objects("parquet")
        ):
            raise UsageError(
                f"no parquet store at {location.remote.url}",
                hint="check --store / RUNBENCH_STORE (the bucket exists, the prefix is empty)",
            )
        info(f"storage: {location.format} ({location.remote.url}, cache {location.root})")
        return opened
    path = location.root / location.format
    if must_exist and not path.is_dir():
        if location.root.exists() and not location.root.is_dir():
            open_location(location.root, location.format)  # raises the "path is a file" error
        raise UsageError(
            f"no {location.format} store at {path.resolve()}",
            hint="check --store / RUNBENCH_STORE and --storage / STORAGE_FORMAT",
        )
    if not create and not path.is_dir():
        info(f"storage: {location.format} ({path.resolve()}) does not exist yet: read as empty")
        scratch = tempfile.mkdtemp(prefix="runbench-empty-store-")
        atexit.register(shutil.rmtree, scratch, True)
        return open_location(Path(scratch), location.format)
    try:
        opened = open_location(location.root, location.format)
    except OSError as error:
        raise StoreError(f"cannot open the store at {path}: {error.strerror or error}") from None
    info(f"storage: {location.format} ({path.resolve()})")
    return opened


# the options whose value is a path: the resume line makes them absolute
PATH_OPTIONS = ("--store", "--config", "--plan", "--test-config", "--tasks", "--tools")


def resume_line(
    location: StoreLocation, config: Path | None, *, batch_instances: int | None = None
) -> str:
    """The command that resumes this run, with the settings that came from the environment.

    ``STORAGE_FORMAT``, ``RUNBENCH_STORE`` and ``RUNBENCH_CONFIG`` become flags and every path
    is absolute, so the line works as it is in a new shell and another folder. A ``batch`` run
    is resumed by a smart-batch over the instances it planned (``batch_instances``): running the
    batch again would add ``--count`` new instances instead of finishing the missing ones.
    """
    argv = _absolute_paths(sys.argv[1:])
    if batch_instances is not None:
        argv = _as_smart_batch(argv, batch_instances)
    argv = ["runbench", *argv]
    given = {argument.split("=", 1)[0] for argument in argv}
    extra: list[str] = []
    if "--storage" not in given:
        extra += ["--storage", location.format]
    if "--store" not in given:
        extra += ["--store", _absolute(location.describe())]
    if config is not None and "--config" not in given:
        extra += ["--config", _absolute(str(config))]
    return f"Resume with: {shlex.join(argv + extra)}"


def _absolute(value: str) -> str:
    return value if "://" in value else os.path.abspath(os.path.expanduser(value))


def _absolute_paths(arguments: list[str]) -> list[str]:
    """The arguments with the value of every path option made absolute (both spellings)."""
    result: list[str] = []
    after_path_option = False
    for argument in arguments:
        name, equals, value = argument.partition("=")
        if after_path_option:
            result.append(_absolute(argument))
        elif equals and name in PATH_OPTIONS:
            result.append(f"{name}={_absolute(value)}")
        else:
            result.append(argument)
        after_path_option = not after_path_option and argument in PATH_OPTIONS
    return result


def _as_smart_batch(arguments: list[str], instances: int) -> list[str]:
    """A batch's arguments as the smart-batch that finishes exactly the instances it planned."""
    result: list[str] = []
    skip_value = False
    for argument in arguments:
        if skip_value:
            skip_value = False
        elif argument in ("--count", "--num-instances"):
            skip_value = True
        elif argument.startswith(("--count=", "--num-instances=")):
            continue
        elif argument == "batch" and "smart-batch" not in result:
            result.append("smart-batch")
        else:
            result.append(argument)
    return [*result, "--num-instances", str(instances)]


class TerminalLogFilter(logging.Filter):
    """Log lines as a terminal should get them: control characters escaped, each line once.

    The store warns on every read that skips a damaged piece, and one command reads several
    times (plan, run, summary); the reader needs the warning once per command, not per read.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = escape_control(record.getMessage())
        if record.levelno >= logging.WARNING:
            if (record.levelno, text) in self._seen:
                return False
            self._seen.add((record.levelno, text))
        record.msg, record.args = text, None
        return True


def log_to_terminal() -> None:
    """Give every log handler a fresh ``TerminalLogFilter`` (one per command)."""
    for handler in logging.getLogger().handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, TerminalLogFilter)]
        handler.addFilter(TerminalLogFilter())


def stop_logging_to_terminal() -> None:
    """Take the command's log filters off every handler again (the command has ended)."""
    from runbench.redact import RedactingFilter

    for handler in logging.getLogger().handlers:
        handler.filters = [
            f for f in handler.filters if not isinstance(f, TerminalLogFilter | RedactingFilter)
        ]


def redact_logs(config: RunbenchConfig) -> None:
    """Every log line on stderr passes through the redactor of the run's configured keys."""
    from runbench.config import configured_secrets
    from runbench.redact import RedactingFilter, Redactor

    redactor = RedactingFilter(Redactor(configured_secrets(config)))
    for handler in logging.getLogger().handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, RedactingFilter)]
        handler.addFilter(redactor)
