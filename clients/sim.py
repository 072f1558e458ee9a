"""Simulated models: deterministic agents of a given skill, for offline runs and tests.

An agent is stateless: each reply is derived from the conversation so far and a generator seeded
by (test id, turn), so the same test gives the same transcript on every machine. It works to a
plan (the correct workflow, or the shown flawed plan if it falls for the flaw) and, each turn,
calls the plan's next step that has not yet succeeded, retrying a failed step. Its profile sets
how often it slips; the slips are what real models do on WorkflowBench:

- picks a wrong tool or skips ahead a step (less often when a plan is shown, somewhat less with
  chain of thought; more often on harder task types and difficulties, ``HARDNESS``);
- searches before acting when no plan is shown, slips on the reply format or leaves a required
  parameter out (each costs a turn); under WorkflowBench's protocol (a registry file) it
  searches for every tool it has not read the name of, in one reply, and calls by name only;
- says it is done before it is, and sticks to that (the executor ignores an early "done", so the
  test runs out of turns, as models that declare victory early do);
- falls for a flawed plan: follows its order, its wrong tools, its missing and drifted steps,
  skips a step whose input it was told is unreadable, and repeats a call with the wrong
  parameters it was told to use.

``sim-oracle`` never slips. ``sim-flaky`` is ``sim-average`` whose endpoint also fails:
retryable errors and 429s at a steady rate, so runners' retry paths get exercised offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from dataclasses import dataclass

from runbench.chat import ChatRequest, ChatResponse, TaskOracle, ToolCall
from runbench.errors import RateLimitedError, RetryableProviderError, UsageError
from runbench.workload.tools import registry


@dataclass(frozen=True, slots=True)
class SimProfile:
    """Per-decision probabilities of one simulated skill level (before task hardness)."""

    wrong_tool: float
    format_slip: float
    search_first: float
    follow_flaw: float
    give_up: float
    parameters_right: float
    skip_ahead: float
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0


PROFILES: dict[str, SimProfile] = {
    "oracle": SimProfile(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "strong": SimProfile(0.05, 0.02, 0.3, 0.25, 0.02, 0.97, 0.03),
    "average": SimProfile(0.12, 0.06, 0.5, 0.55, 0.05, 0.92, 0.07),
    "weak": SimProfile(0.24, 0.14, 0.7, 0.85, 0.1, 0.82, 0.14),
    "flaky": SimProfile(
        0.12, 0.06, 0.5, 0.55, 0.05, 0.92, 0.07, error_rate=0.05, rate_limit_rate=0.05
    ),
}
BUILTIN_MODELS = {f"sim-{name}": name for name in PROFILES}
# how much a shown plan or chain of thought cuts tool-choice slips
GUIDANCE = {"baseline": 1.0, "cot": 0.75, "optimal": 0.3}
FLAWED_GUIDANCE = 0.3
# how much harder a task type and a difficulty make every slip
HARDNESS = {
    "simple_task": 0.5,
    "basic_task": 0.7,
    "data_pipeline": 1.0,
    "api_integration": 1.2,
    "multi_stage_pipeline": 2.0,
    "very_easy": 0.7,
    "easy": 0.85,
    "medium": 1.0,
    "hard": 1.2,
    "very_hard": 1.4,
}
STUBBORN_RETRIES = 2  # wrong-parameter calls an agent that fell for parameter_error makes
_RESULT = re.compile(r"^\[(\w+)\] (OK|ERROR)( INVALID_INPUT)?", re.MULTILINE)
# WorkflowBench's outcome lines (``wb_feedback.outcome_line``)
_WB_RESULT = re.compile(r"^(?:✅ (\w+) executed successfully\.|❌ (\w+) failed\.)$", re.MULTILINE)


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

    async def aclose(self) -> None:
        """Nothing to release: a simulated model holds no connections."""

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
        succeeded, invalid = _history(request)
        plan, stubborn = self._plan(request.test_id, oracle)
        next_index = _next_index(plan, succeeded)
        profile = self.profile
        slip = _slip_factor(oracle)
        prompt_tokens = sum(len(message.content) for message in request.messages) // 4
        gave_up = any(
            message.role == "assistant" and "TASK_COMPLETED" in message.content
            for message in request.messages
        )
        if next_index is None or gave_up or (turn > 0 and rng.random() < profile.give_up * slip):
            return ChatResponse(
                "All steps are done. TASK_COMPLETED",
                prompt_tokens=prompt_tokens,
                completion_tokens=8,
            )
        next_tool = plan[next_index]
        if oracle.workflowbench:
            unknown = _unread_tools(request, plan[next_index:])
            if next_tool in unknown:
                queries = "".join(
                    f"<tool_search>{name.replace('_', ' ')}</tool_search>" for name in unknown
                )
                return ChatResponse(
                    f"I need to find the tools for this task first.\n{queries}",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=12 * len(unknown),
                )
        elif turn == 0 and not oracle.shown_plan and rng.random() < profile.search_first:
            words = next_tool.replace("_", " ")
            return ChatResponse(
                f"Let me find the right tool.\n<tool_search>{words}</tool_search>",
                prompt_tokens=prompt_tokens,
                completion_tokens=12,
            )
        draw = rng.random()
        if draw < profile.wrong_tool * slip:
            names = oracle.tool_names or tuple(registry())
            next_tool = rng.choice([name for name in names if name != next_tool])
        elif draw < (profile.wrong_tool + profile.skip_ahead) * slip and next_index + 1 < len(plan):
            next_tool = plan[next_index + 1]
        if oracle.workflowbench:  # WorkflowBench reads names only: the call is the name
            if rng.random() < profile.format_slip:
                return ChatResponse(
                    f"Next I will run {next_tool} on the data.",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=10,
                )
            return ChatResponse(
                f"Next step: {next_tool}.\n<tool_call>{next_tool}</tool_call>",
                prompt_tokens=prompt_tokens,
                completion_tokens=15,
            )
        parameters = _parameters(next_tool, rng, profile.parameters_right)
        repeats_flaw = next_index in stubborn and invalid.get(next_tool, 0) < STUBBORN_RETRIES
        if repeats_flaw and next_tool == plan[next_index] and parameters:
            parameters.pop(next(iter(parameters)))  # the flawed plan's wrong parameter
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

    def _plan(self, test_id: str, oracle: TaskOracle) -> tuple[tuple[str, ...], frozenset[int]]:
        """The plan this agent works to, and the steps whose wrong parameters it repeats.

        An agent falls for a flaw (decided once per test) more easily on a harder task type; it
        then works to the shown plan, minus
        the steps it was told cannot read their input, and keeps the wrong parameters it read.
        """
        plan, stubborn = self._chosen_plan(test_id, oracle)
        if oracle.tool_dependencies:
            return _with_dependencies(plan, dict(oracle.tool_dependencies)), frozenset()
        return plan, stubborn

    def _chosen_plan(
        self, test_id: str, oracle: TaskOracle
    ) -> tuple[tuple[str, ...], frozenset[int]]:
        flawed = oracle.prompt_type.startswith("flawed_") and oracle.shown_plan
        falls_for_it = self.profile.follow_flaw * HARDNESS.get(oracle.task_type, 1.0)
        if not flawed or _rng(test_id, 0, "flaw").random() >= falls_for_it:
            return oracle.required_tools, frozenset()
        notes = oracle.plan_notes or ("",) * len(oracle.shown_plan)
        if oracle.prompt_type == "flawed_logical_inconsistency":
            kept = [
                tool
                for index, tool in enumerate(oracle.shown_plan)
                if index == 0 or not notes[index - 1]
            ]
            return tuple(kept), frozenset()
        stubborn = frozenset(index for index, note in enumerate(notes) if "=null" in note)
        return oracle.shown_plan, stubborn


def _with_dependencies(
    plan: tuple[str, ...], dependencies: dict[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """The plan with every step's dependencies (transitively) run before it, once each.

    Under WorkflowBench's rule each unmet dependency halves a call's chance, and the system
    prompt tells the model to run dependencies first; a skilled agent does.
    """
    ordered: list[str] = []
    planned: set[str] = set()

    def add(name: str, visiting: frozenset[str]) -> None:
        for dependency in dependencies.get(name, ()):
            if dependency not in ordered and dependency not in visiting:
                add(dependency, visiting | {name})
        ordered.append(name)

    for step in plan:
        if step in ordered and step not in planned:
            planned.add(step)  # already run as an earlier step's dependency
            continue
        planned.add(step)
        add(step, frozenset())
    return tuple(ordered)


def _slip_factor(oracle: TaskOracle) -> float:
    """How likely slips are on this task under this prompt, relative to the profile's rates."""
    if oracle.prompt_type.startswith("flawed_"):
        guidance = FLAWED_GUIDANCE
    else:
        guidance = GUIDANCE.get(oracle.prompt_type, 1.0)
    return guidance * HARDNESS.get(oracle.task_type, 1.0) * HARDNESS.get(oracle.difficulty, 1.0)


