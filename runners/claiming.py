"""A run's claims on its tests: a test runs once, whoever runs it (issue 10, requirement 1).

Several processes may run overlapping plans at once: two ``smart-batch`` of one plan, a second
``ultra-parallel`` beside shards still alive, a shard beside a plain run. Planning alone cannot
keep them apart (each plans from the same store), so the engine asks the store before it runs a
test: ``store.claim`` grants a test only when it is not done and no other live run holds it, and
hands out the attempt to record, unique per test. The lease lives in the store's claims folder
with this process's identity, so a holder killed with ``kill -9`` frees its tests at once on
this host, a paused one keeps them, and one on another host that stops renewing frees them a
lease after its heartbeat stopped (``storage/claims.py``).

The run id is the owner. The engine claims each lane's jobs in batches (a claim reads only the
rows stored since the last one), renews the lease from one task while the run lasts, and stores
each finished test through ``append``, which appends only what the run still holds and releases
it in the same step (fencing). A test lost to another run is cancelled, queued or in flight.
The run releases whatever it still holds when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from runbench.records import Record
from runbench.runners.jobs import LEASE_S, Job
from runbench.storage import Store

log = logging.getLogger("runbench.runners")

RENEW_EVERY = 1 / 3  # of the lease: two renewals may be late before the lease lapses
MIN_CLAIM_BATCH = 16


@dataclass(frozen=True, slots=True)
class Granted:
    """One claim call's answer: the jobs to run (attempts as issued) and those refused."""

    jobs: list[Job]
    refused: list[Job]


class Claims:
    """The claims of one run (``owner``, its run id) on one store, and the jobs they fence.

    Claims and renewals of one run are serialised (an ``asyncio.Lock``), so a renewal's answer
    is compared only with the tests granted before it: a test granted and not yet stored that
    the renewal no longer lists was taken over, and is *lost*. A lost test is never started if
    still queued (``is_lost``), and cancelled if in flight (``fenced``); should its record reach
    the writer anyway, ``append`` refuses it with the store's atomic check.
    """

    def __init__(self, store: Store, owner: str, lease_s: float = LEASE_S) -> None:
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self._serial = asyncio.Lock()
        self._outstanding: set[str] = set()  # granted, not yet appended
        self._lost: set[str] = set()
        self._running: dict[str, asyncio.Timeout] = {}

    async def claim(self, jobs: Sequence[Job]) -> Granted:
        """Claim ``jobs`` in one store call; granted jobs carry the attempt the claim issued.

        A refused job is held by another live run or was done meanwhile: not this run's to run.
        """
        if not jobs:
            return Granted([], [])
        ids = [job.test.test_id for job in jobs]
        async with self._serial:
            granted = await asyncio.to_thread(self.store.claim, ids, self.owner, self.lease_s)
            self._outstanding.update(granted)
        mine: list[Job] = []
        refused: list[Job] = []
        for job in jobs:
            attempt = granted.get(job.test.test_id)
            if attempt is None:
                refused.append(job)
            else:
                mine.append(dataclasses.replace(job, attempt=attempt))
        return Granted(mine, refused)

    async def append(self, records: Sequence[Record]) -> list[Record]:
        """Store the records whose claims this run still holds (released with the append).

        Returns the records refused because their claim was lost: not stored, not counted.
        """
        # no longer outstanding from here: a renewal while the append releases them must not
        # take their absence from the lease for a loss
        self._outstanding.difference_update(record.test_id for record in records)
        refused = await asyncio.to_thread(self.store.append_held, records, self.owner)
        if refused:
            log.warning(
                "run %s lost the claim on %d finished test(s) while it was silent; another run "
                "holds them, so their records were not stored",
                self.owner,
                len(refused),
            )
        return refused

    async def release_all(self) -> None:
        """Free everything still held: tests never started, cancelled, or of a stopped provider."""
        await asyncio.to_thread(self.store.release, self.owner, None)

    async def renew(self) -> None:
        """Beat the lease's heartbeat; cancel the tests another run took over meanwhile."""
        async with self._serial:
            held = await asyncio.to_thread(self.store.renew, self.owner)
            lost = self._outstanding - held
        if lost:
            self._lose(lost)
        log.debug("renewed the claims of run %s: %d tests held", self.owner, len(held))

    async def keep_alive(self) -> None:
        """Renew the lease every third of its length until cancelled (one task per run)."""
        while True:
            await asyncio.sleep(self.lease_s * RENEW_EVERY)
            await self.renew()

    def is_lost(self, test_id: str) -> bool:
        """Whether another run took this test over: do not start it."""
        return test_id in self._lost

    @contextlib.asynccontextmanager
    async def fenced(self, test_id: str) -> AsyncIterator[None]:
        """Run a job's body so that losing its claim cancels it (``TimeoutError`` on exit)."""
        async with asyncio.timeout(None) as fence:
            self._running[test_id] = fence
            try:
                if test_id in self._lost:
                    fence.reschedule(asyncio.get_running_loop().time())
                yield
            finally:
                del self._running[test_id]

    def _lose(self, test_ids: set[str]) -> None:
        log.warning(
            "run %s lost the claim on %d test(s) to another run; cancelling them",
            self.owner,
            len(test_ids),
        )
        self._lost.update(test_ids)
        self._outstanding.difference_update(test_ids)
        now = asyncio.get_running_loop().time()
        for test_id in test_ids:
            fence = self._running.get(test_id)
            if fence is not None:
                fence.reschedule(now)


def claim_batch_size(workers: int, slots_per_worker: int) -> int:
    """How many of a lane's jobs to claim at once: enough to keep its queue full.

    Small batches spread an overlapping plan evenly over concurrent runs (a run holds only what
    it is about to start); each claim scans the store once, so not one test at a time either.
    """
    return max(MIN_CLAIM_BATCH, workers * slots_per_worker)
