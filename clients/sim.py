"""Simulated models: deterministic agents of a given skill, for offline runs and tests.

An agent is stateless: each reply is derived from the conversation so far and a generator seeded
by (test id, turn), so the same test gives the same transcript on every machine. Its profile sets
how often it searches before acting, slips on the reply format, picks a wrong tool, omits a
required parameter, follows a flawed plan instead of correcting it, and gives up early.
``sim-flaky`` is ``sim-average`` whose endpoint also fails: retryable errors and 429s at a
steady rate, so runners' retry paths get exercised offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from dataclasses import dataclass

from runbench.clients.base import ChatRequest, ChatResponse, TaskOracle, ToolCall
from runbench.workload.tools import registry

from runbench.errors import RateLimitedError, RetryableProviderError, UsageError


@dataclass(frozen=True, slots=True)
class SimProfile:
    """Per-decision probabilities of one simulated skill level."""

    correct_tool: float
    format_slip: float
    search_first: float
    follow_flaw: float
    give_up: float
    parameters_right: float
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0


PROFILES: dict[str, SimProfile] = {
    "oracle": SimProfile(1.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    "strong": SimProfile(0.96, 0.02, 0.3, 0.25, 0.01, 0.98),
    "average": SimProfile(0.86, 0.07, 0.5, 0.6, 0.04, 0.92),
    "weak": SimProfile(0.66, 0.16, 0.7, 0.9, 0.09, 0.8),
    "flaky": SimProfile(0.86, 0.07, 0.5, 0.6, 0.04, 0.92, error_rate=0.05, rate_limit_rate=0.05),
}
BUILTIN_MODELS = {f"sim-{name}": name for name in PROFILES}
_RESULT = re.compile(r"^\[(\w+)\] (OK|ERROR)", re.MULTILINE)


def _rng(test_id: str, turn: int, purpose: str) -> random.Random:
    return random.Random(
        int(hashlib.sha256(f"{test_id}:{turn}:{purpose}".encode()).hexdigest()[:16], 16)
    )


class SimClient:
    """A simulated model behind the ``ModelClient`` interface."""

    def __init__(
        self,
        model: str,
        profile: str,
        *,
        latency_ms: float = 0.0,
        protocol: str = "tags",
        provider: str = "sim",
        deployment: str | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise UsageError(f"unknown sim profile '{profile}'; profiles: {', '.join(PROFILES)}")
        self.model = model
        self.profile = PROFILES[profile]
        self.latency_ms = latency_ms
        self.protocol = protocol
        self.provider = provider
        self.deployment = deployment or model
        # retries of a request that is failing now; seeds the next fault draw (emptied on success)
        self._failing: dict[tuple[str, int], int] = {}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        turn = sum(message.role == "assistant" for message in request.messages)
        self._maybe_fail(request.test_id, turn)
        if request.oracle is None:
            return ChatResponse("I have no task to work on. TASK_COMPLETED")
        return self._reply(request, request.oracle, turn)

    def _maybe_fail(self, test_id: str, turn: int) -> None:
        """Endpoint faults of sim-flaky, seeded by (test, turn, retry) so a retry can succeed."""
        if not (self.profile.error_rate or self.profile.rate_limit_rate):
            return
        key = (test_id, turn)
        retry = self._failing.get(key, 0)
        draw = _rng(test_id, turn, f"fault-{retry}").random()
        if draw < self.profile.rate_limit_rate + self.profile.error_rate:
            self._failing[key] = retry + 1
            if draw < self.profile.rate_limit_rate:
                raise RateLimitedError(
                    "simulated 429",
                    retry_after_s=0.01,
                    provider=self.provider,
                    deployment=self.deployment,
                )
            raise RetryableProviderError(
                "simulated 503", provider=self.provider, deployment=self.deployment
            )
        self._failing.pop(key, None)

    def _reply(self, request: ChatRequest, oracle: TaskOracle, turn: int) -> ChatResponse:
        rng = _rng(request.test_id, turn, "reply")
        succeeded = [
            tool
            for message in request.messages
            if message.role in ("user", "tool")
            for tool, state in _RESULT.findall(message.content)
            if state == "OK"
        ]
        plan = self._plan(request.test_id, oracle)
        next_tool = _next_step(plan, succeeded)
        profile = self.profile
        prompt_tokens = sum(len(message.content) for message in request.messages) // 4
        if next_tool is None or (turn > 0 and rng.random() < profile.give_up):
            return ChatResponse(
                "All steps are done. TASK_COMPLETED",
                prompt_tokens=prompt_tokens,
                completion_tokens=8,
            )
        if turn == 0 and not oracle.shown_plan and rng.random() < profile.search_first:
            words = next_tool.replace("_", " ")
            return ChatResponse(
                f"Let me find the right tool.\n<tool_search>{words}</tool_search>",
                prompt_tokens=prompt_tokens,
                completion_tokens=12,
            )
        if rng.random() >= profile.correct_tool:
            next_tool = rng.choice([name for name in registry() if name != next_tool])
        parameters = _parameters(next_tool, rng, profile.parameters_right)
        if self.protocol == "native":
            call = ToolCall(f"call_{request.test_id[:8]}_{turn}", next_tool, parameters)
            return ChatResponse("", (call,), prompt_tokens, 15)
        if rng.random() < profile.format_slip:
            return ChatResponse(
                f"Next I will run {next_tool} on the data.",
                prompt_tokens=prompt_tokens,
                completion_tokens=10,
            )
        text = (
            f"Next step: {next_tool}.\n<tool_call>{next_tool} {json.dumps(parameters)}</tool_call>"
        )
        return ChatResponse(text, prompt_tokens=prompt_tokens, completion_tokens=20)

    def _plan(self, test_id: str, oracle: TaskOracle) -> tuple[str, ...]:
        """The plan this agent works to: the shown flawed plan if it falls for the flaw."""
        if oracle.prompt_type.startswith("flawed_") and oracle.shown_plan:
            falls_for_it = _rng(test_id, 0, "flaw").random() < self.profile.follow_flaw
            if falls_for_it:
                return oracle.shown_plan
        return oracle.required_tools


def _next_step(plan: tuple[str, ...], succeeded: list[str]) -> str | None:
    """The first plan step not yet matched, walking the successes in order."""
    position = 0
    for tool in succeeded:
        if position < len(plan) and tool == plan[position]:
            position += 1
    return plan[position] if position < len(plan) else None


def _parameters(tool_name: str, rng: random.Random, right: float) -> dict[str, object]:
    tool = registry()[tool_name]
    values: dict[str, object] = {}
    for parameter in tool.parameters:
        if parameter.required and rng.random() >= right:
            continue  # the slip: a required parameter left out
        if parameter.required:
            values[parameter.name] = {
                "string": "data/input.csv",
                "integer": 3,
                "number": 1.5,
                "boolean": True,
                "object": {"from": "previous step"},
                "array": ["id"],
            }[parameter.type]
    return values
