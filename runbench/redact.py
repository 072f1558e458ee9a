"""Keeping secrets out of messages: the one function every error text passes through.

A provider's error body can echo the key it was sent (OpenAI's 401 does, partly masked), so a
client redacts its own key and anything shaped like a key before a message leaves it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+\S+|[A-Fa-f0-9]{32,})")
MAX_MESSAGE_CHARS = 300


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and key-shaped strings replaced, cut to a short length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _KEY_SHAPES.sub("[redacted]", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