def _history(request: ChatRequest) -> tuple[list[str], dict[str, int]]:
    """Tools that succeeded, in order, and how often each failed for a missing parameter."""
    succeeded: list[str] = []
    invalid: dict[str, int] = {}
    for message in request.messages:
        if message.role not in ("user", "tool"):
            continue
        for tool, state, invalid_input in _RESULT.findall(message.content):
            if state == "OK":
                succeeded.append(tool)
            elif invalid_input:
                invalid[tool] = invalid.get(tool, 0) + 1
        succeeded.extend(ok for ok, _ in _WB_RESULT.findall(message.content) if ok)
    return succeeded, invalid


def _unread_tools(request: ChatRequest, steps: tuple[str, ...]) -> list[str]:
    """Plan steps whose name the agent has not read yet and has not searched for.

    Under WorkflowBench's protocol an agent knows a tool once its name was in the prompt (a
    shown plan) or in a search result or tool details; it searches once for each tool it does
    not know, and calls a tool it searched for even when the search did not list it.
    """
    read = "\n".join(message.content for message in request.messages if message.role != "assistant")
    asked = "\n".join(m.content for m in request.messages if m.role == "assistant")
    return list(
        dict.fromkeys(
            name
            for name in steps
            if name not in read
            and f"<tool_search>{name.replace('_', ' ')}</tool_search>" not in asked
        )
    )


def _next_index(plan: tuple[str, ...], succeeded: list[str]) -> int | None:
    """The first plan step not yet matched, walking the successes in order."""
    position = 0
    for tool in succeeded:
        if position < len(plan) and tool == plan[position]:
            position += 1
    return position if position < len(plan) else None


def _parameters(tool_name: str, rng: random.Random, right: float) -> dict[str, object]:
    tool = registry().get(tool_name)
    values: dict[str, object] = {}
    if tool is None:
        return values
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
