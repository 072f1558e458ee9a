"""The experiment matrix: what the matrix flags and the named phases mean, parsed once.

Runners, ``status`` and ``report`` accept the same ``--prompt-types``, ``--difficulty``,
``--task-types``, ``--tool-success-rate`` and ``--phase``; this module turns them into a
``Matrix`` and a matrix plus models into cells, with errors that list the allowed values.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from runbench.config import ModelConfig, RunbenchConfig
from runbench.errors import UsageError
from runbench.plan import DEFAULT_PROTOCOL, Cell, GenerationSettings
from runbench.records import (
    DIFFICULTIES,
    FLAWS,
    PLAIN_PROMPT_TYPES,
    PROMPT_TYPES,
    TASK_TYPES,
    WORKFLOW_RULES_VERSION,
)

WORKFLOW_SUITE = "workflow"
WORKFLOW_SUITE_VERSION = WORKFLOW_RULES_VERSION  # the built-in library under the current rules
DEFAULT_NUM_INSTANCES = 20
# Sizes are checked before anything is planned: a plan is counted arithmetically, so these bound
# what a typo can ask for, not what a dry run can count. 10**8 tests is ~20 years of API calls.
MAX_NUM_INSTANCES = 1_000_000
MAX_PLANNED_TESTS = 100_000_000
PROMPT_TYPE_GROUPS = {
    "all": PLAIN_PROMPT_TYPES,
    "flawed": tuple(f"flawed_{flaw}" for flaw in FLAWS),
    "all_with_flawed": PROMPT_TYPES,
}


@dataclass(frozen=True, slots=True)
class Matrix:
    """Everything of a plan but the models: the axes of the cells and the instances per cell."""

    prompt_types: tuple[str, ...] = ("optimal",)
    difficulties: tuple[str, ...] = ("easy",)
    task_types: tuple[str, ...] = TASK_TYPES
    tool_success_rates: tuple[float, ...] = (0.8,)
    num_instances: int = DEFAULT_NUM_INSTANCES
    # the task library's version: part of every test id, so another library never shares ids
    suite_version: str = WORKFLOW_SUITE_VERSION
    # (task type, difficulty) pairs the task library has no task for: planned by no one
    excluded: tuple[tuple[str, str], ...] = ()
    # how tool calls are exchanged (--protocol): part of the test id when not the default
    protocol: str = DEFAULT_PROTOCOL

    @property
    def cells_per_model(self) -> int:
        """Cells of one model: the product of the axes' lengths, less the excluded cells."""
        served = sum(
            (task, difficulty) not in self.excluded
            for task in self.task_types
            for difficulty in self.difficulties
        )
        return len(self.prompt_types) * served * len(self.tool_success_rates)

    def store_filters(self, models: Sequence[str]) -> dict[str, Any]:
        """Store filters for the rows of this matrix's cells (instances and settings aside)."""
        return {
            "model": list(models),
            "suite": WORKFLOW_SUITE,
            "suite_version": self.suite_version,
            "prompt_type": list(self.prompt_types),
            "difficulty": list(self.difficulties),
            "task_type": list(self.task_types),
            "tool_success_rate": list(self.tool_success_rates),
        }

    def planned_tests(self, model_count: int) -> int:
        """Tests the plan holds for this many models, counted without planning one."""
        return self.cells_per_model * model_count * self.num_instances

    def check_size(self, model_count: int) -> None:
        """Refuse a plan too large to mean anything before any of it is materialised.

        Raises:
            UsageError: more than ``MAX_PLANNED_TESTS`` tests.
        """
        planned = self.planned_tests(model_count)
        if planned > MAX_PLANNED_TESTS:
            raise UsageError(
                f"the plan holds {_shown_count(planned)} tests ({model_count} models × "
                f"{self.cells_per_model} cells × {_shown_count(self.num_instances)} instances), "
                f"above the limit of {MAX_PLANNED_TESTS:,}",
                hint="lower --num-instances or narrow the matrix flags",
            )

    def cells(
        self, models: Sequence[str], settings: Mapping[str, GenerationSettings] | None = None
    ) -> list[Cell]:
        """Every cell of the matrix for these models, in a stable order.

        ``settings`` gives a model's generation settings (``model_settings``); a model without
        an entry gets the matrix's protocol and nothing else.
        """
        plain = GenerationSettings(protocol=self.protocol)
        return [
            Cell(
                WORKFLOW_SUITE,
                self.suite_version,
                model,
                prompt,
                difficulty,
                task,
                rate,
                (settings or {}).get(model, plain),
            )
            for model in models
            for prompt in self.prompt_types
            for difficulty in self.difficulties
            for task in self.task_types
            if (task, difficulty) not in self.excluded
            for rate in self.tool_success_rates
        ]


