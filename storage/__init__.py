"""The result stores: one protocol, a JSON-lines store and a Parquet store.

``open_store(root, format)`` is the front door; both stores keep the guarantees of ``base.Store``.
``stored_tests(store, …)`` is the one definition of done / errored / latest attempt.

Layout under the store root (``--store``), one folder per format::

    json/records.jsonl, quarantine.jsonl, summary.json   rows (json_store.py)
    parquet/parts/, wal/, quarantine/                     rows (parquet_store.py, parts.py)
    <format>/claims/claims.lock, lease-*.json             test claims (claims.py)
    <format>/runs/<run_id>.json                           run manifests (run_files.py)
    <format>/transcripts/<run_id>/<name>.json             transcripts (run_files.py)
"""

from __future__ import annotations

from pathlib import Path

from runbench.config import ObjectStoreSettings, parse_storage_format, resolve_store_location
from runbench.errors import StoreError, UsageError
from runbench.storage.base import CompactReport, Damage, Filters, Store, VerifyReport
from runbench.storage.durable import store_error
from runbench.storage.stored import KnownView, StoredTests, stored_tests

__all__ = [
    "CompactReport",
    "Damage",
    "Filters",
    "KnownView",
    "Store",
    "StoredTests",
    "VerifyReport",
    "open_store",
    "stored_tests",
]


def open_store(
    root: Path | str,
    format: str = "json",
    *,
    create: bool = True,
    remote: ObjectStoreSettings | None = None,
) -> Store:
    """Open (creating if needed, unless ``create`` is False) the store of ``format`` at ``root``.

    Opening does not prove the store can take writes: a writer calls ``check_writable()``
    before any test runs. Read-only commands pass ``create=False`` so that a mistyped path is
    reported instead of becoming a new, empty store.

    ``remote`` (or ``root`` given as an ``s3://bucket/prefix`` string) opens the Parquet store
    on an object store instead (``storage/object_store.py``); ``root`` is then unused.

    Raises:
        UsageError: ``format`` is not json or parquet; json on an object store; a store URL of
            another scheme or without a bucket.
        StoreError: the bucket does not exist or refuses the credentials; ``root`` is a file,
            or the folders cannot be created (one line: missing or
            read-only parent, a path under /proc, no permission, disk full), or ``create`` is
            False and there is no store of ``format`` at ``root``.
    """
    if remote is None and isinstance(root, str) and "://" in root:
        location = resolve_store_location(format, root)
        remote = location.remote
    if remote is not None:
        return _open_object_store(remote, format)
    fmt = parse_storage_format(format, source="the storage format")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise StoreError(
            f"store path {root} is a file, not a folder",
            hint="pass --store (or RUNBENCH_STORE) a folder; runbench creates it if missing",
        )
    if not create and not (root / fmt).is_dir():
        raise StoreError(
            f"no {fmt} store at {root}",
            hint="check --store and --storage (or RUNBENCH_STORE and STORAGE_FORMAT)",
        )
    try:
        if fmt == "parquet":
            from runbench.storage.parquet_store import ParquetStore

            return ParquetStore(root)
        from runbench.storage.json_store import JsonStore

        return JsonStore(root)
    except (FileExistsError, NotADirectoryError) as error:
        raise StoreError(f"cannot create the store under {root}: {error.strerror}") from None
    except PermissionError as error:
        raise StoreError(
            f"no permission to write the store under {root}: {error.strerror}"
        ) from None
    except OSError as error:
        raise store_error(error, "create the store under", root) from None


def _open_object_store(remote: ObjectStoreSettings, format: str) -> Store:
    if parse_storage_format(format, source="the storage format") != "parquet":
        raise UsageError(
            f"a JSON store cannot live on an object store ({remote.url}); only Parquet can",
            hint="use --storage parquet with an s3:// store",
        )
    from runbench.storage.object_store import ObjectParquetStore

    return ObjectParquetStore(remote)
