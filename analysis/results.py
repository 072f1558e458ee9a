"""Results as pandas DataFrames: the one-call entry point for notebooks.

The rule "a test's result is its latest non-error attempt" lives here once; ``report`` and
``load_results`` both use it. ``load_results`` shows what ``report`` counts: the workflow suite
by default (legacy imports stay out unless asked for), and whole-number columns as pandas'
nullable integers, so ``turns`` reads 4, not 4.0, even where an error row has none.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.config import resolve_store_location
from runbench.errors import UsageError
from runbench.records import ERROR_STATUS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

DEFAULT_SUITE = "workflow"
ALL_SUITES = "all"


def judged_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows the model was judged on: every status but ``error`` (the one rule, as a frame)."""
    return frame[frame["status"] != ERROR_STATUS]


def error_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose test the infrastructure failed: never a model result."""
    return frame[frame["status"] == ERROR_STATUS]


def latest_results(frame: pd.DataFrame, repeated: Collection[str] | None = None) -> pd.DataFrame:
    """One row per test_id: its latest attempt whose status is not ``error``.

    ``repeated``, when the caller knows it, holds every test id that has more than one row
    (the viewer keeps it as it reads): the other tests' judged rows are their own latest, so
    only the repeated tests are sorted, and no million ids are hashed to learn that.
    """
    return latest_of_judged(judged_rows(frame), repeated)


def latest_of_judged(judged: pd.DataFrame, repeated: Collection[str] | None = None) -> pd.DataFrame:
    """``latest_results`` of rows already known to be judged (``judged_rows``)."""
    if repeated is not None:
        many = judged["test_id"].isin(repeated) if repeated else None
        if many is None or not many.any():
            return judged
        keep = _latest_index(judged[many])
        return judged[~many | judged.index.isin(keep)]
    if judged["test_id"].is_unique:  # the common case: one judged attempt per test
        return judged
    return judged.loc[_latest_index(judged)]


def latest_masks(
    frame: pd.DataFrame, repeated: Collection[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``frame`` are judged, and which are their test's latest judged row.

    ``latest_results`` as two boolean arrays over ``frame``'s rows (same rule, same
    ``repeated``), so a caller copies only the columns it needs of the rows it needs: filtering
    a million-row frame whole to learn which rows count costs more than all that follows.
    """
    judged = (frame["status"] != ERROR_STATUS).to_numpy(dtype=bool)
    if repeated is not None:
        if not repeated:
            return judged, judged
        many = frame["test_id"].isin(repeated).to_numpy(dtype=bool) & judged
        if not many.any():
            return judged, judged
        keep = _latest_index(frame.loc[many, ["test_id", "attempt", "recorded_at"]])
        return judged, judged & (~many | frame.index.isin(keep))
    keys = frame.loc[judged, ["test_id", "attempt", "recorded_at"]]
    if keys["test_id"].is_unique:  # the common case: one judged attempt per test
        return judged, judged
    return judged, frame.index.isin(_latest_index(keys))


def _latest_index(judged: pd.DataFrame) -> pd.Index:
    """The index of each test's latest judged row (highest attempt, then newest)."""
    order = judged[["test_id", "attempt", "recorded_at"]].sort_values(
        ["attempt", "recorded_at"], kind="stable"
    )
    return order.drop_duplicates("test_id", keep="last").index


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas with integer columns as nullable integers (Int32, Int64).

    Plain ``to_pandas`` turns an integer column holding one null into float64; a notebook then
    shows 4.0 turns and ``==`` on ids made of integers goes subtly wrong.
    """
    import pandas as pd
    import pyarrow as pa

    mapping: dict[pa.DataType, pd.api.extensions.ExtensionDtype] = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
    }

    def nullable(data_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
        return mapping.get(data_type)

    return table.to_pandas(types_mapper=nullable)


def load_attempts(
    path: str | Path | None = None, storage: str | None = None, suite: str | None = DEFAULT_SUITE
) -> pd.DataFrame:
    """Every stored row of the suite (all attempts, infrastructure errors included).

    ``path`` and ``storage`` default like the CLI's ``--store`` and ``--storage``; ``suite``
    like ``report --suite``: ``"workflow"`` by default, a suite name, or ``"all"`` / ``None``
    (legacy imports included).

    Raises:
        UsageError: no store of that format exists at the path, or the store has rows but none
            of that suite (the message names the suites it has).
    """
    from runbench.storage import open_store

    location = resolve_store_location(storage, path)
    if location.remote is None and not (location.root / location.format).is_dir():
        raise UsageError(
            f"no {location.format} store at {(location.root / location.format).resolve()}"
        )
    store = open_store(location.root, location.format, remote=location.remote)
    filters = None if suite in (None, ALL_SUITES) else {"suite": suite}
    frame = to_frame(store.scan(None, filters))
    if frame.empty and filters is not None:
        stored = store.scan(["suite"]).column("suite").to_pylist()
        suites = sorted({str(name) for name in stored if name is not None})
        if suites:
            raise UsageError(
                f"no rows of suite '{suite}' in this store; its suites: {', '.join(suites)}",
                hint="pass suite='all' to read every suite",
            )
    return frame


def load_results(
    path: str | Path | None = None, storage: str | None = None, suite: str | None = DEFAULT_SUITE
) -> pd.DataFrame:
    """One row per test: its latest non-error attempt (what every statistic counts).

    ``suite`` as in ``load_attempts``: the workflow suite unless asked otherwise, like
    ``runbench report``.

    Raises:
        UsageError: as ``load_attempts``.
    """
    return latest_results(load_attempts(path, storage, suite)).reset_index(drop=True)
