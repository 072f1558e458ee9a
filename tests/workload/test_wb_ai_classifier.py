"""The optional AI classifier: WorkflowBench's semantics against a scripted model."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from runbench.errors import RateLimitedError
from runbench.records import MODEL_ERROR_CATEGORIES
from runbench.workload.ai_classifier import (
    Classification,
    ClassifierInput,
    ask_client,
    build_prompt,
    classify_with_model,
    parse_reply,
    render_log,
    rules_classification,
)
from tests.fakes.scripted_client import ScriptedClient

LOG = ClassifierInput(
    test_id="0123456789abcdef0123456789abcdef",
    task_type="api_integration",
    prompt_type="optimal",
    required_tools=("storage_loader", "web_sender"),
    status="partial_success",
    turns=3,
    final_score=0.4,
    transcript=(
        {"role": "user", "content": "Post the summary."},
        {
            "role": "assistant",
            "content": "Calling the loader.",
            "tool_calls": [{"id": "c1", "name": "storage_loader", "arguments": {"key": "k"}}],
        },
        {"role": "tool", "content": "[storage_loader] ERROR TIMEOUT: operation timed out"},
        {"role": "assistant", "content": "TASK_COMPLETED"},
    ),
)


def _classify(client: ScriptedClient, log: ClassifierInput = LOG) -> Classification:
    ask = ask_client(client, test_id=log.test_id)
    return asyncio.run(
        classify_with_model(ask, log, model="gpt-5-nano", rules_category="timeout_errors")
    )


def test_a_json_reply_names_the_category_confidence_and_reasoning_and_says_ai() -> None:
    reply = json.dumps(
        {
            "error_type": "tool_selection_errors",
            "reasoning": "the loader timed out and the model gave up",
            "confidence": 0.85,
            "key_evidence": ["ERROR TIMEOUT"],
        }
    )
    client = ScriptedClient([f"Here is my analysis:\n{reply}\nDone."])
    result = _classify(client)
    assert result == Classification(
        "tool_selection_errors",
        "ai",
        "gpt-5-nano",
        0.85,
        "the loader timed out and the model gave up",
    )
    assert result.label == "ai:gpt-5-nano"


def test_the_model_reads_the_whole_log_in_one_user_message() -> None:
    client = ScriptedClient(['{"error_type": "other_errors"}'])
    _classify(client)
    (request,) = client.requests
    assert request.test_id == f"{LOG.test_id}-classify"
    (message,) = request.messages
    assert message.role == "user"
    assert message.content == build_prompt(render_log(LOG))
    assert "[storage_loader] ERROR TIMEOUT: operation timed out" in message.content
    assert 'Tool call: storage_loader {"key": "k"}' in message.content


def test_the_prompt_lists_the_eight_categories_and_the_two_kinds_of_timeout() -> None:
    prompt = build_prompt("LOG")
    for number, category in enumerate(MODEL_ERROR_CATEGORIES, start=1):
        assert f"\n{number}. {category} - " in prompt
    assert "simulated tool failure" in prompt and "model's OWN time-out" in prompt
    assert '"error_type"' in prompt and "\nLOG\n" in prompt


def test_the_rendered_log_carries_task_result_and_every_message() -> None:
    text = render_log(LOG)
    assert text.splitlines()[:9] == [
        f"Test ID: {LOG.test_id}",
        "Task Type: api_integration",
        "Prompt Type: optimal",
        "Required Tools: storage_loader, web_sender",
        "",
        "Execution Result:",
        "  Status: partial_success",
        "  Turns: 3",
        "  Final Score: 0.400",
    ]
    assert text.count("--- Message ") == 4
    assert text.endswith("--- Message 4 (assistant) ---\nTASK_COMPLETED")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # the category's value, or its short name, anywhere in error_type; fixed order
        (
            '{"error_type": "sequence_order_errors", "confidence": 0.9}',
            ("sequence_order_errors", 0.9),
        ),
        ('{"error_type": "Dependency", "confidence": 0.6}', ("dependency_errors", 0.6)),
        ('{"error_type": "tool_call_format / timeout"}', ("tool_call_format_errors", 0.7)),
        ('{"error_type": "hallucination", "confidence": 0.9}', ("other_errors", 0.9)),
        # confidence clamped to [0.1, 1]; a non-number reads as 0.7
        ('{"error_type": "max_turns_errors", "confidence": 3}', ("max_turns_errors", 1.0)),
        ('{"error_type": "max_turns_errors", "confidence": 0}', ("max_turns_errors", 0.1)),
        ('{"error_type": "max_turns_errors", "confidence": "high"}', ("max_turns_errors", 0.7)),
        # no JSON: keywords in WorkflowBench's order
        ("The JSON of the call was broken", ("tool_call_format_errors", 0.7)),
        ("It ran out of time", ("timeout_errors", 0.7)),
        ("Too many turns", ("max_turns_errors", 0.7)),
        ("It picked the wrong tool", ("tool_selection_errors", 0.7)),
        ("A bad argument", ("parameter_config_errors", 0.7)),
        ("Steps out of sequence", ("sequence_order_errors", 0.7)),
        ("It ignored what it depends on", ("dependency_errors", 0.7)),
        ("I cannot tell", ("other_errors", 0.5)),
        ("{no idea}", ("other_errors", 0.5)),
    ],
)
def test_replies_are_read_as_workflowbench_reads_them(
    reply: str, expected: tuple[str, float]
) -> None:
    category, confidence, _ = parse_reply(reply)
    assert (category, confidence) == expected


def test_a_failed_model_call_keeps_the_rule_based_category_recorded_as_rules() -> None:
    client = ScriptedClient([RateLimitedError("429 from the classifier endpoint")])
    result = _classify(client)
    assert result.category == "timeout_errors"
    assert result.classifier == "rules" and result.label == "rules"
    assert result.reason == "classifier model gpt-5-nano failed (RateLimitedError); rule-based"


def test_cancellation_is_never_swallowed() -> None:
    client = ScriptedClient([asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        _classify(client)


def test_a_full_success_is_not_classified() -> None:
    full = dataclasses.replace(LOG, status="full_success", final_score=1.0)
    with pytest.raises(ValueError, match="full success"):
        _classify(ScriptedClient(['{"error_type": "other_errors"}']), full)


def test_the_default_is_the_rule_based_category_recorded_as_rules() -> None:
    assert rules_classification("dependency_errors") == Classification("dependency_errors", "rules")
    assert rules_classification("dependency_errors").label == "rules"
