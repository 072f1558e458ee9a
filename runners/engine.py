"""The engine every runner drives: a plan of tests in, records in the store out.

Structure (STYLE.md §12): one ``asyncio.TaskGroup`` holds a producer that fills a bounded queue,
a fixed pool of workers that run tests, and one writer that appends each finished test's record
at once (batching whatever finished meanwhile into one durable append). A SIGINT or SIGTERM
cancels only the workers; the writer then drains every record already produced, so an interrupt
loses no finished test. Three timeouts really cancel: per request (``LimitedClient``), per test
(``asyncio.timeout`` around the test → status ``error``/``test_timeout``) and per run
(``max_runtime_s``).

Failures are sorted here, never scored as the model's: a test whose API calls still fail after
the retries is recorded with status ``error`` (``api_error``/``rate_limited``) and stays "not
done"; rejected credentials or an exhausted quota stop that provider at once and record nothing
for its unfinished tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runbench.clients.base import ChatRequest, ChatResponse, ModelClient
from runbench.runners.limiter import EndpointLimiter
from runbench.runners.retry import RetryPolicy, call_with_retries
from runbench.storage import Store
from runbench.workload.executor import TestOutcome, run_test
from runbench.workload.tasks import TaskLibrary

from runbench.config import DeploymentConfig, ModelConfig
from runbench.errors import (
    AuthenticationError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    RetryableProviderError,
)
from runbench.plan import PlannedTest
from runbench.records import Record
from runbench.redact import redact

QUEUE_SLOTS_PER_WORKER = 2
ESTIMATED_TOKENS_PER_REQUEST = 1500


@dataclass(frozen=True, slots=True)
class Job:
    """One planned test, with its attempt number and the endpoint that will run it."""

    test: PlannedTest
    attempt: int
    model: ModelConfig
    deployment: DeploymentConfig

    @property
    def endpoint(self) -> str:
        return f"{self.deployment.provider}/{self.deployment.name}"


@dataclass(frozen=True, slots=True)
class RunOptions:
    max_workers: int = 16
    protocol: str = "tags"
    max_turns: int = 10
    test_timeout_s: float = 600.0
    request_timeout_s: float | None = None
    max_runtime_s: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    adaptive: bool = True
    requests_per_second: float | None = None
    save_logs: bool = False


@dataclass(slots=True)
class EndpointProgress:
    name: str
    total: int
    limiter: EndpointLimiter
    done: int = 0
    full: int = 0
    errors: int = 0


@dataclass(slots=True)
class RunSummary:
    """What a run did; ``stopped`` maps a provider to the one-line reason it was stopped."""

    run_id: str
    planned: int
    finished: int = 0
    full: int = 0
    partial: int = 0
    failure: int = 0
    errors: int = 0
    not_run: int = 0
    stopped: dict[str, str] = field(default_factory=dict)
    stopped_exit_code: int = 0
    interrupted: bool = False
    timed_out: bool = False
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    endpoints: dict[str, EndpointProgress] = field(default_factory=dict)
    by_cell: dict[tuple[str, ...], dict[str, int]] = field(default_factory=dict)

    def eta_s(self, progress: EndpointProgress | None = None) -> float | None:
        """Seconds left at the pace so far (None before the first finished test)."""
        done = progress.done + progress.errors if progress else self.finished + self.errors
        total = progress.total if progress else self.planned
        if not done:
            return None
        return (time.monotonic() - self.started) / done * max(0, total - done)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        if self.stopped:
            return self.stopped_exit_code
        return 1 if self.errors or self.not_run or self.timed_out else 0


class LimitedClient:
    """A client behind its endpoint's limiter, the retry policy and the request timeout."""

    def __init__(self, inner: ModelClient, limiter: EndpointLimiter, options: RunOptions) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.deployment = inner.deployment
        self.limiter = limiter
        self.options = options
        self.retries = 0
        self._rng: random.Random | None = None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        timeout_s = self.options.request_timeout_s

        async def attempt() -> ChatResponse:
            await self.limiter.acquire(ESTIMATED_TOKENS_PER_REQUEST)
            rate_limited = False
            try:
                if timeout_s is None:  # the client's own timeouts apply
                    return await self.inner.complete(request)
                async with asyncio.timeout(timeout_s):
                    return await self.inner.complete(request)
            except TimeoutError:
                raise RetryableProviderError(
                    f"{self.provider}/{self.deployment}: request timed out",
                    provider=self.provider,
                    deployment=self.deployment,
                ) from None
            except RateLimitedError:
                rate_limited = True
                raise
            finally:
                await self.limiter.release(rate_limited=rate_limited)

        async def on_retry(error: RetryableProviderError, delay_s: float) -> None:
            self.retries += 1
            self.limiter.retries += 1
            if isinstance(error, RateLimitedError):
                self.limiter.pause(
                    error.retry_after_s if error.retry_after_s is not None else delay_s
                )

        if self._rng is None:  # seeded once per test, only when a retry needs it
            self._rng = random.Random(request.test_id)
        return await call_with_retries(
            attempt, self.options.retry, on_retry=on_retry, rng=self._rng
        )


