"""Every option declared once, and the bundles several commands share.

A bundle is a dataclass whose fields are options (name, type, help, panel and default in one
place). A command takes a whole bundle as one parameter (``plan: PlanArgs``); ``bundled`` spreads
the bundle's fields into the signature Typer reads and packs them back into the dataclass before
the command body runs — the way sqlite-utils' ``insert_upsert_options`` and inspect_ai's
``eval_options`` share their option sets, with the values arriving as one typed object.

This module does not use ``from __future__ import annotations``: the bundles' field types must
be the real ``Annotated`` objects Typer inspects.
"""

import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from runbench.config import RunbenchConfig
    from runbench.planspec import PlanInputs

PLAN = "Plan"
LIMITS = "Limits"
OUTPUT = "Output"
STORAGE = "Storage"


def _option(*names: str, help: str, panel: str | None = None, **extra: Any) -> Any:
    # help is rich markup: a literal "[default: …]" must be escaped or it vanishes as a tag
    return typer.Option(
        *names,
        help=help.replace("[", "\\["),
        rich_help_panel=panel,
        show_default=False,
        **extra,
    )


# -- single options -------------------------------------------------------------------------

Storage = Annotated[
    str | None,
    _option(
        "--storage",
        help="Store format: json or parquet. [default: $STORAGE_FORMAT, else json]",
        panel=STORAGE,
        metavar="FORMAT",
    ),
]
Store = Annotated[
    str | None,
    _option(
        "--store",
        help="Store root folder, or s3://bucket/prefix for the Parquet store in a bucket. "
        "[default: $RUNBENCH_STORE, else ./runbench_results]",
        panel=STORAGE,
        metavar="PATH|URL",
    ),
]
Config = Annotated[
    Path | None,
    _option(
        "--config",
        help="runbench.toml to use. "
        "[default: $RUNBENCH_CONFIG, else ./runbench.toml, else the built-in sim models]",
        panel=PLAN,
        metavar="FILE",
    ),
]
Json = Annotated[
    bool, _option("--json", help="Print one machine-readable JSON object on stdout.", panel=OUTPUT)
]
DryRun = Annotated[
    bool, _option("--dry-run", help="Show what would happen; change nothing.", panel=OUTPUT)
]
Output = Annotated[
    Path | None,
    _option(
        "--output", "-o", help="Write to this file instead of stdout.", panel=OUTPUT, metavar="FILE"
    ),
]
Models = Annotated[
    str | None,
    _option(
        "--model",
        "--models",
        help="Model names, aliases or deployments (comma list). "
        "[runners: default the models of runbench.toml; reports: default all]",
        panel=PLAN,
        metavar="NAMES",
    ),
]
Suite = Annotated[
    str | None,
    _option(
        "--suite",
        help="Only this suite; 'all' includes legacy-v3 imports. [default: workflow]",
        panel=PLAN,
        metavar="NAME",
    ),
]
Provider = Annotated[
    str | None,
    _option("--provider", help="Every model of this provider.", panel=PLAN, metavar="NAME"),
]


