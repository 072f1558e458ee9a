"""The HTTP path of the API client against hostile loopback servers the tests start.

Whole-request timeout (hung and dripping servers), every transport failure named, deterministic
400s in their own class, the key and its base64 form in no reply or error, and the body encoded
once with nothing of the SDK's parameter transform on the way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest

from runbench import errors
from runbench.chat import ChatMessage, ChatRequest, ChatResponse
from runbench.clients.openai_client import OpenAIChatClient, translate_transport_error
from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig
from runbench.redact import Redactor
from tests.fakes.hostile_servers import (
    HostileServer,
    closed_port,
    start_hostile_server,
    start_plain_text_responder,
)

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"
SENTINEL_FORMS = (
    SENTINEL,
    base64.b64encode(SENTINEL.encode()).decode()[:-4],
    base64.b64encode(f"Bearer {SENTINEL}".encode()).decode()[12:-4],
)
REQUEST = ChatRequest((ChatMessage("user", "hello"),), "ab" * 16)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = start_hostile_server(drip_interval_s=0.5)
    yield server
    server.close()


def _client(
    base_url: str | None,
    deployment: str,
    *,
    kind: str = "openai",
    timeout_s: float = 5.0,
    endpoint: str | None = None,
) -> OpenAIChatClient:
    config = DeploymentConfig(
        name=deployment,
        provider="hostile",
        kind=kind,  # type: ignore[arg-type]
        base_url=base_url,
        endpoint=endpoint,
        api_key_env="HOSTILE_KEY",
        api_version="2024-10-21" if kind == "azure" else None,
        limits=EndpointLimits(max_concurrency=4),
        request_timeout_s=timeout_s,
        connect_timeout_s=2.0,
    )
    return OpenAIChatClient(ModelConfig("m", "hostile", (config,)), config, SENTINEL)


def _complete(client: OpenAIChatClient, request: ChatRequest = REQUEST) -> ChatResponse:
    async def run() -> ChatResponse:
        try:
            return await client.complete(request)
        finally:
            await client.aclose()

    return asyncio.run(run())


def _assert_no_secret(text: str) -> None:
    for form in SENTINEL_FORMS:
        assert form not in text, f"a form of the key leaked: {form}"
    assert "SENTINEL" not in text


def test_a_dripping_reply_is_cut_at_the_request_timeout(hostile: HostileServer) -> None:
    started = time.monotonic()
    with pytest.raises(errors.RequestTimeoutError, match="timed out"):
        _complete(_client(hostile.base_url, "drip", timeout_s=1.5))
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 10.0, "the drip lasts minutes: the whole request must be bounded"
    assert any(r["model"] == "drip" for r in hostile.requests), "the drip had started"


def test_a_server_that_never_answers_is_cut_at_the_request_timeout(
    hostile: HostileServer,
) -> None:
    started = time.monotonic()
    with pytest.raises(errors.RequestTimeoutError):
        _complete(_client(hostile.base_url, "hang", timeout_s=0.5))
    assert time.monotonic() - started < 0.5 + 10.0, "the server never answers"


def test_a_slow_drip_within_the_timeout_completes(hostile: HostileServer) -> None:
    hostile.drip_interval_s = 0.0005
    response = _complete(_client(hostile.base_url, "drip", timeout_s=10.0))
    assert response.text == "dripped reply"


def test_connection_refused_names_the_address() -> None:
    port = closed_port()
    with pytest.raises(errors.ConnectionFailedError, match="connection refused") as caught:
        _complete(_client(f"http://127.0.0.1:{port}/v1", "ok"))
    assert f"127.0.0.1:{port}" in caught.value.message
    assert caught.value.deployment == "ok"


def test_an_unknown_host_is_named() -> None:
    with pytest.raises(errors.ConnectionFailedError, match="unknown host"):
        _complete(_client("http://runbench-no-such-host.invalid/v1", "ok"))


def test_a_tls_failure_is_named() -> None:
    responder = start_plain_text_responder()
    try:
        with pytest.raises(errors.ConnectionFailedError, match="TLS failure"):
            _complete(_client(f"https://127.0.0.1:{responder.port}/v1", "ok"))
    finally:
        responder.close()


@pytest.mark.parametrize(
    ("model", "expected", "status"),
    [
        ("status-context", errors.InvalidRequestError, 400),
        ("status-param", errors.InvalidRequestError, 400),
        ("status-plain400", errors.BadRequestError, 400),
        ("status-404", errors.BadRequestError, 404),
        ("status-401", errors.AuthenticationError, 401),
        ("status-403", errors.AuthenticationError, 403),
        ("status-quota", errors.QuotaExhaustedError, 429),
        ("status-500", errors.RetryableProviderError, 500),
    ],
)
def test_statuses_map_to_their_class_and_carry_the_status(
    hostile: HostileServer, model: str, expected: type[errors.ProviderError], status: int
) -> None:
    with pytest.raises(expected) as caught:
        _complete(_client(hostile.base_url, model))
    assert type(caught.value) is expected
    assert caught.value.status_code == status
    assert len(hostile.requests) == 1, "the SDK's own retries must be off"


def test_only_deterministic_400s_get_the_invalid_request_category() -> None:
    assert errors.InvalidRequestError.record_category == "invalid_request"
    assert errors.BadRequestError.record_category == "api_error"
    assert errors.RateLimitedError.record_category == "rate_limited"
    assert not issubclass(errors.InvalidRequestError, errors.RetryableProviderError)


@pytest.mark.parametrize("status", [200, 400, 401, 500])
def test_an_echoed_key_appears_in_no_reply_and_no_error(
    hostile: HostileServer, status: int
) -> None:
    client = _client(hostile.base_url, f"echo-{status}")
    if status == 200:
        response = _complete(client)
        shown = response.text
        assert "you sent" in shown and "[redacted]" in shown
    else:
        with pytest.raises(errors.ProviderError) as caught:
            _complete(client)
        shown = f"{caught.value.message} {caught.value} {caught.value.hint}"
    _assert_no_secret(shown)
    (request,) = [r for r in hostile.requests if r["model"] == f"echo-{status}"]
    assert request["headers"]["Authorization"] == f"Bearer {SENTINEL}", "the key was sent"


def test_azure_echo_of_the_api_key_header_is_redacted(hostile: HostileServer) -> None:
    client = _client(None, "echo-200", kind="azure", endpoint=hostile.endpoint)
    response = _complete(client)
    _assert_no_secret(response.text)
    (request,) = hostile.requests
    assert request["path"].startswith("/openai/deployments/echo-200/chat/completions?api-version=")
    assert request["headers"]["api-key"] == SENTINEL


def test_the_body_is_sent_as_built_without_the_sdk_request_path(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's request machinery (parameter transform, option copies) must not run at all."""
    import openai._base_client as base_client
    import openai._utils._transform as transform

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the SDK's per-request path ran")

    monkeypatch.setattr(base_client.AsyncAPIClient, "request", forbidden)
    monkeypatch.setattr(transform, "_async_transform_recursive", forbidden)
    messages = tuple(ChatMessage("user" if i % 2 else "assistant", f"m{i}") for i in range(12))
    response = _complete(_client(hostile.base_url, "ok"), ChatRequest(messages, "cd" * 16))
    assert response.text == "OK" and (response.prompt_tokens, response.completion_tokens) == (3, 2)


