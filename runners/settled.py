"""Which stored errors a resume leaves alone until the user asks: settled infrastructure errors.

A test whose latest attempt ended in ``error`` is "not done" (stored.py), so a resume runs
it again. That is right for an outage, a 429 storm or a crash, and wrong for a deterministic
refusal: a request over the model's context length, or with a parameter the model does not take,
gets the same 400 every time, and re-running it on every resume only pays for the refusal again.
Such errors (category ``invalid_request``) are *settled*: planning skips them by default, and
``--retry-errors invalid_request`` (or ``all``) runs them again, e.g. after fixing the config.

The test stays "not done" for analysis (it has no model result); only planning skips it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runbench.errors import UsageError
from runbench.records import ERROR_STATUS, INFRA_ERROR_CATEGORIES
from runbench.storage import Store

SETTLED_BY_DEFAULT: frozenset[str] = frozenset({"invalid_request"})


def parse_retry_errors(text: str | None) -> frozenset[str]:
    """The categories named by ``--retry-errors CATEGORY,…`` (``all`` = every one).

    Raises:
        UsageError: a name is not an infrastructure error category; the message lists them.
    """
    if not text:
        return frozenset()
    names = {part.strip() for part in text.split(",") if part.strip()}
    if "all" in names:
        return frozenset(INFRA_ERROR_CATEGORIES)
    unknown = sorted(names - set(INFRA_ERROR_CATEGORIES))
    if unknown:
        raise UsageError(
            f"--retry-errors: unknown category '{unknown[0]}'; "
            f"categories: {', '.join(INFRA_ERROR_CATEGORIES)}, or all"
        )
    return frozenset(names)


def settled_categories(retry_errors: Iterable[str] = ()) -> frozenset[str]:
    """The error categories planning skips: the default settled ones, less those to retry."""
    return SETTLED_BY_DEFAULT - frozenset(retry_errors)


def settled_ids(store: Store, models: Sequence[str], retry_errors: Iterable[str] = ()) -> set[str]:
    """Test ids of ``models`` whose latest attempt is an error in a settled category.

    Add them to the done ids when planning a resume; a later success or another error
    category as the latest attempt makes a test runnable again.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    categories = settled_categories(retry_errors)
    if not categories:
        return set()
    table = store.scan(
        ["test_id", "attempt", "status", "error_category"], filters={"model": list(models)}
    )
    is_settled = pc.and_(
        pc.equal(table.column("status"), pa.scalar(ERROR_STATUS)),
        pc.is_in(
            table.column("error_category"), value_set=pa.array(sorted(categories), pa.string())
        ),
    )
    settled_rows = table.filter(pc.fill_null(is_settled, pa.scalar(False)))
    if settled_rows.num_rows == 0:
        return set()
    candidates = settled_rows.column("test_id").unique()
    of_candidates = table.filter(pc.is_in(table.column("test_id"), value_set=candidates))
    latest = {
        row["test_id"]: row["attempt_max"]
        for row in of_candidates.group_by("test_id").aggregate([("attempt", "max")]).to_pylist()
    }
    latest_settled = {
        row["test_id"]: row["attempt_max"]
        for row in settled_rows.group_by("test_id").aggregate([("attempt", "max")]).to_pylist()
    }
    return {test_id for test_id, attempt in latest_settled.items() if latest[test_id] == attempt}
