"""Importing a PILOT-Bench V3 ``master_database.json`` as one row per legacy test, losslessly.

The legacy file keeps counters, not facts. Its writer (WorkflowBench
``enhanced_cumulative_manager.py``) counted each test once in ``full_success``,
``partial_success`` and ``total_errors`` (every test that is not a full success carries exactly
one error category), while a bug counted ``total``, ``success`` and ``failed`` twice for some
runs. So for every leaf, whatever happened to it, the true number of tests is
``full_success + total_errors``, of which ``total_errors - partial_success`` are failures. A leaf
is then read as

- *normal*: ``total`` equals that number (``success = full + partial``, ``failed`` = failures);
- *doubled*: ``total`` is twice it (``success`` and ``failed`` both doubled);
- *mixed*: normal at first, then doubled increments on top, so ``total`` lies strictly between
  (``success`` between once and twice ``full + partial``, ``failed`` between once and twice the
  failures) — eight leaves of the real database are mixed and hold 231 tests;
- *single*: no error counters at all (written by the per-test path alone): ``total`` tests,
  ``success`` full, ``partial``, ``failed``, when those add up.

An absent counter reads as 0 only if the rule then holds; a leaf that fits no rule is reported
by its path, never guessed at. *Debris* leaves (the ``1.0`` rate and ``unknown`` names of an old
default) are reported with the tests they hold; they are imported under their path when every
name in it is one runbench knows, else skipped with their count. Top-level entries other than
``models``, ``version`` and ``last_updated`` are named as ignored.

Rows go to suite ``legacy-v3`` so they never mix with planned tests, with scores and per-test
measurements null: the file only has averages, which are kept per leaf in the legacy leaf table
(``runbench.storage.legacy_leaves``), never spread into invented per-test values. Row ids are
content-addressed like planned tests and their run_id is fixed, so importing the same file twice
adds nothing. Counters are bounded (``MAX_LEGACY_COUNTER`` per counter, ``MAX_LEGACY_TESTS`` per
file) and rows are appended in chunks, so memory stays bounded whatever the file claims.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from runbench.errors import LegacyFormatError
from runbench.plan import Cell
from runbench.records import (
    DIFFICULTIES,
    KEY_FIELDS,
    MODEL_ERROR_CATEGORIES,
    PROMPT_TYPES,
    TASK_TYPES,
    Record,
    flaw_of,
    is_success,
)
from runbench.storage import Store
from runbench.storage.base import key_strings
from runbench.storage.legacy_leaves import (
    LEAF_AVERAGES,
    LEAF_TABLE_VERSION,
    LEGACY_SUITE,
    leaf_table_path,
    read_leaf_entries,
)
from runbench.storage.locking import FileLock, fsync_dir

LEGACY_RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "runbench:legacy-v3"))
DEBRIS_RATES = ("1.0",)
DEBRIS_NAMES = ("unknown",)
# the real database's largest leaf holds a few hundred tests; these bound what a damaged or
# hostile file can make the import allocate (a counter of 10**12 once grew past 5.5 GB)
MAX_LEGACY_COUNTER = 1_000_000
MAX_LEGACY_TESTS = 20_000_000
MAX_LEGACY_FILE_BYTES = 512 * 1024 * 1024  # the real database is 1.3 MB
READ_FIELDS = ("models", "version", "last_updated")
IGNORED_REASONS = {
    "summary": "file-wide totals, derived and not trusted (they include the doubling)",
    "test_groups": "unused since V3",
    "created_at": "file metadata",
}
_COUNTERS = (
    "total",
    "success",
    "failed",
    "full_success",
    "partial_success",
    "partial",
    "total_errors",
    *MODEL_ERROR_CATEGORIES,
)
_APPEND_ROWS = 50_000

LeafKind = Literal["normal", "doubled", "mixed", "single"]


@dataclass(frozen=True, slots=True)
class LegacyLeaf:
    """One interpretable leaf: its place in the matrix, its true counts and its averages."""

    path: str
    model: str
    prompt_type: str
    tool_success_rate: float
    difficulty: str
    task_type: str
    full: int
    partial: int
    failed: int
    kind: LeafKind
    debris: bool = False
    category_counts: tuple[tuple[str, int], ...] = ()
    averages: tuple[tuple[str, float | None], ...] = ()

    @property
    def tests(self) -> int:
        return self.full + self.partial + self.failed

    @property
    def corrected(self) -> bool:
        """Whether the legacy bug had inflated this leaf's counters."""
        return self.kind in ("doubled", "mixed")

    @property
    def categories(self) -> Iterator[str]:
        """The error category of each non-full test, in the order the rows get them."""
        for category, count in self.category_counts:
            for _ in range(count):
                yield category


