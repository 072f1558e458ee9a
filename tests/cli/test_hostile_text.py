"""Nothing raw reaches a terminal, a plot or a spreadsheet: hostile names and messages, end to end.

Model names come from a runbench.toml of sim models (what a user's config can hold) or from rows
written into a store (what a legacy file or another tool can leave there); messages come from a
loopback server's 400 or from stored error rows. Each goes through the real CLI.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runbench.storage import open_store
from tests.analysis.conftest import make_record
from tests.cli.conftest import Outcome
from tests.conftest import REPO, run_cli

HOSTILE = "\x1b]0;pwned\x07\x1b[2J"  # retitles the terminal window, then clears the screen
ESCAPED = "\\x1b]0;pwned\\x07\\x1b[2J"
MARKUP = "x[/]y"  # rich reads "[/]" as a closing tag and raises MarkupError
MATH = "cost$\\frac{$x"  # matplotlib reads "$…$" as mathtext and cannot parse this one
BIDI = "ab\u202ecd"  # a right-to-left override reverses the rest of the line
RAW = ("\x1b", "\x07", "\u202e")
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3")


def _toml_key(name: str) -> str:
    return json.dumps(name)  # a TOML basic string: \\uXXXX escapes, quotes and backslashes


def _config(path: Path, names: list[str]) -> Path:
    tables = [f'[models.{_toml_key(name)}]\nprovider = "s"\nprofile = "strong"\n' for name in names]
    path.write_text('[providers.s]\nkind = "sim"\n' + "".join(tables))
    return path


def _assert_clean(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.stderr and "MarkupError" not in outcome.stderr
    for text in (outcome.stdout, outcome.stderr):
        assert not any(character in text for character in RAW), text


PLAN = ("--task-types", "simple_task", "--num-instances", "1")


def test_a_rich_object_is_built_only_by_the_escaping_factory() -> None:
    """No module outside cli/safe.py builds rich text, tables or panels, and only cli/ uses rich."""
    builders = {"Text", "Table", "Panel", "Group", "Columns", "Tree", "Markdown", "Syntax"}
    for folder in ("runbench", "storage", "migrate", "analysis", "workload", "clients", "runners"):
        for path in (REPO / folder).glob("*.py"):
            assert "rich" not in _imported(path), f"{path} renders for a terminal"
    for path in (REPO / "cli").glob("*.py"):
        if path.name == "safe.py":
            continue
        tree = ast.parse(path.read_text())
        calls = {
            getattr(node.func, "attr", getattr(node.func, "id", ""))
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert not calls & builders, f"{path.name} builds {calls & builders} itself"
        assert not {"rich.text", "rich.table", "rich.panel"} & _imported(path, full=True), path


def _imported(path: Path, *, full: bool = False) -> set[str]:
    """Modules imported at run time (imports for type annotations only do not count)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names if full else {name.split(".")[0] for name in names}


