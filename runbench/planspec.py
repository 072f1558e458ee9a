"""One plan language for every command: models + matrix from flags, a phase or a plan file.

Runners, ``status``, ``report`` and ``compare`` all take the same inputs (``--model``,
``--plan``, ``--phase``, the matrix flags, ``--num-instances``); they are gathered in
``PlanInputs`` and resolved here once, so the same words mean the same plan everywhere and a
conflict (a plan file *and* a phase) is an error instead of one silently winning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbench.config import RunbenchConfig
from runbench.errors import UsageError
from runbench.matrix import Matrix, build_matrix, matrix_filters, parse_models
from runbench.planfile import read_plan_file


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """What the user typed about the plan, before it means anything."""

    models: str | None = None
    plan_file: Path | None = None
    phase: str | None = None
    prompt_types: str | None = None
    difficulties: str | None = None
    task_types: str | None = None
    rates: str | None = None
    num_instances: int | None = None

    def axes(self) -> dict[str, Any]:
        """The matrix axes, the plan file's under the flags' (a flag overrides one axis).

        Raises:
            UsageError: a plan file together with ``--phase``, or a bad plan file.
        """
        axes: dict[str, Any] = {
            "phase": self.phase,
            "prompt_types": self.prompt_types,
            "difficulties": self.difficulties,
            "task_types": self.task_types,
            "rates": self.rates,
            "num_instances": self.num_instances,
        }
        if self.plan_file is None:
            return axes
        if self.phase is not None:
            raise UsageError(
                "give --plan or --phase, not both",
                hint='a plan file may name its phase itself: {"phase": "5.1", ...}',
            )
        from_file = read_plan_file(self.plan_file)
        return {
            name: value if value is not None else from_file.get(name)
            for name, value in axes.items()
        }

    def matrix(self) -> Matrix:
        """The matrix these inputs plan.

        Raises:
            UsageError: an unknown value, phase or plan-file key.
        """
        axes = self.axes()
        return build_matrix(
            phase_name=axes["phase"],
            prompt_types=axes["prompt_types"],
            difficulties=axes["difficulties"],
            task_types=axes["task_types"],
            rates=axes["rates"],
            num_instances=axes["num_instances"],
        )

    def filters(self) -> dict[str, Any]:
        """Store filters for reading results: only the axes a phase, plan or flag names."""
        axes = self.axes()
        filters: dict[str, Any] = matrix_filters(
            phase_name=axes["phase"],
            prompt_types=axes["prompt_types"],
            difficulties=axes["difficulties"],
            task_types=axes["task_types"],
            rates=axes["rates"],
        )
        named = self.named_models()
        if named:
            filters["model"] = named
        return filters

    def named_models(self) -> list[str]:
        """The models the flags or the plan file name (possibly none)."""
        if self.models:
            return parse_models(self.models)
        if self.plan_file is not None:
            return list(read_plan_file(self.plan_file).get("models") or [])
        return []

    def models_to_run(self, config: RunbenchConfig) -> tuple[tuple[str, ...], bool]:
        """The models to run, and whether they came from the config file (no model named).

        Without ``--model`` the runners take the models the ``runbench.toml`` in use defines,
        as the seed's ``batch --debug`` does.

        Raises:
            UsageError: no model named and the config file defines none (or there is none).
        """
        named = self.named_models()
        if named:
            return tuple(named), False
        if config.source is None:
            raise UsageError(
                "no model to run", hint="pass --model NAME (runbench models lists them)"
            )
        own = config.own_models()
        if not own:
            raise UsageError(
                f"no model to run: {config.source} defines none", hint="pass --model NAME"
            )
        return own, True
