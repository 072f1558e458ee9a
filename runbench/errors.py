"""Every exception runbench raises on purpose, in one place.

The tree::

    RunbenchError                 base; carries the process exit code the CLI uses
    ├── Interrupted               exit 130: SIGINT/SIGTERM outside a run's own stop handling
    ├── UsageError                exit 2: a flag, value or file the user gave is wrong
    │   ├── ConfigError           exit 2: configuration (runbench.toml, env values) is wrong
    │   ├── RecordError           exit 2: a record violates the schema (names the field)
    │   └── LegacyFormatError     exit 2: a legacy database cannot be read at all
    ├── StoreError                exit 2: the store cannot be opened or used
    │   ├── StoreLockTimeout      exit 2: another process held a store lock too long
    │   ├── StoreNotAnswering     exit 2: an object store gave no reply within its bound
    │   └── MigrationError        exit 1: a migration ran but its verification failed
    └── ProviderError             a model API failed; clients raise these, runners decide
        ├── RetryableProviderError    408/409/5xx, connection errors, timeouts; Retry-After
        │   ├── RateLimitedError      429 (congestion); the limiter lowers concurrency
        │   ├── ConnectionFailedError refused, unknown host, TLS failure: nothing was answered
        │   └── RequestTimeoutError   no complete reply within the request timeout
        ├── BadRequestError           400/404/422: never retried
        │   └── InvalidRequestError   a 400 that will fail the same way every time (context
        │                             length, unsupported parameter): category invalid_request
        ├── AuthenticationError       401/403, exit 3: stop the provider at once
        ├── QuotaExhaustedError       429 with an insufficient-quota code, exit 3
        └── EndpointUnusableError     pre-flight found an endpoint no test can use, exit 3

Every ``ProviderError`` names the record category a test that ends on it is stored under
(``record_category``), so the runner does not need to know the tree to file it.

Programmer mistakes stay built-in (``ValueError``, ``TypeError``) and crash with a traceback;
everything here is something a user can act on, so each message says what happened and,
through ``hint``, what to do next. Messages never contain secrets.
"""

from __future__ import annotations

from collections.abc import Mapping

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_CREDENTIALS = 3
EXIT_INTERRUPTED = 130


class RunbenchError(Exception):
    """Base of every error runbench raises for a user to read.

    Raised only through subclasses; the CLI prints ``Error: <message>`` (and ``Hint: <hint>``
    when one is set) and exits with ``exit_code``.
    """

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Interrupted(RunbenchError):
    """Raised by the CLI's SIGINT/SIGTERM handler while a command plans, reads or writes.

    A run's own loop turns the signals into a clean stop (finished tests flushed); outside it
    (planning a large plan, reading a report) the command ends at once with this one line.
    """

    exit_code = EXIT_INTERRUPTED


class UsageError(RunbenchError):
    """Raised when a flag, value or input file given by the user is not acceptable."""


class ConfigError(UsageError):
    """Raised when configuration (a config file or an environment value) is invalid."""


class RecordError(UsageError):
    """Raised when a record violates the schema of ``runbench.records``; names the field."""

    def __init__(self, field: str, problem: str, *, where: str | None = None) -> None:
        location = f" ({where})" if where else ""
        super().__init__(f"record field '{field}' {problem}{location}")
        self.field = field


class LegacyFormatError(UsageError):
    """Raised when a legacy PILOT-Bench database is not JSON or lacks its ``models`` table."""


class StoreError(RunbenchError):
    """Raised when a store cannot be opened, read or written (bad path, permissions)."""


class StoreLockTimeout(StoreError):
    """Raised when a store lock could not be taken within its timeout."""


class StoreNotAnswering(StoreError):
    """Raised when an object store request got no reply within ``RUNBENCH_S3_TIMEOUT``.

    A store that hangs (a stopped server, a black-holed network) must end the command with one
    line instead of holding it; later requests of the same command then fail at once with this
    error too (``storage/bucket.py``), so a run's shutdown does not wait once per request.
    """


