"""Error classification by a model inside a run, through the same machinery as the tests.

WorkflowBench can have a model name the error category of each failed test
(``--ai-classification``); ``workload/ai_classifier.py`` holds the prompt and the reading of the
reply. This module puts that behind the engine's own request path, so the classifier's calls get
what every test's calls get: a ``LimitedClient`` over a client from ``clients/factory.make_client``
for the classifier's deployment, with an ``EndpointLimiter`` of its own (its limits, the adaptive
cut on 429s, Retry-After, x-ratelimit pacing) and the run's retry policy and request timeout. The
key stays inside the client, so it never reaches a record.

The classifier never changes a test's status or the run's exit code: a call that still fails
after the retries keeps the rule-based category, recorded as ``rules``. A rejected key or an
exhausted quota switches the classifier off for the rest of the run (one warning), so a bad key
does not cost every later test a failing round trip.
"""

from __future__ import annotations

import dataclasses
import logging

from runbench.chat import ModelClient
from runbench.config import ModelConfig
from runbench.errors import AuthenticationError, QuotaExhaustedError
from runbench.records import Record
from runbench.runners.jobs import Job, RunOptions
from runbench.runners.limited_client import LimitedClient
from runbench.runners.limiter import EndpointLimiter
from runbench.runners.summary import EndpointProgress
from runbench.workload.ai_classifier import (
    AskModel,
    Classification,
    ClassifierInput,
    ask_client,
    classify_with_model,
    rules_classification,
)
from runbench.workload.executor import TestOutcome

log = logging.getLogger(__name__)

RULES = "rules"
CLASSIFIED_STATUSES = ("partial_success", "failure")


class ModelClassifier:
    """The run's classifying model: one client, limiter and progress shared by every test.

    The first deployment of the model serves every classification; its limiter is separate
    from the tested endpoints', so classifying never takes a slot of a test under way.
    """

    def __init__(self, model: ModelConfig, client: ModelClient, options: RunOptions) -> None:
        deployment = model.deployments[0]
        self.model = model.name
        self.client = client
        self.options = options
        self.endpoint = f"{deployment.provider}/{deployment.name}"
        self.limiter = EndpointLimiter(
            self.endpoint,
            deployment.limits,
            adaptive=options.adaptive,
            requests_per_second=options.requests_per_second,
            share=options.share,
        )
        self.progress = EndpointProgress(self.endpoint)
        self.switched_off: str | None = None  # why the classifier stopped being asked

    async def classify(self, job: Job, outcome: TestOutcome) -> Classification:
        """The category of a non-full test: the model's, or the rules' when it cannot answer."""
        rules_category = outcome.error_category or "other_errors"
        if self.switched_off is not None:
            return rules_classification(rules_category)
        limited = LimitedClient(self.client, self.limiter, self.progress, self.options)
        ask = ask_client(limited, test_id=job.test.test_id)
        try:
            return await classify_with_model(
                self._watching(ask),
                _input_of(job, outcome),
                model=self.model,
                rules_category=rules_category,
            )
        except Exception as error:  # a label must never cost the test its record
            log.warning("classifier %s failed: %s: %s", self.model, type(error).__name__, error)
            return rules_classification(rules_category)

    def _watching(self, ask: AskModel) -> AskModel:
        """``ask``, switching the classifier off on a rejected key or a spent quota."""

        async def watched(prompt: str, /) -> str:
            try:
                return await ask(prompt)
            except (AuthenticationError, QuotaExhaustedError) as error:
                if self.switched_off is None:
                    self.switched_off = error.message
                    log.warning(
                        "classifier %s switched off, rule-based categories from now on: %s",
                        self.model,
                        error.message,
                    )
                raise

        return watched

    async def aclose(self) -> None:
        """Close the classifier's client (its connections)."""
        closer = getattr(self.client, "aclose", None)
        if closer is not None:
            await closer()


def _input_of(job: Job, outcome: TestOutcome) -> ClassifierInput:
    return ClassifierInput(
        test_id=job.test.test_id,
        task_type=outcome.task.task_type,
        prompt_type=job.test.cell.prompt_type,
        required_tools=tuple(outcome.task.required_tools),
        status=outcome.scores.status,
        turns=outcome.execution.turns,
        final_score=outcome.scores.final_score,
        transcript=outcome.execution.transcript,
    )


async def classified(
    record: Record, job: Job, outcome: TestOutcome, classifier: ModelClassifier | None
) -> Record:
    """The record with its error category and the classifier that chose it.

    A full success names no classifier; a partial or failed test names ``rules`` unless the
    run's model classifier answered, then ``ai:<model>`` with that model's category.
    """
    if record.status not in CLASSIFIED_STATUSES:
        return record
    if classifier is None:
        return dataclasses.replace(record, error_classifier=RULES)
    classification = await classifier.classify(job, outcome)
    return dataclasses.replace(
        record,
        error_category=classification.category,
        error_classifier=classification.label,
    )
