"""The engine every runner drives: jobs in, records in the store out, each endpoint on its own.

One task group, bounded queues. Jobs come per endpoint (provider × deployment) as *lanes*
(``PlannedJobs``: generators, so a plan of any size starts at once and memory stays bounded).
Each lane has its own bounded queue, its own producer and its own ``max_workers`` workers, and its
own limiter, so every endpoint keeps up to its own limit in flight whatever the others do: a
slow, throttled or paused endpoint never holds back another. Tasks are per lane and per worker,
never per planned test, so memory stays bounded. One writer appends each finished test's record
at once (batching whatever finished meanwhile into one durable append).

Claims (``runners/claiming.py``). Concurrent runs of overlapping plans must never run one test
twice, so each lane's producer claims its jobs through the store in batches before queueing
them, with the run id as owner: a job refused (another live run holds it, or it was done
meanwhile) is skipped and counted as ``claimed_elsewhere``, a part of ``not_run``; a granted job
is recorded with the attempt the claim issued. One task renews the lease while the run lasts
and learns which tests another run took over: those are cancelled, queued or in flight. The
writer stores records through the claims (``Claims.append``): only what the run still holds is
appended, and released in the same step (fencing). The run releases whatever it still holds
when it ends, however it ends.

Cancellation has one path: the lanes run inside ``asyncio.timeout``. Its deadline is the run
limit (``max_runtime_s``), and a ``stop`` event (SIGINT/SIGTERM) moves the deadline to now. Either
way the lanes are cancelled, and the writer then drains every record already produced, so an
interrupt loses no finished test.

Types live beside the engine and are re-exported here: ``Job`` and ``RunOptions``
(``runners/jobs.py``), ``RunSummary`` and ``EndpointProgress`` (``runners/summary.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from runbench.chat import ModelClient
from runbench.errors import (
    AuthenticationError,
    QuotaExhaustedError,
    StoreError,
    StoreNotAnswering,
)
from runbench.records import Record
from runbench.runners.attempt import run_job
from runbench.runners.claiming import Claims, claim_batch_size
from runbench.runners.classifying import ModelClassifier
from runbench.runners.jobs import EndpointPlan, Job, PlannedJobs, RunOptions
from runbench.runners.limited_client import LimitedClient
from runbench.runners.limiter import EndpointLimiter
from runbench.runners.summary import EndpointProgress, RunSummary
from runbench.storage import Store
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.tasks import TaskLibrary
from runbench.workload.tools import ToolRegistry
from runbench.workload.wb_feedback import ToolRanker

__all__ = ["EndpointProgress", "Job", "RunOptions", "RunSummary", "run_jobs"]

QUEUE_SLOTS_PER_WORKER = 2
PROGRESS_INTERVAL_S = 1.0
STOP_GRACE_S = 5.0  # a stopped run's store requests wait this long at most (Store.hurry)
ProgressCallback = Callable[[RunSummary], None]
log = logging.getLogger("runbench.runners")


@dataclass(frozen=True, slots=True)
class _Lane:
    """One endpoint's share of the run: its jobs, client, limiter and progress."""

    plan: EndpointPlan
    client: ModelClient
    limiter: EndpointLimiter
    progress: EndpointProgress


@dataclass(frozen=True, slots=True)
class _Run:
    """What every worker needs, passed down instead of held in module state."""

    store: Store
    library: TaskLibrary
    options: RunOptions
    run_id: str
    summary: RunSummary
    finished: asyncio.Queue[tuple[Job, Record] | None]
    claims: Claims
    tools: ToolRegistry | None = None
    similarity: ToolSimilarity | None = None
    classifier: ModelClassifier | None = None
    ranker: ToolRanker | None = None


