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

from collections.abc import Iterable
from dataclasses import dataclass

from runbench.errors import UsageError
from runbench.records import INFRA_ERROR_CATEGORIES
from runbench.storage import KnownView

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


@dataclass(frozen=True, slots=True)
class SettledErrors:
    """The tests planning leaves alone: not done, latest attempt an error of a settled category.

    Asked test by test over the run's known tests (``Store.known_tests``, the one planning
    read), so no set is built and no second read is made; the known tests are kept current by
    claims, so the answer follows what other runs store meanwhile.
    """

    known: KnownView
    categories: frozenset[str]

    def __contains__(self, test_id: object) -> bool:
        if not self.categories or not isinstance(test_id, str):
            return False
        return self.settles(self.known.error_category_of(test_id))

    def settles(self, category: str | None) -> bool:
        """Whether a test whose latest attempt ended in ``category`` is left alone."""
        return category is not None and category in self.categories
