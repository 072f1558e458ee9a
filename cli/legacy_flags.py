"""What the old PILOT-Bench runners' flags become in runbench, decided in one place.

PILOT-Bench (WorkflowBench) drove its runs with ``smart_batch_runner.py``,
``batch_test_runner.py`` and ``ultra_parallel_runner.py``; its scripts pass their flags to the
runbench commands that replace them. Each flag, read from those runners' own code, is one of:

- **mapped** to the runbench option that does the same (``--silent`` → ``--quiet``,
  ``--workers N`` → ``--max-workers N``, ``--rate-mode fixed`` → ``--no-adaptive``);
- **moot**: accepted and ignored, because runbench already behaves that way (``--batch-commit``,
  ``--checkpoint-interval``: every record is durable when its test ends; ``--auto-maintain``:
  smart-batch always runs exactly the tests not done yet);
- **refused**: ``--clear`` emptied the whole results database (after a backup) before a run;
  runbench never deletes results, so it stops with a hint instead of guessing.

Every flag given yields exactly one note, which the command prints as an ``[INFO]`` line: a user
who types an old flag learns what it did here. Nothing in this module prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from runbench.cli.options import LegacyArgs, PlanArgs, RunArgs
from runbench.errors import UsageError

DURABLE = "every record is durable when its test ends"
MISSING_ONLY = "smart-batch always runs exactly the tests not done yet, those that ended in error"

# why each moot flag changes nothing here
IGNORED: MappingProxyType[str, str] = MappingProxyType(
    {
        "batch_commit": f"{DURABLE}, so there is nothing to batch",
        "checkpoint_interval": f"{DURABLE}, so there are no checkpoints to take",
        "no_ai_classification": "the rule-based error classifier is runbench's default",
        "result_suffix": "one store holds every model (each row names its model and provider); "
        "use --store PATH for a separate store",
        "provider_parallel": "every provider already runs in parallel under its own limits "
        "(runbench provider-parallel also prints a summary per provider)",
        "prompt_parallel": "every prompt type of the plan already runs in parallel, "
        "from one pool of --max-workers",
        "auto_maintain": f"{MISSING_ONLY} included",
        "incremental_retest": f"{MISSING_ONLY} included",
        "completion_threshold": "smart-batch runs every test not done yet, "
        "whatever the completion rate",
        "idealab_key_index": "API keys are deployments in runbench.toml and tests spread over "
        "all of a model's deployments; pin one with --deployment NAME",
        "smart": "PILOT-Bench's batch_test_runner.py never read it; batch adds --count new "
        "instances per cell (smart-batch runs exactly the tests not done yet)",
        "detailed": "the progress table always shows every cell",
        "concurrent": "runbench always runs tests concurrently, --max-workers at a time",
    }
)
RATE_MODES = ("adaptive", "fixed")


@dataclass(frozen=True, slots=True)
class LegacyResolution:
    """The runbench options the old flags amount to, and one note per old flag given.

    ``ai_classification`` says PILOT-Bench's ``--ai-classification`` was given (it becomes
    ``--classifier`` with the config's ``classifier`` model, when there is one);
    ``show_status`` asks the command to show the plan's progress and run nothing
    (``batch_test_runner.py --progress``).
    """

    plan: PlanArgs
    run: RunArgs
    notes: tuple[str, ...] = ()
    ai_classification: bool = False
    show_status: bool = False


def resolve_legacy(
    legacy: LegacyArgs, plan: PlanArgs, run: RunArgs, *, configured_classifier: str | None = None
) -> LegacyResolution:
    """Fold the old flags into the plan and run options, with one note per flag given.

    ``configured_classifier`` is the config's ``classifier`` model, which a bare
    ``--ai-classification`` turns on.

    Raises:
        UsageError: ``--clear`` (runbench never deletes results), an old flag that contradicts
            its runbench equivalent given alongside it, or an unknown ``--rate-mode``.
    """
    if legacy.no_ai_classification and (legacy.ai_classification or run.classifier):
        given = "--ai-classification" if legacy.ai_classification else "--classifier"
        raise UsageError(f"give {given} or --no-ai-classification, not both")
    changes: dict[str, Any] = {}
    notes: list[str] = []
    for item in dataclasses.fields(legacy):
        value = getattr(legacy, item.name)
        if value is None or value is False:
            continue
        flag = flag_name(item)
        shown = flag if value is True else f"{flag} {value}"
        if item.name in IGNORED:
            notes.append(f"{shown}: ignored: {IGNORED[item.name]}")
            continue
        note, change = _mapped(item.name, value, run, configured_classifier)
        notes.append(f"{shown}: {note}")
        changes.update(change)
    return LegacyResolution(
        plan,
        dataclasses.replace(run, **changes),
        tuple(notes),
        ai_classification=legacy.ai_classification,
        show_status=legacy.progress,
    )


def flag_name(item: dataclasses.Field[Any]) -> str:
    """The flag of a ``LegacyArgs`` field: its name in dashes, as every one is declared."""
    return "--" + item.name.replace("_", "-")


Change = tuple[str, dict[str, Any]]  # the [INFO] note and the RunArgs fields it sets


def _mapped(name: str, value: Any, run: RunArgs, configured_classifier: str | None) -> Change:
    """The note and the ``RunArgs`` changes of one old flag that is not simply ignored."""
    handlers = {
        "silent": lambda: ("mapped to --quiet (no progress lines)", {"quiet": True}),
        "no_save_logs": lambda: _no_save_logs(run),
        "workers": lambda: _workers(value, run),
        "rate_mode": lambda: _rate_mode(value, run),
        "ai_classification": lambda: _ai_classification(run, configured_classifier),
        "progress": lambda: (
            "showing the plan's progress (as runbench status does); running nothing",
            {},
        ),
        "clear": _clear,
    }
    if name not in handlers:
        raise ValueError(f"LegacyArgs field '{name}' has no resolution")  # a field added, not here
    return handlers[name]()


def _no_save_logs(run: RunArgs) -> Change:
    if run.save_logs:
        raise UsageError("give --save-logs or --no-save-logs, not both")
    return "runbench's default: transcripts are kept only with --save-logs or --debug", {}


def _workers(value: Any, run: RunArgs) -> Change:
    if run.max_workers is not None and run.max_workers != value:
        raise UsageError("give --workers or --max-workers, not both")
    return f"mapped to --max-workers {value}", {"max_workers": value}


def _rate_mode(value: Any, run: RunArgs) -> Change:
    if value not in RATE_MODES:
        raise UsageError(f"--rate-mode must be adaptive or fixed, not '{value}'")
    if run.adaptive is not None and run.adaptive != (value == "adaptive"):
        given = "--adaptive" if run.adaptive else "--no-adaptive"
        raise UsageError(f"give --rate-mode {value} or {given}, not both")
    if value == "adaptive":
        return "mapped to --adaptive (runbench's default)", {"adaptive": True}
    return "mapped to --no-adaptive (concurrency is not cut on 429s)", {"adaptive": False}


def _ai_classification(run: RunArgs, configured_classifier: str | None) -> Change:
    if run.classifier:
        return f"partial and failed tests are classified by {run.classifier} (--classifier)", {}
    if configured_classifier:
        return (
            f"mapped to --classifier {configured_classifier} (classifier in runbench.toml): "
            f"partial and failed tests are classified by {configured_classifier}",
            {"classifier": configured_classifier},
        )
    return (
        "no classifier in runbench.toml: the rule-based classifier stays "
        '(write classifier = "<model>" or pass --classifier MODEL to use a model)',
        {},
    )


def _clear() -> Change:
    raise UsageError(
        "--clear is refused: in PILOT-Bench it emptied the results database of every model, "
        "and runbench never deletes results",
        hint="start a fresh store with --store NEW_FOLDER; the current one stays as it is",
    )
