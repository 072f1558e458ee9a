"""ultra-parallel on a Ray cluster: shards as async actors on many nodes, one driver that writes.

One host's sockets and cores cap what a plan can have in flight, and a night-long run dies with
its host. Ray already does what spreading a plan needs (async actors, streamed results, node
failure detection), so runbench uses it instead of growing its own:

* **Actors run tests, the driver keeps the truth.** Each actor runs the engine's per-test path
  (``attempt.run_job`` through a ``LimitedClient``) for batches of jobs and streams the finished
  records back in shipments, at most every ``SHIPMENT_INTERVAL_S``. The driver is the only
  claimer and the only writer: it claims jobs through the store, hands them out, appends what
  comes back and releases the claims after the append, exactly like the local engine's writer.
  So the store stays wherever the driver has it.
* **A lost actor costs only what it had in flight.** When an actor's stream fails (the actor or
  its node died), the jobs of its batches that did not come back go to the live actors; a test
  is stored once (the driver keeps the first record of a test and drops a late one), so the
  requests sent twice are at most those in flight on the lost actor. With no actor left, the run
  stops with what it has (exit 1 and the usual resume line); a dead driver takes its actors
  with it (they are owned by the driver), and its rerun resumes from the store.
* **Same tool search.** Actors get the driver's WorkflowBench tool index (its vectors, pickled
  with the setup) and embeddings model when the driver's run ranks by the index; each actor
  opens its own embeddings client with its node's key (``tool_search.py``).
* **Same code everywhere.** Before any test runs, the driver asks every node for its runbench
  and Python versions and names the node that differs: records and jobs cross the wire pickled.

Ray is an optional extra (``pip install 'runbench[ray]'``); it is imported only here, lazily.
Ray's ports have no authentication: run a cluster on a private network only (README).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import platform
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from itertools import islice
from typing import Any

from runbench.config import ModelConfig
from runbench.errors import (
    AuthenticationError,
    ConfigError,
    ProviderError,
    QuotaExhaustedError,
    StoreError,
    UsageError,
)
from runbench.records import Record
from runbench.runners.attempt import run_job
from runbench.runners.claiming import Claims
from runbench.runners.classifying import ModelClassifier
from runbench.runners.engine import expire_on
from runbench.runners.jobs import Job, PlannedJobs, RunOptions
from runbench.runners.limited_client import LimitedClient
from runbench.runners.limiter import EndpointLimiter
from runbench.runners.summary import EndpointProgress, RunSummary
from runbench.runners.tool_search import NO_INDEX, SearchSetup, embedder_of, index_ranker
from runbench.storage import Store
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.tasks import TaskLibrary
from runbench.workload.tools import ToolRegistry
from runbench.workload.wb_feedback import ToolRanker

SHIPMENT_INTERVAL_S = 0.05  # an actor ships what finished at least this often (≤ 100 ms)
BATCHES_PER_ACTOR = 2  # batches out per actor at once, so its workers never wait for the next
CONNECT_TIMEOUT_S = 5.0
MAX_DELAY_SAMPLES = 100_000  # records whose shipment delay a run keeps (for --json)
VERSION_CHECK_TIMEOUT_S = 60.0
RAY_HINT = "pip install 'runbench[ray]'"
# Ray rewrites 127.0.0.1 to the host's outward address; another loopback address stays loopback
LOCAL_NODE_IP = "127.0.0.2"
log = logging.getLogger("runbench.runners")
EventCallback = Callable[[str], None]


def import_ray() -> Any:
    """Ray, or one line naming the extra that brings it.

    Raises:
        UsageError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray, an optional extra", hint=RAY_HINT) from None
    return ray


# -- the cluster ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeVersions:
    """What one node runs: the versions that must equal the driver's."""

    node: str
    runbench: str
    python: str

    def same_as(self, other: NodeVersions) -> bool:
        return (self.runbench, self.python) == (other.runbench, other.python)


def local_versions(node: str = "driver") -> NodeVersions:
    return NodeVersions(node, version("runbench"), platform.python_version())


def differing_node(driver: NodeVersions, nodes: Iterable[NodeVersions]) -> str | None:
    """The one-line complaint about the first node whose versions differ, if any."""
    for node in nodes:
        if not node.same_as(driver):
            return (
                f"Ray node {node.node} runs runbench {node.runbench} on Python {node.python}; "
                f"the driver runs runbench {driver.runbench} on Python {driver.python}"
            )
    return None


