"""Two models compared on identical tests, so the difference is the models' and not the tasks'.

Tests pair when they share suite, suite version, prompt type, difficulty, task type, tool success
rate, instance and protocol: the same task under the same conditions. Each
model's sampling settings (temperature, …) are its own and do not pair; filter on them instead.
Tests without a partner are counted and left out, never mixed into the comparison.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from runbench.analysis.report import load_frame
from runbench.analysis.results import latest_results
from runbench.analysis.stats import Interval, mcnemar_exact_p, paired_difference_interval
from runbench.errors import UsageError
from runbench.storage import Filters, Store

if TYPE_CHECKING:
    import pandas as pd

PAIR_KEY = (
    "suite",
    "suite_version",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    "instance",
    "protocol",
)


@dataclass(frozen=True, slots=True)
class PairedResult:
    """Full success of A and B on the same tests, with McNemar's p and the rate difference."""

    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float
    difference: float
    interval: Interval | None

    @property
    def pairs(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither

    @property
    def rate_a(self) -> float:
        return (self.both + self.only_a) / self.pairs if self.pairs else 0.0

    @property
    def rate_b(self) -> float:
        return (self.both + self.only_b) / self.pairs if self.pairs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pairs": self.pairs, "rate_a": self.rate_a, "rate_b": self.rate_b}


@dataclass(frozen=True, slots=True)
class Comparison:
    model_a: str
    model_b: str
    overall: PairedResult
    by_prompt_type: dict[str, PairedResult] = field(default_factory=dict)
    unpaired_a: int = 0
    unpaired_b: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "overall": self.overall.to_dict(),
            "by_prompt_type": {name: r.to_dict() for name, r in self.by_prompt_type.items()},
            "unpaired_a": self.unpaired_a,
            "unpaired_b": self.unpaired_b,
        }


def paired_result(a_full: pd.Series, b_full: pd.Series) -> PairedResult:
    """Counts and statistics from two aligned boolean series of full success."""
    both = int((a_full & b_full).sum())
    only_a = int((a_full & ~b_full).sum())
    only_b = int((~a_full & b_full).sum())
    neither = int((~a_full & ~b_full).sum())
    pairs = both + only_a + only_b + neither
    return PairedResult(
        both=both,
        only_a=only_a,
        only_b=only_b,
        neither=neither,
        p_value=mcnemar_exact_p(only_a, only_b),
        difference=(only_a - only_b) / pairs if pairs else 0.0,
        interval=paired_difference_interval(both, only_a, only_b, neither) if pairs else None,
    )


def _explain_missing(
    store: Store, frame: pd.DataFrame, model: str, suite: str | None, filters: Filters | None
) -> None:
    """Why ``model`` has no judged row among those read; only this path reads the store again.

    Raises:
        UsageError: always: the suite or the model is unknown (``matching``), the model has rows
            but none match the filters, or none of this suite.
    """
    from runbench.analysis.matching import did_you_mean, require_suite

    if frame.empty:
        require_suite(store, suite)
    stored = sorted(map(str, set(load_frame(store, None, suite, ["model"])["model"].unique())))
    if model in stored:
        raise UsageError(
            f"model '{model}' has results, but none match the filters",
            hint="loosen --phase, --prompt-types, --difficulty, --task-types or "
            "--tool-success-rate",
        )
    raise UsageError(
        f"no results for model '{model}' in this store{did_you_mean(model, stored)}; "
        f"models with results: {', '.join(stored) or 'none'}",
        hint="check the model names",
    )


def compare_models(
    store: Store,
    model_a: str,
    model_b: str,
    *,
    filters: Filters | None = None,
    suite: str | None = None,
    group_by: str = "prompt_type",
) -> Comparison:
    """Pair the two models' done tests and compare their full-success rates.

    ``group_by`` (a pairing column, e.g. ``prompt_type`` or ``protocol``) names the breakdown
    returned in ``by_prompt_type``.

    Raises:
        UsageError: the models are the same, or one has no results (the message lists
            the models that have results).
    """
    if model_a == model_b:
        raise UsageError("compare needs two different models")
    if group_by not in PAIR_KEY:
        raise UsageError(f"compare cannot group by '{group_by}'; choose from {', '.join(PAIR_KEY)}")
    columns = ["model", *PAIR_KEY]
    frame = load_frame(store, {**(filters or {}), "model": [model_a, model_b]}, suite, columns)
    latest = latest_results(frame)
    for model in (model_a, model_b):
        if not (latest["model"] == model).any():
            _explain_missing(store, frame, model, suite, filters)
    protocol = latest["protocol"].astype(object)
    latest = latest.assign(
        full=latest["status"] == "full_success",
        protocol=protocol.where(protocol.notna(), "tags"),  # rows older than the column
    )
    side_a = latest[latest["model"] == model_a].set_index(list(PAIR_KEY))["full"]
    side_b = latest[latest["model"] == model_b].set_index(list(PAIR_KEY))["full"]
    paired = side_a.to_frame("a").join(side_b.to_frame("b"), how="inner")
    groups = {str(prompt): rows for prompt, rows in paired.groupby(level=group_by, observed=True)}
    by_prompt = {
        prompt: paired_result(rows["a"], rows["b"]) for prompt, rows in sorted(groups.items())
    }
    return Comparison(
        model_a=model_a,
        model_b=model_b,
        overall=paired_result(paired["a"], paired["b"]),
        by_prompt_type=by_prompt,
        unpaired_a=len(side_a) - len(paired),
        unpaired_b=len(side_b) - len(paired),
    )