def test_many_requests_share_one_pool_and_stay_in_order(hostile: HostileServer) -> None:
    client = _client(hostile.base_url, "ok")

    async def run() -> list[ChatResponse]:
        try:
            return await asyncio.gather(*(client.complete(REQUEST) for _ in range(20)))
        finally:
            await client.aclose()

    responses = asyncio.run(run())
    assert [r.text for r in responses] == ["OK"] * 20
    assert len(hostile.requests) == 20
    body_models = {json.dumps(r["model"]) for r in hostile.requests}
    assert body_models == {'"ok"'}


def test_every_aiohttp_exception_class_maps_to_a_runbench_class() -> None:
    """A new aiohttp exception must not escape the client untranslated."""
    redactor = Redactor([SENTINEL])
    exported = [
        getattr(aiohttp, name)
        for name in dir(aiohttp)
        if isinstance(getattr(aiohttp, name), type)
        and issubclass(getattr(aiohttp, name), aiohttp.ClientError)
    ]
    assert len(exported) > 15
    for error_class in exported:
        error = error_class.__new__(error_class)
        translated = translate_transport_error(error, "p", "d", redactor)
        assert isinstance(translated, errors.ProviderError), error_class
        assert translated.provider == "p" and translated.deployment == "d"


def test_aclose_twice_is_harmless(hostile: HostileServer) -> None:
    client = _client(hostile.base_url, "ok")

    async def run() -> None:
        await client.complete(REQUEST)
        await client.aclose()
        await client.aclose()

    asyncio.run(run())