PlanFile = Annotated[
    Path | None,
    _option(
        "--plan",
        "--test-config",
        help="A JSON plan file (models and matrix); matrix flags override its axes.",
        panel=PLAN,
        metavar="FILE",
    ),
]
Phase = Annotated[
    str | None,
    _option(
        "--phase",
        help="A systematic-test phase (5.1 ... 5.5); matrix flags override its axes.",
        panel=PLAN,
        metavar="NAME",
    ),
]
PromptTypes = Annotated[
    str | None,
    _option(
        "--prompt-types",
        help="Comma list; all = baseline,optimal,cot; flawed = the seven flawed; "
        "all_with_flawed = all ten. [default: optimal]",
        panel=PLAN,
        metavar="TYPES",
    ),
]
Difficulty = Annotated[
    str | None,
    _option(
        "--difficulty",
        help="Comma list of very_easy..very_hard, or all. [default: easy]",
        panel=PLAN,
        metavar="LEVELS",
    ),
]
TaskTypes = Annotated[
    str | None,
    _option(
        "--task-types",
        help="Comma list of task types, or all. [default: all]",
        panel=PLAN,
        metavar="TYPES",
    ),
]
Rates = Annotated[
    str | None,
    _option(
        "--tool-success-rate",
        help="Comma list of rates in [0, 1]. [default: 0.8]",
        panel=PLAN,
        metavar="RATES",
    ),
]
NumInstances = Annotated[
    int | None,
    _option(
        "--num-instances",
        help="Instances per cell. [default: the phase's, else 20]",
        panel=PLAN,
        metavar="N",
    ),
]
TasksFile = Annotated[
    Path | None,
    _option(
        "--tasks",
        help="A task library instead of the built-in one: JSON lines, a WorkflowBench "
        "library, or a pattern such as 'lib_{difficulty}.json'.",
        panel=PLAN,
        metavar="FILE",
    ),
]
ToolsFile = Annotated[
    Path | None,
    _option(
        "--tools",
        help="A WorkflowBench tool_registry.json. "
        "[default: tools in runbench.toml, else the built-in tools]",
        panel=PLAN,
        metavar="FILE",
    ),
]
ToolIndexFile = Annotated[
    Path | None,
    _option(
        "--tool-index",
        help="WorkflowBench's tool embedding index (its tool_index.pkl), read without running "
        "its code: tool search and phase 2 rank by it. [default: tool_index in runbench.toml, "
        "else none]",
        panel=PLAN,
        metavar="FILE",
    ),
]


# -- bundles --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class StoreArgs:
    """Where the store is: ``--storage`` and ``--store``."""

    storage: Storage = None
    store: Store = None


@dataclasses.dataclass(frozen=True, slots=True)
class PlanArgs:
    """The plan language every runner, ``status``, ``report`` and ``compare`` speak."""

    model: Models = None
    plan: PlanFile = None
    phase: Phase = None
    prompt_types: PromptTypes = None
    difficulty: Difficulty = None
    task_types: TaskTypes = None
    tool_success_rate: Rates = None
    num_instances: NumInstances = None
    tasks_file: TasksFile = None
    tools_file: ToolsFile = None
    config: Config = None

    def inputs(self) -> "PlanInputs":
        """The plan inputs the library resolves (``runbench.planspec.PlanInputs``)."""
        from runbench.planspec import PlanInputs

        return PlanInputs(
            models=self.model,
            plan_file=self.plan,
            phase=self.phase,
            prompt_types=self.prompt_types,
            difficulties=self.difficulty,
            task_types=self.task_types,
            rates=self.tool_success_rate,
            num_instances=self.num_instances,
        )

    def config_path(self) -> Path | None:
        from runbench.config import resolve_config_path

        return resolve_config_path(self.config)

    def configuration(self) -> "RunbenchConfig":
        """The command's configuration, read and checked once (a command calls this once).

        Raises:
            ConfigError: the file is missing or a key holds a value of the wrong type or range.
        """
        from runbench.config import load_config

        return load_config(self.config_path())