@dataclass(frozen=True, slots=True)
class SkippedLeaf:
    """A leaf that was not imported, why, and how many tests it holds (0 when none or unknown)."""

    path: str
    model: str
    reason: str
    tests: int = 0
    debris: bool = False


@dataclass(frozen=True, slots=True)
class IgnoredEntry:
    """A top-level entry of the legacy file that the import does not read, and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class LegacyModelCounts:
    """One model's line of the import table; every count is tests except ``*_leaves``."""

    model: str
    imported: int
    already_present: int
    corrected: int
    skipped_leaves: int
    normal_leaves: int = 0
    doubled_leaves: int = 0
    mixed_leaves: int = 0
    debris_imported: int = 0
    debris_skipped: int = 0

    @property
    def tests(self) -> int:
        """Tests of the model's imported leaves (new and already present)."""
        return self.imported + self.already_present


@dataclass(frozen=True, slots=True)
class LegacyImportReport:
    """What ``import_legacy`` did, per model; ``corrected`` counts tests in doubled/mixed leaves."""

    source: Path
    models: tuple[LegacyModelCounts, ...]
    skipped: tuple[SkippedLeaf, ...]
    dry_run: bool
    ignored: tuple[IgnoredEntry, ...] = ()
    leaf_table: Path | None = None

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
    ignored: tuple[IgnoredEntry, ...] = field(default=())


def read_legacy(path: Path) -> LegacyDatabase:
    """Interpret every leaf of a legacy database.

    Raises:
        LegacyFormatError: the file is unreadable, too large, not JSON, nested too deeply, has
            no ``models`` table, or a counter or the whole file exceeds the size limits (naming
            the leaf).
    """
    try:
        if path.stat().st_size > MAX_LEGACY_FILE_BYTES:
            raise LegacyFormatError(
                f"legacy database {path} is larger than {MAX_LEGACY_FILE_BYTES // 2**20:,} MiB; "
                "no PILOT-Bench V3 database is"
            )
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise LegacyFormatError(f"legacy database {path} does not exist") from None
    except RecursionError:
        raise LegacyFormatError(
            f"legacy database {path} is nested too deeply to be a V3 database",
            hint="pass the master_database.json written by PILOT-Bench V3",
        ) from None
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
    total_tests = 0
    for leaf_path, names, counters in _walk(models):
        result = _interpret(leaf_path, names, counters)
        if isinstance(result, LegacyLeaf):
            leaves.append(result)
            total_tests += result.tests
        else:
            skipped.append(result)
    if total_tests > MAX_LEGACY_TESTS:
        raise LegacyFormatError(
            f"legacy database {path} holds {total_tests:,} tests, above the limit of "
            f"{MAX_LEGACY_TESTS:,}"
        )
    ignored = tuple(
        IgnoredEntry(str(name), IGNORED_REASONS.get(str(name), "not part of the V3 layout"))
        for name in document
        if name not in READ_FIELDS
    )
    stamp = _parse_time(document.get("last_updated")) or datetime(1970, 1, 1, tzinfo=UTC)
    version = str(document.get("version") or "3")
    return LegacyDatabase(tuple(leaves), tuple(skipped), version, stamp, ignored)


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
    """Read one leaf (see the module docstring for the rules).

    Raises:
        LegacyFormatError: a counter is beyond ``MAX_LEGACY_COUNTER``.
    """
    model, prompt_type, rate_text, difficulty, task_type = names
    debris = rate_text in DEBRIS_RATES or any(name in DEBRIS_NAMES for name in names)
    if not isinstance(counters, dict):
        return SkippedLeaf(path, model, "not a leaf of counters", debris=debris)
    values: dict[str, int | None] = {}
    for name in _COUNTERS:
        raw = counters.get(name)
        if raw is not None and (not isinstance(raw, int) or isinstance(raw, bool) or raw < 0):
            return SkippedLeaf(
                path, model, f"counter '{name}' is not a non-negative integer", debris=debris
            )
        if raw is not None and raw > MAX_LEGACY_COUNTER:
            raise LegacyFormatError(
                f"legacy leaf {path}: counter '{name}' is {raw:,}, above the limit of "
                f"{MAX_LEGACY_COUNTER:,} tests per leaf",
                hint="this is not a counter PILOT-Bench could have written; check the file",
            )
        values[name] = raw
    counted = _count_tests(values)
    if isinstance(counted, str):
        return SkippedLeaf(path, model, counted, debris=debris)
    kind, full, partial, failed = counted
    tests = full + partial + failed
    if tests == 0:
        return SkippedLeaf(path, model, "empty leaf", debris=debris)
    unknown = _unknown_name(prompt_type, rate_text, difficulty, task_type)
    if unknown is not None:
        label = "debris bucket of an old default" if debris else "leaf outside the matrix"
        return SkippedLeaf(
            path,
            model,
            f"{label}: holds {tests} test{'s' if tests != 1 else ''} "
            f"({full} full, {partial} partial, {failed} failed) but {unknown}, "
            "so they have no place in runbench's matrix",
            tests=tests,
            debris=debris,
        )
    return LegacyLeaf(
        path,
        model,
        prompt_type,
        round(float(rate_text), 4),
        difficulty,
        task_type,
        full=full,
        partial=partial,
        failed=failed,
        kind=kind,
        debris=debris,
        category_counts=tuple(
            (category, values[category] or 0)
            for category in MODEL_ERROR_CATEGORIES
            if values[category]
        ),
        averages=tuple((name, _average(counters.get(name))) for name in LEAF_AVERAGES),
    )


