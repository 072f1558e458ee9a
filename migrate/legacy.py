"""Importing a PILOT-Bench V3 ``master_database.json`` as one row per legacy test.

The legacy file keeps counters, not facts, and some of its leaves were counted twice by a bug
(``total``, ``success`` and ``failed`` doubled; ``full_success``, ``partial_success`` and the error
counters not). Only leaves are trusted: each is read as either a *normal* leaf
(``total = success + failed``, ``success = full + partial``, ``total_errors = total - full``) or a
*doubled* one (``total = 2·(full + partial) + failed``, ``success = 2·(full + partial)``,
``2·total_errors = total - 2·full``, true failures ``failed / 2``); an absent counter reads as 0
only if the rule then holds. A leaf that fits neither is reported by its path, never guessed at;
so are the ``1.0``/``unknown`` buckets, debris of an old default.

Rows go to suite ``legacy-v3`` so they never mix with planned tests, with scores and per-test
measurements null (the file only has averages). Their ids are content-addressed like planned tests
and their run_id is fixed, so importing the same file twice adds nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbench.storage import Store
from runbench.storage.base import key_strings

from runbench.errors import LegacyFormatError
from runbench.plan import Cell
from runbench.records import (
    DIFFICULTIES,
    KEY_FIELDS,
    MODEL_ERROR_CATEGORIES,
    PROMPT_TYPES,
    TASK_TYPES,
    Record,
)

LEGACY_SUITE = "legacy-v3"
LEGACY_RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "runbench:legacy-v3"))
DEBRIS_RATES = ("1.0",)
DEBRIS_NAMES = ("unknown",)
_COUNTERS = ("total", "success", "failed", "full_success", "partial_success", "total_errors")


@dataclass(frozen=True, slots=True)
class LegacyLeaf:
    """One interpretable leaf: its place in the matrix and its true counts."""

    path: str
    model: str
    prompt_type: str
    tool_success_rate: float
    difficulty: str
    task_type: str
    full: int
    partial: int
    failed: int
    corrected: bool
    categories: tuple[str, ...]

    @property
    def tests(self) -> int:
        return self.full + self.partial + self.failed


@dataclass(frozen=True, slots=True)
class SkippedLeaf:
    """A leaf that was not imported, and why."""

    path: str
    model: str
    reason: str


@dataclass(frozen=True, slots=True)
class LegacyModelCounts:
    model: str
    imported: int
    already_present: int
    corrected: int
    skipped_leaves: int


@dataclass(frozen=True, slots=True)
class LegacyImportReport:
    """What ``import_legacy`` did, per model; ``corrected`` counts tests in doubled leaves."""

    source: Path
    models: tuple[LegacyModelCounts, ...]
    skipped: tuple[SkippedLeaf, ...]
    dry_run: bool

    @property
    def imported(self) -> int:
        return sum(counts.imported for counts in self.models)


@dataclass(frozen=True, slots=True)
class LegacyDatabase:
    """A legacy file, interpreted: the leaves to import, the ones skipped, and its metadata."""

    leaves: tuple[LegacyLeaf, ...]
    skipped: tuple[SkippedLeaf, ...]
    version: str
    updated_at: datetime


def read_legacy(path: Path) -> LegacyDatabase:
    """Interpret every leaf of a legacy database.

    Raises:
        LegacyFormatError: the file is unreadable, not JSON, or has no ``models`` table.
    """
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise LegacyFormatError(f"legacy database {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LegacyFormatError(
            f"legacy database {path} is not readable JSON ({error})",
            hint="pass the master_database.json written by PILOT-Bench V3",
        ) from None
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, dict):
        raise LegacyFormatError(f"legacy database {path} has no 'models' table")
    leaves: list[LegacyLeaf] = []
    skipped: list[SkippedLeaf] = []
    for leaf_path, names, counters in _walk(models):
        result = _interpret(leaf_path, names, counters)
        (leaves if isinstance(result, LegacyLeaf) else skipped).append(result)  # type: ignore[arg-type]
    stamp = _parse_time(document.get("last_updated")) or datetime(1970, 1, 1, tzinfo=UTC)
    version = str(document.get("version") or "3")
    return LegacyDatabase(tuple(leaves), tuple(skipped), version, stamp)


def _walk(models: dict[str, Any]) -> Iterator[tuple[str, tuple[str, ...], Any]]:
    levels = ("by_prompt_type", "by_tool_success_rate", "by_difficulty", "by_task_type")

    def descend(
        node: Any, names: tuple[str, ...], depth: int
    ) -> Iterator[tuple[str, tuple[str, ...], Any]]:
        if depth == len(levels):
            yield "/".join(names), names, node
            return
        children = node.get(levels[depth]) if isinstance(node, dict) else None
        if not isinstance(children, dict):
            return
        for name, child in children.items():
            yield from descend(child, (*names, str(name)), depth + 1)

    for model, model_node in models.items():
        yield from descend(model_node, (str(model),), 0)


def _interpret(path: str, names: tuple[str, ...], counters: Any) -> LegacyLeaf | SkippedLeaf:
    model, prompt_type, rate_text, difficulty, task_type = names
    if rate_text in DEBRIS_RATES or any(name in DEBRIS_NAMES for name in names):
        return SkippedLeaf(path, model, "debris bucket of an old default (holds no real test)")
    if (
        prompt_type not in PROMPT_TYPES
        or difficulty not in DIFFICULTIES
        or task_type not in TASK_TYPES
    ):
        return SkippedLeaf(
            path, model, "prompt type, difficulty or task type is not one runbench knows"
        )
    try:
        rate = float(rate_text)
    except ValueError:
        return SkippedLeaf(path, model, f"tool success rate {rate_text!r} is not a number")
    if not isinstance(counters, dict) or not 0.0 <= rate <= 1.0:
        return SkippedLeaf(path, model, "not a leaf of counters")
    values = {name: counters.get(name, 0) for name in _COUNTERS}
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values.values()):
        return SkippedLeaf(path, model, "a counter is not a non-negative integer")
    total, success, failed = values["total"], values["success"], values["failed"]
    full, partial, errors = (
        values["full_success"],
        values["partial_success"],
        values["total_errors"],
    )
    normal = total == success + failed and success == full + partial and errors == total - full
    doubled = (
        failed % 2 == 0
        and total == 2 * (full + partial) + failed
        and success == 2 * (full + partial)
        and 2 * errors == total - 2 * full
    )
    if total == 0:
        return SkippedLeaf(path, model, "empty leaf")
    if normal == doubled:
        shown = ", ".join(f"{name}={values[name]}" for name in _COUNTERS)
        return SkippedLeaf(
            path, model, f"counters fit neither a normal nor a doubled leaf ({shown})"
        )
    true_failed = failed if normal else failed // 2
    categories = tuple(
        category
        for category in MODEL_ERROR_CATEGORIES
        for _ in range(counters.get(category, 0) if isinstance(counters.get(category), int) else 0)
    )
    return LegacyLeaf(
        path,
        model,
        prompt_type,
        rate,
        difficulty,
        task_type,
        full=full,
        partial=partial,
        failed=true_failed,
        corrected=doubled,
        categories=categories,
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def leaf_records(leaf: LegacyLeaf, *, suite_version: str, recorded_at: datetime) -> list[Record]:
    """One record per legacy test of a leaf: full successes, then partial, then failures."""
    cell = Cell(
        LEGACY_SUITE,
        suite_version,
        leaf.model,
        leaf.prompt_type,
        leaf.difficulty,
        leaf.task_type,
        leaf.tool_success_rate,
    )
    statuses = (
        ["full_success"] * leaf.full
        + ["partial_success"] * leaf.partial
        + ["failure"] * leaf.failed
    )
    categories = [None] * leaf.full + list(leaf.categories[: leaf.partial + leaf.failed])
    categories += [None] * (len(statuses) - len(categories))
    flaw = (
        leaf.prompt_type.removeprefix("flawed_") if leaf.prompt_type.startswith("flawed_") else None
    )
    return [
        Record(
            test_id=test_id,
            attempt=1,
            run_id=LEGACY_RUN_ID,
            recorded_at=recorded_at,
            suite=LEGACY_SUITE,
            suite_version=suite_version,
            model=leaf.model,
            deployment=leaf.model,
            provider="legacy",
            prompt_type=leaf.prompt_type,
            flaw_type=flaw,
            difficulty=leaf.difficulty,
            task_type=leaf.task_type,
            task_id=leaf.path,
            instance=instance,
            tool_success_rate=leaf.tool_success_rate,
            status=status,
            success=status != "failure",
            turns=None,
            tool_calls=None,
            format_error_count=None,
            api_retries=None,
            error_category=category,
        )
        for instance, (test_id, status, category) in enumerate(
            zip(cell.test_ids(range(len(statuses))), statuses, categories, strict=True)
        )
    ]


def import_legacy(path: Path, store: Store, *, dry_run: bool = False) -> LegacyImportReport:
    """Import a legacy database into ``store``; rows already there are not added again.

    Raises:
        LegacyFormatError: the file cannot be read as a legacy database.
    """
    database = read_legacy(path)
    leaves, skipped = database.leaves, database.skipped
    present: set[str] = set()
    for batch in store.scan_batches(list(KEY_FIELDS), filters={"suite": LEGACY_SUITE}):
        present.update(key_strings(batch).to_pylist())
    per_model: dict[str, dict[str, int]] = {}
    new_records: list[Record] = []
    for leaf in leaves:
        counts = per_model.setdefault(leaf.model, {"imported": 0, "already": 0, "corrected": 0})
        for record in leaf_records(
            leaf, suite_version=database.version, recorded_at=database.updated_at
        ):
            if f"{record.test_id}|{record.attempt}|{record.run_id}" in present:
                counts["already"] += 1
                continue
            new_records.append(record)
            counts["imported"] += 1
            counts["corrected"] += leaf.corrected
    if new_records and not dry_run:
        store.append(new_records)
    models = sorted({leaf.model for leaf in leaves} | {item.model for item in skipped})
    empty = {"imported": 0, "already": 0, "corrected": 0}
    return LegacyImportReport(
        source=path,
        models=tuple(
            LegacyModelCounts(
                model=model,
                imported=per_model.get(model, empty)["imported"],
                already_present=per_model.get(model, empty)["already"],
                corrected=per_model.get(model, empty)["corrected"],
                skipped_leaves=sum(item.model == model for item in skipped),
            )
            for model in models
        ),
        skipped=tuple(skipped),
        dry_run=dry_run,
    )