@dataclasses.dataclass(frozen=True, slots=True)
class RunArgs:
    """How a run runs: limits, timeouts, retries, logging and what it prints."""

    max_workers: Annotated[
        int | None,
        _option(
            "--max-workers",
            min=1,
            help="Tests in flight at once. [default: 16; provider-parallel 64; "
            "ultra-parallel: each endpoint's limit, split over its shards]",
            panel=LIMITS,
            metavar="N",
        ),
    ] = None
    qps: Annotated[
        float | None,
        _option(
            "--qps",
            min=0.01,
            help="Cap requests per second per endpoint.",
            panel=LIMITS,
            metavar="RATE",
        ),
    ] = None
    adaptive: Annotated[
        bool | None,  # None: not given (adaptive), so an old --rate-mode can be told apart
        _option(
            "--adaptive/--no-adaptive",
            help="Cut concurrency on 429s, grow it back on success. [default: adaptive]",
            panel=LIMITS,
        ),
    ] = None
    timeout: Annotated[
        float,
        _option(
            "--timeout",
            min=0.01,
            help="Wall-clock limit per test, seconds. [default: 600]",
            panel=LIMITS,
            metavar="SECONDS",
        ),
    ] = 600.0
    request_timeout: Annotated[
        float | None,
        _option(
            "--request-timeout",
            min=0.01,
            help="Limit per API request, seconds. [default: the provider's]",
            panel=LIMITS,
            metavar="SECONDS",
        ),
    ] = None
    max_retries: Annotated[
        int,
        _option(
            "--max-retries",
            min=0,
            help="Retries of a failing request. [default: 8]",
            panel=LIMITS,
            metavar="N",
        ),
    ] = 8
    max_runtime: Annotated[
        float | None,
        _option(
            "--max-runtime",
            min=0.01,
            help="Stop the whole run after this many seconds.",
            panel=LIMITS,
            metavar="SECONDS",
        ),
    ] = None
    claim_lease: Annotated[
        float,
        _option(
            "--claim-lease",
            min=0.05,
            max=86_400.0,  # a day: 'inf' would let a silent host keep its tests forever
            help="Seconds a run on another host may stay silent before its tests are taken "
            "over (on this host a live run keeps its tests). [default: 30]",
            panel=LIMITS,
            metavar="SECONDS",
        ),
    ] = 30.0
    protocol: Annotated[
        str,
        _option(
            "--protocol",
            help="tags, or native (OpenAI function calling). [default: tags]",
            panel=PLAN,
            metavar="NAME",
        ),
    ] = "tags"
    preflight: Annotated[
        bool,
        _option(
            "--preflight/--no-preflight",
            help="Check each API endpoint with one tiny request first. [default: preflight]",
            panel=LIMITS,
        ),
    ] = True
    retry_errors: Annotated[
        str | None,
        _option(
            "--retry-errors",
            help="Run again tests whose stored error is of these categories although they "
            "are settled (invalid_request: a deterministic 400), comma list or all.",
            panel=PLAN,
            metavar="CATEGORIES",
        ),
    ] = None
    classifier: Annotated[
        str | None,
        _option(
            "--classifier",
            help="Classify partial and failed tests with this model of the config, as "
            "WorkflowBench's AI classification does. [default: the rule-based classifier]",
            panel=OUTPUT,
            metavar="MODEL",
        ),
    ] = None
    tool_index: ToolIndexFile = None
    save_logs: Annotated[
        bool, _option("--save-logs", help="Keep every transcript in the store.", panel=OUTPUT)
    ] = False
    debug: Annotated[
        bool,
        _option(
            "--debug",
            help="One test at a time, each request and retry logged, transcripts kept.",
            panel=OUTPUT,
        ),
    ] = False
    quiet: Annotated[
        bool, _option("--quiet", help="No progress and no summary table.", panel=OUTPUT)
    ] = False
    dry_run: DryRun = False
    as_json: Json = False


@dataclasses.dataclass(frozen=True, slots=True)
class PinArgs:
    """Narrowing a run: one deployment, one shard of the plan."""

    deployment: Annotated[
        str | None,
        _option(
            "--deployment", help="Pin one deployment of the model.", panel=PLAN, metavar="NAME"
        ),
    ] = None
    shard: Annotated[
        str | None,
        _option(
            "--shard",
            help="Run only shard i of N of the plan, e.g. 0/4.",
            panel=PLAN,
            metavar="I/N",
        ),
    ] = None


def _old(*names: str, help: str, **extra: Any) -> Any:
    """A flag of the old PILOT-Bench runners: accepted, hidden from help, resolved elsewhere."""
    return _option(*names, help=help, hidden=True, **extra)


