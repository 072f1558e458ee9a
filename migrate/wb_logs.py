"""Importing WorkflowBench's per-test logs as one row per log, each with its transcript.

WorkflowBench (``BatchTestRunner.run_single_test``) writes one ``<test_id>_log.json`` per test
into ``workflow_quality_results/test_logs/``. ``import_logs`` reads every ``*_log.json`` under a
folder, one file at a time (memory is bounded by one log plus one batch of rows), into suite
``legacy-logs``:

- **Identity.** The row's test id is content-addressed from the log's own ``test_id`` and
  ``timestamp`` (the file name when those are missing), and its run id is fixed, so importing the
  same logs again — from any folder — adds nothing.
- **Mapping.** model: the log's ``model``, else the prefix of its ``test_id`` before the task type
  (WorkflowBench writes ``DeepSeek-V3-0324`` as ``DeepSeek_V3_0324``; a known model gets its
  canonical name back, see ``KNOWN_MODELS``), ``unknown`` for the runner's timeout logs, which
  name none; prompt type, flaw and task type as logged; task id ``task_instance.id``, else the
  ``inst<task id>_`` part of the test id; instance: the task id's hash and how many logs of the
  same model, prompt type and task came before (in file-name order), so ``compare`` pairs two
  models' logs of one task (see ``task_instance_number``). Difficulty and tool success rate are
  not in the logs: rows get WorkflowBench's defaults (``easy``, 0.8), named in ``ASSUMED``.
- **Verdict.** WorkflowBench's scores and ``success`` are kept as logged; status is its batch
  runner's level (full when workflow and phase 2 are both ≥ 0.8, partial when it said success).
- **Disturbed logs.** A log with a non-empty ``api_issues`` or no conversation was disturbed by
  the API or the runner (retries exhausted, timeouts, broken pipes, 502s), never a fair judgement
  of the model: it becomes an error row (``status = error``) with its infrastructure category,
  and WorkflowBench's own verdict is kept beside it (its scores, and ``error_message`` saying
  what it counted).
- **Transcript.** Saved through the store: ``messages`` is the ``conversation_history`` exactly as
  logged and ``log`` holds every other field of the log as logged (prompt, task instance,
  execution history, extracted calls, API issues, result), so ``show``/``view`` display the
  conversation and ``rescore`` can judge it again.

A file that is not a readable log (torn JSON, not an object, an unknown prompt or task type) is
named with its reason and skipped; the rest is imported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbench.errors import LegacyFormatError
from runbench.records import KEY_FIELDS, PROMPT_TYPES, TASK_TYPES, Record, flaw_of
from runbench.redact import REDACTED, Redactor, redact
from runbench.storage import Store
from runbench.storage.base import key_strings

LOGS_SUITE = "legacy-logs"
LOGS_SUITE_VERSION = "1"
LOGS_RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "runbench:legacy-logs"))
LOG_SUFFIX = "_log.json"
TRANSCRIPT_FORMAT = "workflowbench-log"
ASSUMED_DIFFICULTY = "easy"
ASSUMED_RATE = 0.8
ASSUMED = {"difficulty": ASSUMED_DIFFICULTY, "tool_success_rate": ASSUMED_RATE}
UNKNOWN_MODEL = "unknown"
# the models WorkflowBench's logs name with '-' and '.' replaced by '_' (batch_test_runner.py)
KNOWN_MODELS = (
    "DeepSeek-V3-0324",
    "DeepSeek-R1-0528",
    "Llama-3.3-70B-Instruct",
    "qwen2.5-3b-instruct",
    "qwen2.5-7b-instruct",
    "qwen2.5-14b-instruct",
    "qwen2.5-32b-instruct",
    "qwen2.5-72b-instruct",
    "gpt-4o-mini",
    "gpt-5-mini",
)
MAX_LOG_BYTES = 64 * 2**20  # the largest real log is a few hundred KB
_BATCH_ROWS = 500
_WRITERS = 8  # transcripts saved at once: fsyncs overlap in the file system's journal
# an OpenAI-style secret key (sk-… of 16+ characters); the redactor's wider key shape would also
# take 32-hex-digit ids, which logs hold and must keep
_API_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")
_TASK_ID = re.compile(r"_inst(.+?)_test\d+_")
_FULL = 0.8


def _table(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``document[key]`` when it is a JSON object, else an empty one."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _safe(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


_CANONICAL = {_safe(name): name for name in KNOWN_MODELS}


@dataclass(frozen=True, slots=True)
class DamagedLog:
    """A file that was not imported, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class LogImportReport:
    """What one import did: rows added, already there, error rows among them, files refused."""

    source: Path
    files: int = 0
    imported: int = 0
    already_present: int = 0
    errors: int = 0
    damaged: list[DamagedLog] = field(default_factory=list)
    by_model: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def describe(self) -> list[str]:
        """The lines the CLI prints."""
        lines = [
            f"{self.files} log(s) read from {self.source}: {self.imported} imported "
            f"({self.errors} disturbed by the API or runner, kept as error rows), "
            f"{self.already_present} already present, {len(self.damaged)} damaged"
            + (" (dry run: nothing written)" if self.dry_run else "")
        ]
        lines += [f"  {model}: {count}" for model, count in sorted(self.by_model.items())]
        assumed = ", ".join(f"{key} {value}" for key, value in ASSUMED.items())
        lines.append(f"not in the logs, assumed as WorkflowBench's defaults: {assumed}")
        return lines


