"""A run's manifest: what produced its records, written through the Store at start and at end.

Records carry a ``run_id``; the manifest under that id says what ran them — the command line,
runbench's version and git revision, digests of the configuration and of the plan, where the
store is, which host, when, how many tests and with which exit code — so a number in a report
can be traced to the command that made it. It is written when the run starts (a run killed with
``kill -9`` still leaves one, with no end) and again, complete, when it ends.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from runbench.redact import Redactor
from runbench.storage.liveness import ProcessIdentity

MANIFEST_VERSION = 1


def start_manifest(
    run_id: str,
    request_json: str,
    config_path: Path | None,
    store_path: Path,
    command: Sequence[str],
) -> dict[str, Any]:
    """The manifest of a run that is starting (no end time, counts or exit code yet)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "command": list(command),
        "runbench_version": version("runbench"),
        "git_revision": _git_revision(),
        "config": str(config_path) if config_path else None,
        "config_digest": _config_digest(config_path),
        "plan_digest": hashlib.sha256(request_json.encode()).hexdigest()[:16],
        "storage": str(store_path),
        "host": socket.gethostname(),
        # who writes it: a run that never ended is "killed" once this process is gone
        "process": asdict(ProcessIdentity.current()),
        "started_at": _now(),
        "ended_at": None,
        "counts": None,
        "exit_code": None,
        "outcome": None,
        "error": None,
    }


def finish_manifest(
    manifest: dict[str, Any],
    counts: dict[str, int],
    code: int,
    outcome: str = "finished",
    error: str | None = None,
) -> dict[str, Any]:
    """The same manifest, complete: end time, counts, exit code and how the run ended.

    ``outcome`` is ``finished``, ``interrupted``, ``timed_out``, ``failed`` (a store error or a
    full disk ended it; ``error`` says which) or ``crashed`` (a bug).
    """
    return {
        **manifest,
        "ended_at": _now(),
        "counts": counts,
        "exit_code": code,
        "outcome": outcome,
        "error": error,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _config_digest(path: Path | None) -> str | None:
    """sha256 of the config file as it was read, with any key-shaped text redacted first.

    Literal keys are refused at load, so redaction is belt and braces: the digest identifies the
    configuration without ever hashing a secret that someone could brute-force back.
    """
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    return hashlib.sha256(Redactor(()).text(text).encode()).hexdigest()[:16]


def _git_revision() -> str | None:
    """The revision of the runbench checkout this code runs from, when it is one."""
    folder = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
