"""Optional error classification by a model, as WorkflowBench's ``--ai-classification`` does it.

runbench's default classifier (``classifier.classify``) applies fixed rules to what the executor
saw. WorkflowBench can instead ask a model (``txt_based_ai_classifier.py``,
``TxtBasedAIClassifier.classify_from_txt_content``, by default gpt-5-nano) to read the test's log
and name one of the eight model-side categories. This module does the same against a small
protocol, so the engine can route the request through its limits, retries and key handling:

- ``AskModel``: an async callable, prompt in, reply text out (``ask_client`` adapts a
  ``ModelClient``);
- ``render_log`` writes a test's log as text (task, result, conversation), and ``build_prompt``
  wraps it in the instructions below;
- ``classify_with_model`` asks, parses the reply and returns a ``Classification`` that says which
  classifier produced it, so a row classified by a model is never mistaken for a rule-based one.

Same as WorkflowBench: the whole log goes to the model with no rule pre-check; the prompt stresses
that a *tool* returning TIMEOUT is a simulated tool failure the model had to handle, and only the
model's own time-out is ``timeout_errors``; a JSON reply's ``error_type`` is matched against the
categories in their fixed order (value or short name contained in it) and its ``confidence`` is
clamped to [0.1, 1]; a reply without JSON is read by keywords in WorkflowBench's order.

Different, on purpose: the prompt is runbench's own English text with the same rules; a model call
that fails (after the engine's retries) falls back to the rule-based category, recorded as
``rules``, where WorkflowBench guesses by keywords in the log; an unknown or non-numeric
confidence reads as 0.7, where WorkflowBench falls back to keywords.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from runbench.chat import ChatMessage, ChatRequest, ModelClient
from runbench.errors import ProviderError
from runbench.records import MODEL_ERROR_CATEGORIES
from runbench.workload.tools import JsonValue

# WorkflowBench's category order: the first whose value or short name the reply contains wins
_SHORT_NAMES = {
    "tool_call_format_errors": "tool_call_format",
    "timeout_errors": "timeout",
    "max_turns_errors": "max_turns",
    "tool_selection_errors": "tool_selection",
    "parameter_config_errors": "parameter_config",
    "sequence_order_errors": "sequence_order",
    "dependency_errors": "dependency",
    "other_errors": "other",
}
# a reply without JSON: keywords → category, tried in this order (WorkflowBench's)
_KEYWORDS = (
    (("format", "json", "parse"), "tool_call_format_errors"),
    (("timeout", "time"), "timeout_errors"),
    (("turns", "max", "limit"), "max_turns_errors"),
    (("tool", "selection", "wrong"), "tool_selection_errors"),
    (("parameter", "config", "argument"), "parameter_config_errors"),
    (("sequence", "order"), "sequence_order_errors"),
    (("dependency", "depend"), "dependency_errors"),
)
DEFAULT_CONFIDENCE = 0.7
MAX_REASON_CHARS = 300


class AskModel(Protocol):
    """Send one prompt to the classifying model and return its reply text.

    Raises ``ProviderError`` when the call fails for good; the caller owns retries and limits.
    """

    async def __call__(self, prompt: str, /) -> str: ...


@dataclass(frozen=True, slots=True)
class Classification:
    """The category of a non-full test and which classifier chose it."""

    category: str
    classifier: Literal["rules", "ai"]
    model: str | None = None  # the classifying model, when classifier is "ai"
    confidence: float | None = None  # the model's own, clamped to [0.1, 1]
    reason: str | None = None  # the model's reasoning, or why the model was not used

    @property
    def label(self) -> str:
        """What a record stores as its classifier: ``rules`` or ``ai:<model>``."""
        return f"ai:{self.model}" if self.classifier == "ai" else "rules"


@dataclass(frozen=True, slots=True)
class ClassifierInput:
    """What the classifying model reads about one test (WorkflowBench: its TXT log)."""

    test_id: str
    task_type: str
    prompt_type: str
    required_tools: tuple[str, ...]
    status: str
    turns: int
    final_score: float | None
    transcript: Sequence[Mapping[str, JsonValue]]  # executor messages: role, content, tool_calls


def rules_classification(category: str) -> Classification:
    """The default: the rule-based category, recorded as such."""
    return Classification(category, "rules")


def render_log(log: ClassifierInput) -> str:
    """The test as a readable log: header, result, then every message in order."""
    score = "n/a" if log.final_score is None else f"{log.final_score:.3f}"
    lines = [
        f"Test ID: {log.test_id}",
        f"Task Type: {log.task_type}",
        f"Prompt Type: {log.prompt_type}",
        f"Required Tools: {', '.join(log.required_tools)}",
        "",
        "Execution Result:",
        f"  Status: {log.status}",
        f"  Turns: {log.turns}",
        f"  Final Score: {score}",
        "",
        "Conversation:",
    ]
    for number, message in enumerate(log.transcript, start=1):
        lines.append(f"--- Message {number} ({message.get('role', '?')}) ---")
        lines.append(str(message.get("content", "")))
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                arguments = json.dumps(call.get("arguments"), sort_keys=True)
                lines.append(f"Tool call: {call.get('name')} {arguments}")
    return "\n".join(lines)


def build_prompt(log_text: str) -> str:
    """The classification prompt around a rendered log (runbench's wording of WorkflowBench's)."""
    categories = "\n".join(
        f"{number}. {category} - {_MEANINGS[category]}"
        for number, category in enumerate(MODEL_ERROR_CATEGORIES, start=1)
    )
    return f"""You are an expert in testing tool-using workflows. Read the test log below, find \