def log_files(folder: Path) -> Iterator[Path]:
    """Every ``*_log.json`` under ``folder``, in a stable order (names sorted per folder)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(LOG_SUFFIX):
                yield Path(root) / name


def read_log(path: Path) -> dict[str, Any]:
    """The JSON object of one log file.

    Raises:
        LegacyFormatError: unreadable, too large, not JSON, or not an object.
    """
    try:
        if path.stat().st_size > MAX_LOG_BYTES:
            raise LegacyFormatError(f"larger than {MAX_LOG_BYTES // 2**20} MiB")
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise LegacyFormatError(f"unreadable ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise LegacyFormatError(f"not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise LegacyFormatError("not a JSON object")
    return document


def model_of(log: dict[str, Any], task_type: str) -> str:
    """The logged model's canonical name (see the module docstring)."""
    named = log.get("model")
    if isinstance(named, str) and named:
        return _CANONICAL.get(_safe(named), named)
    test_id = str(log.get("test_id") or "")
    marker = f"_{task_type}_"
    if marker not in test_id:
        return UNKNOWN_MODEL
    prefix = test_id.split(marker, 1)[0]
    return _CANONICAL.get(prefix, prefix) if prefix else UNKNOWN_MODEL


def is_disturbed(log: dict[str, Any]) -> bool:
    """Whether the API or runner disturbed this test: API issues logged, or no conversation."""
    return bool(log.get("api_issues")) or not log.get("conversation_history")


def infrastructure_category(log: dict[str, Any]) -> str:
    """The error category of a disturbed log, from what WorkflowBench wrote about it."""
    result = _table(log, "result")
    issues = " ".join(
        str(item.get("issue", "")) if isinstance(item, dict) else str(item)
        for item in log.get("api_issues") or ()
    )
    text = f"{result.get('error_type') or ''} {result.get('error') or ''} {log.get('error') or ''}"
    text = f"{text} {issues}".lower()
    if "429" in text or "rate limit" in text:
        return "rate_limited"
    if "timeout after" in text and "test timeout" in text:
        return "test_timeout"
    return "api_error"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _short(text: Any) -> str | None:
    """A row's error message: one line, credential- and key-shaped strings removed, short."""
    return redact(str(text).replace("\n", " ")) if text else None


def _stamp(value: Any) -> datetime:
    try:
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        stamp = None
    if stamp is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def log_test_id(log: dict[str, Any], file_name: str) -> str:
    """The row's test id: content-addressed from the log's test id and time (or file name)."""
    key = {
        "suite": LOGS_SUITE,
        "log": str(log.get("test_id") or file_name),
        "timestamp": str(log.get("timestamp") or ""),
    }
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def task_instance_number(task_id: str, repeat: int) -> int:
    """The row's instance: 23 bits of the task id's hash, then the repeat (0..255) of that task.

    ``compare`` pairs tests by instance, so the same task's k-th log of two models pairs up,
    which WorkflowBench's random ``test<N>`` numbers never would.
    """
    digest = int(hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:6], 16) >> 1
    return (digest << 8) | min(repeat, 255)


