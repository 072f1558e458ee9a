"""Results as pandas DataFrames: the one-call entry point for notebooks.

The rule "a test's result is its latest non-error attempt" lives here once; ``report`` and
``load_results`` both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runbench.config import resolve_store_location
from runbench.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd


def latest_results(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per test_id: its latest attempt whose status is not ``error``."""
    judged = frame[frame["status"] != "error"]
    if judged["test_id"].is_unique:  # the common case: one judged attempt per test
        return judged
    order = judged[["test_id", "attempt", "recorded_at"]].sort_values(
        ["attempt", "recorded_at"], kind="stable"
    )
    return judged.loc[order.drop_duplicates("test_id", keep="last").index]


def load_attempts(path: str | Path | None = None, storage: str | None = None) -> pd.DataFrame:
    """Every stored row (all attempts, infrastructure errors included).

    ``path`` and ``storage`` default like the CLI's ``--store`` and ``--storage``.

    Raises:
        UsageError: no store of that format exists at the path.
    """
    from runbench.storage import open_store

    location = resolve_store_location(storage, Path(path) if path is not None else None)
    if not (location.root / location.format).is_dir():
        raise UsageError(
            f"no {location.format} store at {(location.root / location.format).resolve()}"
        )
    return open_store(location.root, location.format).scan().to_pandas()


def load_results(path: str | Path | None = None, storage: str | None = None) -> pd.DataFrame:
    """One row per test: its latest non-error attempt (what every statistic counts).

    Raises:
        UsageError: no store of that format exists at the path.
    """
    return latest_results(load_attempts(path, storage)).reset_index(drop=True)
