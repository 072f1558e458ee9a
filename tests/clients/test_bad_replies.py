"""Bad values from a provider, through the real client and the loopback fake: checked where
they enter, each one a clear, storable outcome (issue 16 req 4)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from runbench import errors
from runbench.chat import ChatMessage, ChatRequest
from runbench.clients.openai_client import OpenAIChatClient
from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig
from runbench.records import storable_text
from runbench.runners.preflight import check_endpoint

REQUEST = ChatRequest((ChatMessage("user", "hello"),), "cd" * 16)


def _client(fake, deployment: str, **changes: object) -> OpenAIChatClient:  # type: ignore[no-untyped-def]
    config = DeploymentConfig(
        name=deployment,
        provider="fake",
        kind="openai",
        base_url=fake.base_url,
        endpoint=None,
        api_key_env="FAKE_KEY",
        api_version=None,
        limits=EndpointLimits(max_concurrency=2),
        request_timeout_s=10.0,
        connect_timeout_s=2.0,
    )
    config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
    return OpenAIChatClient(ModelConfig("m", "fake", (config,)), config, "sk-test-key-0123456789")


def _complete(client: OpenAIChatClient):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        try:
            return await client.complete(REQUEST)
        finally:
            await client.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("model", "field", "said"),
    [
        ("bad-negative-tokens", "prompt_tokens", "-10000000"),
        ("bad-overflow-tokens", "completion_tokens", str(2**64)[:24]),
    ],
)
def test_a_token_count_the_store_cannot_hold_is_null_with_a_warning_naming_the_test(
    model: str, field: str, said: str, fake_openai, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.WARNING, logger="runbench"):
        response = _complete(_client(fake_openai, model))
    assert getattr(response, field) is None
    assert (response.prompt_tokens or 0) + (response.completion_tokens or 0) in (7, 11)
    assert response.text, "the answer itself is kept: only the count is unusable"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert REQUEST.test_id[:12] in warning and f"usage.{field} = {said}" in warning


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ("bad-no-choices", "HTTP 200 without an answer (no choices)"),
        ("bad-error-body", "HTTP 200 with an error body: upstream overloaded"),
        ("bad-no-message", "HTTP 200 without an answer (no message)"),
        ("bad-nested", "unreadable reply (JSON nested too deeply)"),
        ("bad-json", "unreadable reply (JSONDecodeError: Expecting property name"),
    ],
)
def test_a_200_without_an_answer_is_a_retryable_api_error_and_fails_preflight(
    model: str, said: str, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.UnusableReplyError) as caught:
        _complete(_client(fake_openai, model))
    error = caught.value
    assert isinstance(error, errors.RetryableProviderError), "retried like any outage"
    assert error.record_category == "api_error", "stored as the API's fault, never judged"
    assert f"fake/{model}: {said}" in error.message and "\n" not in error.message

    async def preflight_once() -> errors.EndpointUnusableError | None:
        client = _client(fake_openai, model)
        try:
            return await check_endpoint(model, client, 10.0)
        finally:
            await client.aclose()

    unusable = asyncio.run(preflight_once())
    assert unusable is not None and said in unusable.message, "one line, not a traceback"


def test_a_lone_surrogate_in_a_400_is_escaped_at_the_edge(fake_openai) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.BadRequestError) as caught:
        _complete(_client(fake_openai, "bad-surrogate-400"))
    message = caught.value.message
    assert "bad \\ud800 input" in message, "shown escaped, not dropped"
    message.encode("utf-8")  # storable: no lone surrogate left
    assert storable_text(message) is message


def test_a_reply_above_the_cap_is_an_error_not_read_past_the_cap(fake_openai) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.ReplyTooLargeError) as caught:
        _complete(_client(fake_openai, "bad-huge-reply"))
    assert not isinstance(caught.value, errors.RetryableProviderError), "the same megabytes again"
    assert caught.value.record_category == "api_error"
    assert "larger than max_reply_bytes (1048576 bytes)" in caught.value.message
    # the cap is the deployment's: raised above the reply, the same reply is read
    with pytest.raises(errors.UnusableReplyError):  # read whole: a JSON object, no choices
        _complete(_client(fake_openai, "bad-huge-reply", max_reply_bytes=4 << 20))


def test_an_ordinary_reply_is_not_touched_by_the_checks(fake_openai) -> None:  # type: ignore[no-untyped-def]
    response = _complete(_client(fake_openai, "ok", max_reply_bytes=1000))
    assert (response.prompt_tokens, response.completion_tokens) == (11, 7)
