"""Run manifests and transcripts of an object store, kept as objects beside the parts.

The same names as on disk (``parquet/runs/<run_id>.json``,
``parquet/transcripts/<run_id>/<name>.json``), so a record's ``transcript`` path means the same
thing in both kinds of store and ``migrate`` needs no rewriting. A PUT replaces an object whole
(readers see the old or the new one), which is what the local store gets from tmp → rename; a
manifest written at the start and at the end of a run: the later write wins.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from runbench.errors import StoreError
from runbench.storage.bucket import Bucket
from runbench.storage.run_files import checked_name, encode_json

JsonObject = dict[str, Any]
RUNS = "parquet/runs"
TRANSCRIPTS = "parquet/transcripts"


class ObjectRunFiles:
    """Transcripts and manifests of one object store."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket

    def write_transcript(self, run_id: str, name: str, payload: bytes | JsonObject) -> str:
        """Save one transcript; return the path relative to the store (for the record)."""
        relative = (
            f"{TRANSCRIPTS}/{checked_name(run_id, 'run_id')}/"
            f"{checked_name(name, 'transcript name')}.json"
        )
        self.bucket.put(relative, payload if isinstance(payload, bytes) else encode_json(payload))
        return relative

    def read_transcript(self, relative_path: str) -> JsonObject:
        """Read a transcript by the path a record holds (a JSON list reads as ``messages``).

        Raises:
            StoreError: the path leaves the store, the object is missing, or it is not JSON.
        """
        parts = PurePosixPath(relative_path).parts
        if not parts or ".." in parts or relative_path.startswith("/"):
            raise StoreError(f"transcript path {relative_path!r} is outside the store")
        where = f"{self.bucket.url}/{relative_path}"
        found = self.bucket.get(relative_path)
        if found is None:
            raise StoreError(f"no transcript at {where}")
        try:
            value = json.loads(found[0].decode("utf-8"))
        except (ValueError, RecursionError) as error:
            raise StoreError(f"transcript {where} is damaged: {type(error).__name__}") from None
        if isinstance(value, list):
            return {"messages": value}
        if not isinstance(value, dict):
            raise StoreError(f"transcript {where} holds no JSON object or list")
        return value

    def write_manifest(self, manifest: JsonObject) -> None:
        run_id = checked_name(manifest.get("run_id"), "the manifest's run_id")
        self.bucket.put(f"{RUNS}/{run_id}.json", encode_json(manifest))

    def manifest(self, run_id: str) -> JsonObject | None:
        found = self.bucket.get(f"{RUNS}/{checked_name(run_id, 'run_id')}.json")
        return None if found is None else _object(found[0])

    def manifests(self) -> list[JsonObject]:
        """Every readable manifest, newest first (by ``started_at``)."""
        found: list[tuple[str, JsonObject]] = []
        for listed in self.bucket.list(RUNS):
            got = self.bucket.get(listed.name)
            manifest = None if got is None else _object(got[0])
            if manifest is not None:
                started = manifest.get("started_at")
                found.append((started if isinstance(started, str) else "", manifest))
        found.sort(key=lambda item: item[0], reverse=True)
        return [manifest for _, manifest in found]


def _object(data: bytes) -> JsonObject | None:
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
