"""The legacy leaf table as a frame, for ``runbench report --suite legacy-v3``.

The table's file format lives in ``runbench.storage.legacy_leaves`` (the import writes it, this
reads it); here it becomes one row per leaf with the averages the V3 file kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runbench.storage import Store
from runbench.storage.legacy_leaves import LEAF_COLUMNS, read_leaf_entries

if TYPE_CHECKING:
    import pandas as pd


def legacy_leaf_table(
    store: Store, *, models: Sequence[str] | None = None, imported_only: bool = False
) -> pd.DataFrame:
    """The legacy leaf table as a frame, one row per leaf in path order (``LEAF_COLUMNS``).

    ``report --suite legacy-v3`` shows it beside the per-test report: the tests per leaf and
    what the legacy file averaged over them. ``kind`` says how the counters were read (normal,
    doubled, mixed, debris); ``imported`` whether the leaf's tests are rows in the store.
    """
    import pandas as pd

    entries = read_leaf_entries(store.root)
    rows = [
        {column: entry.get(column) for column in LEAF_COLUMNS}
        for _, entry in sorted(entries.items())
        if (models is None or entry.get("model") in models)
        and (not imported_only or entry.get("imported"))
    ]
    return pd.DataFrame(rows, columns=list(LEAF_COLUMNS))
