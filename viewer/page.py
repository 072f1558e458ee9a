"""The viewer's two pages as HTML strings: the live overview and one test with its transcript.

Server-rendered, so the first paint needs no script; a few lines of JavaScript then poll
``/api/state`` and swap in the pieces that changed. No external assets: the page works on a
machine with no network beyond the loopback it is served on.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from runbench.analysis.render import SORT_SCRIPT, shown
from runbench.analysis.show import SCORES, TestView
from runbench.viewer.state import FILTER_FIELDS, GROUPINGS, ViewQuery

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
header { display: flex; gap: 1.5rem; align-items: baseline; flex-wrap: wrap; }
header h1 { margin: 0; font-size: 1.4rem; } .live { color: #2a7; font-size: 0.85rem; }
form#filters { display: flex; gap: 0.8rem; flex-wrap: wrap; margin: 1rem 0; }
form#filters label { display: flex; flex-direction: column; font-size: 0.8rem; color: #555; }
section { margin-bottom: 1.8rem; } h2 { font-size: 1.1rem; margin: 0.4rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
.group, td.text { text-align: left; } td.group { font-weight: 600; white-space: nowrap; }
td.nodata { color: #999; }
td:not(.text) { white-space: nowrap; } p.note, p.empty { color: #555; font-size: 0.85rem; }
.status-full_success { color: #1a7f37; } .status-failure { color: #b35900; }
.status-error { color: #c00; } img.plot { max-width: 100%; }
.message { border: 1px solid #ddd; border-radius: 4px; margin: 0.5rem 0; padding: 0.4rem 0.7rem; }
.message .role { font-weight: 600; font-size: 0.8rem; color: #555; }
.message pre { white-space: pre-wrap; word-break: break-word; margin: 0.2rem 0; }
.role-assistant { background: #f4f8ff; } .role-system { background: #f7f7f7; }
.role-tool, .role-user { background: #fff; }
dl.identity { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1rem; }
dl.identity dt { font-weight: 600; } dl.identity dd { margin: 0; }
"""

_POLL_SCRIPT = """
const form = document.getElementById("filters");
let fingerprint = document.body.dataset.fingerprint;
function query() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (value) params.set(name, value);
  return params.toString();
}
function setOptions(choices) {
  for (const [name, values] of Object.entries(choices)) {
    const select = form.elements[name];
    if (!select) continue;
    const have = Array.from(select.options).map((o) => o.value).filter((v) => v && v !== "all");
    if (JSON.stringify(have) === JSON.stringify(values)) continue;
    const chosen = select.value;
    for (const o of Array.from(select.options)) if (o.value && o.value !== "all") o.remove();
    for (const v of values) select.add(new Option(v, v));
    select.value = chosen;
  }
}
async function refresh(force) {
  const q = query();
  let state;
  try {
    const response = await fetch("/api/state?" + q, {cache: "no-store"});
    if (!response.ok) throw new Error(await response.text());
    state = await response.json();
  } catch (error) {
    document.getElementById("updated").textContent = "cannot reach the viewer: " + error.message;
    return;
  }
  document.getElementById("updated").textContent =
    "live: " + state.rows + " rows, " + state.tests + " tests; checked " +
    new Date().toLocaleTimeString();
  setOptions(state.options);
  if (!force && state.fingerprint === fingerprint) return;
  fingerprint = state.fingerprint;
  document.body.dataset.fingerprint = fingerprint;
  for (const [id, fragment] of Object.entries(state.fragments))
    document.getElementById(id).innerHTML = fragment;
  const plot = document.getElementById("plot");
  plot.innerHTML = state.has_plot
    ? '<img class="plot" alt="full-success rates" src="/plot.svg?' + q + "&v=" + fingerprint + '">'
    : '<p class="empty">no judged tests to plot</p>';
  history.replaceState(null, "", q ? "?" + q : location.pathname);
}
form.addEventListener("change", () => refresh(true));
form.addEventListener("submit", (event) => { event.preventDefault(); refresh(true); });
setInterval(() => refresh(false), REFRESH_MS);
"""

_LABELS = {
    "model": "model",
    "prompt_type": "prompt type",
    "difficulty": "difficulty",
    "task_type": "task type",
    "rate": "tool success rate",
}


def _select(name: str, label: str, values: list[str], chosen: str, first: str) -> str:
    items = [f'<option value="">{html.escape(first)}</option>']
    for value in values:
        selected = " selected" if value == chosen else ""
        items.append(f'<option value="{html.escape(value)}"{selected}>{shown(value)}</option>')
    return (
        f"<label>{html.escape(label)}<select name='{name}' id='filter-{name}'>"
        f"{''.join(items)}</select></label>"
    )


