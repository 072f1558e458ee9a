"""Tokens and money: what a group of tests consumed, and what a planned run will.

Prices are optional, per model, in runbench.toml (USD per million tokens)::

    [models.gpt-4o-mini]
    price_prompt_per_mtok = 0.15
    price_completion_per_mtok = 0.60

A model without both prices has tokens but no cost: a guessed price would be a wrong number
in a report people share. Every stored attempt counts towards spend, errors and superseded
attempts included, because each one was paid for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from runbench.analysis.results import judged_rows
from runbench.config import RunbenchConfig
from runbench.plan import PlannedTest
from runbench.storage import Filters, Store

if TYPE_CHECKING:
    import pandas as pd

# When no stored test of the planned cells says otherwise: a workflow test makes up to
# 10 model calls (the turn limit) and the simulator's prompts average ~2.3 KB per request.
ASSUMED_REQUESTS_PER_TEST = 10.0
ASSUMED_PROMPT_TOKENS_PER_REQUEST = 600.0
ASSUMED_COMPLETION_TOKENS_PER_REQUEST = 120.0
_PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million prompt and completion tokens of one model."""

    prompt_per_mtok: float
    completion_per_mtok: float

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (
            prompt_tokens * self.prompt_per_mtok + completion_tokens * self.completion_per_mtok
        ) / _PER_MILLION


Prices = Mapping[str, ModelPrice]


@dataclass(frozen=True, slots=True)
class Spend:
    """Tokens of a group (``None`` when no row recorded any) and their cost when priced."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


def prices_of_config(config: RunbenchConfig) -> dict[str, ModelPrice]:
    """The models of the config that have both prices, keyed by canonical model name."""
    prices = {}
    for name, model in config.models.items():
        prompt, completion = model.price_prompt_per_mtok, model.price_completion_per_mtok
        if prompt is not None and completion is not None:
            prices[name] = ModelPrice(prompt, completion)
    return prices


def group_spend(
    frame: pd.DataFrame, by: list[str], prices: Prices | None
) -> dict[tuple[object, ...], Spend]:
    """Tokens and cost of every group of ``frame`` (all its rows: every attempt was paid for)."""
    if frame.empty or not {"prompt_tokens", "completion_tokens"} <= set(frame.columns):
        return {}
    if not prices:  # no group can have a cost: only the tokens are summed
        sums = frame.groupby(by, sort=False, dropna=False, observed=True)[
            ["prompt_tokens", "completion_tokens"]
        ].sum(min_count=1)
        return {
            _as_group(key): Spend(_int(row["prompt_tokens"]), _int(row["completion_tokens"]), None)
            for key, row in sums.iterrows()
        }
    tokens = frame[[*dict.fromkeys([*by, "model"]), "prompt_tokens", "completion_tokens"]].copy()
    prompt_price, completion_price = _prices_per_row(tokens["model"], prices)
    tokens["cost"] = (
        tokens["prompt_tokens"].astype("float64").fillna(0.0).to_numpy() * prompt_price
        + tokens["completion_tokens"].astype("float64").fillna(0.0).to_numpy() * completion_price
    ) / _PER_MILLION
    grouped = tokens.groupby(by, sort=False, dropna=False, observed=True)
    sums = grouped[["prompt_tokens", "completion_tokens"]].sum(min_count=1)
    costs = grouped["cost"].sum(min_count=1).to_list()
    unpriced = grouped["cost"].apply(lambda values: bool(values.isna().any())).to_list()
    spend = {}
    for (key, row), cost, is_unpriced in zip(sums.iterrows(), costs, unpriced, strict=True):
        group = _as_group(key)
        priced_cost = None if is_unpriced or not prices else float(cost)
        spend[group] = Spend(
            _int(row["prompt_tokens"]), _int(row["completion_tokens"]), priced_cost
        )
    return spend


def _as_group(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def _prices_per_row(models: pd.Series, priced: Prices) -> tuple[Any, Any]:
    """Each row's prompt and completion price per million tokens (NaN when unpriced).

    Looked up once per distinct model and spread by the factorised codes: a lookup per row
    costs seconds at a million rows.
    """
    import numpy as np
    import pandas as pd

    codes, names = pd.factorize(models)
    nan = float("nan")
    found = [priced.get(str(name)) for name in names]
    prompt = np.array([p.prompt_per_mtok if p else nan for p in found] + [nan], dtype="float64")
    completion = np.array(
        [p.completion_per_mtok if p else nan for p in found] + [nan], dtype="float64"
    )
    return prompt[codes], completion[codes]  # code -1 (a null model) takes the trailing NaN


@dataclass(frozen=True, slots=True)
class ModelEstimate:
    """The estimate for one model, and what it rests on."""

    model: str
    tests: int
    requests: float
    prompt_tokens: float
    completion_tokens: float
    cost_usd: float | None
    basis: str  # "stored tests of these cells (n=…)" or "assumed (no stored tests)"


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a planned run will send: requests, tokens, and cost when every model is priced."""

    requests: float
    tokens: float
    prompt_tokens: float
    completion_tokens: float
    cost_usd: float | None
    models: tuple[ModelEstimate, ...]

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["models"] = [asdict(model) for model in self.models]
        return values


