"""What a run leaves beside its rows: saved transcripts and its manifest, in both formats.

Layout under ``<root>/<format>/`` (the same for the JSON and the Parquet store)::

    transcripts/<run_id>/<name>.json   one conversation, as the runner saved it
    runs/<run_id>.json                 the run's manifest (command, versions, digests, counts…)

A record's ``transcript`` field holds the path relative to the store root (the folder given as
``--store``), e.g. ``parquet/transcripts/<run_id>/<test_id>-1.json``; older stores kept
``transcripts/<run_id>/…`` directly under the root, which ``read_transcript`` reads as well.
Every file is written atomically (tmp → fsync → replace): a manifest written at the start of a
run and again at its end is either the old or the new one, and the later write wins.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from runbench.errors import StoreError
from runbench.storage.durable import atomic_write, disk_errors

log = logging.getLogger("runbench.storage")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$")
JsonObject = dict[str, Any]


def checked_name(value: object, what: str) -> str:
    """A run id or file name that is one plain path component (no slash, no '..')."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(
            f"{what} must be letters, digits, '.', '_' or '-' (one path component), got {value!r}"
        )
    return value


class RunFiles:
    """Transcripts and manifests of one store (``root``: the store root, ``path``: its format)."""

    def __init__(self, root: Path, path: Path) -> None:
        self.root = root
        self.path = path
        self.transcripts_dir = path / "transcripts"
        self.runs_dir = path / "runs"

    def write_transcript(self, run_id: str, name: str, payload: bytes | JsonObject) -> str:
        """Save one transcript; return the relative path to put in the record's ``transcript``.

        ``payload`` is a JSON object, or bytes already holding one JSON value (already redacted:
        the store writes what it is given).

        Raises:
            ValueError: ``run_id`` or ``name`` is not one plain path component.
            StoreError: the disk refused the write (nothing is left half-written).
        """
        folder = self.transcripts_dir / checked_name(run_id, "run_id")
        path = folder / f"{checked_name(name, 'transcript name')}.json"
        data = payload if isinstance(payload, bytes) else encode_json(payload)
        with disk_errors("save the transcript", path):
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        return path.relative_to(self.root).as_posix()

    def read_transcript(self, relative_path: str) -> JsonObject:
        """Read a transcript by the path a record holds; a JSON list comes back as ``messages``.

        Raises:
            StoreError: the path leaves the store, the file is missing, or it is not JSON.
        """
        root = self.root.resolve()
        path = (root / relative_path).resolve()
        if not path.is_relative_to(root) or path == root:
            raise StoreError(f"transcript path {relative_path!r} is outside the store {root}")
        try:
            value = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no transcript at {path}") from None
        except (OSError, ValueError, RecursionError) as error:
            raise StoreError(f"transcript {path} is damaged or unreadable: {error}") from None
        if isinstance(value, list):
            return {"messages": value}
        if not isinstance(value, dict):
            raise StoreError(f"transcript {path} holds no JSON object or list")
        return value

    def write_manifest(self, manifest: JsonObject) -> None:
        """Write (or replace) the manifest of ``manifest["run_id"]`` atomically.

        Raises:
            ValueError: no usable ``run_id`` in the manifest.
            TypeError: a value is not JSON-serialisable.
            StoreError: the disk refused the write (the previous manifest, if any, is kept).
        """
        run_id = checked_name(manifest.get("run_id"), "the manifest's run_id")
        path = self.runs_dir / f"{run_id}.json"
        data = encode_json(manifest)
        with disk_errors("write the run manifest", path):
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)

    def manifest(self, run_id: str) -> JsonObject | None:
        """The manifest of one run, or None when there is none (or it is damaged)."""
        return self._read_manifest(self.runs_dir / f"{checked_name(run_id, 'run_id')}.json")

    def manifests(self) -> list[JsonObject]:
        """Every readable manifest, newest first (by ``started_at``, then by file time)."""
        found: list[tuple[str, float, JsonObject]] = []
        for path in self.runs_dir.glob("*.json"):
            manifest = self._read_manifest(path)
            if manifest is None:
                continue
            started = manifest.get("started_at")
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            found.append((started if isinstance(started, str) else "", mtime, manifest))
        found.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [manifest for _, _, manifest in found]

    def _read_manifest(self, path: Path) -> JsonObject | None:
        try:
            value = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as error:
            log.warning("skipped a damaged run manifest %s (%s)", path, type(error).__name__)
            return None
        if not isinstance(value, dict):
            log.warning("skipped a run manifest that is not a JSON object: %s", path)
            return None
        return value


def encode_json(value: JsonObject) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")
