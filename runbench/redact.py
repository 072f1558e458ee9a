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


# C0 and C1 controls, DEL, and the bidirectional overrides and isolates that can make a name
# print as something else (U+202E turns "gpt-4o" around)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_control(text: str) -> str:
    r"""``text`` safe to print: control and bidi characters shown as escapes (``\x1b``).

    Names in a store or a legacy file come from anywhere; printing them raw could rewrite the
    terminal or disguise one model as another.
    """
    return _CONTROL.sub(lambda found: _escaped(found.group()), text)


def _escaped(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
