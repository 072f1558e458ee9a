"""What the viewer shows, computed from the store's rows and returned as HTML pieces.

The page asks for the state every few seconds; each piece is computed from rows (the store keeps
facts, never counters), and a fingerprint of the pieces lets the page skip repainting when
nothing changed. The rows are read once per version of the store's files (``ViewRows``), with
only the columns the page shows, and shared by every query, the filter choices and the plot;
a query's filters are applied to that table in Arrow, and its report is aggregated there too
(``report_arrow``): only the listed tests' rows become pandas rows. A row appended by a
running benchmark changes the version and shows on the next poll.
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

from runbench.analysis.error_groups import ErrorGroup, groups_of_table
from runbench.analysis.render import NO_DATA, report_table_html, shown
from runbench.analysis.report import (
    ALL_SUITES,
    LEGACY_SUITES,
    Report,
    categorical,
    report_columns,
)
from runbench.analysis.report_arrow import report_of_rows
from runbench.analysis.runs import RunInfo, list_runs
from runbench.errors import UsageError
from runbench.storage import Store
from runbench.storage.stored import is_judged
from runbench.viewer.rows import HeldRows, folded

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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
RUNS_SHOWN = 50
# what the tests list shows (the only pandas work beside the report)
_LISTED = (
    "transcript",
    "instance",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    "model",
)
# what error groups read (in Arrow) and what tells a held row from one delivered again
_GROUPED_ERRORS = ("run_id", "provider", "deployment", "error_message")
_GROUPED = tuple(dict.fromkeys(name for by in GROUPINGS for name in by.split(",")))
VIEW_COLUMNS = tuple(
    dict.fromkeys([*report_columns(_GROUPED), *_LISTED, *_GROUPED_ERRORS, "suite"])
)


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """The page's filters: one value per field (empty = all), the suite and the grouping."""

    filters: Mapping[str, str] = field(default_factory=dict)
    suite: str = ""
    by: str = GROUPINGS[0]
    runs_page: int = 0

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
        page = params.get("runs_page", "0")
        if not page.isdigit():
            raise UsageError(f"runs page '{page}' is not a page number")
        grouping = by if by in GROUPINGS else GROUPINGS[0]
        return cls(filters, params.get("suite", ""), grouping, int(page))

    def store_filters(self) -> dict[str, Any]:
        return {
            FILTER_FIELDS[name]: float(value) if name == "rate" else value
            for name, value in self.filters.items()
        }

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies this query in a cache."""
        filters = sorted(f"{k}={v}" for k, v in self.filters.items())
        return (*filters, self.suite, self.by, str(self.runs_page))

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
    """The last few states, reports or plots built, each valid while its version holds.

    Owned by one app (no module-level state); bounded, so a user flipping filters cannot grow it.
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: dict[tuple[str, ...], tuple[str, Any]] = {}
        self._lock = threading.Lock()  # requests are served from a thread pool

    def get(self, key: tuple[str, ...], version: str) -> Any:
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, key: tuple[str, ...], version: str, state: Any) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (version, state)
            while len(self._entries) > self._size:
                self._entries.pop(next(iter(self._entries)))


def options(table: pa.Table) -> dict[str, list[str]]:
    """The values each filter can take: what the store holds (so a new model appears live)."""
    import pyarrow.compute as pc

    choices = {}
    for name, column in (*FILTER_FIELDS.items(), ("suite", "suite")):
        values = {
            value for value in pc.unique(table.column(column)).to_pylist() if value is not None
        }
        if column == "tool_success_rate":
            choices[name] = [f"{value:.2f}" for value in sorted(values)]
        else:
            choices[name] = sorted(str(value) for value in values)
    return choices


