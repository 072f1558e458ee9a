"""A run's claims on its tests: a test runs once, whoever runs it (issue 10, requirement 1).

Several processes may run overlapping plans at once: two ``smart-batch`` of one plan, a second
``ultra-parallel`` beside shards still alive, a shard beside a plain run. Planning alone cannot
keep them apart (each plans from the same store), so the engine asks the store before it runs a
test: ``store.claim`` grants a test only when it is not done and no other live run holds it, and
hands out the attempt to record, unique per test. The lease lives in the store's claims folder
with this process's pid, so a holder killed with ``kill -9`` frees its tests at once on this
host, and one that hangs frees them when its lease runs out.

The run id is the owner. The engine claims each lane's jobs in batches (each claim scans the
store once), renews the lease from one task while the run lasts, releases each test after its
record was appended (never before: a released test that is not yet stored could be granted
again), and releases whatever it still holds when it ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from runbench.runners.jobs import Job
from runbench.storage import Store

log = logging.getLogger("runbench.runners")

# Long enough that a busy 2-core machine never lets a live run's lease lapse between renewals,
# short enough that a hung holder on another host frees its tests within a minute.
LEASE_S = 30.0
RENEW_EVERY = 1 / 3  # of the lease: two renewals may be late before the lease lapses
MIN_CLAIM_BATCH = 16


@dataclass(frozen=True, slots=True)
class Granted:
    """One claim call's answer: the jobs to run (attempts as issued) and those refused."""

    jobs: list[Job]
    refused: list[Job]


@dataclass(frozen=True, slots=True)
class Claims:
    """The claims of one run (``owner``, its run id) on one store."""

    store: Store
    owner: str
    lease_s: float = LEASE_S

    async def claim(self, jobs: Sequence[Job]) -> Granted:
        """Claim ``jobs`` in one store call; granted jobs carry the attempt the claim issued.

        A refused job is held by another live run or was done meanwhile: not this run's to run.
        """
        if not jobs:
            return Granted([], [])
        ids = [job.test.test_id for job in jobs]
        granted = await asyncio.to_thread(self.store.claim, ids, self.owner, self.lease_s)
        mine: list[Job] = []
        refused: list[Job] = []
        for job in jobs:
            attempt = granted.get(job.test.test_id)
            if attempt is None:
                refused.append(job)
            else:
                mine.append(dataclasses.replace(job, attempt=attempt))
        return Granted(mine, refused)

    async def release(self, test_ids: Sequence[str]) -> None:
        """Free tests whose records were appended (call only after the append returned)."""
        if test_ids:
            await asyncio.to_thread(self.store.release, self.owner, list(test_ids))

    async def release_all(self) -> None:
        """Free everything still held: tests never started, cancelled, or of a stopped provider."""
        await asyncio.to_thread(self.store.release, self.owner, None)

    async def keep_alive(self) -> None:
        """Renew the lease every third of its length until cancelled (one task per run)."""
        while True:
            await asyncio.sleep(self.lease_s * RENEW_EVERY)
            held = await asyncio.to_thread(self.store.renew, self.owner)
            log.debug("renewed the claims of run %s: %d tests held", self.owner, len(held))


def claim_batch_size(workers: int, slots_per_worker: int) -> int:
    """How many of a lane's jobs to claim at once: enough to keep its queue full.

    Small batches spread an overlapping plan evenly over concurrent runs (a run holds only what
    it is about to start); each claim scans the store once, so not one test at a time either.
    """
    return max(MIN_CLAIM_BATCH, workers * slots_per_worker)
