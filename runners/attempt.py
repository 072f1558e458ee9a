"""One job from start to record: the test under its wall-clock timeout, failures sorted.

A test whose API calls still fail after the retries is recorded with status ``error`` under
the category its last error names (``api_error``, ``rate_limited``, ``invalid_request``); a
test over its wall clock is cancelled and recorded as ``test_timeout``; anything unexpected is a
``crash``. None of these is the model's failure. Rejected credentials and an exhausted quota are
not recorded at all: they propagate, and the scheduler stops the provider.
"""

from __future__ import annotations

import asyncio
import time

from runbench.errors import AuthenticationError, ProviderError, QuotaExhaustedError
from runbench.records import Record
from runbench.runners.classifying import ModelClassifier, classified
from runbench.runners.jobs import Job, RunOptions
from runbench.runners.limited_client import LimitedClient
from runbench.runners.recording import error_record, result_record
from runbench.storage import Store
from runbench.workload.executor import TestOutcome, run_test
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.tasks import TaskLibrary
from runbench.workload.tools import ToolRegistry
from runbench.workload.wb_feedback import ToolRanker


async def run_job(
    job: Job,
    client: LimitedClient,
    library: TaskLibrary,
    options: RunOptions,
    *,
    run_id: str,
    store: Store,
    tools: ToolRegistry | None = None,
    similarity: ToolSimilarity | None = None,
    classifier: ModelClassifier | None = None,
    ranker: ToolRanker | None = None,
) -> Record:
    """Run one test and return its record.

    A partial or failed test's error category comes from ``classifier`` when the run has one
    (``classifying.py``), else from the rules; either way the record names which.

    Raises:
        AuthenticationError: the key was rejected; the provider must stop.
        QuotaExhaustedError: the quota is gone; the provider must stop.
    """
    cell = job.test.cell
    task = library.task_for(cell.task_type, cell.difficulty, job.test.instance)
    started = time.monotonic()

    def failed(category: str, message: str) -> Record:
        return error_record(
            job,
            task.task_id,
            run_id,
            category=category,
            message=message,
            started=started,
            retries=client.retries,
        )

    try:
        async with asyncio.timeout(options.test_timeout_s):
            outcome = await run_test(
                client,
                task,
                prompt_type=cell.prompt_type,
                test_id=job.test.test_id,
                tool_success_rate=cell.tool_success_rate,
                protocol="native" if options.protocol == "native" else "tags",
                max_turns=options.max_turns,
                tools=tools,
                similarity=similarity,
                ranker=ranker,
            )
    except TimeoutError:
        return failed("test_timeout", f"test exceeded {options.test_timeout_s:g} s")
    except (AuthenticationError, QuotaExhaustedError):
        raise
    except ProviderError as error:  # retries spent, or a bad request: the API, not the model
        return failed(error.record_category, error.message)
    except Exception as error:  # a bug or an unexpected reply: recorded, never scored
        return failed("crash", f"{type(error).__name__}: {error}")
    record = result_record(
        job,
        outcome,
        run_id,
        seconds=time.monotonic() - started,
        retries=client.retries,
        transcript=_transcript(store, run_id, job, outcome) if options.save_logs else None,
    )
    return await classified(record, job, outcome, classifier)


def _transcript(store: Store, run_id: str, job: Job, outcome: TestOutcome) -> str:
    name = f"{job.test.test_id}-{job.attempt}"
    return store.write_transcript(run_id, name, {"messages": list(outcome.execution.transcript)})
