"""Made-up rows for a process that wants its first real answer fast (the viewer's warm-up).

The first report and plot a process draws pay for importing pandas and matplotlib and for their
first use (group-by machinery, font list, text caches): about a second. A long-running process
can pay that on made-up rows before anyone waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbench.analysis.report import categorical
from runbench.records import records_to_table
from runbench.synthetic import synthetic_records

if TYPE_CHECKING:
    import pyarrow as pa


def made_up_rows(count: int = 64) -> pa.Table:
    """``count`` synthetic rows of every field, low-cardinality text dictionary-encoded."""
    return categorical(records_to_table(list(synthetic_records(count, seed=0))))