async def run_jobs(
    jobs: PlannedJobs | list[Job],
    *,
    store: Store,
    clients: dict[str, ModelClient],
    library: TaskLibrary,
    options: RunOptions,
    run_id: str,
    on_progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    tools: ToolRegistry | None = None,
    similarity: ToolSimilarity | None = None,
    classifier: ModelClassifier | None = None,
    lease_s: float | None = None,
    ranker: ToolRanker | None = None,
) -> RunSummary:
    """Run every job this run can claim; return what happened. Cancels cleanly on ``stop``.

    Each job is claimed through ``store`` (owner ``run_id``, a lease of ``lease_s`` seconds,
    default ``options.lease_s``)
    before it runs and recorded with the attempt the claim issued; jobs another live run holds,
    or that were done meanwhile, are counted in ``summary.claimed_elsewhere`` (part of
    ``not_run``) and not run.

    ``tools`` is the run's tool registry (default: the built-in one) and ``similarity`` its
    tool matcher and ``ranker`` its tool search (None: WorkflowBench's keyword fallback), both
    opened once per run (``RunContext.open_search``); ``classifier``
    names the error category of non-full tests when the run has one (``classifying.py``).

    ``on_progress`` is called about once a second and always once more at the end, with
    ``summary.final`` set, whether the run finished, timed out or was interrupted.
    """
    planned = jobs if isinstance(jobs, PlannedJobs) else PlannedJobs.of(jobs)
    summary = RunSummary.for_plan(run_id, planned)
    lanes = _lanes(planned, clients, options, summary)
    workers = sum(_workers(lane.plan, options) for lane in lanes)
    run = _Run(
        store,
        library,
        options,
        run_id,
        summary,
        asyncio.Queue(maxsize=max(1, workers) * QUEUE_SLOTS_PER_WORKER),
        Claims(store, run_id, options.lease_s if lease_s is None else lease_s),
        tools,
        similarity,
        classifier,
        ranker,
    )
    try:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(_write(run.finished, run.claims, summary))
            reporter = group.create_task(_report(summary, lanes, on_progress))
            renewer = group.create_task(run.claims.keep_alive())
            try:
                await _schedule(lanes, run, stop)
            finally:
                reporter.cancel()
                renewer.cancel()
                if not writer.done():  # a failed writer takes nothing more
                    await run.finished.put(None)
                    await writer
    finally:
        await _release_all(run.claims)
        _gauge(summary, lanes)
        summary.close()
        summary.final = True
        if on_progress is not None:
            on_progress(summary)
    return summary


def _lanes(
    planned: PlannedJobs, clients: dict[str, ModelClient], options: RunOptions, summary: RunSummary
) -> list[_Lane]:
    return [
        _Lane(
            plan,
            clients[plan.endpoint],
            EndpointLimiter(
                plan.endpoint,
                plan.deployment.limits,
                workers=_workers(plan, options),
                adaptive=options.adaptive,
                requests_per_second=options.requests_per_second,
                share=options.share,
            ),
            summary.endpoints[plan.endpoint],
        )
        for plan in planned.lanes
    ]


def _workers(plan: EndpointPlan, options: RunOptions) -> int:
    size = plan.size
    return max(1, min(options.max_workers, options.max_workers if size is None else size))


async def _schedule(lanes: list[_Lane], run: _Run, stop: asyncio.Event | None) -> None:
    """Run every lane at once under the one deadline; record why it ended early, if it did."""
    try:
        async with asyncio.timeout(run.options.max_runtime_s) as deadline:
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(expire_on(stop, deadline)) if stop else None
                async with asyncio.TaskGroup() as lane_group:
                    for lane in lanes:
                        lane_group.create_task(_run_lane(lane, run))
                if watcher is not None:
                    watcher.cancel()
    except TimeoutError:
        if stop is not None and stop.is_set():
            run.summary.interrupted = True
        else:
            run.summary.timed_out = True
        # the drain, the release and the upload that follow wait on a hung store only briefly
        run.store.hurry(STOP_GRACE_S)


async def expire_on(stop: asyncio.Event, deadline: asyncio.Timeout) -> None:
    """Turn a stop request into the run's one cancellation path: its deadline, now."""
    await stop.wait()
    deadline.reschedule(asyncio.get_running_loop().time())


async def _run_lane(lane: _Lane, run: _Run) -> None:
    """One endpoint: a producer filling its bounded queue and its own pool of workers."""
    workers = _workers(lane.plan, run.options)
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=workers * QUEUE_SLOTS_PER_WORKER)
    async with asyncio.TaskGroup() as group:
        group.create_task(_produce(lane, queue, workers, run))
        for _ in range(workers):
            group.create_task(_work(lane, queue, run))


