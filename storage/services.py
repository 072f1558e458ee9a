"""What both stores offer beside rows: claims, run files and the writability check.

The JSON and the Parquet store differ in how rows are kept, not in these: each store builds a
``ClaimBook`` and ``RunFiles`` over its own folder and inherits the methods below, which are
part of the ``Store`` protocol (``storage/base.py``).

How a runner is meant to use them (one owner per process, e.g. its run id)::

    store.check_writable()                          # before any test runs
    store.write_manifest({"run_id": run, "started_at": ..., ...})
    granted = store.claim(test_ids, owner=run, lease_s=60)   # {test_id: attempt}
    ... run each granted test with its attempt; call store.renew(run) every lease_s / 3 ...
    store.append(records)                           # durable on return
    store.release(run, finished_ids)                # only after the append returned
    store.write_manifest({..., "ended_at": ..., "exit_code": ...})   # the later write wins
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runbench.storage.claims import ClaimBook
from runbench.storage.durable import check_writable, remove_dead_temporaries
from runbench.storage.run_files import RunFiles

JsonObject = dict[str, Any]


class StoreServices:
    """Claims, transcripts, manifests and ``check_writable`` for a store (a mixin)."""

    _claims: ClaimBook
    _run_files: RunFiles
    _writable_folders: tuple[Path, ...]

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
        host), when it expires without ``renew``, or with ``release``. One call reads the
        store's done ids once (a scan of ``test_id``/``attempt``/``status``), so claim in
        batches rather than one id at a time.

        Raises:
            ValueError: empty ``owner`` or non-positive ``lease_s``.
            StoreError: the lease cannot be written (disk full, read-only store).
            StoreLockTimeout: the claims lock stayed held by another process for too long.
        """
        return self._claims.claim(test_ids, owner, lease_s)

    def renew(self, owner: str) -> set[str]:
        """Extend ``owner``'s lease by its ``lease_s``; return the test ids it still holds."""
        return self._claims.renew(owner)

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
