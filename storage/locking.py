"""File locks and the few durable-write primitives every store uses.

Locks are portalocker (``flock``) locks. A lock on a lock *file* guards a shared resource and the
lock file is never deleted, so no process can hold a lock on a file another process has already
replaced. A lock on an open segment file marks that segment as owned by a live writer: the kernel
drops it when the owner dies, however it dies, which is how an orphan is recognised.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import portalocker

from runbench.errors import StoreLockTimeout

_POLL_INTERVAL_S = 0.02


class FileLock:
    """An exclusive lock on a lock file that stays open (and on disk) for the owner's lifetime."""

    def __init__(self, path: Path, *, timeout_s: float | None = None) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._file: BinaryIO | None = None
        # flock excludes other open files, not other threads sharing this one: guard those too.
        self._threads = threading.Lock()

    def _handle(self) -> BinaryIO:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - held open across acquisitions
        return self._file

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock; with ``blocking=False`` return False at once if it is held elsewhere.

        Raises:
            StoreLockTimeout: blocking with a timeout, and the lock stayed held past it.
        """
        if not self._threads.acquire(blocking=blocking, timeout=self._thread_timeout(blocking)):
            if blocking:
                raise self._timeout_error()
            return False
        try:
            if self._lock_file(blocking=blocking):
                return True
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        return False

    def _thread_timeout(self, blocking: bool) -> float:
        return self.timeout_s if blocking and self.timeout_s is not None else -1

    def _lock_file(self, *, blocking: bool) -> bool:
        handle = self._handle()
        if blocking and self.timeout_s is None:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE)
            return True
        deadline = time.monotonic() + (self.timeout_s or 0.0)
        while True:
            if try_lock(handle):
                return True
            if not blocking:
                return False
            if time.monotonic() >= deadline:
                raise self._timeout_error()
            time.sleep(_POLL_INTERVAL_S)

    def _timeout_error(self) -> StoreLockTimeout:
        return StoreLockTimeout(
            f"could not lock {self.path} within {self.timeout_s or 0:.0f} s: another "
            "runbench process holds it",
            hint="wait for the other process (e.g. a running compact) to finish",
        )

    def release(self) -> None:
        if self._file is not None:
            portalocker.unlock(self._file)
        self._threads.release()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def try_lock(handle: BinaryIO | int) -> bool:
    """Try to take an exclusive lock on an open file without waiting."""
    flags = portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
    try:
        portalocker.lock(handle, flags)
    except portalocker.AlreadyLocked:
        return False
    return True


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_linked(path: Path, fd: int) -> bool:
    """True when ``path`` still names the file open as ``fd`` (it was not unlinked or replaced)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


def pid_is_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (pid reuse errs towards 'alive')."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
