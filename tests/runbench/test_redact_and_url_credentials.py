"""Secrets in every form are redacted; URL credentials are refused; control characters escaped."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from runbench.config import configured_secrets, load_config
from runbench.errors import ConfigError
from runbench.redact import (
    MAX_MESSAGE_CHARS,
    RedactingFilter,
    Redactor,
    encoded_forms,
    escape_control,
    redact,
)

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "user:", "Bearer ", "x" * 17])
def test_the_key_inside_any_base64_text_is_redacted(prefix: str) -> None:
    encoded = base64.b64encode(f"{prefix}{SENTINEL}!tail".encode()).decode()
    cleaned = Redactor([SENTINEL]).text(f"echo {encoded} end")
    assert not any(form in cleaned for form in encoded_forms(SENTINEL))
    assert cleaned.startswith("echo ") and cleaned.endswith(" end")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer abc.def-123456", "Authorization: "),
        ('{"authorization": "Bearer zzzzzzzzzzzz"}', '{"authorization": "'),
        ("api-key: 0123456789", "api-key: "),
        ("'X-Api-Key': 'hunter2hunter2'", "'X-Api-Key': '"),
        ("Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==", "Proxy-Authorization: "),
        ("call https://user:pa55@host.example/v1 now", "call https://"),
        ("token Bearer abcdefghijkl", "token Bearer "),
    ],
)
def test_credential_shaped_values_are_redacted_whatever_the_key(text: str, kept: str) -> None:
    cleaned = Redactor().text(text)
    assert "[redacted]" in cleaned and cleaned.startswith(kept)
    for secret in ("abc.def-123456", "zzzzzzzzzzzz", "0123456789", "hunter2", "dXNlcjpw", "pa55"):
        assert secret not in cleaned


def test_reply_text_keeps_hashes_but_messages_drop_key_shapes() -> None:
    digest = "0123456789abcdef" * 2
    assert Redactor([SENTINEL]).text(f"checksum {digest}") == f"checksum {digest}"
    assert digest not in redact(f"checksum {digest}")
    assert len(redact("x" * 1000)) == MAX_MESSAGE_CHARS


def test_transcripts_are_redacted_as_values() -> None:
    transcript = [{"role": "assistant", "content": f"I saw {SENTINEL}", "n": 3}]
    assert Redactor([SENTINEL]).value(transcript) == [
        {"role": "assistant", "content": "I saw [redacted]", "n": 3}
    ]


def test_log_lines_are_redacted_including_their_arguments() -> None:
    record = logging.LogRecord("runbench", logging.INFO, __file__, 1, "sent %s", (SENTINEL,), None)
    RedactingFilter(Redactor([SENTINEL])).filter(record)
    assert record.getMessage() == "sent [redacted]"


def _config(tmp_path: Path, url_line: str) -> Path:
    path = tmp_path / "runbench.toml"
    path.write_text(
        f'[providers.p]\nkind = "openai"\n{url_line}\napi_key_env = "P_KEY"\n'
        '[models.m]\nprovider = "p"\n'
    )
    return path


@pytest.mark.parametrize(
    "url_line",
    [
        'base_url = "http://user:secretpw@127.0.0.1:9/v1"',
        'base_url = "https://token@host.example/v1"',
    ],
)
def test_credentials_in_a_base_url_are_refused_with_a_hint(tmp_path: Path, url_line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, url_line))
    assert "providers.p.base_url carries credentials" in caught.value.message
    assert "\n" not in caught.value.message
    assert "secretpw" not in caught.value.message
    assert caught.value.hint is not None and "api_key_env" in caught.value.hint


def test_credentials_in_a_deployment_url_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "runbench.toml"
    path.write_text(
        '[providers.p]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "K"\n'
        '[models.m]\nprovider = "p"\n'
        'deployments = [{name = "d", base_url = "http://u:pw@127.0.0.1:9/v1"}]\n'
    )
    with pytest.raises(ConfigError, match=r"deployments\[0\]\.base_url carries credentials"):
        load_config(path)


def test_configured_secrets_are_the_set_key_variables(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'base_url = "http://127.0.0.1:9/v1"'))
    assert configured_secrets(config, {"P_KEY": SENTINEL, "OTHER": "x"}) == (SENTINEL,)
    assert configured_secrets(config, {}) == ()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("gpt\x00-4o", "gpt\\x00-4o"),
        ("abc\u202edef", "abc\\u202edef"),
        ("a\x1b[31mred", "a\\x1b[31mred"),
        ("line\nbreak\ttab", "line\\x0abreak\\ttab"),
        ("caf\u00e9 ok", "caf\u00e9 ok"),
        ("\x7f\x85\u2066", "\\x7f\\x85\\u2066"),
    ],
)
def test_control_characters_are_escaped_before_printing(text: str, shown: str) -> None:
    assert escape_control(text) == shown


def test_newlines_may_be_kept_for_multi_line_text() -> None:
    assert escape_control("a\nb\x00", keep_newlines=True) == "a\nb\\x00"
