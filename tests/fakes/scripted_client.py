"""A model client that answers from a script: the in-process fake every workload test shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from runbench.chat import ChatRequest, ChatResponse


@dataclass
class ScriptedClient:
    """Answers each request with the next scripted reply, keeping every request it got.

    A reply is a ``ChatResponse``, plain text (wrapped in one), or an exception to raise. Past
    the end of the script the last reply repeats, so a test may take more turns than scripted.
    """

    replies: list[ChatResponse | str | BaseException]
    provider: str = "test"
    deployment: str = "scripted"
    requests: list[ChatRequest] = field(default_factory=list)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        if isinstance(reply, BaseException):
            raise reply
        return ChatResponse(reply) if isinstance(reply, str) else reply

    async def aclose(self) -> None:
        """Nothing to release."""