def index_page(
    state: dict[str, Any], query: ViewQuery, *, store_label: str, refresh_s: float
) -> str:
    """The overview: filters, results with intervals, plot, error groups, tests, runs."""
    choices = state["options"]
    selects = [
        _select(name, _LABELS[name], choices[name], query.filters.get(name, ""), "all")
        for name in FILTER_FIELDS
    ]
    suites = [*choices["suite"], "all"]
    selects.append(_select("suite", "suite", suites, query.suite, "all but legacy imports"))
    selects.append(_select("by", "group by", list(GROUPINGS)[1:], query.by, GROUPINGS[0]))
    fragments = state["fragments"]
    params = html.escape(urlencode({**query.filters, "suite": query.suite, "by": query.by}))
    plot = (
        f'<img class="plot" alt="full-success rates" src="/plot.svg?{params}">'
        if state["has_plot"]
        else '<p class="empty">no judged tests to plot</p>'
    )
    script = _POLL_SCRIPT.replace("REFRESH_MS", json.dumps(int(refresh_s * 1000)))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>runbench view</title>"
        f"<style>{_STYLE}</style></head>"
        f"<body data-fingerprint='{state['fingerprint']}'><header><h1>runbench view</h1>"
        f"<span>{html.escape(store_label)}</span><span class='live' id='updated'>live: "
        f"{state['rows']} rows, {state['tests']} tests</span></header>"
        f"<form id='filters'>{''.join(selects)}{_runs_page_field(query)}</form>"
        f"<section><h2>results</h2><div id='results'>{fragments['results']}</div>"
        f"<div id='hidden'>{fragments['hidden']}</div></section>"
        f"<section><h2>plot</h2><div id='plot'>{plot}</div></section>"
        f"<section><h2>errors by endpoint, category and message</h2>"
        f"<div id='errors'>{fragments['errors']}</div></section>"
        f"<section><h2>tests (newest first; open one for its transcript)</h2>"
        f"<div id='tests'>{fragments['tests']}</div></section>"
        f"<section><h2>runs</h2><div id='runs'>{fragments['runs']}</div></section>"
        f"<script>{SORT_SCRIPT}</script><script>{script}</script></body></html>\n"
    )


def _runs_page_field(query: ViewQuery) -> str:
    """The runs page being read, kept by every poll (the form is what a poll asks for)."""
    if not query.runs_page:
        return ""
    return f"<input type='hidden' name='runs_page' value='{query.runs_page}'>"


def test_page_html(view: TestView) -> str:
    """One test: identity, every attempt with scores, and the saved transcript."""
    identity = "".join(
        f"<dt>{html.escape(name.replace('_', ' '))}</dt><dd>{shown(value)}</dd>"
        for name, value in [("test", view.test_id), *view.identity.items()]
        if value is not None
    )
    head = "".join(
        f"<th>{name}</th>"
        for name in (
            "attempt",
            "counts",
            "run",
            "status",
            "endpoint",
            *SCORES,
            "turns",
            "tokens",
            "error",
        )
    )
    rows = []
    for attempt in view.attempts:
        scores = "".join(
            f"<td>{'–' if attempt.scores[name] is None else f'{attempt.scores[name]:.3f}'}</td>"
            for name in SCORES
        )
        tokens = (
            f"{attempt.details.get('prompt_tokens')}/{attempt.details.get('completion_tokens')}"
        )
        error = " ".join(p for p in (attempt.error_category, attempt.error_message) if p)
        status = html.escape(attempt.status)
        command = "" if attempt.run is None else attempt.run.command_line
        run_cell = (
            f'<td class="text" title="{shown(command)}">{html.escape(attempt.run_id[:8])}'
            f"{'<br><code>' + shown(command) + '</code>' if command else ''}</td>"
        )
        endpoint = shown(f"{attempt.provider}/{attempt.deployment}")
        rows.append(
            f"<tr><td>{attempt.attempt}</td><td>{'✓' if attempt.counts else ''}</td>{run_cell}"
            f'<td class="text status-{status}">{status}</td><td class="text">{endpoint}</td>'
            f"{scores}<td>{attempt.details.get('turns')}</td><td>{html.escape(tokens)}</td>"
            f'<td class="text">{shown(error)}</td></tr>'
        )
    if view.transcript is not None:
        messages = "".join(_message(message) for message in view.transcript)
        transcript = (
            f"<h2>transcript of attempt {view.transcript_attempt}</h2>"
            f"<div id='transcript'>{messages}</div>"
        )
    elif view.transcript_problem:
        transcript = f"<p class='empty' id='transcript'>{html.escape(view.transcript_problem)}</p>"
    else:
        transcript = (
            "<p class='empty' id='transcript'>no transcript saved for this test "
            "(run with --save-logs or --debug to keep one)</p>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>test {html.escape(view.test_id[:12])}</title><style>{_STYLE}</style></head>"
        f"<body><p><a href='/'>← all results</a></p><h1>test {html.escape(view.test_id)}</h1>"
        f"<dl class='identity'>{identity}</dl>"
        "<h2>attempts (✓: the one every statistic counts)</h2>"
        f"<table id='attempts'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f"</table>{transcript}</body></html>\n"
    )


def _message(message: dict[str, Any]) -> str:
    role = str(message.get("role", "?"))
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    extra = {key: value for key, value in message.items() if key not in ("role", "content")}
    if extra:
        text = (text + "\n" if text and text != "null" else "") + json.dumps(
            extra, ensure_ascii=False, indent=1, default=str
        )
    css = "".join(ch if ch.isalnum() else "-" for ch in role)
    return (
        f'<div class="message role-{css}"><div class="role">{html.escape(role)}</div>'
        f"<pre>{shown(text or '', lines=True)}</pre></div>"
    )


def error_page(title: str, message: str, status: int) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{status} {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<p><a href='/'>← all results</a></p><h1>{html.escape(title)}</h1>"
        f"<p id='problem'>{html.escape(message)}</p></body></html>\n"
    )