def query_rows(rows: pa.Table, query: ViewQuery) -> pa.Table:
    """The rows of ``query``: its filters and suite applied in Arrow, before any pandas work.

    The suite rule is ``report``'s (``frame_of``): legacy imports out unless asked for.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    mask: Any = None
    for name, wanted in query.store_filters().items():
        column = rows.column(name)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        condition = pc.equal(column, pa.scalar(wanted, type=kind))
        mask = condition if mask is None else pc.and_(mask, condition)
    suites = rows.column("suite")
    if query.suite_choice is None:
        legacy = pa.array(LEGACY_SUITES, type=pa.string())
        condition = pc.invert(pc.is_in(suites, value_set=legacy))
        mask = condition if mask is None else pc.and_(mask, condition)
    elif query.suite_choice != ALL_SUITES:
        condition = pc.equal(suites, pa.scalar(query.suite_choice, type=pa.string()))
        mask = condition if mask is None else pc.and_(mask, condition)
    if mask is None:
        return rows
    mask = pc.fill_null(mask, False)
    return rows if pc.all(mask).as_py() else rows.filter(mask)  # a filter copies every row


def build_state(
    store: Store, query: ViewQuery, prices: Prices | None = None, held: HeldRows | None = None
) -> dict[str, Any]:
    """Every piece of the page for ``query``, plus a fingerprint of them all."""
    return build_view(store, query, prices, held)[0]


def build_view(
    store: Store, query: ViewQuery, prices: Prices | None = None, held: HeldRows | None = None
) -> tuple[dict[str, Any], Report]:
    """The page's state and its report (which the plot draws), from ``held`` or one read."""
    if held is None:
        held = folded(None, [categorical(store.scan(list(VIEW_COLUMNS)))])
    return view_of(held, query, prices, list_runs(store))


def view_of(
    held: HeldRows, query: ViewQuery, prices: Prices | None, runs: list[RunInfo]
) -> tuple[dict[str, Any], Report]:
    """``build_view`` of rows and runs already read (the viewer's warm-up passes made-up ones)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = held.table
    chosen = query_rows(rows, query)
    report = report_of_rows(chosen, query.group_by, prices, held.repeated)
    errors = chosen.filter(pc.invert(is_judged(chosen)))
    distinct_tests = _distinct_tests(report, chosen, errors, held.repeated)
    groups = groups_of_table(errors)
    legacy = 0
    if query.suite_choice is None:
        legacy_suites = pa.array(LEGACY_SUITES, type=pa.string())
        legacy = int(pc.sum(pc.is_in(rows.column("suite"), value_set=legacy_suites)).as_py() or 0)
    has_plot = any(group.has_data for group in report.groups)
    fragments = {
        "results": report_table_html(report, table_id="results-table")
        if report.groups
        else _empty("no rows match"),
        "hidden": _hidden(report.infra_errors, report.superseded_attempts, legacy),
        "errors": _errors_html(groups),
        "tests": _tests_html(chosen, distinct_tests),
        "runs": _runs_html(runs, query),
    }
    payload = {"fragments": fragments, "options": options(rows), "has_plot": has_plot}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    state = {
        **payload,
        "fingerprint": digest,
        "rows": chosen.num_rows,
        "tests": distinct_tests,
    }
    return state, report


def _distinct_tests(
    report: Report, rows: pa.Table, errors: pa.Table, repeated: frozenset[str]
) -> int:
    """Tests among the rows: those judged (each once in the report) and those only errored.

    An errored test that was also judged has several rows, so only the errored ids among the
    ``repeated`` ones are looked up among the judged rows; no million ids are hashed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    judged = sum(group.tests for group in report.groups)
    if errors.num_rows == 0:
        return judged
    errored = set(pc.unique(errors.column("test_id")).to_pylist())
    maybe = pa.array(sorted(errored & repeated), type=pa.string())
    if len(maybe) == 0:
        return judged + len(errored)
    among = pc.and_(pc.is_in(rows.column("test_id"), value_set=maybe), is_judged(rows))
    also_judged = pc.count_distinct(rows.column("test_id").filter(among)).as_py()
    return judged + len(errored) - int(also_judged)


