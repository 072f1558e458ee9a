"""Plan files: a JSON object naming the models and the matrix of a run.

A plan file is hand-written, so every key is type-checked here and a wrong type gives one line
naming the key and what it should hold (``"tool_success_rates": 0.8`` used to crash inside a
string join; ``"num_instances": "ten"`` deep in planning). The matrix itself is then built by
``runbench.matrix.build_matrix``, which also bounds the plan's size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbench.errors import UsageError
from runbench.matrix import MAX_NUM_INSTANCES, Matrix, build_matrix

PLAN_KEYS = (
    "models",
    "prompt_types",
    "difficulties",
    "task_types",
    "tool_success_rates",
    "num_instances",
    "phase",
)
MAX_PLAN_FILE_BYTES = 1_000_000
_NAME_AXES = ("prompt_types", "difficulties", "task_types")


def load_plan_file(path: Path) -> tuple[tuple[str, ...], Matrix]:
    """A plan file (JSON): models and the matrix, with the keys of a phase.

    ``{"models": [...], "prompt_types": "all", "difficulties": ["easy"], "task_types": "all",
    "tool_success_rates": [0.8], "num_instances": 20}``; absent axes take the defaults.

    Raises:
        UsageError: the file is missing, too large, not JSON, or holds an unknown key, a value
            of the wrong type or an unknown value; one line names the key.
    """
    axes = read_plan_file(path)
    try:
        return tuple(axes["models"]), build_matrix(
            phase_name=axes["phase"],
            prompt_types=axes["prompt_types"],
            difficulties=axes["difficulties"],
            task_types=axes["task_types"],
            rates=axes["rates"],
            num_instances=axes["num_instances"],
        )
    except UsageError as error:
        if error.message.startswith("plan file"):
            raise
        raise UsageError(f"plan file {path}: {error.message}", hint=error.hint) from None


def read_plan_file(path: Path) -> dict[str, Any]:
    """A plan file as the texts its matrix flags would take, every key type-checked.

    Keys: ``models`` (a list), ``phase``, ``prompt_types``, ``difficulties``, ``task_types``,
    ``rates``, ``num_instances`` — None where the file names none, so flags can fill them in
    (``runbench.planspec.PlanInputs``).

    Raises:
        UsageError: the file is missing, too large, not JSON, or holds an unknown key or a value
            of the wrong type; one line names the key.
    """
    document = _read(path)
    unknown = set(document) - set(PLAN_KEYS)
    if unknown:
        raise UsageError(
            f"plan file {path}: unknown key '{sorted(unknown)[0]}'; "
            f"keys are {', '.join(sorted(PLAN_KEYS))}"
        )
    models = document.get("models", [])
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise UsageError(f"plan file {path}: 'models' must be a list of model names")
    phase = document.get("phase")
    if phase is not None and not isinstance(phase, str):
        raise UsageError(f"plan file {path}: 'phase' must be a phase name such as \"5.1\"")
    return {
        "models": models,
        "phase": phase,
        "prompt_types": _names(document, "prompt_types", path),
        "difficulties": _names(document, "difficulties", path),
        "task_types": _names(document, "task_types", path),
        "rates": _rates(document, path),
        "num_instances": _count(document, path),
    }


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PLAN_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"plan file {path} does not exist") from None
    except OSError as error:
        raise UsageError(f"plan file {path} cannot be read: {error.strerror}") from None
    if len(raw) > MAX_PLAN_FILE_BYTES:
        raise UsageError(f"plan file {path} is larger than {MAX_PLAN_FILE_BYTES:,} bytes")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"plan file {path} is not readable JSON: {error}") from None
    except RecursionError:
        raise UsageError(f"plan file {path} is nested too deeply to be a plan") from None
    if not isinstance(document, dict):
        raise UsageError(f"plan file {path} must hold a JSON object")
    return document


def _names(document: dict[str, Any], key: str, path: Path) -> str | None:
    """An axis of names: a comma-separated string or a list of strings."""
    value = document.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)
    raise UsageError(
        f"plan file {path}: '{key}' must be a list of names or a comma-separated string, "
        f"got {_shown(value)}"
    )


def _rates(document: dict[str, Any], path: Path) -> str | None:
    value = document.get("tool_success_rates")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(_is_number(item) for item in value):
        return ",".join(repr(float(item)) for item in value)
    raise UsageError(
        f"plan file {path}: 'tool_success_rates' must be a list of numbers such as [0.8], "
        f"got {_shown(value)}"
    )


def _count(document: dict[str, Any], path: Path) -> int | None:
    value = document.get("num_instances")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(
            f"plan file {path}: 'num_instances' must be a whole number ≥ 0, got {_shown(value)}"
        )
    if value > MAX_NUM_INSTANCES:
        raise UsageError(
            f"plan file {path}: 'num_instances' must be at most {MAX_NUM_INSTANCES:,}, "
            f"got {_shown(value)}"
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."
