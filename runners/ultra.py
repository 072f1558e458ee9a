"""ultra-parallel: one model's plan split over shard processes that write one store.

Each shard is a child process that receives its resolved ``RunRequest`` as a JSON file (the
parent's plan, plus ``shard = i/N`` and a deployment) and runs it exactly as smart-batch would, so
it plans, resumes and records the same way; shards never overlap because the shard splits by
test id. Shards on one endpoint split its budget (concurrency and requests per second).

The parent and its shards talk over pipes: a shard writes one JSON progress line at a time on
its stdout and a last line with its summary; it watches its stdin, which the parent holds open
and never writes, so a parent that dies (even by ``kill -9``) closes it and every shard stops
cleanly instead of running on unseen. The supervisor forwards SIGINT/SIGTERM, restarts a shard
that died abnormally (up to ``restarts`` times) and reports the worst exit code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runbench.config import ModelConfig, RunbenchConfig
from runbench.errors import RunbenchError, UsageError
from runbench.runners.context import context_of_request
from runbench.runners.engine import RunSummary
from runbench.runners.planning import Shard
from runbench.runners.progress import ProgressSnapshot, combine, snapshot_of
from runbench.runners.session import RunRequest, run_request
from runbench.storage import open_store

# exit codes from least to most serious; anything abnormal ranks as 1 (resumable)
_SEVERITY = (0, 1, 3, 2, 130)
_POLL_S = 0.2
PROGRESS_INTERVAL_S = 0.5
SUMMARY_COUNTS = (
    "finished",
    "full_success",
    "partial_success",
    "failure",
    "errors",
    "not_run",
    "claimed_elsewhere",
)


@dataclass(frozen=True, slots=True)
class ShardSpec:
    index: int
    count: int
    deployment: str
    max_workers: int
    requests_per_second: float | None
    share: float = 1.0  # this shard's part of its endpoint's budget (1 / shards on it)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def request(self, base: RunRequest) -> RunRequest:
        """The base request narrowed to this shard, its deployment and its share of the budget."""
        options = dataclasses.replace(
            base.options,
            max_workers=self.max_workers,
            requests_per_second=self.requests_per_second,
            share=self.share,
        )
        return dataclasses.replace(
            base,
            shard=Shard(self.index, self.count),
            deployment=self.deployment,
            options=options,
        )


@dataclass(frozen=True, slots=True)
class UltraPlan:
    """One model's request and the shards it is split into."""

    model: str
    deployments: int
    request: RunRequest
    shards: tuple[ShardSpec, ...]


def plan_ultra(
    request: RunRequest, config: RunbenchConfig, num_shards: int | None, max_workers: int | None
) -> UltraPlan:
    """Resolve the one model of the request and split it into shards.

    ``max_workers`` and the request's requests per second are per endpoint, split over the
    shards on that endpoint like its own limits.

    Raises:
        UsageError: not exactly one model, or an unknown model.
    """
    if len(request.models) != 1:
        raise UsageError(
            "ultra-parallel runs one model",
            hint="pass --model NAME (or a plan file with one model)",
        )
    model = config.resolve_model(request.models[0])
    resolved = dataclasses.replace(request, models=(model.name,))
    shards = plan_shards(model, num_shards, max_workers, request.options.requests_per_second)
    return UltraPlan(model.name, len(model.deployments), resolved, tuple(shards))


def on_cluster(
    request: RunRequest, config: RunbenchConfig, address: str, actors: int | None
) -> RunRequest:
    """The request of one model, to run on the Ray cluster at ``address`` with ``actors``.

    Raises:
        UsageError: not exactly one model, or an unknown model.
    """
    plan = plan_ultra(request, config, actors, None)
    return dataclasses.replace(plan.request, cluster=address, actors=actors)


