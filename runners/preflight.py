"""Pre-flight: one tiny request per API endpoint, before any test is spent.

A wrong base URL, a host that does not resolve, a TLS mismatch, a deployment name that does not
exist, a rejected key, an exhausted quota or a 200 that holds no answer (no choices, an error
body, unreadable or too deeply nested JSON) makes every test of that endpoint fail; without a
check the run would retry each of them for minutes and store rows of errors that say little.
So each endpoint gets one "Reply with OK." first; the endpoints that cannot serve are named,
one line each, and left out of the run while the others go on.

All endpoints are checked at once, each under the request timeout, so one that hangs or drips
costs at most that timeout and delays no other. The check is plain asyncio (no thread, no
blocking call): cancelling the task that awaits it — the caller's SIGINT/SIGTERM handling or
its run limit — cancels every request in flight at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runbench.chat import ChatMessage, ChatRequest, ModelClient
from runbench.errors import (
    EXIT_CREDENTIALS,
    EXIT_OK,
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    EndpointUnusableError,
    ProviderError,
    QuotaExhaustedError,
    RequestTimeoutError,
    RetryableProviderError,
    UnusableReplyError,
)
from runbench.runners.retry import RetryPolicy

PREFLIGHT_TEST_ID = "preflight"
PREFLIGHT_RETRIES = 2
PREFLIGHT_RETRY = RetryPolicy(max_retries=PREFLIGHT_RETRIES)
PREFLIGHT_REQUEST = ChatRequest((ChatMessage("user", "Reply with OK."),), test_id=PREFLIGHT_TEST_ID)


@dataclass(frozen=True, slots=True)
class PreflightReport:
    """Which endpoints cannot serve a test, and why (one line each, key redacted)."""

    unusable: dict[str, EndpointUnusableError]
    checked: tuple[str, ...] = ()
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """3 when any endpoint is unusable (credentials or quota), else 0."""
        return EXIT_CREDENTIALS if self.unusable else EXIT_OK

    def lines(self) -> list[str]:
        """One line per unusable endpoint, ready to print after ``Error:``."""
        return [self.unusable[endpoint].message for endpoint in sorted(self.unusable)]

    def by_provider(self) -> dict[str, str]:
        """The reasons grouped by provider, for summaries keyed by provider."""
        grouped: dict[str, list[str]] = {}
        for endpoint in sorted(self.unusable):
            error = self.unusable[endpoint]
            grouped.setdefault(error.provider, []).append(error.message)
        return {provider: "; ".join(lines) for provider, lines in grouped.items()}


async def preflight(
    clients: Mapping[str, ModelClient],
    endpoints: Iterable[str] | None = None,
    *,
    timeout_s: float | None = None,
    stop: asyncio.Event | None = None,
) -> PreflightReport:
    """Check each endpoint in ``endpoints`` (default: every client) with one tiny request.

    ``timeout_s`` bounds each check as a whole (the run's ``--request-timeout``); the clients'
    own request timeout applies as well. Cancelling the caller cancels every check; so does
    setting ``stop`` (the run's SIGINT/SIGTERM event), which returns at once with
    ``interrupted`` set and nothing judged unusable.
    """
    names = sorted(set(clients if endpoints is None else endpoints) & set(clients))
    results: dict[str, EndpointUnusableError | None] = {}

    async def check(endpoint: str) -> None:
        results[endpoint] = await check_endpoint(endpoint, clients[endpoint], timeout_s)

    async def check_all() -> None:
        async with asyncio.TaskGroup() as group:
            for name in names:
                group.create_task(check(name))

    if stop is None:
        await check_all()
    elif not await _unless_stopped(check_all(), stop):
        return PreflightReport({}, tuple(names), interrupted=True)
    unusable = {name: error for name, error in results.items() if error is not None}
    return PreflightReport(unusable, tuple(names))


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Await ``work`` unless ``stop`` is set first (then cancel it); True when it finished."""
    async with asyncio.TaskGroup() as group:
        working = group.create_task(work)
        stopping = group.create_task(stop.wait())
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finished = working.done() and not working.cancelled()
        working.cancel()
        stopping.cancel()
    return finished


async def check_endpoint(
    endpoint: str, client: ModelClient, timeout_s: float | None
) -> EndpointUnusableError | None:
    """None when ``client`` answered (or failed in a way a retry may fix); else why not.

    A refusal (429, 5xx, a dropped connection) is retried like any request, waiting as the
    retry policy says, at most ``PREFLIGHT_RETRIES`` times: asking once and never again is what
    LLMock's verdict calls ``gave_up``. A refused endpoint is not unusable: the run's retries
    take it from there, also when the refusals outlast the timeout.
    """
    refusals: list[ProviderError] = []
    try:
        async with asyncio.timeout(timeout_s):
            return await _ask(client, refusals, random.Random(endpoint))
    except TimeoutError:
        if refusals:
            return None
        return _unusable(
            client, f"{endpoint}: no reply within {timeout_s or 0:g} s (request timeout)"
        )


async def _ask(
    client: ModelClient, refusals: list[ProviderError], rng: random.Random
) -> EndpointUnusableError | None:
    backoffs, previous = 0, 0.0
    while True:
        try:
            await client.complete(PREFLIGHT_REQUEST)
            return None
        except (
            AuthenticationError,
            QuotaExhaustedError,
            ConnectionFailedError,
            RequestTimeoutError,
            UnusableReplyError,  # a 200 without an answer: every test would be an api_error
        ) as error:
            return _unusable(client, error.message, error)
        except BadRequestError as error:
            if error.status_code == 404:
                return _unusable(
                    client,
                    f"{error.message} (model or deployment not found at this endpoint)",
                    error,
                )
            return None  # a bad request is the tests' to record; the endpoint itself answers
        except RetryableProviderError as error:  # 429, 5xx, a dropped connection
            refusals.append(error)
            if len(refusals) > PREFLIGHT_RETRIES:
                return None  # the run's retries handle these
            delay = PREFLIGHT_RETRY.delay_s(backoffs, error.retry_after_s, rng, previous)
            if error.retry_after_s is None:
                backoffs, previous = backoffs + 1, delay
            await asyncio.sleep(delay)
        except ProviderError:
            return None


def _unusable(
    client: ModelClient, line: str, cause: ProviderError | None = None
) -> EndpointUnusableError:
    error = EndpointUnusableError(
        line,
        provider=client.provider,
        deployment=client.deployment,
        hint=cause.hint if cause is not None else None,
        status_code=cause.status_code if cause is not None else None,
    )
    error.__cause__ = cause
    return error
