"""Where runbench reads its environment: the only module that looks at ``os.environ``.

Keeping every environment read here means a test can pass an explicit mapping instead of
patching the process environment, and a reader can see every variable runbench honours in
one screen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from runbench.errors import UsageError

StorageFormat = Literal["json", "parquet"]
STORAGE_FORMATS: tuple[str, ...] = get_args(StorageFormat)
DEFAULT_STORE_ROOT = Path("runbench_results")

ENV_STORAGE_FORMAT = "STORAGE_FORMAT"
ENV_STORE = "RUNBENCH_STORE"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Which store a command opens: its format and its root folder."""

    format: StorageFormat
    root: Path


def parse_storage_format(value: str, *, source: str) -> StorageFormat:
    """Turn a user-typed format name into a ``StorageFormat``.

    Raises:
        UsageError: the value is not one of ``json``, ``parquet``; the message lists them.
    """
    normalized = value.strip().lower()
    if normalized not in STORAGE_FORMATS:
        allowed = ", ".join(STORAGE_FORMATS)
        raise UsageError(
            f"unknown storage format '{value}' from {source}; allowed: {allowed}",
            hint=f"use --storage {STORAGE_FORMATS[0]} or set STORAGE_FORMAT to one of {allowed}",
        )
    return normalized  # type: ignore[return-value]


def resolve_store_location(
    storage: str | None,
    store: Path | None,
    environ: Mapping[str, str] | None = None,
) -> StoreLocation:
    """Pick the store: ``--storage`` > ``STORAGE_FORMAT`` > json; ``--store`` > ``RUNBENCH_STORE``.

    Raises:
        UsageError: the format named by the flag or the variable is unknown.
    """
    env = os.environ if environ is None else environ
    if storage is not None:
        fmt = parse_storage_format(storage, source="--storage")
    elif env.get(ENV_STORAGE_FORMAT):
        fmt = parse_storage_format(env[ENV_STORAGE_FORMAT], source=ENV_STORAGE_FORMAT)
    else:
        fmt = "json"
    if store is not None:
        root = store
    elif env.get(ENV_STORE):
        root = Path(env[ENV_STORE])
    else:
        root = DEFAULT_STORE_ROOT
    return StoreLocation(format=fmt, root=root)