def _count_tests(values: dict[str, int | None]) -> tuple[LeafKind, int, int, int] | str:
    """(kind, full, partial, failed) of a leaf's counters, or why they fit no rule."""
    total = values["total"] or 0
    success = values["success"] or 0
    failed = values["failed"] or 0
    shown = ", ".join(f"{name}={values[name]}" for name in _COUNTERS[:7] if values[name])
    no_rule = f"counters fit neither a normal, doubled nor mixed leaf ({shown})"
    if values["total_errors"] is None and values["full_success"] is None:
        if values["partial_success"] is not None:
            return no_rule
        partial = values["partial"] or 0
        if total != success + partial + failed:
            return no_rule
        return "single", success, partial, failed
    full = values["full_success"] or 0
    partial_success = values["partial_success"]
    partial = partial_success if partial_success is not None else values["partial"] or 0
    errors = values["total_errors"] or 0
    true_failed = errors - partial
    tests = full + errors
    if true_failed < 0 or success + failed != total:
        return no_rule
    succeeded = full + partial
    if total == tests and success == succeeded and failed == true_failed:
        return "normal", full, partial, true_failed
    if total == 2 * tests and success == 2 * succeeded and failed == 2 * true_failed:
        return "doubled", full, partial, true_failed
    if (
        tests < total < 2 * tests
        and succeeded <= success <= 2 * succeeded
        and true_failed <= failed <= 2 * true_failed
    ):
        return "mixed", full, partial, true_failed
    return no_rule


def _unknown_name(prompt_type: str, rate_text: str, difficulty: str, task_type: str) -> str | None:
    if prompt_type not in PROMPT_TYPES:
        return f"prompt type '{prompt_type}' is not one runbench knows"
    if difficulty not in DIFFICULTIES:
        return f"difficulty '{difficulty}' is not one runbench knows"
    if task_type not in TASK_TYPES:
        return f"task type '{task_type}' is not one runbench knows"
    try:
        rate = float(rate_text)
    except ValueError:
        return f"tool success rate '{rate_text}' is not a number"
    if not 0.0 <= rate <= 1.0:
        return f"tool success rate '{rate_text}' is outside [0, 1]"
    return None