async def run_jobs(
    jobs: list[Job],
    *,
    store: Store,
    clients: dict[str, ModelClient],
    library: TaskLibrary,
    options: RunOptions,
    run_id: str,
    on_progress: Callable[[RunSummary], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunSummary:
    """Run every job; return what happened. Cancels cleanly when ``stop`` is set."""
    summary = RunSummary(run_id=run_id, planned=len(jobs))
    limiters: dict[str, EndpointLimiter] = {}
    for job in jobs:
        if job.endpoint not in limiters:
            limiters[job.endpoint] = EndpointLimiter(
                job.endpoint,
                job.deployment.limits,
                adaptive=options.adaptive,
                requests_per_second=options.requests_per_second,
            )
            summary.endpoints[job.endpoint] = EndpointProgress(
                job.endpoint, 0, limiters[job.endpoint]
            )
        summary.endpoints[job.endpoint].total += 1
    queue: asyncio.Queue[Job | None] = asyncio.Queue(
        maxsize=max(1, options.max_workers) * QUEUE_SLOTS_PER_WORKER
    )
    finished: asyncio.Queue[Record | None] = asyncio.Queue()
    started = time.monotonic()
    workers = max(1, min(options.max_workers, len(jobs) or 1))

    async def produce() -> None:
        for job in jobs:
            await queue.put(job)
        for _ in range(workers):
            await queue.put(None)

    async def work() -> None:
        while (job := await queue.get()) is not None:
            if job.deployment.provider in summary.stopped:
                continue
            record = await _run_one(
                job,
                clients[job.endpoint],
                limiters[job.endpoint],
                library,
                options,
                run_id,
                store.root,
                summary,
            )
            if record is not None:
                _count(summary, job, record)
                await finished.put(record)

    async def write() -> None:
        while True:
            batch = [await finished.get()]
            while not finished.empty():
                batch.append(finished.get_nowait())
            records = [record for record in batch if record is not None]
            if records:
                await asyncio.to_thread(store.append, records)
            if None in batch:
                return

    async def report() -> None:
        while on_progress is not None:
            on_progress(summary)
            await asyncio.sleep(1.0)

    async def run_workers() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(workers):
                group.create_task(work())

    async with asyncio.TaskGroup() as outer:
        writer = outer.create_task(write())
        reporter = outer.create_task(report())
        runner = outer.create_task(run_workers())
        watcher = outer.create_task(_cancel_on(stop, runner)) if stop is not None else None
        finished_in_time, _ = await asyncio.wait({runner}, timeout=options.max_runtime_s)
        if not finished_in_time:
            summary.timed_out = True
            runner.cancel()
        try:
            await runner
        except asyncio.CancelledError:
            if not summary.timed_out:
                summary.interrupted = True
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        finally:
            await finished.put(None)
            await writer
            reporter.cancel()
            if watcher is not None:
                watcher.cancel()
    summary.seconds = time.monotonic() - started
    summary.not_run = summary.planned - summary.finished
    if on_progress is not None:
        on_progress(summary)
    return summary


async def _cancel_on(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    await stop.wait()
    task.cancel()


def _count(summary: RunSummary, job: Job, record: Record) -> None:
    progress = summary.endpoints[job.endpoint]
    cell = job.test.cell
    counts = summary.by_cell.setdefault(
        (
            cell.model,
            cell.prompt_type,
            cell.difficulty,
            cell.task_type,
            f"{cell.tool_success_rate:.2f}",
        ),
        {"full_success": 0, "partial_success": 0, "failure": 0, "error": 0},
    )
    counts[record.status] += 1
    if record.status == "error":
        summary.errors += 1
        progress.errors += 1
        return
    summary.finished += 1
    progress.done += 1
    if record.status == "full_success":
        summary.full += 1
        progress.full += 1
    elif record.status == "partial_success":
        summary.partial += 1
    else:
        summary.failure += 1


async def _run_one(
    job: Job,
    client: ModelClient,
    limiter: EndpointLimiter,
    library: TaskLibrary,
    options: RunOptions,
    run_id: str,
    store_root: Path,
    summary: RunSummary,
) -> Record | None:
    cell = job.test.cell
    task = library.task_for(cell.task_type, cell.difficulty, job.test.instance)
    limited = LimitedClient(client, limiter, options)
    started = time.monotonic()
    try:
        async with asyncio.timeout(options.test_timeout_s):
            outcome = await run_test(
                limited,
                task,
                prompt_type=cell.prompt_type,
                test_id=job.test.test_id,
                tool_success_rate=cell.tool_success_rate,
                protocol=options.protocol,  # type: ignore[arg-type]
                max_turns=options.max_turns,
            )
    except TimeoutError:
        return _error_record(
            job,
            task.task_id,
            run_id,
            "test_timeout",
            f"test exceeded {options.test_timeout_s:g} s",
            started,
            limited.retries,
        )
    except (AuthenticationError, QuotaExhaustedError) as error:
        if job.deployment.provider not in summary.stopped:
            summary.stopped[job.deployment.provider] = error.message
            summary.stopped_exit_code = error.exit_code
        return None
    except RateLimitedError as error:
        return _error_record(
            job, task.task_id, run_id, "rate_limited", error.message, started, limited.retries
        )
    except ProviderError as error:  # retries exhausted, or a bad request: the API, not the model
        return _error_record(
            job, task.task_id, run_id, "api_error", error.message, started, limited.retries
        )
    except (
        Exception
    ) as error:  # a bug or an unexpected reply: recorded, never scored as the model's
        return _error_record(
            job,
            task.task_id,
            run_id,
            "crash",
            f"{type(error).__name__}: {error}",
            started,
            limited.retries,
        )
    transcript = _save_transcript(store_root, run_id, job, outcome) if options.save_logs else None
    return _record(job, outcome, run_id, time.monotonic() - started, limited.retries, transcript)


def _base(job: Job, run_id: str) -> dict[str, object]:
    cell = job.test.cell
    flaw = (
        cell.prompt_type.removeprefix("flawed_") if cell.prompt_type.startswith("flawed_") else None
    )
    return {
        "test_id": job.test.test_id,
        "attempt": job.attempt,
        "run_id": run_id,
        "recorded_at": datetime.now(UTC),
        "suite": cell.suite,
        "suite_version": cell.suite_version,
        "model": job.model.name,
        "deployment": job.deployment.name,
        "provider": job.deployment.provider,
        "prompt_type": cell.prompt_type,
        "flaw_type": flaw,
        "difficulty": cell.difficulty,
        "task_type": cell.task_type,
        "instance": job.test.instance,
        "tool_success_rate": round(cell.tool_success_rate, 2),
        **cell.settings.columns(),  # protocol and sampling settings: part of the test's identity
    }


def _record(
    job: Job,
    outcome: TestOutcome,
    run_id: str,
    seconds: float,
    retries: int,
    transcript: str | None,
) -> Record:
    execution, scores = outcome.execution, outcome.scores
    return Record(
        **_base(job, run_id),  # type: ignore[arg-type]
        task_id=outcome.task.task_id,
        status=scores.status,
        success=scores.status in ("full_success", "partial_success"),
        workflow_score=scores.workflow_score,
        phase2_score=scores.phase2_score,
        quality_score=scores.quality_score,
        final_score=scores.final_score,
        turns=execution.turns,
        tool_calls=len(execution.results),
        format_error_count=execution.format_errors,
        api_retries=retries,
        required_tools=outcome.task.required_tools,
        executed_tools=tuple(result.tool for result in execution.results),
        tool_coverage_rate=scores.tool_coverage_rate,
        error_category=outcome.error_category,
        execution_time=round(seconds, 6),
        prompt_tokens=execution.prompt_tokens,
        completion_tokens=execution.completion_tokens,
        transcript=transcript,
    )


def _error_record(
    job: Job, task_id: str, run_id: str, category: str, message: str, started: float, retries: int
) -> Record:
    return Record(
        **_base(job, run_id),  # type: ignore[arg-type]
        task_id=task_id,
        status="error",
        success=False,
        error_category=category,
        error_message=redact(message),
        execution_time=round(time.monotonic() - started, 6),
        api_retries=retries,
    )


def _save_transcript(store_root: Path, run_id: str, job: Job, outcome: TestOutcome) -> str:
    """Write the conversation under the store (tmp → rename); return its path in the store."""
    relative = Path("transcripts") / run_id / f"{job.test.test_id}-{job.attempt}.json"
    path = store_root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(
        json.dumps(outcome.execution.transcript, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    os.replace(temporary, path)
    return str(relative)