def _empty(text: str) -> str:
    return f"<p class='empty'>{shown(text)}</p>"


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
        + shown("; ".join(parts))
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
            f'<td class="text">{shown(group.endpoint)}</td>',
            f'<td class="text">{shown(group.category)}</td>',
            f'<td class="text">{shown(group.message)}</td>',
            f'<td class="text">{html.escape(group.first_seen[:19])}</td>',
            f'<td class="text">{html.escape(group.last_seen[:19])}</td>',
            f'<td class="text">{examples}</td>',
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="sortable" id="error-groups"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _newest_tests(rows: pa.Table) -> pd.DataFrame:
    """The ``TESTS_SHOWN`` newest tests, each by its newest row, newest first.

    Only these few rows become pandas rows: the newest few thousand are found in Arrow (every
    row at least as new as the ``TESTS_SHOWN * 20``-th newest, ties included, so they are the
    head of the rows in newest-first order), and only when they hold too few distinct tests is
    everything sorted.
    """
    import pyarrow.compute as pc

    shown = dict.fromkeys(["test_id", "status", "recorded_at", *_LISTED])
    listed = rows.select([name for name in shown if name in rows.column_names])
    for candidates in (TESTS_SHOWN * 20, rows.num_rows):
        recent = listed
        if candidates < rows.num_rows:
            times = listed.column("recorded_at")
            nth = pc.select_k_unstable(times, k=candidates, sort_keys=[("dummy", "descending")])
            oldest = pc.min(times.take(nth))
            recent = listed.filter(pc.greater_equal(times, oldest))
        frame = recent.to_pandas()
        ordered = frame.sort_values("recorded_at", kind="stable", ascending=False)
        newest = ordered.drop_duplicates("test_id", keep="first").head(TESTS_SHOWN)
        if len(newest) == TESTS_SHOWN or candidates >= rows.num_rows:
            return newest
    return newest


def _tests_html(rows: pa.Table, distinct_tests: int) -> str:
    """The newest tests (each once: its newest row), linked to their page."""
    if rows.num_rows == 0:
        return _empty("no tests match")
    newest = _newest_tests(rows)
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
                f'<td class="text">{shown(value)}</td>'
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
    more = distinct_tests - len(newest)
    note = (
        f"<p class='note'>{more} older test(s) not listed; narrow the filters.</p>" if more else ""
    )
    return (
        f'<table class="sortable" id="tests-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )


def _runs_html(runs: list[RunInfo], query: ViewQuery) -> str:
    """One page of ``RUNS_SHOWN`` runs, newest first, with links to the newer and older pages."""
    if not runs:
        return _empty("no run manifests in this store yet")
    pages = -(-len(runs) // RUNS_SHOWN)
    page = min(query.runs_page, pages - 1)
    newest_first = sorted(runs, key=lambda run: run.started_at or "", reverse=True)
    on_page = newest_first[page * RUNS_SHOWN : (page + 1) * RUNS_SHOWN]
    head = "".join(
        f"<th>{name}</th>"
        for name in ("run", "started", "ended", "command", "planned", "finished", "errors", "exit")
    )
    rows = []
    for run in on_page:
        ended = run.ended_at[:19] if run.ended_at else run.outcome or "running"
        cells = [
            f'<td class="text">{html.escape(run.run_id[:8])}</td>',
            f'<td class="text">{html.escape((run.started_at or "?")[:19])}</td>',
            f'<td class="text">{html.escape(ended)}</td>',
            f'<td class="text"><code>{shown(run.command_line)}</code></td>',
            f"<td>{run.counts.planned}</td>",
            f"<td>{run.counts.finished}</td>",
            f"<td>{run.counts.errors}</td>",
            f"<td>{'' if run.exit_code is None else run.exit_code}</td>",
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="sortable" id="runs-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{_runs_pager(query, page, pages, len(runs))}"
    )


def _runs_pager(query: ViewQuery, page: int, pages: int, total: int) -> str:
    """Links to the newer and older pages of runs, keeping the filters."""
    if pages == 1:
        return ""
    from urllib.parse import urlencode

    def link(target: int, text: str) -> str:
        params = {**query.filters, "suite": query.suite, "by": query.by, "runs_page": target}
        return f'<a class="runs-page" href="/?{html.escape(urlencode(params))}">{text}</a>'

    parts = [f"page {page + 1} of {pages} ({total} runs)"]
    if page > 0:
        parts.insert(0, link(page - 1, "← newer runs"))
    if page + 1 < pages:
        parts.append(link(page + 1, "older runs →"))
    return f"<p class='note' id='runs-pager'>{' · '.join(parts)}</p>"