@dataclasses.dataclass(frozen=True, slots=True)
class LegacyArgs:
    """The old PILOT-Bench runners' flags, so their scripts run as written.

    Hidden from help so it stays about runbench; ``runbench.cli.legacy_flags.resolve_legacy``
    says what each one becomes (a runbench option, a refusal, or nothing) and why. A flag left
    at its default (False or None) was not given.
    """

    silent: Annotated[bool, _old("--silent", help="Old name of --quiet.")] = False
    no_save_logs: Annotated[
        bool, _old("--no-save-logs", help="Keep no transcripts (runbench's default).")
    ] = False
    batch_commit: Annotated[
        bool, _old("--batch-commit", help="Moot: every record is durable when its test ends.")
    ] = False
    checkpoint_interval: Annotated[
        int | None,
        _old("--checkpoint-interval", help="Moot: no checkpoints to take.", metavar="N"),
    ] = None
    ai_classification: Annotated[
        bool, _old("--ai-classification", help="Classify errors with a model.")
    ] = False
    no_ai_classification: Annotated[
        bool, _old("--no-ai-classification", help="Rule-based classifier (the default).")
    ] = False
    result_suffix: Annotated[
        str | None,
        _old("--result-suffix", help="Moot: one store holds every model.", metavar="TEXT"),
    ] = None
    provider_parallel: Annotated[
        bool, _old("--provider-parallel", help="Moot: providers always run in parallel.")
    ] = False
    prompt_parallel: Annotated[
        bool, _old("--prompt-parallel", help="Moot: prompt types always run in parallel.")
    ] = False
    auto_maintain: Annotated[
        bool, _old("--auto-maintain", help="Moot: smart-batch runs exactly what is missing.")
    ] = False
    incremental_retest: Annotated[
        bool, _old("--incremental-retest", help="Moot: smart-batch runs exactly what is missing.")
    ] = False
    completion_threshold: Annotated[
        float | None,
        _old("--completion-threshold", help="Moot: every missing test runs.", metavar="RATE"),
    ] = None
    idealab_key_index: Annotated[
        int | None,
        _old("--idealab-key-index", help="Moot: keys are deployments.", metavar="N"),
    ] = None
    smart: Annotated[bool, _old("--smart", help="Moot: never read by the old batch.")] = False
    progress: Annotated[
        bool, _old("--progress", help="Show the plan's progress and run nothing.")
    ] = False
    detailed: Annotated[bool, _old("--detailed", help="Moot: progress shows every cell.")] = False
    concurrent: Annotated[
        bool, _old("--concurrent", help="Moot: tests always run concurrently.")
    ] = False
    workers: Annotated[
        int | None, _old("--workers", min=1, help="Old name of --max-workers.", metavar="N")
    ] = None
    clear: Annotated[bool, _old("--clear", help="Refused: runbench never deletes results.")] = False
    rate_mode: Annotated[
        str | None,
        _old("--rate-mode", help="adaptive or fixed: --adaptive or --no-adaptive.", metavar="MODE"),
    ] = None


BUNDLES = (StoreArgs, PlanArgs, RunArgs, PinArgs, LegacyArgs)
Command = TypeVar("Command", bound=Callable[..., Any])


def bundled(function: Command) -> Command:
    """Spread each bundle-typed parameter of a command into its options, for Typer.

    The command's own parameters keep their place; each bundle's fields follow in declaration
    order, and come back as one bundle object when the command is called. Python callers may
    pass the bundle object itself (one command calling another, e.g. ``batch --progress``
    showing ``status``).
    """
    signature = inspect.signature(function, eval_str=True)
    own: list[inspect.Parameter] = []
    spread: list[inspect.Parameter] = []
    bundles: dict[str, type] = {}
    for parameter in signature.parameters.values():
        kind = parameter.annotation
        if isinstance(kind, type) and kind in BUNDLES:
            bundles[parameter.name] = kind
            spread += [
                inspect.Parameter(
                    item.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=item.default,
                    annotation=item.type,
                )
                for item in dataclasses.fields(kind)
            ]
        else:
            own.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(function)
    def command(**values: Any) -> Any:
        for name, kind in bundles.items():
            if isinstance(values.get(name), kind):  # called from Python with the bundle itself
                continue
            fields = dataclasses.fields(kind)
            values[name] = kind(**{item.name: values.pop(item.name) for item in fields})
        return function(**values)

    parameters = own + spread
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command  # type: ignore[return-value]