def _average(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def leaf_records(
    leaf: LegacyLeaf, *, suite_version: str, recorded_at: datetime
) -> Iterator[Record]:
    """One record per legacy test of a leaf: full successes, then partial, then failures.

    Non-full tests take the leaf's error categories in order (each counted once by the legacy
    writer); a test beyond the counted categories has none.
    """
    cell = Cell(
        LEGACY_SUITE,
        suite_version,
        leaf.model,
        leaf.prompt_type,
        leaf.difficulty,
        leaf.task_type,
        leaf.tool_success_rate,
    )
    categories = leaf.categories
    ids = cell.test_ids(range(leaf.tests))
    for instance, test_id in enumerate(ids):
        if instance < leaf.full:
            status, category = "full_success", None
        else:
            status = "partial_success" if instance < leaf.full + leaf.partial else "failure"
            category = next(categories, None)
        yield Record(
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
            flaw_type=flaw_of(leaf.prompt_type),
            difficulty=leaf.difficulty,
            task_type=leaf.task_type,
            task_id=leaf.path,
            instance=instance,
            tool_success_rate=leaf.tool_success_rate,
            status=status,
            success=is_success(status),
            turns=None,
            tool_calls=None,
            format_error_count=None,
            api_retries=None,
            error_category=category,
        )


def import_legacy(path: Path, store: Store, *, dry_run: bool = False) -> LegacyImportReport:
    """Import a legacy database into ``store``; rows already there are not added again.

    Rows are appended in chunks of ``_APPEND_ROWS``; the leaf table (averages per leaf) is
    written beside the store after the rows, so it never names a leaf whose rows are missing.

    Raises:
        LegacyFormatError: the file cannot be read as a legacy database.
    """
    database = read_legacy(path)
    present: set[str] = set()
    for batch in store.scan_batches(list(KEY_FIELDS), filters={"suite": LEGACY_SUITE}):
        present.update(key_strings(batch).to_pylist())
    counts: dict[str, dict[str, int]] = {}
    pending: list[Record] = []
    for leaf in database.leaves:
        row = counts.setdefault(leaf.model, {})
        _add(row, f"{leaf.kind}_leaves", 1)
        if leaf.debris:
            _add(row, "debris_imported", leaf.tests)
        for record in leaf_records(
            leaf, suite_version=database.version, recorded_at=database.updated_at
        ):
            if f"{record.test_id}|{record.attempt}|{record.run_id}" in present:
                _add(row, "already_present", 1)
                continue
            _add(row, "imported", 1)
            _add(row, "corrected", int(leaf.corrected))
            if dry_run:
                continue
            pending.append(record)
            if len(pending) >= _APPEND_ROWS:
                store.append(pending)
                pending = []
    if pending:
        store.append(pending)
    for item in database.skipped:
        row = counts.setdefault(item.model, {})
        _add(row, "skipped_leaves", 1)
        if item.debris:
            _add(row, "debris_skipped", item.tests)
    table = None if dry_run else write_leaf_table(store.root, database.leaves, source=path)
    return LegacyImportReport(
        source=path,
        models=tuple(
            LegacyModelCounts(
                model=model,
                imported=row.get("imported", 0),
                already_present=row.get("already_present", 0),
                corrected=row.get("corrected", 0),
                skipped_leaves=row.get("skipped_leaves", 0),
                normal_leaves=row.get("normal_leaves", 0) + row.get("single_leaves", 0),
                doubled_leaves=row.get("doubled_leaves", 0),
                mixed_leaves=row.get("mixed_leaves", 0),
                debris_imported=row.get("debris_imported", 0),
                debris_skipped=row.get("debris_skipped", 0),
            )
            for model, row in sorted(counts.items())
        ),
        skipped=database.skipped,
        dry_run=dry_run,
        ignored=database.ignored,
        leaf_table=table,
    )


def _add(row: dict[str, int], name: str, amount: int) -> None:
    row[name] = row.get(name, 0) + amount


def write_leaf_table(root: Path, leaves: tuple[LegacyLeaf, ...], *, source: Path) -> Path:
    """Merge these leaves into the store root's legacy leaf table, atomically, under its lock.

    An entry is keyed by leaf path; a leaf imported again replaces its entry, other entries
    (from other files) stay.
    """
    path = leaf_table_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name("leaves.lock")):
        entries = read_leaf_entries(root)
        for leaf in leaves:
            entries[leaf.path] = {
                "path": leaf.path,
                "model": leaf.model,
                "prompt_type": leaf.prompt_type,
                "tool_success_rate": leaf.tool_success_rate,
                "difficulty": leaf.difficulty,
                "task_type": leaf.task_type,
                "kind": leaf.kind,
                "debris": leaf.debris,
                "tests": leaf.tests,
                "full": leaf.full,
                "partial": leaf.partial,
                "failed": leaf.failed,
                "imported": True,
                **dict(leaf.averages),
                "source": source.name,
            }
        document = {
            "version": LEAF_TABLE_VERSION,
            "leaves": [entries[name] for name in sorted(entries)],
        }
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        fsync_dir(path.parent)
    return path