what the model under test did wrong, and name one error category.

Tell two kinds of time-out apart:
- A TOOL that returns an error such as "ERROR TIMEOUT: operation timed out" is a simulated tool \
failure, a challenge for the model. If the model handled it badly, that is tool_selection_errors \
or sequence_order_errors, not timeout_errors.
- Only the model's OWN time-out (the test or an API call timed out, the model never answered) \
is timeout_errors.

Log:
{log_text}

Categories (of the model's behaviour, not of the tools):
{categories}

Rules:
- A tool failed with TIMEOUT, PERMISSION_DENIED or similar and the model neither retried nor \
chose an alternative: tool_selection_errors.
- The model went on with later tools after a tool they depend on had failed: \
sequence_order_errors.
- The model repeated the same failing call: tool_selection_errors.
- Several replies without a readable tool call: tool_call_format_errors.

Reply with JSON only:
{{"error_type": "<category>", "reasoning": "<why>", "confidence": 0.85, \
"key_evidence": ["<evidence>"]}}
"""


_MEANINGS = {
    "tool_call_format_errors": "tool calls the harness could not read: bad format, bad JSON",
    "timeout_errors": "only the model's own time-out: the test or an API call timed out",
    "max_turns_errors": "the model used up the turn limit",
    "tool_selection_errors": "a wrong or unsuitable tool, or no alternative after a tool failed",
    "parameter_config_errors": "wrong parameter values or configuration for a tool",
    "sequence_order_errors": "tools in the wrong order, or a failed earlier step ignored",
    "dependency_errors": "dependencies between tools not respected",
    "other_errors": "anything that fits none of the above",
}


def parse_reply(text: str) -> tuple[str, float, str | None]:
    """Category, confidence and reasoning from the model's reply, as WorkflowBench reads it."""
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            parsed = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            named = str(parsed.get("error_type", "")).lower()
            category = next(
                (
                    category
                    for category, short in _SHORT_NAMES.items()
                    if category in named or short in named
                ),
                "other_errors",
            )
            confidence = parsed.get("confidence", DEFAULT_CONFIDENCE)
            if not isinstance(confidence, int | float) or isinstance(confidence, bool):
                confidence = DEFAULT_CONFIDENCE
            reasoning = parsed.get("reasoning")
            return (
                category,
                min(max(float(confidence), 0.1), 1.0),
                str(reasoning)[:MAX_REASON_CHARS] if reasoning else None,
            )
    lowered = text.lower()
    for words, category in _KEYWORDS:
        if any(word in lowered for word in words):
            return category, DEFAULT_CONFIDENCE, None
    return "other_errors", 0.5, None


async def classify_with_model(
    ask: AskModel, log: ClassifierInput, *, model: str, rules_category: str
) -> Classification:
    """Classify a non-full test with a model; on a failed call, the rules' category.

    Raises:
        ValueError: the test was a full success (it has no error to classify).
    """
    if log.status == "full_success":
        raise ValueError("a full success has no error category to classify")
    try:
        reply = await ask(build_prompt(render_log(log)))
    except ProviderError as error:  # the test itself is fine; only its label falls back
        return Classification(
            rules_category,
            "rules",
            reason=f"classifier model {model} failed ({type(error).__name__}); rule-based",
        )
    category, confidence, reasoning = parse_reply(reply)
    return Classification(category, "ai", model, confidence, reasoning)


def ask_client(client: ModelClient, *, test_id: str) -> AskModel:
    """An ``AskModel`` over a ``ModelClient``: one user message, the reply's text."""

    async def ask(prompt: str, /) -> str:
        request = ChatRequest((ChatMessage("user", prompt),), test_id=f"{test_id}-classify")
        return (await client.complete(request)).text

    return ask
