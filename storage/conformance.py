"""The promise an object store must keep before runbench writes to it, proved by trying it.

Claims, the compaction lease and "a repeated upload is refused rather than doubled" all rest on
conditional writes. Some S3 look-alikes accept the ``If-None-Match`` / ``If-Match`` headers and
ignore them (every race then has several winners, and nothing says so), so the first write to a
store probes: two creates of one fresh key must not both succeed, and a replace with an e-tag
the object never had must be refused. A store that fails is refused with one line naming the
problem, before any row or claim is written.

A pass is remembered in the store's local cache folder per endpoint, so each machine probes a
store once, not on every command.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from runbench.errors import StoreError
from runbench.storage.bucket import Bucket
from runbench.storage.durable import atomic_write, disk_errors

PROBES = "parquet/probe"
MARKER = "conformance.json"


def require_conditional_writes(bucket: Bucket, cache: Path) -> None:
    """Probe ``bucket`` once per endpoint (remembered under ``cache``); refuse it if it fails.

    Raises:
        StoreError: the store lets two creates of one key succeed, or lets a replace with a
            wrong e-tag through; or the bucket refused the probe's writes.
    """
    marker = cache / MARKER
    identity = {"url": bucket.url, "endpoint": bucket.settings.endpoint_url or "aws"}
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == identity:
            return
    except (OSError, ValueError):
        pass
    problem = probe(bucket)
    if problem is not None:
        raise StoreError(
            f"the object store at {bucket.url} does not honour conditional writes: {problem}; "
            "runbench cannot keep claims and uploads single on it, so it refuses to write there",
            hint="use S3, MinIO, Ceph RGW or another store that implements If-None-Match and "
            "If-Match on PUT",
        )
    with disk_errors("write the cache folder", cache):
        cache.mkdir(parents=True, exist_ok=True)
        atomic_write(marker, json.dumps(identity).encode())


def probe(bucket: Bucket) -> str | None:
    """What is wrong with ``bucket``'s conditional writes, or None when they hold."""
    key = f"{PROBES}/{uuid.uuid4().hex}"
    try:
        first = bucket.create(key, b"first")
        if first is None:
            return "a create of a fresh key was refused"
        if bucket.create(key, b"second") is not None:
            return "two creates of one key (If-None-Match: *) both succeeded"
        if bucket.replace(key, b"third", '"00000000000000000000000000000000"') is not None:
            return "a replace with an e-tag the object never had (If-Match) succeeded"
        return None
    finally:
        bucket.delete(key)