def estimate(
    planned: Mapping[str, int], stored: pd.DataFrame | None = None, prices: Prices | None = None
) -> Estimate:
    """Estimate a run of ``planned`` tests per model from stored rows of the same cells.

    ``stored`` holds rows already stored for the planned cells (any attempts; columns model,
    status, turns, api_retries, prompt_tokens, completion_tokens). A model's own judged rows
    give its per-test averages; without any, the other models' rows of those cells do; without
    those, the assumptions above (a ceiling: every test uses all its turns).
    """
    judged = _judged(stored)
    models = []
    for model, tests in sorted(planned.items()):
        own = judged[judged["model"].astype(str) == model] if judged is not None else None
        if own is not None and len(own):
            source, basis = own, f"stored tests of these cells (n={len(own)})"
        elif judged is not None and len(judged):
            source, basis = judged, f"other models' stored tests of these cells (n={len(judged)})"
        else:
            source, basis = None, "assumed: no stored tests of these cells"
        requests, prompt, completion = _per_test(source)
        price = (prices or {}).get(model)
        models.append(
            ModelEstimate(
                model=model,
                tests=tests,
                requests=requests * tests,
                prompt_tokens=prompt * tests,
                completion_tokens=completion * tests,
                cost_usd=price.cost(prompt * tests, completion * tests) if price else None,
                basis=basis,
            )
        )
    costs = [model.cost_usd for model in models]
    prompt_total = sum(model.prompt_tokens for model in models)
    completion_total = sum(model.completion_tokens for model in models)
    return Estimate(
        requests=sum(model.requests for model in models),
        tokens=prompt_total + completion_total,
        prompt_tokens=prompt_total,
        completion_tokens=completion_total,
        cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        models=tuple(models),
    )


def _judged(stored: pd.DataFrame | None) -> pd.DataFrame | None:
    if stored is None or stored.empty:
        return None
    return judged_rows(stored)


def _per_test(rows: pd.DataFrame | None) -> tuple[float, float, float]:
    """Mean requests, prompt and completion tokens per test; assumptions fill what is missing."""
    if rows is None:
        return (
            ASSUMED_REQUESTS_PER_TEST,
            ASSUMED_REQUESTS_PER_TEST * ASSUMED_PROMPT_TOKENS_PER_REQUEST,
            ASSUMED_REQUESTS_PER_TEST * ASSUMED_COMPLETION_TOKENS_PER_REQUEST,
        )
    turns = rows["turns"].astype("float64")
    retries = rows["api_retries"].astype("float64").fillna(0.0) if "api_retries" in rows else 0.0
    requests = float((turns + retries).mean()) if turns.notna().any() else ASSUMED_REQUESTS_PER_TEST
    prompt = rows["prompt_tokens"].astype("float64")
    completion = rows["completion_tokens"].astype("float64")
    return (
        requests,
        float(prompt.mean())
        if prompt.notna().any()
        else requests * ASSUMED_PROMPT_TOKENS_PER_REQUEST,
        float(completion.mean())
        if completion.notna().any()
        else requests * ASSUMED_COMPLETION_TOKENS_PER_REQUEST,
    )


def _int(value: object) -> int | None:
    return None if value is None or value != value else int(value)  # type: ignore[call-overload]


ESTIMATE_COLUMNS = ["model", "status", "turns", "api_retries", "prompt_tokens", "completion_tokens"]
_CELL_FIELDS = ("suite", "prompt_type", "difficulty", "task_type", "tool_success_rate")


def estimate_plan(
    store: Store, remaining: Iterable[PlannedTest], prices: Prices | None = None
) -> Estimate:
    """The estimate for the tests a run would send (``--dry-run``), from the store's history.

    ``remaining`` is what the runner would run (planned minus done). History is every stored
    row whose cell, model aside, is one of the remaining tests' cells: those tasks under those
    conditions, so their turns and tokens are the best guide, also for a model new to them.
    """
    tests = list(remaining)
    planned: dict[str, int] = {}
    for test in tests:
        planned[test.cell.model] = planned.get(test.cell.model, 0) + 1
    if not tests:
        return estimate({}, None, prices)
    keys = {_cell_key(test.cell) for test in tests}
    filters = {name: sorted({getattr(test.cell, name) for test in tests}) for name in _CELL_FIELDS}
    stored = store.scan([*ESTIMATE_COLUMNS, *_CELL_FIELDS], filters).to_pandas()
    if len(stored):
        cell_keys = zip(*(stored[name] for name in _CELL_FIELDS), strict=True)
        wanted = [(a, b, c, d, round(float(e), 2)) in keys for a, b, c, d, e in cell_keys]
        stored = stored[wanted]
    return estimate(planned, stored, prices)


def estimate_counts(
    store: Store,
    remaining: Mapping[str, int],
    cell_filters: Filters,
    prices: Prices | None = None,
) -> Estimate:
    """The ``--dry-run`` estimate from counts alone: tests left per model, history by cell.

    History is the stored rows of the plan's cells (``cell_filters``, the plan's axes). Unlike
    ``estimate_plan`` it needs no list of tests, so a 10-million-test plan costs one narrow
    read of the store.
    """
    planned = {model: count for model, count in remaining.items() if count > 0}
    if not planned:
        return estimate({}, None, prices)
    stored = store.scan(ESTIMATE_COLUMNS, cell_filters).to_pandas()
    return estimate(planned, stored if len(stored) else None, prices)


def _cell_key(cell: Any) -> tuple[str, str, str, str, float]:
    return (
        cell.suite,
        cell.prompt_type,
        cell.difficulty,
        cell.task_type,
        round(float(cell.tool_success_rate), 2),
    )