def test_hostile_model_names_run_report_and_list_escaped(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    names = [MARKUP, MATH, f"e{HOSTILE}z", BIDI]
    config = _config(tmp_path / "runbench.toml", names)
    store = ("--store", str(tmp_path / "store"), "--config", str(config))
    ran = invoke("smart-batch", "--model", ",".join(names), *PLAN, *store)
    listed = invoke("models", "--config", str(config))
    report = invoke("report", *store)
    again = invoke("smart-batch", "--model", MARKUP, *PLAN, *store)
    for outcome in (ran, listed, report, again):
        assert outcome.code == 0, outcome.stderr
        _assert_clean(outcome)
    assert "nothing to run" in again.stdout
    for text in (ran.stdout, listed.stdout, report.stdout):
        assert f" {MARKUP} " in text and f" {MATH} " in text
        assert f" e{ESCAPED}z " in text and " ab\\u202ecd " in text


def test_errors_show_and_the_summary_escape_stored_messages(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    record = make_record(MARKUP, "error", error_message=f"HTTP 400: {HOSTILE} [bold]{BIDI}")
    open_store(tmp_path, "json").append([record])
    where = ("--store", str(tmp_path))
    errors = invoke("errors", *where)
    shown = invoke("show", record.test_id, *where)
    for outcome in (errors, shown):
        assert outcome.code == 0, outcome.stderr
        _assert_clean(outcome)
        assert f"HTTP 400: {ESCAPED} [bold]ab\\u202ecd" in outcome.stdout
    assert f"sim/{MARKUP}" in shown.stdout


class _Refusing(BaseHTTPRequestHandler):
    """Answers every chat completion with a 400 whose message would rewrite the terminal."""

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": {"message": f"bad {HOSTILE} [/] request", "type": "x"}})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_end_of_run_error_reasons_print_a_servers_message_escaped(
    tmp_path: Path,
    refusing_server: str,
    invoke: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text(
        f'[providers.p]\nkind = "openai"\nbase_url = "{refusing_server}"\n'
        'api_key_env = "HOSTILE_TEST_KEY"\n[models.m]\nprovider = "p"\n'
    )
    monkeypatch.setenv("HOSTILE_TEST_KEY", "k")
    result = invoke(
        *("smart-batch", "--model", "m", "--config", str(config), "--no-preflight"),
        *("--task-types", "simple_task", "--num-instances", "1", "--max-retries", "0"),
        *("--store", str(tmp_path / "store")),
    )
    assert result.code == 1, result.stderr
    assert "Errors of this run" in result.stderr
    reasons = result.stderr.split("Errors of this run", 1)[1]
    assert f"bad {ESCAPED} [/] request" in reasons
    _assert_clean(result)


@pytest.fixture
def named_store(tmp_path: Path) -> Path:
    """A store whose model names are formulas, markup, mathtext, a pipe and CJK."""
    names = [*FORMULAS, MARKUP, MATH, "a|b", "模型", f"e{HOSTILE}z", "\ttab"]
    rows = [
        make_record(name, status, instance=instance)
        for name in names
        for instance, status in enumerate(("full_success", "failure"))
    ]
    open_store(tmp_path, "json").append(rows)
    return tmp_path


def test_csv_neutralises_formula_cells_and_keeps_numbers(
    named_store: Path, invoke: Callable[..., Outcome]
) -> None:
    out = invoke("report", "--format", "csv", "--store", str(named_store))
    assert out.code == 0, out.stderr
    rows = {row["model"]: row for row in csv.DictReader(io.StringIO(out.stdout))}
    for formula in FORMULAS:
        assert f"'{formula}" in rows, sorted(rows)
    assert rows[MARKUP]["tests"] == "2" and rows[MARKUP]["full_rate"] == "0.5"
    assert f"e{ESCAPED}z" in rows and "'\\ttab" in rows
    _assert_clean(out)
    assert all(not name.startswith(("=", "+", "-", "@")) for name in rows)


def test_markdown_escapes_the_pipe(named_store: Path, invoke: Callable[..., Outcome]) -> None:
    out = invoke("report", "--format", "markdown", "--store", str(named_store))
    header, _, *rows = [line for line in out.stdout.splitlines() if line.startswith("|")]
    (row,) = [line for line in rows if line.startswith("| a")]
    assert row.startswith("| a\\|b | optimal | 2 | 50.0% |")
    assert row.replace("\\|", "").count("|") == header.count("|")
    assert f"| e{ESCAPED}z | optimal | 2 |" in out.stdout
    _assert_clean(out)


def test_plots_and_html_draw_names_as_literal_text(
    named_store: Path, invoke: Callable[..., Outcome]
) -> None:
    """The plot through the installed CLI (warnings reach its real stderr), the page in-process."""
    svg, page = named_store / "rates.svg", named_store / "report.html"
    where = ("--store", str(named_store))
    plotted = run_cli("report", "--plot", str(svg), "--by", "model,prompt_type", *where)
    assert plotted.returncode == 0, plotted.stderr
    assert "Glyph" not in plotted.stderr and "Warning" not in plotted.stderr
    drawn = svg.read_text()
    assert f"<!-- {MATH} -->" in drawn and f"<!-- {MARKUP} -->" in drawn
    html = invoke("report", "--format", "html", "--output", str(page), *where)
    assert html.code == 0, html.stderr
    assert "cost$\\frac{$x" in page.read_text() and f"<!-- {MATH} -->" in page.read_text()
    table = page.read_text().split("<table", 1)[1]
    assert "e\\x1b]0;pwned\\x07\\x1b[2Jz" in table, "the name's escape sequence shown escaped"
    assert "\x1b" not in table.split("<svg", 1)[0], "never raw in the page's text"


def test_the_viewers_plot_of_hostile_names_is_served(named_store: Path) -> None:
    from tests.viewer.conftest import Viewer
    from tests.viewer.test_server import _get

    viewer = Viewer(named_store)
    try:
        status, kind, body = _get(viewer.url + "plot.svg?by=model")
    finally:
        viewer.close()
    assert status == 200 and kind.startswith("image/svg+xml")
    assert f"<!-- {MATH} -->" in body


def test_the_viewers_pages_show_control_and_bidi_characters_escaped(tmp_path: Path) -> None:
    from tests.viewer.conftest import Viewer
    from tests.viewer.test_server import _get

    record = make_record(f"e{HOSTILE}z", "error", error_message=f"HTTP 400: {BIDI}")
    open_store(tmp_path, "json").append([record])
    viewer = Viewer(tmp_path)
    try:
        _, _, state = _get(viewer.url + "api/state")
        _, _, test = _get(viewer.url + f"test/{record.test_id}")
    finally:
        viewer.close()
    for body in (state, test):
        assert "\x1b" not in body and "\u202e" not in body, "no raw control or bidi character"
    assert "e\\x1b]0;pwned" in test and "\\u202e" in test
