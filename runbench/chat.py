"""The interface between a model and the workload: messages, requests, replies, the client seam.

Both sides need these types: ``workload`` builds requests and reads replies, ``clients`` turns
requests into provider calls. Keeping them in the core (which imports nothing above it) is what
lets data flow one way, clients → workload, with no cycle between the two packages (issue 8).

A client turns a ``ChatRequest`` into a ``ChatResponse`` or raises a ``ProviderError``
subclass. It never sleeps or retries: the runners' retry layer is the only one (STYLE.md §13).
An ``Embedder`` turns texts into vectors; the workflow scorer uses one, when configured, to
match a required tool with a similar tool the model called (docs/SCORING.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call of the native protocol, as the model stated it."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation; ``tool_call_id`` answers a native tool call."""

    role: str  # system, user, assistant or tool
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskOracle:
    """What a *simulated* model may know of its task; real clients ignore it.

    A simulated agent needs the correct workflow and the plan it was shown to behave like a model
    of a given skill (follow, correct, or stray from the plan); a real model only gets messages.
    Task type and difficulty let a simulated agent find some tasks harder than others, as real
    models do.
    """

    required_tools: tuple[str, ...]
    shown_plan: tuple[str, ...]
    prompt_type: str
    task_type: str = ""
    difficulty: str = ""
    plan_notes: tuple[str, ...] = ()  # the note of each shown step ("" when none)
    # the run's registry names; a sim picks wrong tools among them
    tool_names: tuple[str, ...] = ()
    # WorkflowBench's protocol: a tool is called by name only, once the agent has read its name
    workflowbench: bool = False
    # each tool's dependencies as the registry lists them (search results and tool details show
    # them to a model); a sim runs a step's dependencies first
    tool_dependencies: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One model call: the conversation so far, the offered tools, and the sim's oracle."""

    messages: tuple[ChatMessage, ...]
    test_id: str
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI function definitions (native protocol)
    oracle: TaskOracle | None = None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """A model's reply: text, native tool calls, and token counts when the provider gives them."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)


class ModelClient(Protocol):
    """An async chat client for one model on one endpoint."""

    provider: str
    deployment: str

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion. Raises a ``ProviderError`` subclass on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the client is not used afterwards."""
        ...


class Embedder(Protocol):
    """Texts to vectors, for semantic matching of tools (e.g. ``text-embedding-3-large``).

    ``name`` is what a record states as the similarity source, e.g. ``embeddings:<model>``.
    """

    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises a ``ProviderError`` subclass on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the embedder is not used afterwards."""
        ...


__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Embedder",
    "ModelClient",
    "TaskOracle",
    "ToolCall",
]
