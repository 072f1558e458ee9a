"""Durable small files and disk errors that read as one line.

Derived and side files (transcripts, run manifests, lease files) are written to a temporary name
in the same folder, fsynced, then ``os.replace``d, so a reader sees the old file or the new one,
never half of one, and a crash leaves at most a temporary that names its dead writer's pid.

Operating-system errors while writing (disk full, read-only file system, permissions) become a
``StoreError`` with one line saying what was being written and where, so the CLI can print
``Error: …`` instead of a traceback. The writer that caught the error has already undone its
partial write when the ``StoreError`` is raised.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runbench.errors import StoreError
from runbench.storage.locking import fsync_dir, pid_is_alive, write_all

TEMPORARY_PREFIX = ".tmp-"

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "a folder on the path does not exist",
    errno.EISDIR: "the path is a folder",
}
_HINTS = {
    errno.ENOSPC: "free space on that disk (or pass --store a folder elsewhere) and run the "
    "same command again: what was stored is kept",
    errno.EDQUOT: "free space within your quota and run the same command again",
    errno.EROFS: "pass --store a folder on a writable file system",
    errno.EACCES: "pass --store a folder you can write to",
    errno.EPERM: "pass --store a folder you can write to",
}


def store_error(error: OSError, doing: str, path: Path) -> StoreError:
    """One-line ``StoreError`` for an operating-system error met while ``doing`` at ``path``."""
    reason = _REASONS.get(error.errno or 0) or (error.strerror or type(error).__name__).lower()
    return StoreError(f"cannot {doing} {path}: {reason}", hint=_HINTS.get(error.errno or 0))


@contextmanager
def disk_errors(doing: str, path: Path) -> Iterator[None]:
    """Turn any ``OSError`` raised inside into a ``StoreError`` naming ``doing`` and ``path``."""
    try:
        yield
    except OSError as error:
        raise store_error(error, doing, path) from error


def temporary_name(folder: Path, name: str) -> Path:
    """A unique hidden name in ``folder`` that starts with the writer's pid (for cleanup)."""
    return folder / f"{TEMPORARY_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"


def remove_dead_temporaries(folder: Path, prefix: str = TEMPORARY_PREFIX) -> int:
    """Delete ``<prefix><pid>-…`` files in ``folder`` whose writer pid is dead; return how many.

    A temporary of a live writer is still being written and is left alone.
    """
    removed = 0
    for path in folder.glob(f"{prefix}*"):
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not pid_is_alive(int(pid_text)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably; nothing is left half-written.

    Raises:
        OSError: the write failed; the temporary file is already removed.
    """
    temporary = temporary_name(path.parent, path.name)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def check_writable(folder: Path) -> None:
    """Prove ``folder`` takes a new file and an fsync now, before any paid work depends on it.

    Raises:
        StoreError: the folder is missing, not a folder, read-only, full or not ours to write.
    """
    if not folder.is_dir():
        raise StoreError(
            f"cannot write the store at {folder}: it is not a folder",
            hint="pass --store a folder; runbench creates it if missing",
        )
    probe = temporary_name(folder, "writable")
    with disk_errors("write the store at", folder):
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                write_all(fd, b"runbench\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            probe.unlink(missing_ok=True)