class MigrationError(StoreError):
    """Raised when a migration wrote rows but the destination does not match the source."""

    exit_code = EXIT_INCOMPLETE


class ProviderError(RunbenchError):
    """Raised by a model client when its API call failed; carries provider and deployment.

    Clients only classify (which subclass, how long to wait); the runners' retry layer decides.
    Messages never include a key.
    """

    exit_code = EXIT_INCOMPLETE
    record_category: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        deployment: str = "",
        hint: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.provider = provider
        self.deployment = deployment
        self.status_code = status_code


class RetryableProviderError(ProviderError):
    """Raised for failures worth retrying: 408, 409, 429, 5xx, connection errors, request timeouts.

    ``retry_after_s`` is the server's Retry-After (seconds, HTTP date or ``retry-after-ms``) on
    *any* retryable status, because providers send it on 503 as well as on 429 and the retry layer
    must never come back sooner. ``rate_limit_headers`` are the reply's ``x-ratelimit-*`` headers,
    which the endpoint's limiter reads to tell a busy endpoint from an exhausted quota.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        rate_limit_headers: Mapping[str, str] | None = None,
        provider: str = "",
        deployment: str = "",
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, deployment=deployment, status_code=status_code)
        self.retry_after_s = retry_after_s
        self.rate_limit_headers: Mapping[str, str] = dict(rate_limit_headers or {})


class RateLimitedError(RetryableProviderError):
    """Raised for 429 (not quota): the endpoint is congested; the limiter lowers concurrency."""

    record_category = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        rate_limit_headers: Mapping[str, str] | None = None,
        provider: str = "",
        deployment: str = "",
    ) -> None:
        super().__init__(
            message,
            retry_after_s=retry_after_s,
            rate_limit_headers=rate_limit_headers,
            provider=provider,
            deployment=deployment,
            status_code=429,
        )


class ConnectionFailedError(RetryableProviderError):
    """Raised when no answer came because the connection itself failed.

    Connection refused, an unknown host, a TLS handshake that failed: worth a retry during a run
    (a restart, a DNS blip), but found by pre-flight, where it marks the endpoint unusable.
    """


class RequestTimeoutError(RetryableProviderError):
    """Raised when the whole request (connect, send, read to the last byte) ran out of time."""


class UnusableReplyError(RetryableProviderError):
    """Raised for a 200 that holds no answer: an outage dressed as a success.

    Unreadable, nested too deep, no choices, no message, or an error body
    (``{"error": {"message": "upstream overloaded"}}``). Retried, stored as ``api_error`` when
    it persists, never judged as the model's answer; pre-flight calls the endpoint unusable.
    """


class ReplyTooLargeError(ProviderError):
    """Raised when a reply is larger than the deployment's ``max_reply_bytes``.

    Not retried (the same request would fetch the same megabytes again) and never put into the
    conversation, which would re-send it on every later turn; stored as ``api_error``.
    """


class BadRequestError(ProviderError):
    """Raised for 400, 404 and 422: the request itself is wrong; retrying cannot help."""


class InvalidRequestError(BadRequestError):
    """Raised for a 400 that the same request will always get: context length, bad parameter.

    Stored under its own category, ``invalid_request``, which resume does not re-run unless the
    user asks (a re-run would pay for the same refusal again).
    """

    record_category = "invalid_request"


class AuthenticationError(ProviderError):
    """Raised for 401 and 403: the key is missing, wrong or not allowed; stop the provider."""

    exit_code = EXIT_CREDENTIALS


class QuotaExhaustedError(ProviderError):
    """Raised for a 429 whose code says the quota is used up; park the provider."""

    exit_code = EXIT_CREDENTIALS


class EndpointUnusableError(ProviderError):
    """Raised (returned by pre-flight) when an endpoint cannot serve any test.

    Connection refused, unknown host, TLS failure, no such model or deployment (404), a rejected
    key, an exhausted quota or no answer within the request timeout: its tests are not run and
    the run exits 3. The message is one line naming the endpoint and the reason.
    """

    exit_code = EXIT_CREDENTIALS