def connect(address: str) -> Any:
    """Join the cluster at ``address`` (``host:port``, ``auto``) or start one here (``local``).

    Raises:
        UsageError: Ray is missing, or no cluster answers at the address.
    """
    ray = import_ray()
    _check_reachable(address)
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    host = address.rpartition(":")[0]
    if address == "local":
        # a cluster of this machine listens on loopback only: Ray's ports have no authentication
        options["_node_ip_address"] = LOCAL_NODE_IP
    elif _is_loopback(host):
        # nodes on this machine: join them where they listen (Ray would otherwise replace a
        # loopback address with the host's outward one)
        options["_node_ip_address"] = host
    try:
        if address == "local":
            ray.init(**options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UsageError(
            f"cannot join the Ray cluster at {address}: {str(error).splitlines()[0]}",
            hint="start it with 'ray start --head' or pass --ray local",
        ) from None
    return ray


def leave_cluster() -> None:
    """Disconnect from the cluster (a local one started by ``connect`` stops with it)."""
    import ray

    ray.shutdown()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _check_reachable(address: str) -> None:
    """A quick TCP check of ``host:port``, so a wrong address is one line, not a long wait."""
    if address in ("local", "auto") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(
            f"--ray takes host:port, auto or local, not '{address}'",
            hint="e.g. --ray 10.0.0.5:6379",
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise UsageError(
            f"no Ray cluster answers at {address}: {error.strerror or error}",
            hint="start it with 'ray start --head' or pass --ray local",
        ) from None


async def check_versions(ray: Any) -> list[dict[str, Any]]:
    """Every live node, after checking that it runs the driver's runbench and Python.

    Raises:
        UsageError: a node runs other versions (named), or a node does not answer in time.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(local_versions)
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    refs = [
        probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(f"{node['NodeManagerAddress']} ({node['NodeID'][:8]})")
        for node in nodes
    ]
    try:
        async with asyncio.timeout(VERSION_CHECK_TIMEOUT_S):
            reports = await asyncio.gather(*refs)
    except TimeoutError:
        raise UsageError(
            f"a Ray node did not answer within {VERSION_CHECK_TIMEOUT_S:.0f} s"
        ) from None
    problem = differing_node(local_versions(), reports)
    if problem:
        raise UsageError(problem, hint="install the same runbench and Python on every node")
    return nodes


# -- the actor side ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActorSetup:
    """What every actor needs, sent once when it starts (the jobs come in batches later)."""

    library: TaskLibrary
    options: RunOptions
    run_id: str
    tools: ToolRegistry | None = None
    similarity: ToolSimilarity | None = None
    classifier: ModelConfig | None = None
    # the driver's tool search when it ranks by an index (else keyword): each actor opens it
    search: SearchSetup = NO_INDEX


@dataclass(slots=True)
class Shipment:
    """What an actor sends back at once: records, providers it had to stop, its gauges."""

    records: list[Record] = field(default_factory=list)
    stopped: list[tuple[str, str, int]] = field(default_factory=list)
    gauges: dict[str, EndpointProgress] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _FailingRanker:
    """A search that cannot embed its queries on this node: the test is an error row."""

    reason: str

    async def search(self, query: str, k: int) -> list[tuple[str, float]]:
        raise ProviderError(f"tool search embeddings on this node: {self.reason}")


@dataclass(frozen=True, slots=True)
class _ActorLane:
    """One endpoint inside an actor: its client, limiter, gauges and worker slots."""

    client: Any
    limiter: EndpointLimiter
    progress: EndpointProgress
    slots: asyncio.Semaphore


class ShardActor:
    """Runs batches of jobs with the engine's per-test path; one instance per Ray actor.

    Its clients and limiters live as long as the actor, one per endpoint, with this actor's
    share of the endpoint's budget (``RunOptions.share``), like an ultra-parallel shard.
    """

    def __init__(self, setup: ActorSetup) -> None:
        from runbench.clients.factory import make_client

        self._setup = setup
        self._make_client = make_client
        self._lanes: dict[str, _ActorLane] = {}
        self._classifier: ModelClassifier | None = None
        self._ranker: ToolRanker | None = None

    def node(self) -> str:
        """Where this actor runs: the node's address and the start of its id."""
        import ray

        context = ray.get_runtime_context()
        return f"{ray.util.get_node_ip_address()} ({context.get_node_id()[:8]})"

    async def run(self, jobs: list[Job]) -> AsyncIterator[Shipment]:
        """Run ``jobs``; yield what finished every ``SHIPMENT_INTERVAL_S`` until all are done."""
        pending = {asyncio.create_task(self._one(job)) for job in jobs}
        try:
            while pending:
                done, pending = await asyncio.wait(pending, timeout=SHIPMENT_INTERVAL_S)
                if done:
                    yield self._shipment(done)
        finally:
            for task in pending:
                task.cancel()
        yield self._shipment(set())  # the last one carries the final gauges

    def _shipment(self, done: set[asyncio.Task[Record | tuple[str, str, int]]]) -> Shipment:
        shipment = Shipment(gauges=self._gauges())
        for task in done:
            outcome = task.result()
            if isinstance(outcome, Record):
                shipment.records.append(outcome)
            else:
                shipment.stopped.append(outcome)
        return shipment

    async def _one(self, job: Job) -> Record | tuple[str, str, int]:
        """The job's record, or (provider, reason, exit code) when its provider must stop."""
        lane = self._lane(job)
        options = self._setup.options
        async with lane.slots:
            try:
                return await run_job(
                    job,
                    LimitedClient(lane.client, lane.limiter, lane.progress, options),
                    self._setup.library,
                    options,
                    run_id=self._setup.run_id,
                    store=None,  # type: ignore[arg-type]  # transcripts are refused with --ray
                    tools=self._setup.tools,
                    similarity=self._setup.similarity,
                    ranker=self._search(),
                    classifier=self._classifier_client(),
                )
            except (AuthenticationError, QuotaExhaustedError) as error:
                return (job.deployment.provider, error.message, error.exit_code)

    def _search(self) -> ToolRanker | None:
        """The index's ranker, its embeddings client opened on this node with this node's key.

        The driver proved the endpoint before any test (``tool_search.open_search``); a node
        without the key makes each test an error row that says so, as its model clients would.
        """
        search = self._setup.search
        if self._ranker is None and search.index is not None and search.embeddings is not None:
            try:
                embedder = embedder_of(search.embeddings)
            except ConfigError as error:
                return _FailingRanker(error.message)
            self._ranker = index_ranker(search, embedder, self._setup.options.retry)
        return self._ranker

    def _lane(self, job: Job) -> _ActorLane:
        lane = self._lanes.get(job.endpoint)
        if lane is None:
            options = self._setup.options
            lane = _ActorLane(
                self._make_client(job.model, job.deployment, protocol=options.protocol),
                EndpointLimiter(
                    job.endpoint,
                    job.deployment.limits,
                    workers=max(1, options.max_workers),
                    adaptive=options.adaptive,
                    requests_per_second=options.requests_per_second,
                    share=options.share,
                ),
                EndpointProgress(job.endpoint),
                asyncio.Semaphore(max(1, options.max_workers)),
            )
            self._lanes[job.endpoint] = lane
        return lane

    def _classifier_client(self) -> ModelClassifier | None:
        model, options = self._setup.classifier, self._setup.options
        if model is not None and self._classifier is None:
            client = self._make_client(model, model.deployments[0], protocol=options.protocol)
            self._classifier = ModelClassifier(model, client, options)
        return self._classifier

    def _gauges(self) -> dict[str, EndpointProgress]:
        gauges = {}
        for endpoint, lane in self._lanes.items():
            lane.limiter.gauge_onto(lane.progress)
            gauges[endpoint] = lane.progress
        return gauges


# -- the driver side -----------------------------------------------------------------------


@dataclass(slots=True)
class _Actor:
    label: str
    node: str
    handle: Any
    alive: bool = True
    gauges: dict[str, EndpointProgress] = field(default_factory=dict)


class _Dispatch:
    """The driver's one view of the work: jobs not yet handed out, and those out with actors.

    Jobs are claimed through the store a batch at a time, only when an actor asks for work, so
    the run holds little more than what is in flight; jobs an actor lost come back first.
    ``handed`` keeps every job handed out until its record is stored, so the writer knows the
    job of any record that arrives, also a late one.
    """

    def __init__(self, jobs: PlannedJobs, claims: Claims, summary: RunSummary) -> None:
        self._fresh: Iterator[Job] = iter(jobs)
        # lanes generated as they go count their jobs into the plan as they are reached
        self._unsized = {lane.endpoint for lane in jobs.lanes if lane.size is None}
        self._returned: deque[Job] = deque()
        self._claims = claims
        self._summary = summary
        self._out: set[str] = set()
        self.handed: dict[str, Job] = {}
        self._changed = asyncio.Condition()
        self._exhausted = False

    async def take(self, size: int) -> list[Job]:
        """Up to ``size`` jobs to hand out; [] once nothing is left and nothing is out."""
        async with self._changed:
            while True:
                if self._returned:
                    count = min(size, len(self._returned))
                    jobs = [self._returned.popleft() for _ in range(count)]
                    return self._hand_out(jobs)
                if not self._exhausted:
                    chunk = list(islice(self._fresh, size))
                    if not chunk:
                        self._exhausted = True
                        continue
                    self._summary.reached(job for job in chunk if job.endpoint in self._unsized)
                    granted = await self._claims.claim(chunk)
                    for job in granted.refused:
                        self._summary.claimed_by_another(job)
                    if granted.jobs:
                        return self._hand_out(granted.jobs)
                    continue
                if not self._out:
                    return []
                await self._changed.wait()  # an actor may yet give work back

    def _hand_out(self, jobs: list[Job]) -> list[Job]:
        live = [
            job
            for job in jobs
            if job.deployment.provider not in self._summary.stopped
            and not self._claims.is_lost(job.test.test_id)  # another run took it over
        ]
        for job in live:
            self._out.add(job.test.test_id)
            self.handed[job.test.test_id] = job
        return live

    async def came_back(self, test_ids: Iterable[str]) -> None:
        async with self._changed:
            self._out.difference_update(test_ids)
            self._changed.notify_all()

    async def give_back(self, jobs: Iterable[Job]) -> int:
        """Jobs a lost actor did not finish go out again, first; returns how many."""
        async with self._changed:
            lost = [job for job in jobs if job.test.test_id in self._out]
            self._out.difference_update(job.test.test_id for job in lost)
            self._returned.extend(lost)
            self._changed.notify_all()
            return len(lost)

    async def close(self) -> None:
        """No actor is left: nothing more will go out or come back; wake every feeder."""
        async with self._changed:
            self._out.clear()
            self._returned.clear()
            self._exhausted = True
            self._changed.notify_all()


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """A run's cluster: the address it joined, how many actors to start, where to report."""

    address: str
    actors: int | None = None
    on_event: EventCallback | None = None


async def run_on_ray(
    jobs: PlannedJobs,
    *,
    cluster: ClusterRun,
    store: Store,
    library: TaskLibrary,
    options: RunOptions,
    run_id: str,
    on_progress: Callable[[RunSummary], None] | None = None,
    stop: asyncio.Event | None = None,
    tools: ToolRegistry | None = None,
    similarity: ToolSimilarity | None = None,
    classifier: ModelConfig | None = None,
    search: SearchSetup = NO_INDEX,
) -> RunSummary:
    """Run ``jobs`` on the cluster's actors; store each test's first record; return the summary.

    The counterpart of ``engine.run_jobs`` with actors in place of lanes: the same claims,
    the same one writer releasing after the append, the same one deadline (run limit and stop
    event). Raises what the store raises; a lost actor is an event, not an error.
    """
    ray = import_ray()
    event = cluster.on_event or (lambda text: log.info("%s", text))
    summary = RunSummary.for_plan(run_id, jobs)
    nodes = await check_versions(ray)
    count = cluster.actors or max(2, len(nodes))
    per_actor = _actor_options(options, count)
    setup = ActorSetup(library, per_actor, run_id, tools, similarity, classifier, search)
    actors = await _start_actors(ray, setup, nodes, count)
    summary.nodes = sorted({actor.node for actor in actors})
    summary.workers = {actor.label: {} for actor in actors}
    event(f"{count} actors on {len(summary.nodes)} node(s): {', '.join(summary.nodes)}")
    claims = Claims(store, run_id, options.lease_s)
    dispatch = _Dispatch(jobs, claims, summary)
    finished: asyncio.Queue[tuple[_Actor, Shipment] | None] = asyncio.Queue(maxsize=count * 4)
    batch = setup.options.max_workers
    try:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(_write(finished, claims, dispatch, summary))
            reporter = group.create_task(_report(summary, actors, on_progress))
            renewer = group.create_task(claims.keep_alive())
            try:
                await _drive(actors, dispatch, finished, summary, options, stop, batch, event)
            finally:
                reporter.cancel()
                renewer.cancel()
                if not writer.done():
                    await finished.put(None)
                    await writer
    finally:
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor.handle)
        with contextlib.suppress(StoreError):
            await claims.release_all()
        _gauge(summary, actors)
        summary.close()
        summary.final = True
        if on_progress is not None:
            on_progress(summary)
    return summary


async def _start_actors(
    ray: Any, setup: ActorSetup, nodes: list[dict[str, Any]], count: int
) -> list[_Actor]:
    """``count`` actors placed round-robin over the live nodes; those that fail to start are left.

    Placement is strict (Ray's soft node affinity was seen to pile actors on one node); an
    actor whose node vanished meanwhile does not start, and the run goes on with the others.

    Raises:
        UsageError: no actor could start.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=1000)(ShardActor)
    handles = [
        remote.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(
                nodes[index % len(nodes)]["NodeID"], soft=False
            )
        ).remote(setup)
        for index in range(count)
    ]
    try:
        async with asyncio.timeout(VERSION_CHECK_TIMEOUT_S):
            where = await asyncio.gather(
                *(handle.node.remote() for handle in handles), return_exceptions=True
            )
    except TimeoutError:
        where = [TimeoutError()] * len(handles)
    actors = [
        _Actor(f"actor {index} @ {node}", node, handle)
        for index, (handle, node) in enumerate(zip(handles, where, strict=True))
        if isinstance(node, str)
    ]
    if not actors:
        raise UsageError(f"no Ray actor could start: {where[0]!r}")
    return actors


def _actor_options(options: RunOptions, count: int) -> RunOptions:
    """Each actor's part of every endpoint's budget: workers and rate split like shards."""
    per_second = options.requests_per_second
    return dataclasses.replace(
        options,
        max_workers=max(1, options.max_workers // count),
        requests_per_second=per_second / count if per_second else None,
        share=options.share / count,
        max_runtime_s=None,  # the driver holds the one deadline
        save_logs=False,
    )


async def _drive(
    actors: list[_Actor],
    dispatch: _Dispatch,
    finished: asyncio.Queue[tuple[_Actor, Shipment] | None],
    summary: RunSummary,
    options: RunOptions,
    stop: asyncio.Event | None,
    batch: int,
    event: EventCallback,
) -> None:
    """Feed every actor until the work is done, the deadline passes or no actor is left."""
    try:
        async with asyncio.timeout(options.max_runtime_s) as deadline:
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(expire_on(stop, deadline)) if stop else None
                async with asyncio.TaskGroup() as feeders:
                    for actor in actors:
                        for _ in range(BATCHES_PER_ACTOR):
                            feeders.create_task(
                                _feed(actor, actors, summary, dispatch, finished, batch, event)
                            )
                if watcher is not None:
                    watcher.cancel()
    except TimeoutError:
        if stop is not None and stop.is_set():
            summary.interrupted = True
        else:
            summary.timed_out = True


async def _feed(
    actor: _Actor,
    actors: list[_Actor],
    summary: RunSummary,
    dispatch: _Dispatch,
    finished: asyncio.Queue[tuple[_Actor, Shipment] | None],
    batch: int,
    event: EventCallback,
) -> None:
    """One stream of batches to one actor; on its loss, its unfinished jobs go back."""
    import ray

    while actor.alive:
        jobs = await dispatch.take(batch)
        if not jobs:
            return
        rows = summary.workers.setdefault(actor.label, {})
        for job in jobs:
            rows.setdefault(job.endpoint, EndpointProgress(job.endpoint)).total += 1
        back: set[str] = set()
        try:
            stream = actor.handle.run.options(num_returns="streaming").remote(jobs)
            async for ref in stream:
                shipment: Shipment = await ref
                ids = [record.test_id for record in shipment.records]
                back.update(ids)
                await finished.put((actor, shipment))
                await dispatch.came_back(ids)
        except ray.exceptions.RayError as error:
            if actor.alive:
                actor.alive = False
                event(f"{actor.label} lost ({type(error).__name__})")
                lost = f"{actor.label} (lost)"
                summary.workers[lost] = summary.workers.pop(actor.label, {})
                actor.label = lost
            returned = await dispatch.give_back(job for job in jobs if job.test.test_id not in back)
            if returned:
                event(f"{returned} unfinished test(s) of {actor.label} go to live actors")
            if not any(other.alive for other in actors):
                event("no actor is left; stopping")
                await dispatch.close()
            return


async def _write(
    finished: asyncio.Queue[tuple[_Actor, Shipment] | None],
    claims: Claims,
    dispatch: _Dispatch,
    summary: RunSummary,
) -> None:
    """Append each test's first record, then release its claim; count it for its actor."""
    stored: set[str] = set()
    while True:
        batch = [await finished.get()]
        while not finished.empty():
            batch.append(finished.get_nowait())
        records: list[tuple[_Actor, Job, Record]] = []
        for item in batch:
            if item is None:
                continue
            actor, shipment = item
            actor.gauges = shipment.gauges
            for provider, message, code in shipment.stopped:
                summary.stop_provider(provider, message, code)
            for record in shipment.records:
                job = dispatch.handed.get(record.test_id)
                if record.test_id in stored or job is None:
                    summary.late_copies += 1  # a test already stored: its first record counts
                    continue
                stored.add(record.test_id)
                records.append((actor, job, record))
        if records:
            # stored only while this run still holds each claim, released in the same step
            refused = await claims.append([record for _, _, record in records])
            lost = {id(record) for record in refused}
            stored_at = datetime.now(UTC)
            if len(summary.shipment_delays) < MAX_DELAY_SAMPLES:
                summary.shipment_delays += [
                    (stored_at - record.recorded_at).total_seconds() for _, _, record in records
                ]
            for actor, job, record in records:
                dispatch.handed.pop(record.test_id, None)
                if id(record) in lost:
                    summary.claimed_by_another(job)
                    continue
                summary.count(job, record)
                _count_for(summary, actor, job, record)
        if None in batch:
            return


def _count_for(summary: RunSummary, actor: _Actor, job: Job, record: Record) -> None:
    rows = summary.workers.setdefault(actor.label, {})
    row = rows.setdefault(job.endpoint, EndpointProgress(job.endpoint))
    if record.status == "error":
        row.errors += 1
    else:
        row.done += 1
        row.full += record.status == "full_success"


async def _report(
    summary: RunSummary, actors: list[_Actor], on_progress: Callable[[RunSummary], None] | None
) -> None:
    from runbench.runners.engine import PROGRESS_INTERVAL_S

    while on_progress is not None:
        _gauge(summary, actors)
        on_progress(summary)
        await asyncio.sleep(PROGRESS_INTERVAL_S)


def _gauge(summary: RunSummary, actors: list[_Actor]) -> None:
    """Each endpoint's gauges summed over the live actors; 429s and retries over all of them."""
    for progress in summary.endpoints.values():
        progress.in_flight = progress.limit = progress.maximum = 0
        progress.rate_limited = progress.retries = progress.attempts = 0
    for actor in actors:
        rows = summary.workers.setdefault(actor.label, {})
        for endpoint, gauge in actor.gauges.items():
            total = summary.endpoints.get(endpoint)
            if total is not None:
                total.rate_limited += gauge.rate_limited
                total.retries += gauge.retries
                total.attempts += gauge.attempts
                if actor.alive:
                    total.in_flight += gauge.in_flight
                    total.limit += gauge.limit
                    total.maximum += gauge.maximum
            row = rows.setdefault(endpoint, EndpointProgress(endpoint))
            row.in_flight = gauge.in_flight if actor.alive else 0
            row.limit = gauge.limit if actor.alive else 0
            row.rate_limited, row.retries = gauge.rate_limited, gauge.retries
