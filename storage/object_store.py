"""The Parquet store on an S3-compatible object store: one store for a team of machines.

Layout in the bucket, under the store's prefix (the local layout, so pyarrow, DuckDB and Polars
read ``parquet/parts/`` straight from the bucket)::

    parquet/parts/part-<time>-<uuid>-<crc32>.parquet   sealed, immutable, checksummed parts
    parquet/claims/book.json                           claims (storage/object_claims.py)
    parquet/compact.lease                              the one running compaction
    parquet/runs/, parquet/transcripts/                manifests, transcripts (object_files.py)

And on each machine, in the store's cache folder (``RUNBENCH_CACHE``, by default
``~/.cache/runbench/s3/<bucket>/<prefix>``): ``parquet/wal/`` (the write-ahead segments of
this machine's writers), ``parquet/parts/`` (sealed parts waiting for upload) and
``remote/`` (copies of remote parts, immutable and checked by their CRC, so a second read of
the store downloads only what is new).

Why nothing is lost or doubled:

* **Durable on return.** ``append`` writes to this process's local segment, exactly as the
  local Parquet store does (``ParquetStore``, which this class extends): durable against
  ``kill -9`` when it returns.
* **Sealed locally, then uploaded once.** Every ``upload_rows`` rows or ``upload_every_s``
  seconds (checked at each append) and at ``close``, the segment is sealed into a local part
  (tmp → fsync → rename, naming the segment as its source) and the part is uploaded under its
  own name with ``If-None-Match: *``; the local copy is deleted only after the upload. A
  repeated upload (a crash between the upload and the delete) is refused by the bucket, never
  doubled. Uploads on one machine are serialised by a lock in the cache folder.
* **Dead writers on this machine** leave a segment or a sealed part behind: the next runbench
  command opening the store here seals and uploads them before it plans. What a lost machine
  had not uploaded is lost with it; its claims expire and those tests are run again.
* **Readers** list local segments, then local parts, then remote parts, and drop every file
  that a part names as a source, as the local store does. A compacted part names every file
  it descends from (its sources' sources too), so a part uploaded again after it was compacted
  away is still superseded.
* **Compaction** holds the compaction lease object (``If-None-Match`` / ``If-Match``): of two
  compactions exactly one proceeds. It uploads the merged part (named to list after its
  sources) before it deletes them, so a reader listing while it runs sees the merged part, or
  its sources, or both (and drops the superseded ones); a part that vanishes between the
  listing and the read makes the reader list again. After it, the bucket holds no superseded
  part, so outside readers (DuckDB, Polars) count each row once.
* **Fencing.** ``append`` stores a result of a run that holds claims only while the run still
  holds that test with that attempt; a result of a lost claim is dropped with a warning. A test
  is released only once its row is uploaded, so a row still waiting here when its claim is
  taken over is *revoked* by the taker (``object_claims.py``): every reader drops it, and
  compaction rewrites the parts that hold it (``object_revoked.py``).
* **Claims read only what is new.** A claim asks ``ObjectKnownTests``, which folds in the
  segments' new lines and the parts it has not seen (one listing, new parts downloaded once),
  never every part again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.config import ObjectStoreSettings
from runbench.errors import StoreLockTimeout
from runbench.records import Record
from runbench.storage.base import (
    CompactReport,
    Damage,
    Filters,
    VerifyReport,
    check_columns,
)
from runbench.storage.bucket import Bucket, Listed
from runbench.storage.conformance import require_conditional_writes
from runbench.storage.durable import check_writable, disk_errors
from runbench.storage.locking import FileLock, fsync_dir
from runbench.storage.object_claims import ObjectClaimBook
from runbench.storage.object_compact import PARTS, ObjectCompaction
from runbench.storage.object_files import ObjectRunFiles
from runbench.storage.object_lease import CompactionLease, Watcher
from runbench.storage.object_release import ReleaseAfterUpload
from runbench.storage.object_revoked import (
    ObjectKnownTests,
    drop_revoked,
    revoked_mask,
    with_keys,
)
from runbench.storage.parquet_store import (
    AUTO_COMPACT_PARTS,
    COMPACT_LOCK_TIMEOUT_S,
    PART_TARGET_ROWS,
    ParquetStore,
)
from runbench.storage.parts import (
    SOURCES_KEY,
    Part,
    file_checksum,
    open_part,
    temporary_part,
)
from runbench.storage.stored import KnownView, StoredTests

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("runbench.storage")

COMPACT_LEASE_S = 120.0
BEATS_FILE = "beats-seen.json"  # in the cache folder: how long other hosts' beats stood still
JsonObject = dict[str, Any]


class ObjectParquetStore(ParquetStore, ObjectCompaction):
    """Records as Parquet parts in a bucket, written through this machine's local segments."""

    def __init__(
        self,
        settings: ObjectStoreSettings,
    ) -> None:
        self.settings = settings
        self.url = settings.url
        self.bucket = Bucket(settings)
        self.bucket.check_bucket()  # a missing bucket or refused credentials: one line, now
        with disk_errors("create the cache folder", settings.cache):
            super().__init__(settings.cache, segment_rows=settings.upload_rows)
        self.remote_dir = self.path / "remote"
        self.remote_dir.mkdir(exist_ok=True)
        self.upload_every_s = settings.upload_every_s
        self._upload_lock = FileLock(self.path / "upload.lock", timeout_s=COMPACT_LOCK_TIMEOUT_S)
        self._beats = Watcher(self.path / BEATS_FILE)  # beats seen, kept for the next command
        self._object_claims = ObjectClaimBook(self.bucket, self._stored_among, self._beats)
        self._known_objects = ObjectKnownTests(self.rows_since)
        self._object_files = ObjectRunFiles(self.bucket)
        self._conformant = False
        self._segment_started = time.monotonic()
        self._releases = ReleaseAfterUpload(self._object_claims)
        self._seals = 0  # own segments sealed: tells which appended rows an upload carried
        self._pending_checked_at = -1  # the seal count when sealed parts were last looked for
        self.recover()

    def __repr__(self) -> str:
        return f"ObjectParquetStore({self.url})"

    # -- writing ---------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        """Validate, fence and durably append records (in the local segment); upload when due.

        Raises:
            RecordError: a record violates the schema; nothing of the call is written.
            StoreError: the cache folder or the bucket refused a write.
        """
        kept = self._fenced(records)
        if kept:
            fresh = self._segment is None
            super().append(kept)
            if fresh:  # T counts from the segment's first row
                self._segment_started = time.monotonic()
        if self._segment is not None and (
            time.monotonic() - self._segment_started >= self.upload_every_s
        ):
            self._committer.exclusive(self._seal_own)
        # Parts appear here only when this process seals (its segment, or on its first write
        # the orphans of dead writers): look for them then, not on every append.
        if self._seals != self._pending_checked_at:
            self._pending_checked_at = self._seals
            if self._has_pending():
                self.upload_pending()

    def append_table(self, table: pa.Table) -> None:
        """Write a table with the record schema straight into parts and upload them."""
        super().append_table(table)
        self.upload_pending()

    def close(self) -> None:
        """Seal this writer's segment, upload every pending part, compact when parts piled up.

        Raises:
            StoreError: sealing or uploading failed; the rows stay durable in the cache folder,
                and the next runbench command on this machine uploads them.
        """
        self._committer.exclusive(self._seal_own)
        self.upload_pending()
        if self._segment is None and not self._has_pending():
            self._releases.uploaded(self._seals, everything=True)
        if len(self.bucket.list(PARTS)) > AUTO_COMPACT_PARTS:
            self.compact(blocking=False)
        self._compact_lock.close()
        self._upload_lock.close()

    def recover(self) -> int:
        """Seal dead writers' segments on this machine and upload every pending part.

        Every command that opens the store calls it, so what a killed writer left here is in
        the bucket before anything plans from it. Returns the parts uploaded.
        """
        if self._has_orphan_candidates():
            self._seal_orphans(blocking=True)
        uploaded = self.upload_pending()
        self._object_claims.forget_dead()  # their rows are in the bucket now
        return uploaded

    def upload_pending(self) -> int:
        """Upload this machine's sealed parts (create-if-absent), deleting each after upload.

        Returns how many were uploaded by this call (an already present part counts as done).
        """
        seals = self._seals
        if not self._has_pending():
            self._releases.uploaded(seals)
            return 0
        self.require_conformant()
        uploaded = 0
        with self._upload_lock:
            for path in self._part_paths():
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                if file_checksum(path) != _named_crc(path.name):
                    log.warning("left the damaged local part %s un-uploaded", path)
                    continue
                if self.bucket.create(f"{PARTS}/{path.name}", data) is not None:
                    uploaded += 1
                path.unlink(missing_ok=True)
            fsync_dir(self.parts_dir)
        if not self._has_pending():
            self._releases.uploaded(seals)  # their tests may be released now
        return uploaded

    def _seal_own(self) -> None:
        had_rows = self._segment is not None
        super()._seal_own()
        if had_rows:
            self._seals += 1

    def _has_pending(self) -> bool:
        return any(self.parts_dir.glob("part-*.parquet"))

    def require_conformant(self) -> None:
        """Probe the store's conditional writes once (cached); refuse it when they fail."""
        if not self._conformant:
            require_conditional_writes(self.bucket, self.root)
            self._conformant = True

    def hurry(self, grace_s: float) -> None:
        """The command is stopping: no bucket request waits more than ``grace_s`` from now.

        A stopped run still drains, releases and uploads; on a live store that takes
        milliseconds, on a hung one it must not take a whole bound (``storage/bucket.py``).
        """
        self.bucket.hurry(grace_s)

    def check_writable(self) -> None:
        """Prove the cache folder takes files and the bucket keeps its conditional writes."""
        for folder in (self.path, self.parts_dir, self.wal_dir):
            check_writable(folder)
        self.require_conformant()

    # -- fencing ---------------------------------------------------------------------------

    def _fenced(self, records: Sequence[Record]) -> list[Record]:
        """Drop results of claims their run no longer holds (runs without claims pass)."""
        holdings: dict[str, dict[str, int] | None] = {}
        kept: list[Record] = []
        dropped = 0
        for record in records:
            run_id = str(record.run_id)
            if run_id not in holdings:
                holdings[run_id] = self._object_claims.held_attempts(run_id)
            held = holdings[run_id]
            if held is None or held.get(str(record.test_id)) == record.attempt:
                kept.append(record)
            else:
                dropped += 1
        if dropped:
            log.warning(
                "did not store %d result(s) whose claim the run no longer holds (its lease "
                "expired and another run took the test over)",
                dropped,
            )
        return kept

    # -- reading ---------------------------------------------------------------------------

    def _open_parts(self) -> tuple[list[Part], list[Damage]]:
        """Local pending parts, then the bucket's parts (a name in both is read once).

        Raises:
            FileNotFoundError: a listed part vanished before it was read (compaction ran).
        """
        parts, damage = super()._open_parts()
        seen = {part.path.name for part in parts}
        try:
            listed = [item for item in self.bucket.list(PARTS) if item.name not in seen]
            remote, remote_damage = self._open_remote(listed)
        except BaseException:
            for part in parts:
                part.file.close()
            raise
        self._forget_cached({item.name.rsplit("/", 1)[-1] for item in listed} | seen)
        return parts + remote, damage + remote_damage

    def _open_remote(self, listed: list[Listed]) -> tuple[list[Part], list[Damage]]:
        parts: list[Part] = []
        damage: list[Damage] = []
        try:
            for item in listed:
                name = item.name.rsplit("/", 1)[-1]
                if not name.startswith("part-") or not name.endswith(".parquet"):
                    continue
                cached = self._cached(item, name)
                if isinstance(cached, Damage):
                    damage.append(cached)
                    continue
                opened = open_part(cached, self._checker)
                if isinstance(opened, Damage):
                    damage.append(Damage(Path(item.name), opened.kind, opened.detail))
                else:
                    parts.append(opened)
        except BaseException:
            for part in parts:
                part.file.close()
            raise
        return parts, damage

    def _cached(self, item: Listed, name: str) -> Path | Damage:
        """The local copy of a remote part, downloaded once and kept only if its CRC holds.

        Raises:
            FileNotFoundError: the part was deleted since it was listed.
        """
        path = self.remote_dir / name
        if path.exists():
            return path
        found = self.bucket.get(item.name)
        if found is None:
            raise FileNotFoundError(item.name)
        data = found[0]
        temporary = temporary_part(self.remote_dir)
        with disk_errors("cache a part in", self.remote_dir):
            try:
                temporary.write_bytes(data)
                if file_checksum(temporary) != _named_crc(name):
                    return Damage(
                        Path(item.name),
                        "unreadable_part",
                        f"checksum mismatch in {self.url}/{item.name}",
                    )
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
        return path

    def _forget_cached(self, present: set[str]) -> None:
        """Drop cached copies of parts no longer in the bucket (compacted away)."""
        for path in self.remote_dir.glob("part-*.parquet"):
            if path.name not in present:
                path.unlink(missing_ok=True)

    def scan_batches(
        self, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> Iterator[pa.Table]:
        """Stored rows, each once, without the rows of revoked claims (one read of the book)."""
        selected = check_columns(columns)
        revoked = self._object_claims.read().revoked_keys()
        if not revoked:
            yield from super().scan_batches(selected, filters)
            return
        for table in super().scan_batches(with_keys(selected), filters):
            yield drop_revoked(table, revoked).select(selected)

    def verify(self) -> VerifyReport:
        """The local store's checks over the bucket's parts; revoked rows are not counted."""
        report = super().verify()
        revoked = self._object_claims.read().revoked_keys()
        if not revoked:
            return report
        import pyarrow.compute as pc

        found = 0
        for table in super().scan_batches(with_keys([]), None):
            found += int(pc.sum(revoked_mask(table, revoked)).as_py() or 0)
        if not found:
            return report
        note = (
            f"{found} row(s) of claims their run had lost are not counted (another run took "
            "those tests over); compact removes them"
        )
        return dataclasses.replace(report, rows=report.rows - found, notes=(*report.notes, note))

    def _since_parts(self, damage: list[Damage]) -> list[Path]:
        """Local pending parts, then the bucket's (cached copies; new ones downloaded once).

        A part deleted since the listing is returned under a path that does not exist, so
        ``parquet_since`` lists again (a compaction merged it).
        """
        local = self._part_paths()
        seen = {path.name for path in local}
        paths = list(local)
        for item in self.bucket.list(PARTS):
            name = item.name.rsplit("/", 1)[-1]
            if name in seen or not name.startswith("part-") or not name.endswith(".parquet"):
                continue
            try:
                cached = self._cached(item, name)
            except FileNotFoundError:
                cached = self.remote_dir / name
            if isinstance(cached, Damage):
                damage.append(cached)
            else:
                paths.append(cached)
        return paths

    def revoked_keys(self) -> frozenset[str]:
        """The rows a revoked claim hides (``test_id|attempt|run_id``): every reader drops them.

        ``rows_since`` delivers what the parts hold, revoked rows too; a reader that keeps
        rows across reads (the viewer) drops these itself, as ``scan`` does.
        """
        return self._object_claims.read().revoked_keys()

    def content_version(self) -> str:
        """A fingerprint of the rows: part names, this machine's segments, revoked rows.

        Parts are immutable and every append grows a local segment, so an unchanged
        fingerprint means unchanged rows (the viewer polls it instead of reading rows). A
        revocation can hide a row already stored, so the revoked entries count too (not the
        rest of the claim book, which changes with every renewal).
        """
        import hashlib

        digest = hashlib.sha256()
        for key in sorted(self._object_claims.read().revoked_keys()):
            digest.update(f"revoked {key}\n".encode())
        for item in self.bucket.list(PARTS):
            digest.update(f"{item.name}|{item.etag}\n".encode())
        for path in [*self._segment_paths(), *self._part_paths()]:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            digest.update(f"{path.name}|{size}\n".encode())
        return digest.hexdigest()[:16]

    # -- claims, run files -------------------------------------------------------------------

    def _stored_among(self, revoked: frozenset[str]) -> StoredTests:
        """Done, errored and attempts as of now (only new rows read; revoked ones left out)."""
        return self._known_objects.refresh(revoked)

    def known_tests(self) -> KnownView:
        """Every stored test as of now: the rows read before, and those added since."""
        return KnownView(
            None, self._known_objects.refresh(self._object_claims.read().revoked_keys())
        )

    def append_held(self, records: Sequence[Record], owner: str) -> list[Record]:
        """Append the records whose claim ``owner`` still holds; return the rest.

        The appended tests stay claimed until their rows are uploaded (then released): the
        bucket cannot make check and upload one step, so a test taken over before its row is
        uploaded is revoked by the taker and its row is dropped by every reader.
        """
        held = self._object_claims.held_attempts(owner) or {}
        kept = [record for record in records if held.get(record.test_id) == record.attempt]
        refused = [record for record in records if held.get(record.test_id) != record.attempt]
        if kept:
            self.append(kept)
            self._releases.appended(owner, [record.test_id for record in kept], self._seals)
        return refused

    def claim(self, test_ids: Sequence[str], owner: str, lease_s: float) -> dict[str, int]:
        """Claim tests through the bucket's claim book (compare-and-swap; see object_claims)."""
        self.require_conformant()
        return self._object_claims.claim(test_ids, owner, lease_s)

    def renew(self, owner: str) -> set[str]:
        return self._object_claims.renew(owner)

    def release(self, owner: str, test_ids: Sequence[str] | None = None) -> None:
        """Free ``test_ids`` (all when None); those whose rows wait for upload, after it."""
        self._releases.release(owner, test_ids)

    def claimed(self) -> dict[str, str]:
        return self._object_claims.held()

    def write_transcript(self, run_id: str, name: str, payload: bytes | JsonObject) -> str:
        return self._object_files.write_transcript(run_id, name, payload)

    def read_transcript(self, relative_path: str) -> JsonObject:
        return self._object_files.read_transcript(relative_path)

    def write_manifest(self, manifest: JsonObject) -> None:
        self._object_files.write_manifest(manifest)

    def manifest(self, run_id: str) -> JsonObject | None:
        return self._object_files.manifest(run_id)

    def manifests(self) -> list[JsonObject]:
        return self._object_files.manifests()

    # -- compaction --------------------------------------------------------------------------

    def compact(
        self, *, target_rows: int = PART_TARGET_ROWS, blocking: bool = True
    ) -> CompactReport:
        """Upload what this machine holds, then merge the bucket's small parts under the lease.

        Of two compactions at once exactly one proceeds; with ``blocking`` the other waits for
        the lease (up to ``COMPACT_LOCK_TIMEOUT_S``), without it returns at once.

        Raises:
            StoreLockTimeout: blocking, and the lease stayed held for too long.
            StoreError: the bucket refused a write, or the lease was lost midway.
        """
        sealed, quarantined = self._seal_orphans(blocking=blocking)
        self.upload_pending()
        lease = CompactionLease(self.bucket, COMPACT_LEASE_S, self._beats)
        deadline = time.monotonic() + COMPACT_LOCK_TIMEOUT_S
        while not lease.acquire():
            if not blocking:
                return CompactReport(self.format, notes=("another process is compacting",))
            if time.monotonic() > deadline:
                raise StoreLockTimeout(f"another compaction of {self.url} held its lease too long")
            time.sleep(1.0)
        try:
            with disk_errors("compact", self.path):
                report = self._compact_leased(lease, target_rows)
        finally:
            lease.release()
        return CompactReport(
            self.format,
            parts_before=report.parts_before,
            parts_after=report.parts_after,
            segments_sealed=sealed,
            superseded_removed=report.superseded_removed,
            temporary_removed=report.temporary_removed,
            quarantined=quarantined,
            rows=report.rows,
            notes=report.notes,
        )


def _named_crc(name: str) -> int | None:
    """The CRC-32 a part's name carries (``part-<time>-<uuid>-<crc>.parquet``)."""
    stem = name.removesuffix(".parquet")
    try:
        return int(stem.rsplit("-", 1)[1], 16)
    except (IndexError, ValueError):
        return None


def sources_of(data: bytes) -> list[str]:
    """The ``runbench.sources`` of a part's bytes (for tests and tools reading the bucket)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(pa.BufferReader(data)).schema_arrow.metadata or {}
    return [str(name) for name in json.loads(metadata.get(SOURCES_KEY, b"[]"))]
