"""The one interface every model client implements, and the messages it exchanges.

A client turns a ``ChatRequest`` into a ``ChatResponse`` or raises a ``ProviderError``
subclass. It never sleeps or retries: the runners' retry layer is the only one (STYLE.md §13).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # system, user, assistant or tool
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskOracle:
    """What a *simulated* model may know of its task; real clients ignore it.

    A simulated agent needs the correct workflow and the plan it was shown to behave like a model
    of a given skill (follow, correct, or stray from the plan); a real model only gets messages.
    """

    required_tools: tuple[str, ...]
    shown_plan: tuple[str, ...]
    prompt_type: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    test_id: str
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI function definitions (native protocol)
    oracle: TaskOracle | None = None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)


class ModelClient(Protocol):
    """An async chat client for one model on one endpoint."""

    provider: str
    deployment: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...