def log_record(log: dict[str, Any], file_name: str, transcript: str | None) -> Record:
    """The row of one log (see the module docstring), as the first log of its task.

    Raises:
        LegacyFormatError: the prompt type or task type is not one runbench knows.
    """
    prompt_type = log.get("prompt_type")
    task = _table(log, "task_instance")
    task_type = log.get("task_type") or task.get("task_type")
    if prompt_type not in PROMPT_TYPES:
        raise LegacyFormatError(f"prompt type {prompt_type!r} is not one runbench knows")
    if task_type not in TASK_TYPES:
        raise LegacyFormatError(f"task type {task_type!r} is not one runbench knows")
    test_id_text = str(log.get("test_id") or file_name)
    result = _table(log, "result")
    scores = {
        name: _number(result.get(name))
        for name in ("workflow_score", "phase2_score", "quality_score", "final_score")
    }
    succeeded = result.get("success") is True
    full = (scores["workflow_score"] or 0.0) >= _FULL and (scores["phase2_score"] or 0.0) >= _FULL
    verdict = (
        "full_success" if succeeded and full else "partial_success" if succeeded else "failure"
    )
    calls = [str(tool) for tool in result.get("tool_calls") or () if isinstance(tool, str)]
    required = [str(tool) for tool in task.get("required_tools") or () if isinstance(tool, str)]
    disturbed = is_disturbed(log)
    task_match = _TASK_ID.search(test_id_text)
    task_id = str(task.get("id") or (task_match.group(1) if task_match else "unknown"))
    turns = [e.get("turn") for e in log.get("conversation_history") or () if isinstance(e, dict)]
    if disturbed:
        status, category = "error", infrastructure_category(log)
        message = _short(
            f"WorkflowBench counted it as {verdict} "
            f"(success={succeeded}): {result.get('error') or log.get('error') or 'no conversation'}"
        )
    else:
        status, category, message = verdict, None, _short(result.get("error"))
    return Record(
        test_id=log_test_id(log, file_name),
        attempt=1,
        run_id=LOGS_RUN_ID,
        recorded_at=_stamp(log.get("timestamp")),
        suite=LOGS_SUITE,
        suite_version=LOGS_SUITE_VERSION,
        model=model_of(log, str(task_type)),
        deployment=model_of(log, str(task_type)),
        provider="workflowbench",
        prompt_type=str(prompt_type),
        flaw_type=flaw_of(str(prompt_type)),
        difficulty=ASSUMED_DIFFICULTY,
        task_type=str(task_type),
        task_id=task_id,
        instance=task_instance_number(task_id, 0),
        tool_success_rate=ASSUMED_RATE,
        status=status,
        success=status in ("full_success", "partial_success"),
        turns=max((t for t in turns if isinstance(t, int)), default=0),
        tool_calls=len(calls),
        format_error_count=None,
        api_retries=None,
        required_tools=tuple(required),
        executed_tools=tuple(calls),
        tool_coverage_rate=(len(set(required) & set(calls)) / len(required) if required else None),
        error_category=category,
        error_message=message,
        execution_time=max(_number(result.get("execution_time")) or 0.0, 0.0),
        transcript=transcript,
        workflow_score=scores["workflow_score"],
        phase2_score=scores["phase2_score"],
        quality_score=scores["quality_score"],
        final_score=scores["final_score"],
    )


def transcript_of(log: dict[str, Any], source: str) -> bytes:
    """The saved transcript: the conversation as ``messages``, the rest of the log as ``log``.

    Every string passes the redactor's credential shapes (a bearer token, an ``api-key:``
    header, a URL's password) and OpenAI-style keys (``sk-…``) are removed, so a key a provider
    echoed into an error never lands in the store; WorkflowBench's own logs hold none, so their
    transcripts are the logs as logged.
    """
    messages = log.get("conversation_history")
    rest = {key: value for key, value in log.items() if key != "conversation_history"}
    document = {
        "format": TRANSCRIPT_FORMAT,
        "source": source,
        "messages": messages if isinstance(messages, list) else [],
        "log": rest,
    }
    text = json.dumps(Redactor().value(document), ensure_ascii=False, allow_nan=True)
    return _API_KEY.sub(REDACTED, text).encode("utf-8")


def import_logs(folder: Path, store: Store, *, dry_run: bool = False) -> LogImportReport:
    """Import every log under ``folder`` into ``store``; logs already there add nothing.

    Logs go in batches of ``_BATCH_ROWS``: the batch's transcripts are saved first (each one
    durable, ``_WRITERS`` at a time: their fsyncs overlap instead of queueing), then its rows are
    appended, so a row never names a missing transcript; a kill in between leaves transcripts
    that the next import rewrites identically. Memory holds one batch.
    """
    report = LogImportReport(source=folder, dry_run=dry_run)
    present: set[str] = set()
    for batch in store.scan_batches(list(KEY_FIELDS), filters={"suite": LOGS_SUITE}):
        present.update(key_strings(batch).to_pylist())
    pending: list[tuple[Record, bytes]] = []
    repeats: dict[tuple[str, str, str, str], int] = {}  # logs seen per model, prompt and task
    with ThreadPoolExecutor(_WRITERS) as writers:
        for path in log_files(folder):
            report.files += 1
            source = path.relative_to(folder).as_posix()
            try:
                log = read_log(path)
                record = log_record(log, path.name, None)  # checked first: a bad log is named
            except LegacyFormatError as error:
                report.damaged.append(DamagedLog(source, str(error)))
                continue
            group = (record.model, record.prompt_type, record.task_type, record.task_id)
            repeats[group] = repeats.get(group, -1) + 1
            record = dataclasses.replace(
                record, instance=task_instance_number(record.task_id, repeats[group])
            )
            key = f"{record.test_id}|1|{LOGS_RUN_ID}"
            if key in present:
                report.already_present += 1
                continue
            present.add(key)
            report.imported += 1
            report.errors += record.status == "error"
            report.by_model[record.model] = report.by_model.get(record.model, 0) + 1
            if not dry_run:
                pending.append((record, transcript_of(log, source)))
            if len(pending) >= _BATCH_ROWS:
                _save(store, writers, pending)
                pending = []
        if pending:
            _save(store, writers, pending)
    return report


def _save(store: Store, writers: ThreadPoolExecutor, batch: list[tuple[Record, bytes]]) -> None:
    """Save a batch's transcripts, then append its rows naming them."""
    saved = writers.map(
        lambda item: store.write_transcript(LOGS_RUN_ID, item[0].test_id, item[1]), batch
    )
    store.append(
        [
            dataclasses.replace(record, transcript=path)
            for (record, _), path in zip(batch, saved, strict=True)
        ]
    )
