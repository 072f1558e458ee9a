"""Keeping secrets out of everything runbench writes or prints, and terminals safe from input.

A server can only echo what it was sent: the key (as ``Authorization: Bearer …`` or Azure's
``api-key``), and, had a URL carried credentials, their base64 Basic-auth form. Echoes happen in
error bodies (OpenAI's 401 quotes the key, partly masked) and in ordinary 200 replies from proxies
and test servers that reflect request headers. So every text that leaves a client — reply text,
tool-call arguments, error messages — passes through a ``Redactor`` that knows the client's key in
each form it can take on the wire, and any header-shaped credential whatever its value.

Two strengths: ``Redactor.text`` replaces only what is certainly a secret (a reply must stay the
model's reply, so a hash in it is kept); ``Redactor.message`` (and ``redact``) also removes
anything shaped like a key and cuts the text short, for error lines and records.

``escape_control`` is the other half of "safe to print": names and messages from files and servers
may carry NUL, escape sequences or bidi overrides (U+202E) that would rewrite the terminal.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from typing import Any

MAX_MESSAGE_CHARS = 300
REDACTED = "[redacted]"
_SHORTEST_SECRET = 4  # shorter "secrets" would redact ordinary words

# A credential by its shape, whatever its value: a bearer or basic token, a credential header's
# value, a URL's user:password. Group 1 is kept, the rest replaced.
_CREDENTIAL_SHAPES = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?|\b(?:x-)?api-key[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:bearer|basic)\s+)?[^\s\"',;}\]]+"
    r"|(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}"
    r"|(\b[a-z][a-z0-9+.\-]*://)[^/\s:@\"']+:[^/\s@\"']*@"
)
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|[A-Fa-f0-9]{32,})")
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]"
)
_CONTROL_WITH_LINES = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]"
)


def _keep_prefix(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or match.group(3) or "") + REDACTED


def encoded_forms(secret: str) -> tuple[str, ...]:
    """The secret as it may appear inside base64 text (e.g. Basic auth of ``user:secret``).

    Base64 encodes three bytes in four characters, so the secret's encoding depends on how many
    bytes precede it: one stable middle part per alignment (0, 1, 2), in both alphabets.
    """
    raw = secret.encode()
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        first_group = 1 if offset else 0
        full_groups = (offset + len(raw)) // 3
        middle = encoded[first_group * 4 : full_groups * 4]
        if len(middle) >= 8:
            forms.add(middle)
            forms.add(middle.replace("+", "-").replace("/", "_"))
    return tuple(sorted(forms, key=len, reverse=True))


class Redactor:
    """Removes a fixed set of secrets, in every form, and credential-shaped text.

    Built once per client (or per run, with every configured key), used on every text that
    leaves it; holds no state that changes.
    """

    __slots__ = ("_forms",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= _SHORTEST_SECRET:
                forms.add(secret)
                forms.update(encoded_forms(secret))
        self._forms = tuple(sorted(forms, key=len, reverse=True))

    def text(self, text: str) -> str:
        """``text`` without the secrets and credential-shaped values; otherwise unchanged."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return _CREDENTIAL_SHAPES.sub(_keep_prefix, text)

    def message(self, text: str) -> str:
        """A short, safe message: ``text`` redacted, key-shaped strings removed, cut short."""
        text = _KEY_SHAPES.sub(REDACTED, self.text(text))
        return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"

    def value(self, value: Any) -> Any:
        """A JSON-like value (a transcript) with every string in it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and key-shaped strings replaced, cut to a short length."""
    return Redactor(secrets).message(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message (install it on a handler).

    Log lines can quote request headers or error bodies; formatting first and redacting the result
    catches secrets passed as arguments as well as in the format string.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.text(record.getMessage())
        record.args = None
        return True


def escape_control(text: str, *, keep_newlines: bool = False) -> str:
    r"""``text`` safe for a terminal: control, bidi and invisible characters as escapes.

    A name from a legacy file or a server (``gpt\x00`` or ``a\u202eb``) must print as what it is,
    not move the cursor or reverse the line. Tabs and newlines are escaped too, unless
    ``keep_newlines`` (for multi-line text), when both stay.
    """
    pattern = _CONTROL if keep_newlines else _CONTROL_WITH_LINES

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        if code == 0x09 and not keep_newlines:
            return "\\t"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return pattern.sub(escape, text)
