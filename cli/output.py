"""Where the CLI's words go: results on stdout, everything else on stderr, one style for both.

Results (tables, JSON, reports) go to stdout so they can be piped; ``[INFO]`` lines, progress and
errors go to stderr. When stdout is not a terminal, tables are laid out wide instead of being cut,
so a log file or a pipe never loses a model or category name.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from runbench.config import StoreLocation, resolve_store_location
from runbench.errors import StoreError, UsageError
from runbench.redact import escape_control

# a console that is not a terminal gets room enough that no column has to be cut
PIPE_WIDTH = 400

stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)
stderr = Console(stderr=True, soft_wrap=True)


def info(text: str) -> None:
    """One ``[INFO]`` line on stderr (control characters escaped)."""
    stderr.print(f"[INFO] {escape_control(text)}", highlight=False, markup=False)


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


def open_store(storage: str | None, store: Path | str | None, *, must_exist: bool = False) -> Any:
    """Open the store the flags and environment name, and say which on stderr.

    ``must_exist`` is for commands that only read: they never create a store.

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
    try:
        opened = open_location(location.root, location.format)
    except OSError as error:
        raise StoreError(f"cannot open the store at {path}: {error.strerror or error}") from None
    info(f"storage: {location.format} ({path.resolve()})")
    return opened


def resume_line(location: StoreLocation, config: Path | None) -> str:
    """The command that resumes this run, with the settings that came from the environment.

    ``STORAGE_FORMAT``, ``RUNBENCH_STORE`` and ``RUNBENCH_CONFIG`` become flags, so the line
    works as it is in a new shell.
    """
    argv = ["runbench", *sys.argv[1:]]
    given = set(argv)
    extra: list[str] = []
    if "--storage" not in given:
        extra += ["--storage", location.format]
    if "--store" not in given:
        extra += ["--store", location.describe()]
    if config is not None and "--config" not in given:
        extra += ["--config", str(config)]
    return f"Resume with: {shlex.join(argv + extra)}"


def redact_logs(config: Any) -> None:
    """Every log line on stderr passes through the redactor of the run's configured keys."""
    import logging

    from runbench.config import configured_secrets
    from runbench.redact import RedactingFilter, Redactor

    redactor = RedactingFilter(Redactor(configured_secrets(config)))
    for handler in logging.getLogger().handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, RedactingFilter)]
        handler.addFilter(redactor)