async def _produce(lane: _Lane, queue: asyncio.Queue[Job | None], workers: int, run: _Run) -> None:
    """Generate, claim and queue the lane's jobs a batch at a time, as the queue drains.

    A batch is generated and claimed only when the previous one is queued, so a run holds
    little more than what it is about to start, and a plan of any size starts at once.
    Generating runs in a thread: a stretch of done tests is skipped without stalling the loop.
    Once the lane's provider is stopped nothing more is claimed.
    """
    size = claim_batch_size(workers, QUEUE_SLOTS_PER_WORKER)
    provider = lane.plan.deployment.provider
    jobs = lane.plan.jobs()
    while provider not in run.summary.stopped:  # once stopped, the rest is not run
        batch = await asyncio.to_thread(_take, jobs, size)
        if not batch:
            break
        if lane.plan.size is None:
            run.summary.reached(batch)
        granted = await run.claims.claim(batch)
        for job in granted.refused:
            run.summary.claimed_by_another(job)
        for job in granted.jobs:
            await queue.put(job)
    for _ in range(workers):
        await queue.put(None)


def _take(jobs: Iterator[Job], size: int) -> list[Job]:
    return list(itertools.islice(jobs, size))


async def _work(lane: _Lane, queue: asyncio.Queue[Job | None], run: _Run) -> None:
    while (job := await queue.get()) is not None:
        if job.deployment.provider in run.summary.stopped:
            continue  # counted as not run
        if run.claims.is_lost(job.test.test_id):
            run.summary.claimed_by_another(job)  # another run took it over: never started
            continue
        client = LimitedClient(lane.client, lane.limiter, lane.progress, run.options)
        try:
            async with run.claims.fenced(job.test.test_id):
                record = await run_job(
                    job,
                    client,
                    run.library,
                    run.options,
                    run_id=run.run_id,
                    store=run.store,
                    tools=run.tools,
                    similarity=run.similarity,
                    ranker=run.ranker,
                    classifier=run.classifier,
                )
        except (AuthenticationError, QuotaExhaustedError) as error:
            run.summary.stop_provider(job.deployment.provider, error.message, error.exit_code)
            continue
        except TimeoutError:
            if not run.claims.is_lost(job.test.test_id):
                raise
            run.summary.claimed_by_another(job)  # cancelled in flight: another run holds it
            continue
        await run.finished.put((job, record))


async def _write(
    finished: asyncio.Queue[tuple[Job, Record] | None], claims: Claims, summary: RunSummary
) -> None:
    """Store finished tests as they come, each batch durable before the next is taken.

    ``claims.append`` stores only the records whose claims the run still holds and releases
    them in the same step (released before the append, a test not yet stored could be granted
    to another run and run twice). A test is counted once its record is stored; one refused
    (its claim was lost) counts as run elsewhere.
    """
    while True:
        batch = [await finished.get()]
        while not finished.empty():
            batch.append(finished.get_nowait())
        done = [item for item in batch if item is not None]
        if done:
            refused = await claims.append([record for _, record in done])
            lost = {id(record) for record in refused}
            for job, record in done:
                if id(record) in lost:
                    summary.claimed_by_another(job)
                else:
                    summary.count(job, record)
        if None in batch:
            return


async def _report(
    summary: RunSummary, lanes: list[_Lane], on_progress: ProgressCallback | None
) -> None:
    while on_progress is not None:
        _gauge(summary, lanes)
        on_progress(summary)
        await asyncio.sleep(PROGRESS_INTERVAL_S)


async def _release_all(claims: Claims) -> None:
    """Free what the run still holds; a store that refuses is left to the lease's expiry.

    The lease names this process, so it dies with it anyway: failing here must not hide the
    error that ended the run.
    """
    try:
        await claims.release_all()
    except StoreNotAnswering as error:  # the run's end reports it once (manifest, close)
        log.debug("could not release the claims of run %s: %s", claims.owner, error)
    except StoreError as error:
        log.warning("could not release the claims of run %s: %s", claims.owner, error)


def _gauge(summary: RunSummary, lanes: list[_Lane]) -> None:
    """Copy each limiter's gauges onto its endpoint's progress, where readers look."""
    for lane in lanes:
        lane.limiter.gauge_onto(lane.progress)