def plan_shards(
    model: ModelConfig, count: int | None, max_workers: int | None, qps: float | None = None
) -> list[ShardSpec]:
    """Shards round-robin over the model's deployments; shards of one endpoint split its budget.

    Concurrency and ``--qps`` are divided here; each shard's ``share`` makes its limiter take
    that fraction of the endpoint's told rpm/tpm and of the quota its headers report.
    """
    deployments = model.deployments
    total = count or max(2, len(deployments))
    per_endpoint = [
        sum(1 for i in range(total) if i % len(deployments) == d) for d in range(len(deployments))
    ]
    shards = []
    for index in range(total):
        slot = index % len(deployments)
        deployment = deployments[slot]
        share = per_endpoint[slot]
        budget = max_workers or deployment.limits.max_concurrency
        # told rpm/tpm and the provider's own quota are split by ``share`` in the limiter;
        # a --qps cap is split here, like the concurrency
        per_second = qps
        shards.append(
            ShardSpec(
                index,
                total,
                deployment.name,
                max(1, budget // share),
                per_second / share if per_second else None,
                1.0 / share,
            )
        )
    return shards


# -- the child side -------------------------------------------------------------------------


def write_shard_file(
    folder: Path, spec: ShardSpec, plan: UltraPlan, store: Path | str, storage: str, preflight: bool
) -> Path:
    """The file a shard process reads: its request and where the store is (a folder or URL)."""
    path = folder / f"shard-{spec.index}.json"
    payload = {
        "request": json.loads(spec.request(plan.request).to_json()),
        "store": store if isinstance(store, str) else str(store.resolve()),
        "storage": storage,
        "preflight": preflight,
        "command": ["runbench", *sys.argv[1:], f"(shard {spec.label})"],
    }
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def run_shard(path: Path, out: IO[str], watch: IO[bytes] | None) -> int:
    """Run one shard's request; progress and the final summary go to ``out`` as JSON lines.

    ``watch`` is the pipe from the parent: when it reaches end of file the parent is gone, and
    the shard stops as on SIGTERM (finished records are kept). Returns the exit code.

    A shard is its own process: it builds its run context once, here, from its request (the
    configuration file, task library and tool registry the parent resolved).

    Raises:
        UsageError: the file is not a shard file.
        ConfigError: the configuration file changed into one that is not valid.
    """
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        request = RunRequest.from_json(json.dumps(payload["request"]))
        store = open_store(str(payload["store"]), payload["storage"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"not a shard file: {path}: {error}") from None
    context = context_of_request(
        request.config_path,
        store,
        tasks_path=request.tasks_path,
        tools_path=request.tools_path,
        tool_index_path=request.tool_index_path,
    )
    # the shards share this host and configuration: the first says why a tool index cannot serve
    context = dataclasses.replace(context, warns=request.shard is None or request.shard.index == 0)
    last = [0.0]
    latest: list[RunSummary] = []

    def report(summary: RunSummary) -> None:
        latest[:] = [summary]
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = now
            _send(out, {"progress": snapshot_of(summary).to_dict()})

    def watch_parent(stop: asyncio.Event) -> None:
        if watch is None:
            return
        descriptor = watch.fileno()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            if not os.read(descriptor, 4096):  # end of file: the parent has died
                loop.remove_reader(descriptor)
                stop.set()

        loop.add_reader(descriptor, readable)

    try:
        try:
            outcome = run_request(
                request,
                context,
                preflight_check=bool(payload.get("preflight", True)),
                on_progress=report,
                stop_when=watch_parent,
                command=payload.get("command", ["runbench", "ultra-parallel"]),
            )
        finally:
            store.close()
    except RunbenchError as error:
        # said once by the parent for every shard it stopped (a store that stopped answering
        # stops them all), with what this shard had finished: not a line from each shard
        counts = latest[0].to_dict() if latest else {}
        failed = {"error": error.message, "hint": error.hint, "exit_code": error.exit_code}
        _send(out, {"final": {**counts, **failed}})
        return error.exit_code
    if outcome.summary is not None:
        _send(out, {"progress": snapshot_of(outcome.summary).to_dict()})
    _send(out, {"final": outcome.to_dict()})
    return outcome.exit_code


def _send(out: IO[str], message: dict[str, Any]) -> None:
    try:
        out.write(json.dumps(message) + "\n")
        out.flush()
    except (BrokenPipeError, ValueError):
        pass  # the parent is gone; the records are in the store all the same


# -- the parent side ------------------------------------------------------------------------


@dataclass(slots=True)
class ShardProcess:
    spec: ShardSpec
    process: subprocess.Popen[str]
    restarts: int = 0
    exit_code: int | None = None
    progress: ProgressSnapshot | None = None
    final: dict[str, Any] | None = None
    reader: threading.Thread | None = None


@dataclass(slots=True)
class UltraResult:
    model: str = ""
    exit_codes: dict[int, int] = field(default_factory=dict)
    restarts: dict[int, int] = field(default_factory=dict)
    finals: dict[int, dict[str, Any]] = field(default_factory=dict)
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        worst = 0
        for code in self.exit_codes.values():
            ranked = code if code in _SEVERITY else 1
            worst = max(worst, ranked, key=_SEVERITY.index)
        # interrupted, as smart-batch: 130, unless a shard failed on its own (a store that
        # stopped answering), which is what a rerun must know about
        return 130 if self.interrupted and worst != 2 else worst

    def to_dict(self) -> dict[str, Any]:
        """The same shape as smart-batch's summary, added up over the shards, plus per shard."""
        totals = {
            key: sum(int(f.get(key, 0)) for f in self.finals.values()) for key in SUMMARY_COUNTS
        }
        planned = sum(int(f.get("planned", 0)) for f in self.finals.values())
        stopped: dict[str, str] = {}
        for final in self.finals.values():
            stopped.update(final.get("stopped") or {})
        return {
            "run_id": None,
            "model": self.model,
            "planned": planned,
            **totals,
            "stopped": stopped,
            "interrupted": self.interrupted,
            "timed_out": any(f.get("timed_out") for f in self.finals.values()),
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "shards": {
                str(index): {
                    "exit_code": code,
                    "restarts": self.restarts.get(index, 0),
                    "run_id": self.finals.get(index, {}).get("run_id"),
                }
                for index, code in sorted(self.exit_codes.items())
            },
        }


class ShardSupervisor:
    """Starts, watches, restarts and signals the shard processes; gathers their progress."""

    def __init__(
        self,
        plan: UltraPlan,
        store: Path | str,
        storage: str,
        *,
        restarts: int,
        preflight: bool = True,
        on_event: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.storage = storage
        self.restarts = restarts
        self.preflight = preflight
        self.on_event = on_event
        self.running: list[ShardProcess] = []
        self.result = UltraResult(plan.model)
        self.started = time.monotonic()
        self._folder = tempfile.TemporaryDirectory(prefix="runbench-ultra-")
        self._lock = threading.Lock()

    def _start(self, spec: ShardSpec) -> subprocess.Popen[str]:
        path = write_shard_file(
            Path(self._folder.name), spec, self.plan, self.store, self.storage, self.preflight
        )
        command = [sys.executable, "-m", "runbench", "shard-worker", str(path)]
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # held open, never written: closes when this process dies
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def _read(self, shard: ShardProcess, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "progress" in message:
                    shard.progress = ProgressSnapshot.from_dict(message["progress"])
                elif "final" in message:
                    shard.final = message["final"]

    def _launch(self, shard: ShardProcess | None, spec: ShardSpec) -> ShardProcess:
        process = self._start(spec)
        if shard is None:
            shard = ShardProcess(spec, process)
        else:
            shard.process = process
        shard.reader = threading.Thread(target=self._read, args=(shard, process), daemon=True)
        shard.reader.start()
        return shard

    def forward(self, signum: int) -> None:
        """Pass SIGINT/SIGTERM on to every live shard (they stop cleanly, keeping their results)."""
        self.result.interrupted = True
        for shard in self.running:
            if shard.process.poll() is None:
                shard.process.send_signal(signum)

    def snapshot(self) -> ProgressSnapshot:
        """The shards' latest progress, as one picture with a row per shard and endpoint."""
        with self._lock:
            parts = [(s.spec.label, s.progress) for s in self.running if s.progress is not None]
        return combine(((label, part) for label, part in parts if part), self.started)

    def run(self, on_tick: Callable[[ProgressSnapshot], None] | None = None) -> UltraResult:
        try:
            self.running = [self._launch(None, spec) for spec in self.plan.shards]
            self.on_event(f"started {len(self.running)} shards")
            while any(shard.exit_code is None for shard in self.running):
                time.sleep(_POLL_S)
                if on_tick is not None:
                    on_tick(self.snapshot())
                for shard in self.running:
                    self._check(shard)
        finally:
            self._folder.cleanup()
        self.result.seconds = time.monotonic() - self.started
        return self.result

    def _check(self, shard: ShardProcess) -> None:
        if shard.exit_code is not None:
            return
        code = shard.process.poll()
        if code is None:
            return
        abnormal = code < 0 or code not in _SEVERITY
        if abnormal and not self.result.interrupted and shard.restarts < self.restarts:
            shard.restarts += 1
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            self.on_event(
                f"shard {shard.spec.label} died ({how}); "
                f"restarting ({shard.restarts} of {self.restarts})"
            )
            self._launch(shard, shard.spec)
            return
        if shard.reader is not None:
            shard.reader.join(timeout=5.0)  # the pipe closes with the process: its last line
        with self._lock:
            final = shard.final
        shard.exit_code = code
        self.result.exit_codes[shard.spec.index] = code
        self.result.restarts[shard.spec.index] = shard.restarts
        if final is not None:
            self.result.finals[shard.spec.index] = final


def install_forwarding(supervisor: ShardSupervisor) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: supervisor.forward(received))


def shard_specs_text(plan: UltraPlan) -> Sequence[str]:
    """One line per shard for a dry run: which deployment, with what share of the budget."""
    return [
        f"shard {spec.label}: deployment {spec.deployment}, max workers {spec.max_workers}"
        + (f", {spec.requests_per_second:.2f} req/s" if spec.requests_per_second else "")
        for spec in plan.shards
    ]
