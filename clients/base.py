"""Re-export of the client interface, which now lives in the core module ``runbench.chat``.

The interface moved so that ``workload`` no longer imports ``clients`` (issue 8); this module
keeps old imports working until every caller imports ``runbench.chat``.
"""

from __future__ import annotations

from runbench.chat import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Embedder,
    ModelClient,
    TaskOracle,
    ToolCall,
)

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Embedder",
    "ModelClient",
    "TaskOracle",
    "ToolCall",
]
