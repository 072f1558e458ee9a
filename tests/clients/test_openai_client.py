"""The OpenAI-compatible and Azure clients against a loopback server the tests start."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx2
import openai
import pytest

from runbench import errors
from runbench.chat import ChatMessage, ChatRequest
from runbench.clients.openai_client import OpenAIChatClient, retry_after_seconds, translate_error
from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"
REQUEST = ChatRequest((ChatMessage("user", "hello"),), "ab" * 16)


def _client(
    fake, deployment: str, *, kind: str = "openai", timeout_s: float = 5.0
) -> OpenAIChatClient:  # type: ignore[no-untyped-def]
    config = DeploymentConfig(
        name=deployment,
        provider="fake",
        kind=kind,  # type: ignore[arg-type]
        base_url=fake.base_url if kind == "openai" else None,
        endpoint=fake.endpoint if kind == "azure" else None,
        api_key_env="FAKE_KEY",
        api_version="2024-10-21" if kind == "azure" else None,
        limits=EndpointLimits(max_concurrency=4),
        request_timeout_s=timeout_s,
        connect_timeout_s=2.0,
    )
    return OpenAIChatClient(ModelConfig("m", "fake", (config,), temperature=0.0), config, SENTINEL)


def _complete(client: OpenAIChatClient, request: ChatRequest = REQUEST):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        try:
            return await client.complete(request)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_a_reply_brings_text_usage_and_rate_limit_headers(fake_openai) -> None:  # type: ignore[no-untyped-def]
    response = _complete(_client(fake_openai, "ok"))
    assert "<tool_call>file_reader</tool_call>" in response.text
    assert (response.prompt_tokens, response.completion_tokens) == (11, 7)
    assert response.rate_limit_headers["x-ratelimit-remaining-requests"] == "99"
    assert fake_openai.requests[-1]["key"] == SENTINEL, "the key must reach the server"
    assert fake_openai.requests[-1]["body"]["temperature"] == 0.0


def test_native_tool_calls_are_parsed(fake_openai) -> None:  # type: ignore[no-untyped-def]
    response = _complete(_client(fake_openai, "tools"))
    (call,) = response.tool_calls
    assert (call.call_id, call.name, call.arguments) == ("call_1", "file_reader", {"path": "a.csv"})


def test_azure_routes_through_the_deployment_path(fake_openai) -> None:  # type: ignore[no-untyped-def]
    response = _complete(_client(fake_openai, "ok", kind="azure"))
    assert response.prompt_tokens == 11
    assert fake_openai.requests[-1]["path"].startswith("/openai/deployments/ok/chat/completions")


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        ("http-400", errors.BadRequestError),
        ("http-401", errors.AuthenticationError),
        ("http-403", errors.AuthenticationError),
        ("http-404", errors.BadRequestError),
        ("http-422", errors.BadRequestError),
        ("http-408", errors.RetryableProviderError),
        ("http-409", errors.RetryableProviderError),
        ("http-500", errors.RetryableProviderError),
        ("http-503", errors.RetryableProviderError),
        ("rate-limited", errors.RateLimitedError),
        ("quota", errors.QuotaExhaustedError),
        ("bad-json", errors.UnusableReplyError),
    ],
)
def test_every_error_class_is_mapped_and_not_retried_by_the_sdk(
    fake_openai, deployment, expected
) -> None:  # type: ignore[no-untyped-def]
    before = len(fake_openai.requests)
    with pytest.raises(expected) as caught:
        _complete(_client(fake_openai, deployment))
    assert type(caught.value) is expected
    assert len(fake_openai.requests) == before + 1, "the SDK's own retries must be off"
    assert SENTINEL not in caught.value.message and "SENTINEL" not in str(caught.value)
    assert caught.value.deployment == deployment


def test_429_carries_the_servers_retry_after(fake_openai) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.RateLimitedError) as caught:
        _complete(_client(fake_openai, "rate-limited"))
    assert caught.value.retry_after_s == 7.0


def test_a_reply_that_never_comes_is_cut_by_the_request_timeout(fake_openai) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.RetryableProviderError, match="timed out"):
        _complete(_client(fake_openai, "hang", timeout_s=0.3))


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert (
        retry_after_seconds({"Retry-After": "Wed, 25 Nov 2026 08:00:10 GMT"}, now=1795593600.0)
        == 10.0
    )
    assert retry_after_seconds({}) is None


_RESPONSE = httpx2.Response(
    500, request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
)
_SDK_CASES = {
    openai.BadRequestError: (400, errors.BadRequestError),
    openai.AuthenticationError: (401, errors.AuthenticationError),
    openai.PermissionDeniedError: (403, errors.AuthenticationError),
    openai.NotFoundError: (404, errors.BadRequestError),
    openai.ConflictError: (409, errors.RetryableProviderError),
    openai.UnprocessableEntityError: (422, errors.BadRequestError),
    openai.RateLimitError: (429, errors.RateLimitedError),
    openai.InternalServerError: (500, errors.RetryableProviderError),
    openai.APIStatusError: (418, errors.BadRequestError),
}
# raised only by APIs runbench does not call (webhooks, websockets, OAuth, parse helpers)
_NOT_RAISED_BY_CHAT_COMPLETIONS = {
    "InvalidWebhookSignatureError",
    "WebSocketConnectionClosedError",
    "WebSocketQueueFullError",
    "OAuthError",
    "ContentFilterFinishReasonError",
    "LengthFinishReasonError",
    "OpenAIError",
    "APIError",
    "_AmbiguousModuleClientUsageError",
}


def test_every_sdk_exception_class_maps_to_a_runbench_class() -> None:
    request = _RESPONSE.request
    for sdk_class, (status, expected) in _SDK_CASES.items():
        response = httpx2.Response(status, request=request)
        error = sdk_class("boom", response=response, body={"message": "boom"})
        assert type(translate_error(error, "p", "d")) is expected, sdk_class
    assert (
        type(translate_error(openai.APITimeoutError(request), "p", "d"))
        is errors.RetryableProviderError
    )
    assert (
        type(translate_error(openai.APIConnectionError(request=request), "p", "d"))
        is errors.RetryableProviderError
    )
    validation = openai.APIResponseValidationError(httpx2.Response(200, request=request), body=None)
    assert type(translate_error(validation, "p", "d")) is errors.UnusableReplyError
    covered = {c.__name__ for c in _SDK_CASES} | {
        "APITimeoutError",
        "APIConnectionError",
        "APIResponseValidationError",
    }
    exported = {
        name
        for name in dir(openai)
        if name.endswith("Error") and isinstance(getattr(openai, name), type)
    }
    assert exported - covered - _NOT_RAISED_BY_CHAT_COMPLETIONS == set(), (
        "a new SDK exception needs a mapping"
    )


def test_deployment_config_is_frozen() -> None:
    config = DeploymentConfig(
        "d", "p", "openai", "http://127.0.0.1/v1", None, "K", None, EndpointLimits(), 1.0, 1.0
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "x"  # type: ignore[misc]


def test_a_whole_test_through_the_api_never_writes_the_key(fake_openai, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from runbench.clients.factory import make_client
    from runbench.config import load_config
    from runbench.workload.executor import run_test
    from runbench.workload.tasks import builtin_library

    path = tmp_path / "runbench.toml"
    path.write_text(
        f'[providers.fake]\nkind = "openai"\nbase_url = "{fake_openai.base_url}"\n'
        'api_key_env = "FAKE_KEY"\n[models.fake-model]\nprovider = "fake"\ndeployments = ["ok"]\n'
    )
    model = load_config(path).resolve_model("fake-model")
    client = make_client(model, model.deployments[0], environ={"FAKE_KEY": SENTINEL})
    task = builtin_library().task_for("basic_task", "easy", 0)
    outcome = asyncio.run(
        run_test(
            client,
            task,
            prompt_type="optimal",
            test_id="cd" * 16,
            tool_success_rate=1.0,
            max_turns=3,
        )
    )
    assert outcome.execution.prompt_tokens == 33, "three turns of 11 prompt tokens"
    assert SENTINEL not in json.dumps(outcome.execution.transcript)
    assert fake_openai.requests[-1]["key"] == SENTINEL


def test_config_sim_models_get_their_profile_and_latency(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from runbench.clients.factory import make_client
    from runbench.clients.sim import PROFILES, SimClient
    from runbench.config import load_config

    path = tmp_path / "runbench.toml"
    path.write_text('[models.slow]\nprovider = "sim"\nprofile = "weak"\nlatency_ms = 250\n')
    model = load_config(path).resolve_model("SLOW")
    client = make_client(model, model.deployments[0])
    assert isinstance(client, SimClient)
    assert (client.profile, client.latency_ms, client.model) == (PROFILES["weak"], 250.0, "slow")
