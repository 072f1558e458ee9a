"""What the viewer shows, computed from the store on each request and returned as HTML pieces.

The page asks for the state every few seconds; each piece is rebuilt from rows (the store keeps
facts, never counters), and a fingerprint of the pieces lets the page skip repainting when
nothing changed. Everything here is plain functions of (store, filters): no caches, so a row
appended by a running benchmark shows up on the next poll.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.analysis.error_groups import ErrorGroup, groups_of_rows
from runbench.analysis.render import NO_DATA, report_table_html
from runbench.analysis.report import LEGACY_SUITES, load_frame, report_columns, report_from_frame
from runbench.analysis.results import error_rows
from runbench.analysis.runs import RunInfo, list_runs
from runbench.errors import UsageError
from runbench.storage import Store

if TYPE_CHECKING:
    import pandas as pd

    from runbench.analysis.cost import Prices

# filter name in the page → record field it filters
FILTER_FIELDS = {
    "model": "model",
    "prompt_type": "prompt_type",
    "difficulty": "difficulty",
    "task_type": "task_type",
    "rate": "tool_success_rate",
}
GROUPINGS = (
    "model,prompt_type",
    "model,difficulty",
    "model,task_type",
    "model,tool_success_rate",
    "prompt_type,difficulty",
    "model",
    "prompt_type",
)
TESTS_SHOWN = 200
_EXTRA_COLUMNS = (
    "run_id",
    "provider",
    "deployment",
    "error_message",
    "transcript",
    "instance",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    "model",
)


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """The page's filters: one value per field (empty = all), the suite and the grouping."""

    filters: Mapping[str, str] = field(default_factory=dict)
    suite: str = ""
    by: str = GROUPINGS[0]

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ViewQuery:
        """Read the query string; unknown groupings fall back to the default.

        Raises:
            UsageError: the rate is not a number.
        """
        filters = {name: params[name] for name in FILTER_FIELDS if params.get(name)}
        if "rate" in filters:
            try:
                float(filters["rate"])
            except ValueError:
                raise UsageError(f"rate '{filters['rate']}' is not a number") from None
        by = params.get("by", GROUPINGS[0])
        return cls(filters, params.get("suite", ""), by if by in GROUPINGS else GROUPINGS[0])

    def store_filters(self) -> dict[str, Any]:
        return {
            FILTER_FIELDS[name]: float(value) if name == "rate" else value
            for name, value in self.filters.items()
        }

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies this query in a cache."""
        return (*sorted(f"{k}={v}" for k, v in self.filters.items()), self.suite, self.by)

    @property
    def group_by(self) -> tuple[str, ...]:
        return tuple(self.by.split(","))

    @property
    def suite_choice(self) -> str | None:
        """``None`` (every suite but legacy imports, like ``report``), a suite, or ``"all"``."""
        return self.suite or None


def store_version(store: Store) -> str:
    """A cheap fingerprint of the store's files (names, sizes, modification times).

    Every append grows or adds a file, so an unchanged version means unchanged rows and the
    viewer can answer a poll without reading a row. Saved transcripts are skipped: there is one
    per test, and rows, not transcripts, drive the page. A store whose rows are not all in its
    local folder (the object store) says its own version.
    """
    own = getattr(store, "content_version", None)
    if callable(own):
        return str(own())
    digest = hashlib.sha256()
    root = Path(store.root)
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if name != "transcripts")
        for name in sorted(files):
            path = Path(directory) / name
            try:
                stat = path.stat()
            except FileNotFoundError:  # sealed or compacted while we looked
                continue
            digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class StateCache:
    """The last few states built, each valid while the store's version is unchanged.

    Owned by one app (no module-level state); bounded, so a user flipping filters cannot grow it.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: dict[tuple[str, ...], tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # requests are served from a thread pool

    def get(self, key: tuple[str, ...], version: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, key: tuple[str, ...], version: str, state: dict[str, Any]) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (version, state)
            while len(self._entries) > self._size:
                self._entries.pop(next(iter(self._entries)))


def options(store: Store) -> dict[str, list[str]]:
    """The values each filter can take: what the store holds (so a new model appears live)."""
    table = store.scan([*FILTER_FIELDS.values(), "suite"])
    choices = {}
    for name, column in (*FILTER_FIELDS.items(), ("suite", "suite")):
        values = {value for value in table.column(column).to_pylist() if value is not None}
        if column == "tool_success_rate":
            choices[name] = [f"{value:.2f}" for value in sorted(values)]
        else:
            choices[name] = sorted(str(value) for value in values)
    return choices


def build_state(store: Store, query: ViewQuery, prices: Prices | None = None) -> dict[str, Any]:
    """Every piece of the page for ``query``, plus a fingerprint of them all."""
    columns = list(dict.fromkeys([*report_columns(query.group_by), *_EXTRA_COLUMNS]))
    frame = load_frame(store, query.store_filters(), query.suite_choice, columns)
    report = report_from_frame(frame, query.group_by, prices)
    errors = error_rows(frame)
    rows = [{str(key): value for key, value in row.items()} for row in errors.to_dict("records")]
    groups = groups_of_rows(rows)
    runs = list_runs(store)
    legacy = 0
    if query.suite_choice is None:
        legacy = int(store.scan(["suite"]).column("suite").to_pandas().isin(LEGACY_SUITES).sum())
    has_plot = any(group.has_data for group in report.groups)
    fragments = {
        "results": report_table_html(report, table_id="results-table")
        if report.groups
        else _empty("no rows match"),
        "hidden": _hidden(report.infra_errors, report.superseded_attempts, legacy),
        "errors": _errors_html(groups),
        "tests": _tests_html(frame),
        "runs": _runs_html(runs),
    }
    payload = {"fragments": fragments, "options": options(store), "has_plot": has_plot}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return {
        **payload,
        "fingerprint": digest,
        "rows": len(frame),
        "tests": int(frame["test_id"].nunique()),
    }


def _empty(text: str) -> str:
    return f"<p class='empty'>{html.escape(text)}</p>"


def _hidden(infra: int, superseded: int, legacy: int) -> str:
    parts = [
        f"{infra} infrastructure error row(s) (the model was never judged)",
        f"{superseded} superseded attempt(s)",
    ]
    if legacy:
        parts.append(f"{legacy} legacy imported row(s) (choose suite 'all' to include them)")
    return (
        "<p class='note'>Each test counted once (its latest non-error attempt); 95 % Wilson "
        f"intervals; '{NO_DATA}': no judged test. Not in any rate: "
        + html.escape("; ".join(parts))
        + ".</p>"
    )


def _errors_html(groups: list[ErrorGroup]) -> str:
    if not groups:
        return _empty("no infrastructure errors among these rows")
    head = "".join(
        f"<th>{name}</th>"
        for name in ("count", "endpoint", "category", "message", "first seen", "last seen")
    )
    head += "<th>examples</th>"
    rows = []
    for group in groups:
        examples = " ".join(
            f'<a href="/test/{html.escape(test_id)}">{html.escape(test_id[:10])}</a>'
            for test_id in group.example_test_ids
        )
        cells = [
            f'<td data-sort="{group.count}">{group.count}</td>',
            f'<td class="text">{html.escape(group.endpoint)}</td>',
            f'<td class="text">{html.escape(group.category)}</td>',
            f'<td class="text">{html.escape(group.message)}</td>',
            f'<td class="text">{html.escape(group.first_seen[:19])}</td>',
            f'<td class="text">{html.escape(group.last_seen[:19])}</td>',
            f'<td class="text">{examples}</td>',
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="sortable" id="error-groups"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _tests_html(frame: pd.DataFrame) -> str:
    """The newest tests (each once: its newest row), linked to their page."""
    if frame.empty:
        return _empty("no tests match")
    newest = frame.sort_values("recorded_at", kind="stable").drop_duplicates("test_id", keep="last")
    newest = newest.iloc[::-1].head(TESTS_SHOWN)
    head = "".join(
        f"<th>{name}</th>"
        for name in (
            "test",
            "model",
            "prompt type",
            "difficulty",
            "task type",
            "rate",
            "instance",
            "status",
            "recorded",
            "transcript",
        )
    )
    rows = []
    for row in newest.itertuples(index=False):
        test_id = str(row.test_id)
        saved = "saved" if isinstance(row.transcript, str) and row.transcript else "–"
        cells = [
            f'<td class="text"><a class="test-link" href="/test/{test_id}">{test_id[:12]}</a></td>',
            *(
                f'<td class="text">{html.escape(str(value))}</td>'
                for value in (row.model, row.prompt_type, row.difficulty, row.task_type)
            ),
            f"<td>{float(row.tool_success_rate):.2f}</td>",  # type: ignore[arg-type]
            f"<td>{row.instance}</td>",
            f'<td class="text status-{html.escape(str(row.status))}">'
            f"{html.escape(str(row.status))}</td>",
            f'<td class="text">{html.escape(row.recorded_at.isoformat()[:19])}</td>',  # type: ignore[union-attr]
            f'<td class="text">{saved}</td>',
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    more = len(frame["test_id"].unique()) - len(newest)
    note = (
        f"<p class='note'>{more} older test(s) not listed; narrow the filters.</p>" if more else ""
    )
    return (
        f'<table class="sortable" id="tests-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )


def _runs_html(runs: list[RunInfo]) -> str:
    if not runs:
        return _empty("no run manifests in this store yet")
    head = "".join(
        f"<th>{name}</th>"
        for name in ("run", "started", "ended", "command", "planned", "finished", "errors", "exit")
    )
    rows = []
    for run in runs:
        ended = run.ended_at[:19] if run.ended_at else "running or killed"
        cells = [
            f'<td class="text">{html.escape(run.run_id[:8])}</td>',
            f'<td class="text">{html.escape((run.started_at or "?")[:19])}</td>',
            f'<td class="text">{html.escape(ended)}</td>',
            f'<td class="text"><code>{html.escape(run.command_line)}</code></td>',
            f"<td>{run.counts.planned}</td>",
            f"<td>{run.counts.finished}</td>",
            f"<td>{run.counts.errors}</td>",
            f"<td>{'' if run.exit_code is None else run.exit_code}</td>",
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="sortable" id="runs-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