def model_settings(model: ModelConfig, protocol: str = DEFAULT_PROTOCOL) -> GenerationSettings:
    """The generation settings a model's tests run with.

    The protocol is the run's (--protocol); the sampling settings are the model's in
    runbench.toml. Every one of them is part of the test id when not at its default.
    """
    return GenerationSettings(
        protocol=protocol,
        temperature=model.temperature,
        top_p=model.top_p,
        max_tokens=model.max_tokens,
        seed=model.seed,
    )


def configured_settings(
    config: RunbenchConfig, models: Sequence[str], protocol: str = DEFAULT_PROTOCOL
) -> dict[str, GenerationSettings]:
    """Each model's settings from the configuration a run would use (read once by the caller).

    So ``status`` sees the test ids ``smart-batch`` planned. A name the configuration does not
    know gets no entry (its tests are the protocol's alone).
    """
    settings: dict[str, GenerationSettings] = {}
    for name in models:
        try:
            settings[name] = model_settings(config.resolve_model(name), protocol)
        except UsageError:  # a model run elsewhere: status still counts its default-ids tests
            continue
    return settings


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _choose(
    text: str, flag: str, allowed: Sequence[str], groups: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    chosen: list[str] = []
    for name in _split(text):
        if name in groups:
            chosen.extend(groups[name])
        elif name in allowed:
            chosen.append(name)
        else:
            options = ", ".join([*groups, *allowed])
            raise UsageError(f"unknown value '{name}' for {flag}; choose from {options}")
    if not chosen:
        raise UsageError(f"{flag} needs at least one value")
    return tuple(dict.fromkeys(chosen))


def parse_prompt_types(text: str) -> tuple[str, ...]:
    """``all`` = baseline, optimal, cot; ``flawed`` = the seven flawed; ``all_with_flawed``: ten."""
    return _choose(text, "--prompt-types", PROMPT_TYPES, PROMPT_TYPE_GROUPS)


def parse_difficulties(text: str) -> tuple[str, ...]:
    return _choose(text, "--difficulty", DIFFICULTIES, {"all": DIFFICULTIES})


def parse_task_types(text: str) -> tuple[str, ...]:
    return _choose(text, "--task-types", TASK_TYPES, {"all": TASK_TYPES})


def parse_rates(text: str) -> tuple[float, ...]:
    """Tool success rates: comma-separated numbers in [0, 1], kept to two decimals."""
    rates: list[float] = []
    for part in _split(text):
        try:
            rate = float(part)
        except ValueError:
            raise UsageError(f"--tool-success-rate: '{part}' is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise UsageError(f"--tool-success-rate: {part} is outside [0, 1]")
        rates.append(round(rate, 2))
    if not rates:
        raise UsageError("--tool-success-rate needs at least one value")
    return tuple(dict.fromkeys(rates))


@functools.cache
def phases() -> dict[str, Matrix]:
    """The named phases shipped as package data (``runbench/phases.toml``)."""
    text = resources.files("runbench").joinpath("phases.toml").read_text(encoding="utf-8")
    return {
        name: _phase_matrix(name, table) for name, table in tomllib.loads(text)["phases"].items()
    }


def _phase_matrix(name: str, table: dict[str, Any]) -> Matrix:
    def values(key: str) -> str:
        value = table[key]
        return value if isinstance(value, str) else ",".join(map(str, value))

    return Matrix(
        prompt_types=parse_prompt_types(values("prompt_types")),
        difficulties=parse_difficulties(values("difficulties")),
        task_types=parse_task_types(values("task_types")),
        tool_success_rates=parse_rates(values("tool_success_rates")),
        num_instances=int(table.get("num_instances", DEFAULT_NUM_INSTANCES)),
    )


def phase(name: str) -> Matrix:
    """The matrix of a named phase.

    Raises:
        UsageError: no phase has that name; the message lists the phases.
    """
    known = phases()
    if name not in known:
        raise UsageError(f"unknown phase '{name}'; phases are {', '.join(known)}")
    return known[name]


def build_matrix(
    *,
    phase_name: str | None = None,
    prompt_types: str | None = None,
    difficulties: str | None = None,
    task_types: str | None = None,
    rates: str | None = None,
    num_instances: int | None = None,
) -> Matrix:
    """A phase, or the defaults, with any matrix flag given overriding its axis.

    Raises:
        UsageError: an unknown value or phase, or an instance count below 1.
    """
    base = phase(phase_name) if phase_name else Matrix()
    if num_instances is not None and num_instances < 1:
        raise UsageError(f"--num-instances must be ≥ 1 ({num_instances} plans no test)")
    if num_instances is not None and num_instances > MAX_NUM_INSTANCES:
        raise UsageError(
            f"--num-instances {_shown_count(num_instances)} is above the limit of "
            f"{MAX_NUM_INSTANCES:,} instances per cell"
        )
    return Matrix(
        prompt_types=parse_prompt_types(prompt_types) if prompt_types else base.prompt_types,
        difficulties=parse_difficulties(difficulties) if difficulties else base.difficulties,
        task_types=parse_task_types(task_types) if task_types else base.task_types,
        tool_success_rates=parse_rates(rates) if rates else base.tool_success_rates,
        num_instances=base.num_instances if num_instances is None else num_instances,
    )


def matrix_filters(
    *,
    phase_name: str | None = None,
    prompt_types: str | None = None,
    difficulties: str | None = None,
    task_types: str | None = None,
    rates: str | None = None,
) -> dict[str, list[str] | list[float]]:
    """Store filters for reading results: a phase fixes every axis, a flag overrides one axis.

    Unlike ``build_matrix`` nothing defaults: an axis neither a phase nor a flag names is not
    filtered.

    Raises:
        UsageError: an unknown value or phase.
    """
    base = phase(phase_name) if phase_name else None
    axes: dict[str, tuple[str, ...] | tuple[float, ...] | None] = {
        "prompt_type": parse_prompt_types(prompt_types) if prompt_types else None,
        "difficulty": parse_difficulties(difficulties) if difficulties else None,
        "task_type": parse_task_types(task_types) if task_types else None,
        "tool_success_rate": parse_rates(rates) if rates else None,
    }
    if base is not None:
        defaults = {
            "prompt_type": base.prompt_types,
            "difficulty": base.difficulties,
            "task_type": base.task_types,
            "tool_success_rate": base.tool_success_rates,
        }
        axes = {
            name: value if value is not None else defaults[name]  # type: ignore[misc]
            for name, value in axes.items()
        }
    return {name: list(value) for name, value in axes.items() if value is not None}  # type: ignore[misc]


def _shown_count(count: int) -> str:
    """A count for a message: grouped digits, or its size when it is absurdly long."""
    digits = len(str(count)) if count < 10**100 else 101
    return f"{count:,}" if digits <= 24 else f"a {digits}+ digit number"


def parse_models(text: str) -> list[str]:
    """A comma list of model names.

    Raises:
        UsageError: the list is empty.
    """
    models = list(dict.fromkeys(_split(text)))
    if not models:
        raise UsageError("--model needs at least one model name")
    return models
