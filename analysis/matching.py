"""Names that match nothing: say so, with the close names the store does hold.

A report filtered on a misspelt model (``sim-avrage``), an alias the store never saw or a suite
called ``legacy`` used to print an empty table and exit 0, which reads as "no results yet".
These checks turn such a name into one usage error that lists what is there. They run after a
report, status or comparison has read its rows (``require_read``): a name found among those rows
exists, so the common case reads the store once; only a name the rows lack (a typo, or one the
filters leave out) costs a read of its column to tell which.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from runbench.errors import UsageError
from runbench.storage import Store

LEGACY_SUITE_PREFIX = "legacy"
ALL_SUITES = "all"


def stored_values(store: Store, column: str) -> list[str]:
    """The distinct values of one text column in the store, sorted."""
    import pyarrow.compute as pc

    table = store.scan([column])
    return sorted(str(value) for value in pc.unique(table.column(column)).to_pylist() if value)


def require_stored(store: Store, column: str, names: Iterable[str], *, flag: str) -> None:
    """Every name must occur in the store's ``column``.

    Raises:
        UsageError: a name matches no stored row; the message lists close stored names.
    """
    wanted = list(names)
    if not wanted:
        return
    known = stored_values(store, column)
    for name in wanted:
        if name not in known:
            raise UsageError(_unknown(name, known, column), hint=f"check {flag}")


def require_suite(store: Store, suite: str | None) -> None:
    """``--suite`` must be ``all`` or a suite the store holds.

    Raises:
        UsageError: the suite matches no stored row; the message lists the stored suites.
    """
    if suite is None or suite == ALL_SUITES:
        return
    require_stored(store, "suite", [suite], flag="--suite (or 'all')")


def require_read(
    store: Store, read_models: Iterable[str], rows: int, models: Sequence[str], suite: str | None
) -> None:
    """Check ``models`` and ``suite`` against rows a command already read.

    ``read_models`` are the models among those rows and ``rows`` their number; the rows were read
    with ``suite`` applied, so any row proves the suite exists.

    Raises:
        UsageError: the suite or a model matches no stored row (as ``require_suite`` and
            ``require_stored``).
    """
    if rows == 0:
        require_suite(store, suite)
    seen = set(read_models)
    require_stored(store, "model", [name for name in models if name not in seen], flag="--model")


def _unknown(name: str, known: Sequence[str], column: str) -> str:
    label = column.replace("_", " ")
    if not known:
        return f"no {label} '{name}' in this store: it holds no results yet"
    suggestion = did_you_mean(name, known)
    shown = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
    return f"no results for {label} '{name}' in this store{suggestion} (stored: {shown})"


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """``"; did you mean x, y?"`` with up to three close known names, or ``""``."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not close:
        close = [value for value in known if name.lower() in value.lower()][:3]
    return f"; did you mean {', '.join(close)}?" if close else ""
