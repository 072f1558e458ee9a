"""The JSON store: one ``records.jsonl`` that any number of processes append to.

A write is one ``write`` of whole lines under an exclusive lock on ``records.lock`` (a lock file
that is never deleted), then an ``fsync`` after the lock is released, so processes overlap their
syncs instead of queueing behind each other. Within a process, group commit turns concurrent
appends into one write and one sync. A writer killed mid-write can leave a torn last line; the
next writer ends it with a newline before writing, so the damage stays one named line and never
merges into the next record. Readers cut at the last newline, so they never see half a line.

``compact`` is the only operation that replaces ``records.jsonl``: it moves damaged lines, byte
for byte, to ``quarantine.jsonl`` and writes the good lines to a new file that replaces the old one
atomically. Writers check under the lock whether the file was replaced and reopen it.

Disk full (or any refused write) during an append truncates the file back to its length before
the write, under the same lock, and raises ``StoreError``: no half line is left behind. Claims,
transcripts and run manifests live beside the records (``storage/services.py``).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.records import Record, conformed_table, encode_rows, validated_lines
from runbench.storage.base import (
    CompactReport,
    Damage,
    Filters,
    VerifyReport,
    check_columns,
    columns_needed,
    empty_table,
    project,
    report_skipped,
)
from runbench.storage.claims import ClaimBook
from runbench.storage.durable import (
    disk_errors,
    remove_dead_temporaries,
    store_error,
    temporary_name,
)
from runbench.storage.group_commit import GroupCommit
from runbench.storage.jsonl import JsonlReader
from runbench.storage.known_snapshot import SNAPSHOT_FILE, KnownSnapshot
from runbench.storage.locking import FileLock, fsync_dir, is_linked, write_all
from runbench.storage.run_files import RunFiles
from runbench.storage.services import StoreServices
from runbench.storage.since import file_since
from runbench.storage.stored import KnownTests, done_test_ids

if TYPE_CHECKING:
    import pyarrow as pa

_ENCODE_BATCH_ROWS = 50_000


class JsonStore(StoreServices):
    """Records as JSON lines in ``<root>/json/records.jsonl``."""

    format = "json"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "json"
        self.records_path = self.path / "records.jsonl"
        self.quarantine_path = self.path / "quarantine.jsonl"
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.path / "records.lock")
        self._fd: int | None = None
        self._committer = GroupCommit(self._write_locked)
        self._known = KnownSnapshot(self.path / SNAPSHOT_FILE, self.records_path)
        self._claims = ClaimBook(self.path / "claims", KnownTests(self.rows_since, self._known))
        self._run_files = RunFiles(root, self.path)
        self._writable_folders = (self.path,)

    # -- writing ---------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        """Validate and durably append records; returns once they survive ``kill -9``.

        Raises:
            RecordError: a record violates the schema; nothing of the call is written.
        """
        if records:
            self._committer.commit(validated_lines(records))

    def append_table(self, table: pa.Table) -> None:
        """Append a table with the record schema (the bulk path used by ``migrate``)."""
        table = conformed_table(table)
        for batch in table.to_batches(max_chunksize=_ENCODE_BATCH_ROWS):
            self._committer.commit(encode_rows(batch.to_pylist()))

    def _damage_where(self) -> Path:
        return self.records_path

    def _write_locked(self, payload: bytes) -> None:
        with disk_errors("append to", self.records_path), self._lock:
            fd = self._writable_fd()
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                payload = b"\n" + payload  # end a torn line left by a killed writer
            try:
                write_all(fd, payload)
            except OSError as error:
                os.ftruncate(fd, size)  # take back the partial write: no half line is left
                raise store_error(error, "append to", self.records_path) from error
        with disk_errors("sync", self.records_path):
            os.fsync(fd)

    def _writable_fd(self) -> int:
        """The append descriptor, reopened if ``compact`` replaced the file since last time."""
        if self._fd is not None and not is_linked(self.records_path, self._fd):
            os.close(self._fd)
            self._fd = None
        if self._fd is None:
            existed = self.records_path.exists()
            self._fd = os.open(self.records_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            if not existed:
                fsync_dir(self.path)
        return self._fd

    def close(self) -> None:
        def release() -> None:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._lock.close()

        self._committer.exclusive(release)

    def __enter__(self) -> JsonStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def scan_batches(
        self, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> Iterator[pa.Table]:
        """Yield the stored rows chunk by chunk (memory stays bounded), skipping damage."""
        selected = check_columns(columns)
        reader = JsonlReader(self.records_path)
        try:
            for table in reader.tables():
                yield project(table.select(columns_needed(selected, filters)), selected, filters)
        except FileNotFoundError:
            return
        report_skipped(self.records_path, reader.damage)
        self._known.forget_if_damaged(reader.damage)

    def scan(
        self, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> pa.Table:
        import pyarrow as pa

        tables = list(self.scan_batches(columns, filters))
        if not tables:
            return empty_table(check_columns(columns))
        return pa.concat_tables(tables)

    def done_ids(self, filters: Filters | None = None) -> set[str]:
        """Test ids with a non-error row among ``filters`` (``stored_tests`` holds the rule)."""
        return done_test_ids(self, filters)

    def _read_since(
        self, position: object | None, columns: list[str], damage: list[Damage]
    ) -> Generator[pa.Table, None, object]:
        """The complete lines of ``records.jsonl`` after ``position`` (``since.py``)."""
        return (yield from file_since(self.records_path, position, columns, damage))

    # -- maintenance -----------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Read every line; name torn lines, corrupt lines and records that break the schema."""
        reader = JsonlReader(self.records_path)
        files = 0
        try:
            for _ in reader.tables():
                pass
            files = 1
        except FileNotFoundError:
            pass
        damage = list(reader.damage)
        if reader.tail_bytes and self._tail_is_torn(reader.tail_offset):
            damage.append(reader.torn_tail())
        self._known.forget_if_damaged(damage)
        notes = []
        if self.quarantine_path.exists():
            notes.append(f"{self.quarantine_path} keeps lines moved aside by an earlier compact")
        return VerifyReport(self.format, self.path, reader.rows, files, tuple(damage), tuple(notes))

    def _tail_is_torn(self, offset: int) -> bool:
        """Bytes past the last newline are torn only if no writer is mid-write: check locked."""
        with self._lock, open(self.records_path, "rb") as handle:
            handle.seek(offset)
            rest = handle.read()
        return bool(rest) and not rest.endswith(b"\n")

    def compact(self) -> CompactReport:
        """Move damaged lines to ``quarantine.jsonl``; the good lines stay, byte for byte.

        Runs under the writers' lock, so appends wait (they are not lost) while it runs. Also
        clears temporaries that killed writers left behind.

        Raises:
            StoreError: the disk refused a write; both files are left as they were.
        """
        with self._lock:
            with disk_errors("clear temporaries in", self.path):
                temporary = remove_dead_temporaries(self.path) + self._remove_side_temporaries()
            if not self.records_path.exists():
                return CompactReport(
                    self.format, temporary_removed=temporary, notes=("nothing to compact",)
                )
            report = self.verify_unlocked()
            if report.is_clean:
                return CompactReport(
                    self.format,
                    rows=report.rows,
                    temporary_removed=temporary,
                    notes=("nothing to compact",),
                )
            bad_lines = {item.line for item in report.damage if item.line is not None}
            self._rewrite_without(bad_lines)
        return CompactReport(
            self.format, quarantined=len(bad_lines), rows=report.rows, temporary_removed=temporary
        )

    def verify_unlocked(self) -> VerifyReport:
        reader = JsonlReader(self.records_path)
        for _ in reader.tables():
            pass
        damage = list(reader.damage)
        if reader.tail_bytes:
            damage.append(reader.torn_tail())
        return VerifyReport(self.format, self.path, reader.rows, 1, tuple(damage))

    def _rewrite_without(self, bad_lines: set[int]) -> None:
        """Good lines to a new file, bad ones appended to the quarantine, then swap the files.

        Any refused write (disk full) undoes itself: the temporary is removed and the quarantine
        cut back to its old length, so ``records.jsonl`` and ``quarantine.jsonl`` stay as before.
        """
        temporary = temporary_name(self.path, "records.jsonl")
        moved: list[bytes] = []
        try:
            with open(self.records_path, "rb") as source, open(temporary, "xb") as good:
                for number, line in enumerate(source, start=1):
                    if number in bad_lines:
                        moved.append(line if line.endswith(b"\n") else line + b"\n")
                    else:
                        good.write(line)
                good.flush()
                os.fsync(good.fileno())
            self._append_quarantine(b"".join(moved))
            os.replace(temporary, self.records_path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise store_error(error, "compact", self.records_path) from error
        fsync_dir(self.path)

    def _append_quarantine(self, data: bytes) -> None:
        fd = os.open(self.quarantine_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                write_all(fd, data)
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)
                raise
        finally:
            os.close(fd)
