"""The Parquet store: immutable part files, fed by one write-ahead segment per writer.

Layout of ``<root>/parquet/``::

    parts/part-<time>-<uuid>-<crc32>.parquet   sealed, immutable, checksummed (storage/parts.py);
                                       readable by pandas, DuckDB, Polars
    wal/seg-<time>-<pid>-<uuid>.jsonl  one per live writer: its appends, synced before returning
    quarantine/                        segments that held damaged lines, kept byte for byte
    compact.lock                       serialises compaction and orphan sealing (never deleted)
    claims/ runs/ transcripts/         claims, manifests, transcripts (storage/services.py)

Why it cannot lose or double a record:

* **Durable on return.** ``append`` writes JSON lines to the writer's own segment and syncs it;
  no cross-process lock is on that path, so writers never wait for each other.
* **Ownership is a lock.** A writer holds an ``flock`` on its segment for the segment's life. The
  segment is created under a hidden name, locked, then renamed into ``wal/``, so no other process
  ever sees an unlocked live segment. When the owner dies the kernel drops the lock: a segment that
  can be locked is an orphan.
* **Sealing writes before it deletes.** A segment becomes a part (tmp → fsync → rename), and only
  then is the segment removed. Each part records in its metadata the files it was made from
  (``runbench.sources``); readers skip any file that a present part names as a source. A crash
  between the rename and the delete therefore shows each row once, and compaction (many parts →
  one) is protected the same way.
* **Readers list segments before parts.** A segment that disappears between the two listings was
  sealed, and its part is already in place when parts are listed; a part that disappears before it
  is opened was compacted, and the read starts over.

What damage does: a segment line that is not a valid record is skipped by readers and, when the
segment is sealed, moved aside with its segment into ``quarantine/`` (byte for byte) while its
good lines become the part; a part whose checksum fails is skipped by every reader and left in
place by ``compact``, which goes on with the others. A refused write (disk full) undoes itself
and raises ``StoreError``: a segment is cut back to its length before the append, a part or a
merge leaves no temporary.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.errors import RecordError, StoreError
from runbench.records import (
    Record,
    arrow_schema,
    conformed_table,
    upgrade_table,
    validate_table,
    validated_lines,
)
from runbench.storage.base import (
    CompactReport,
    Damage,
    Filters,
    VerifyReport,
    check_columns,
    columns_needed,
    empty_table,
    log,
    project,
    report_skipped,
)
from runbench.storage.claims import ClaimBook
from runbench.storage.durable import disk_errors, remove_dead_temporaries, store_error
from runbench.storage.group_commit import GroupCommit
from runbench.storage.jsonl import JsonlReader
from runbench.storage.known_snapshot import SNAPSHOT_FILE, KnownSnapshot
from runbench.storage.locking import (
    FileLock,
    fsync_dir,
    is_linked,
    try_lock,
    write_all,
)
from runbench.storage.parquet_since import parquet_since
from runbench.storage.parts import (
    ROW_GROUP_ROWS,
    Part,
    PartChecker,
    open_part,
    short,
    timestamp,
    write_merged,
    write_part,
)
from runbench.storage.run_files import RunFiles
from runbench.storage.services import StoreServices
from runbench.storage.stored import KnownTests, done_test_ids

if TYPE_CHECKING:
    import pyarrow as pa

SEGMENT_ROWS = 20_000
PART_TARGET_ROWS = 1_000_000
AUTO_COMPACT_PARTS = 64
COMPACT_LOCK_TIMEOUT_S = 600.0
_SCAN_RETRIES = 20


@dataclass(slots=True)
class _Segment:
    path: Path
    fd: int
    rows: int = 0


class ParquetStore(StoreServices):
    """Records as Parquet parts in ``<root>/parquet/``, with per-writer write-ahead segments."""

    format = "parquet"

    def __init__(self, root: Path, *, segment_rows: int = SEGMENT_ROWS) -> None:
        self.root = root
        self.path = root / "parquet"
        self.parts_dir = self.path / "parts"
        self.wal_dir = self.path / "wal"
        self.quarantine_dir = self.path / "quarantine"
        for folder in (self.parts_dir, self.wal_dir, self.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.segment_rows = segment_rows
        self._compact_lock = FileLock(self.path / "compact.lock", timeout_s=COMPACT_LOCK_TIMEOUT_S)
        self._segment: _Segment | None = None
        self._checked_orphans = False
        self._committer = GroupCommit(self._write_segment)
        self._checker = PartChecker()
        self._known = KnownSnapshot(self.path / SNAPSHOT_FILE)
        self._claims = ClaimBook(self.path / "claims", KnownTests(self.rows_since, self._known))
        self._run_files = RunFiles(root, self.path)
        self._writable_folders = (self.path, self.parts_dir, self.wal_dir)

    # -- writing ---------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        """Validate and durably append records; returns once they survive ``kill -9``.

        Raises:
            RecordError: a record violates the schema; nothing of the call is written.
        """
        if records:
            self._committer.commit(validated_lines(records))

    def append_table(self, table: pa.Table) -> None:
        """Write a table with the record schema straight into sealed parts (bulk path)."""
        table = conformed_table(table)
        for start in range(0, table.num_rows, PART_TARGET_ROWS):
            with disk_errors("write a part in", self.parts_dir):
                part = table.slice(start, PART_TARGET_ROWS)
                write_part(self.parts_dir, part, sources=(), is_checked=True)

    def _write_segment(self, payload: bytes) -> None:
        if not self._checked_orphans:
            self._checked_orphans = True
            self._seal_orphans_quietly()
        with disk_errors("start a write-ahead segment in", self.wal_dir):
            segment = self._segment or self._open_segment()
        size = os.fstat(segment.fd).st_size
        try:
            write_all(segment.fd, payload)
            os.fdatasync(segment.fd)
        except OSError as error:
            os.ftruncate(segment.fd, size)  # take back the partial write: no half line is left
            raise store_error(error, "append to", segment.path) from error
        segment.rows += payload.count(b"\n")
        if segment.rows >= self.segment_rows:
            try:
                self._seal_own()
            except StoreError as error:  # the rows are durable in the segment; sealing can wait
                log.warning("could not seal a full segment yet (%s); the rows are safe", error)

    def _seal_orphans_quietly(self) -> None:
        """Seal dead writers' segments on the way; failing at it must not fail this append."""
        try:
            self._seal_orphans(blocking=False)
        except StoreError as error:
            log.warning("left orphaned segments for later: %s", error)

    def _open_segment(self) -> _Segment:
        token = f"{timestamp()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        hidden = self.wal_dir / f".new-{os.getpid()}-{token}"
        fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        if not try_lock(fd):
            os.close(fd)
            raise StoreError(f"could not lock the new segment {hidden}")
        final = self.wal_dir / f"seg-{token}.jsonl"
        os.rename(hidden, final)
        fsync_dir(self.wal_dir)
        self._segment = _Segment(final, fd)
        return self._segment

    def _seal_own(self) -> None:
        segment = self._segment
        if segment is None:
            return
        self._segment = None
        try:
            if segment.rows:
                self._seal_segment(segment.path)
            else:
                segment.path.unlink()
                fsync_dir(self.wal_dir)
        finally:
            # Releases the ownership lock only after the segment is gone; if sealing failed, the
            # segment stays as an orphan that the next writer or compact seals.
            os.close(segment.fd)

    def close(self) -> None:
        """Seal this writer's segment into a part, and compact if small parts have piled up.

        Every writer leaves at least one part behind, so many short runs would slowly make reads
        slower; past ``AUTO_COMPACT_PARTS`` parts the closing writer merges them, unless another
        process is compacting already. Reads and later appends still work after ``close``.

        Raises:
            StoreError: the segment could not be sealed (e.g. disk full); its rows stay durable
                in the segment, which the next writer or ``compact`` seals.
        """
        self._committer.exclusive(self._seal_own)
        if len(self._part_paths()) > AUTO_COMPACT_PARTS:
            self.compact(blocking=False)
        self._compact_lock.close()

    def __enter__(self) -> ParquetStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- parts and sealing -----------------------------------------------------------------

    def _seal_segment(self, path: Path) -> tuple[int, bool]:
        """Turn a segment into a part, then remove it (or quarantine it if it held damage).

        The caller holds the segment's ownership lock, so nobody appends to it meanwhile.
        Returns the rows sealed and whether the segment was quarantined.
        """
        import pyarrow as pa

        reader = JsonlReader(path)
        with disk_errors("read the segment", path):
            tables = list(reader.tables())
        if reader.tail_bytes:
            reader.damage.append(reader.torn_tail())
        if tables:
            with disk_errors("seal a part in", self.parts_dir):
                write_part(self.parts_dir, pa.concat_tables(tables), sources=[path.name])
        if reader.damage:
            log.warning(
                "moved %s to %s: its good rows are sealed, %d damaged piece(s) kept aside: %s",
                path.name,
                self.quarantine_dir,
                len(reader.damage),
                "; ".join(item.describe() for item in reader.damage[:3]),
            )
            os.replace(path, self.quarantine_dir / path.name)
            fsync_dir(self.quarantine_dir)
        else:
            path.unlink()
        fsync_dir(self.wal_dir)
        return reader.rows, bool(reader.damage)

    def _seal_orphans(self, *, blocking: bool) -> tuple[int, int]:
        """Seal segments whose writer died. Returns (segments sealed, segments quarantined)."""
        if not self._has_orphan_candidates():
            return 0, 0  # the common case, decided without reading any part
        if not self._compact_lock.acquire(blocking=blocking):
            return 0, 0
        try:
            return self._seal_orphans_locked(self._sealed_sources())
        finally:
            self._compact_lock.release()

    def _has_orphan_candidates(self) -> bool:
        for path in self._segment_paths():
            fd = _open_existing(path)
            if fd is None:
                continue
            try:
                if try_lock(fd):
                    return True
            finally:
                os.close(fd)  # also drops the lock just taken: the sealer takes it again
        return False

    def _sealed_sources(self) -> set[str]:
        parts, _ = self._open_parts()
        sources = {name for part in parts for name in part.sources}
        for part in parts:
            part.file.close()
        return sources

    def _seal_orphans_locked(self, sealed: set[str]) -> tuple[int, int]:
        sealed_count = quarantined = 0
        for path in self._segment_paths():
            fd = _open_existing(path)
            if fd is None:
                continue
            try:
                if not try_lock(fd) or not is_linked(path, fd):
                    continue
                if path.name in sealed:  # sealed before its writer died: only the delete is left
                    path.unlink()
                    fsync_dir(self.wal_dir)
                    continue
                _, was_quarantined = self._seal_segment(path)
                sealed_count += 1
                quarantined += was_quarantined
            finally:
                os.close(fd)
        return sealed_count, quarantined

    # -- reading ---------------------------------------------------------------------------

    def _segment_paths(self) -> list[Path]:
        return sorted(self.wal_dir.glob("seg-*.jsonl"))

    def _part_paths(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.parquet"))

    def _open_parts(self) -> tuple[list[Part], list[Damage]]:
        """Open every part that passes its check (an open part stays readable if deleted later).

        Raises:
            FileNotFoundError: a listed part vanished before it was opened (compaction ran).
        """
        parts: list[Part] = []
        damage: list[Damage] = []
        for path in self._part_paths():
            try:
                opened = open_part(path, self._checker)
            except FileNotFoundError:
                for part in parts:
                    part.file.close()
                raise
            except OSError as error:  # e.g. EIO: a part we cannot read is a damaged part
                damage.append(Damage(path, "unreadable_part", short(error)))
                continue
            if isinstance(opened, Damage):
                damage.append(opened)
            else:
                parts.append(opened)
        return parts, damage

    def _snapshot(self) -> tuple[dict[str, pa.Table], list[Part], list[Damage]]:
        """A consistent view: segment tables and open parts, with superseded files dropped."""
        for _ in range(_SCAN_RETRIES):
            segments: dict[str, pa.Table] = {}
            damage: list[Damage] = []
            for path in self._segment_paths():
                segment = self._read_live_segment(path, damage)
                if segment is not None:
                    segments[path.name] = segment
            try:
                parts, part_damage = self._open_parts()
            except FileNotFoundError:
                continue
            superseded = {name for part in parts for name in part.sources}
            live_parts = [part for part in parts if part.path.name not in superseded]
            for part in parts:
                if part.path.name in superseded:
                    part.file.close()
            live_segments = {name: t for name, t in segments.items() if name not in superseded}
            return live_segments, live_parts, damage + part_damage
        raise StoreError(
            f"could not get a stable view of {self.path}: parts kept changing while reading",
            hint="retry when the running compaction has finished",
        )

    def _read_live_segment(self, path: Path, damage: list[Damage]) -> pa.Table | None:
        import pyarrow as pa

        reader = JsonlReader(path)
        try:
            tables = list(reader.tables())
        except FileNotFoundError:
            return None
        damage.extend(reader.damage)
        return pa.concat_tables(tables) if tables else None

    def scan_batches(
        self, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> Iterator[pa.Table]:
        """Yield stored rows in bounded batches, each row exactly once, skipping damaged files."""
        import pyarrow as pa

        selected = check_columns(columns)
        needed = columns_needed(selected, filters)
        segments, parts, damage = self._snapshot()
        report_skipped(self.path, damage)
        self._known.forget_if_damaged(damage)
        try:
            for table in segments.values():
                yield project(table.select(needed), selected, filters)
            for part in parts:
                # a part written before the added columns lacks them: read as nulls
                present = [name for name in needed if name in part.file.schema_arrow.names]
                for batch in part.file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=present):
                    table = upgrade_table(pa.Table.from_batches([batch]), needed)
                    yield project(table, selected, filters)
        finally:
            for part in parts:
                part.file.close()

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
        """Segments' new lines, then parts not seen (``parquet_since.py``)."""
        segments = self._segment_paths()  # segments before parts, as every reader lists them
        return (
            yield from parquet_since(
                segments, lambda: self._since_parts(damage), self._checker, position, columns,
                damage,
            )
        )  # fmt: skip

    def _since_parts(self, damage: list[Damage]) -> list[Path]:
        """The part files ``rows_since`` lists (the object store adds the bucket's)."""
        return self._part_paths()

    # -- maintenance -----------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Read every part and segment in full; name unreadable parts, bad lines and orphans."""
        import pyarrow as pa

        rows = files = 0
        damage: list[Damage] = []
        notes: list[str] = []
        parts, part_damage = self._open_parts_stable()
        damage.extend(part_damage)
        self._known.forget_if_damaged(part_damage)
        superseded = {name for part in parts for name in part.sources}
        for part in parts:
            files += 1
            try:
                table = part.file.read()
                validate_table(upgrade_table(table).cast(arrow_schema()))
            except (pa.ArrowException, OSError) as error:
                damage.append(Damage(part.path, "unreadable_part", short(error)))
                continue
            except RecordError as error:  # readable but not valid records
                damage.append(Damage(part.path, "invalid_record", error.message))
                continue
            finally:
                part.file.close()
            if part.path.name in superseded:
                notes.append(
                    f"{part.path.name} is superseded by a compacted part (compact removes it)"
                )
            else:
                rows += table.num_rows
        for path in self._segment_paths():
            fd = _open_existing(path)
            if fd is None:
                continue
            try:
                files += 1
                is_orphan = try_lock(fd) and is_linked(path, fd)
                reader = JsonlReader(path)
                for _ in reader.tables():
                    pass
                damage.extend(reader.damage)
                if path.name in superseded:
                    notes.append(f"{path.name} is already sealed (compact removes it)")
                    continue
                rows += reader.rows
                if is_orphan:
                    if reader.tail_bytes:
                        damage.append(reader.torn_tail())
                    damage.append(
                        Damage(
                            path,
                            "orphan_segment",
                            f"{reader.rows} rows; its writer died before sealing it",
                        )
                    )
            finally:
                os.close(fd)
        quarantined = sorted(self.quarantine_dir.glob("*"))
        if quarantined:
            notes.append(
                f"{len(quarantined)} file(s) in {self.quarantine_dir} keep damaged lines aside"
            )
        return VerifyReport(self.format, self.path, rows, files, tuple(damage), tuple(notes))

    def _open_parts_stable(self) -> tuple[list[Part], list[Damage]]:
        for _ in range(_SCAN_RETRIES):
            try:
                return self._open_parts()
            except FileNotFoundError:
                continue
        raise StoreError(f"parts of {self.path} kept changing while verifying; retry")

    def compact(
        self, *, target_rows: int = PART_TARGET_ROWS, blocking: bool = True
    ) -> CompactReport:
        """Seal orphaned segments and merge small parts; safe beside writers and against kill.

        With ``blocking=False`` it returns at once (doing nothing) if another process compacts.

        Damaged parts are left in place (``verify`` names them) and the rest is compacted.

        Raises:
            StoreLockTimeout: blocking, and another compaction held the lock for too long.
            StoreError: the disk refused a write (no temporary is left behind).
        """
        if not self._compact_lock.acquire(blocking=blocking):
            return CompactReport(self.format, notes=("another process is compacting",))
        try:
            with disk_errors("compact", self.path):
                return self._compact_locked(target_rows)
        finally:
            self._compact_lock.release()

    def _compact_locked(self, target_rows: int) -> CompactReport:
        parts, _ = self._open_parts_stable()
        parts_before = len(parts)
        superseded = {name for part in parts for name in part.sources}
        removed = self._remove_superseded(parts, superseded)
        sealed, quarantined = self._seal_orphans_locked(superseded)
        temporary = self._remove_dead_temporaries()
        parts, _ = self._open_parts_stable()
        merged_rows = self._merge_small_parts(parts, target_rows)
        parts_after = len(self._part_paths())
        return CompactReport(
            self.format,
            parts_before=parts_before,
            parts_after=parts_after,
            segments_sealed=sealed,
            superseded_removed=removed,
            temporary_removed=temporary,
            quarantined=quarantined,
            rows=merged_rows,
        )

    def _remove_superseded(self, parts: list[Part], superseded: set[str]) -> int:
        removed = 0
        for part in parts:
            part.file.close()
            if part.path.name in superseded:
                part.path.unlink(missing_ok=True)
                removed += 1
        for path in self._segment_paths():
            fd = _open_existing(path)
            if fd is None:
                continue
            try:
                if path.name in superseded and try_lock(fd) and is_linked(path, fd):
                    path.unlink()
                    removed += 1
            finally:
                os.close(fd)
        if removed:
            fsync_dir(self.parts_dir)
            fsync_dir(self.wal_dir)
        return removed

    def _remove_dead_temporaries(self) -> int:
        removed = remove_dead_temporaries(self.parts_dir) + self._remove_side_temporaries()
        return removed + remove_dead_temporaries(self.wal_dir, ".new-")

    def _merge_small_parts(self, parts: list[Part], target_rows: int) -> int:
        """Merge parts smaller than ``target_rows`` into parts of up to ``target_rows`` rows."""
        small = [part for part in parts if part.rows < target_rows]
        for part in parts:
            part.file.close()
        merged_rows = 0
        for group in merge_groups(small, target_rows):
            merged_rows += self._merge(group)
        return merged_rows

    def _merge(self, group: list[Part]) -> int:
        """Write one part from ``group`` (row group by row group), then delete the sources."""
        write_merged(
            self.parts_dir, [part.path for part in group], [part.path.name for part in group]
        )
        for part in group:
            part.path.unlink()
        fsync_dir(self.parts_dir)
        return sum(part.rows for part in group)


def merge_groups(small: list[Part], target_rows: int) -> list[list[Part]]:
    """Consecutive runs of small parts of up to ``target_rows`` rows, each worth merging (2+)."""
    groups: list[list[Part]] = [[]]
    for part in small:
        if groups[-1] and sum(p.rows for p in groups[-1]) + part.rows > target_rows:
            groups.append([])
        groups[-1].append(part)
    return [group for group in groups if len(group) > 1]


def _open_existing(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
