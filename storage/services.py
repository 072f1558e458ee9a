"""What both stores offer beside rows: claims, run files and the writability check.

The JSON and the Parquet store differ in how rows are kept, not in these: each store builds a
``ClaimBook`` and ``RunFiles`` over its own folder and inherits the methods below, which are
part of the ``Store`` protocol (``storage/base.py``).

How a runner is meant to use them (one owner per process, e.g. its run id)::

    store.check_writable()                          # before any test runs
    store.write_manifest({"run_id": run, "started_at": ..., ...})
    granted = store.claim(test_ids, owner=run, lease_s=60)   # {test_id: attempt}
    ... run each granted test with its attempt; call store.renew(run) every lease_s / 3 ...
    refused = store.append_held(records, run)       # durable on return, and released; a
                                                    # record whose claim was lost is refused
    store.write_manifest({..., "ended_at": ..., "exit_code": ...})   # the later write wins
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.records import Record
from runbench.storage.base import Damage, RowsSince, check_columns, report_skipped
from runbench.storage.claims import ClaimBook
from runbench.storage.durable import check_writable, remove_dead_temporaries
from runbench.storage.run_files import RunFiles
from runbench.storage.stored import KnownView

if TYPE_CHECKING:
    import pyarrow as pa

JsonObject = dict[str, Any]


class StoreServices:
    """Claims, transcripts, manifests and ``check_writable`` for a store (a mixin)."""

    _claims: ClaimBook
    _run_files: RunFiles
    _writable_folders: tuple[Path, ...]
    path: Path

    def hurry(self, grace_s: float) -> None:
        """Nothing to shorten: a local store waits on no remote request (the object store does)."""

    def check_writable(self) -> None:
        """Prove the store takes new files now, so an unwritable store stops a run early.

        Raises:
            StoreError: one line naming the folder and why (read-only, full, not a folder…).
        """
        for folder in self._writable_folders:
            check_writable(folder)

    def claim(self, test_ids: Sequence[str], owner: str, lease_s: float) -> dict[str, int]:
        """Claim tests for ``owner`` with a lease of ``lease_s`` seconds.

        Returns ``{test_id: attempt}`` for every id of ``test_ids`` that ``owner`` now holds:
        those not done and not held by a live lease of another owner (ids it already held keep
        their attempt; ids found done leave its lease). Record each test with the attempt given
        here: attempts stay unique per test. The lease ends when ``owner``'s process dies (same
        host and boot), when a holder on another host stays silent (no ``renew``) for its
        lease, or with ``release``. Done ids come from ``known_tests``, brought up to date with
        only the rows appended since the last call: a claim's cost does not grow with the store.

        Raises:
            ValueError: empty ``owner`` or non-positive ``lease_s``.
            StoreError: the lease cannot be written (disk full, read-only store).
            StoreLockTimeout: the claims lock stayed held by another process for too long.
        """
        return self._claims.claim(test_ids, owner, lease_s)

    def renew(self, owner: str) -> set[str]:
        """Extend ``owner``'s lease by its ``lease_s``; return the test ids it still holds."""
        return self._claims.renew(owner)

    def append(self, records: Sequence[Record]) -> None:
        """Each store appends its own way; ``append_held`` calls it under the claims lock."""
        raise NotImplementedError

    def append_held(self, records: Sequence[Record], owner: str) -> list[Record]:
        """Append the records whose test ``owner`` still holds; return those refused.

        Check, append and release are one critical section under the claims lock (fencing):
        a run that lost a test's claim (taken over while it was silent) cannot store it.

        Raises:
            RecordError: a record violates the schema; nothing of the call is written.
            StoreError: the disk refused the append or the lease update.
        """
        return self._claims.append_held(owner, records, self.append)

    def rows_since(
        self, position: object | None, columns: Sequence[str] | None = None
    ) -> RowsSince:
        """The rows appended after ``position`` (see ``RowsSince``), damage skipped and named."""
        return RowsSince(self._reported_since(position, check_columns(columns)))

    def _reported_since(
        self, position: object | None, columns: list[str]
    ) -> Generator[pa.Table, None, object]:
        damage: list[Damage] = []
        reached = yield from self._read_since(position, columns, damage)
        report_skipped(self._damage_where(), damage)
        return reached

    def _read_since(
        self, position: object | None, columns: list[str], damage: list[Damage]
    ) -> Generator[pa.Table, None, object]:
        """Each store reads its own files from its own kind of position."""
        raise NotImplementedError

    def _damage_where(self) -> Path:
        """What a damage warning names: the same as the store's full reads, so it reads once."""
        return self.path

    def known_tests(self) -> KnownView:
        """Done, errored and attempts of every stored test, as of now (see ``KnownTests``)."""
        return self._claims.known.refresh()

    def release(self, owner: str, test_ids: Sequence[str] | None = None) -> None:
        """Free ``test_ids`` of ``owner`` (all when ``None``), after their records are appended."""
        self._claims.release(owner, test_ids)

    def claimed(self) -> dict[str, str]:
        """Test ids held by live leases now, with their owners."""
        return self._claims.held()

    def write_transcript(self, run_id: str, name: str, payload: bytes | JsonObject) -> str:
        """Save a transcript; return its path relative to the store root (for the record)."""
        return self._run_files.write_transcript(run_id, name, payload)

    def read_transcript(self, relative_path: str) -> JsonObject:
        """Read a transcript by a record's ``transcript`` value (a list reads as ``messages``)."""
        return self._run_files.read_transcript(relative_path)

    def write_manifest(self, manifest: JsonObject) -> None:
        """Write the manifest of ``manifest["run_id"]`` atomically; a later write replaces it."""
        self._run_files.write_manifest(manifest)

    def manifest(self, run_id: str) -> JsonObject | None:
        """The manifest of one run (how a record's ``run_id`` leads to it), or None."""
        return self._run_files.manifest(run_id)

    def manifests(self) -> list[JsonObject]:
        """Every readable run manifest, newest first."""
        return self._run_files.manifests()

    def _remove_side_temporaries(self) -> int:
        """Clear temporaries that killed writers left beside the rows (``compact`` calls this)."""
        folders = [
            self._claims.folder,
            self._run_files.runs_dir,
            *self._run_files.transcripts_dir.glob("*/"),
        ]
        return sum(remove_dead_temporaries(folder) for folder in folders if folder.is_dir())
