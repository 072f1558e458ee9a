"""``runbench show`` on screen: the test's identity, each attempt, then the whole conversation.

The view is plain data from ``analysis.show``; this module only lays it out, through the
escaping factory ``safe``. Names are never cut: each value has a line of its own (a table of
attempts side by side would fold deployment names at 80 columns), and transcript lines wrap
inside their box instead of being cropped at the terminal's edge, so the whole transcript shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbench.analysis.show import AttemptView, TestView, message_text
from runbench.cli import safe

if TYPE_CHECKING:
    from rich.console import RenderableType


def render_test_view(view: TestView) -> RenderableType:
    """A rich renderable of the view: identity, each attempt, then the conversation."""
    identity = safe.grid()
    identity.add_row("test", view.test_id)
    for name, value in view.identity.items():
        if value is not None:
            identity.add_row(name.replace("_", " "), str(value))
    parts: list[RenderableType] = [identity]
    parts.extend(_attempt_grid(attempt) for attempt in view.attempts)
    if view.transcript is not None:
        parts.append(safe.text(f"transcript of attempt {view.transcript_attempt}", style="bold"))
        for message in view.transcript:
            parts.append(safe.panel(message_text(message), str(message.get("role", "?"))))
    elif view.transcript_problem:
        parts.append(safe.text(f"transcript: {view.transcript_problem}", style="yellow"))
    else:
        parts.append(safe.text("no transcript saved (run with --save-logs or --debug to keep one)"))
    return safe.group(*parts)


def _attempt_grid(attempt: AttemptView) -> RenderableType:
    """One attempt as label/value lines: a value gets the whole width, so no name is folded."""
    grid = safe.grid()
    marker = "  ✓ the attempt every statistic counts" if attempt.counts else ""
    grid.add_row(f"attempt {attempt.attempt}", f"{attempt.status}{marker}")
    grid.add_row("endpoint", f"{attempt.provider}/{attempt.deployment}")
    grid.add_row("run", f"{attempt.run_id}  {attempt.recorded_at}")
    if attempt.run is not None:
        grid.add_row("command", attempt.run.command_line or "-")
    grid.add_row(
        "scores",
        "  ".join(f"{n.removesuffix('_score')} {_score(v)}" for n, v in attempt.scores.items()),
    )
    details = attempt.details
    grid.add_row(
        "work",
        f"turns {_plain(details.get('turns'))}  tool calls {_plain(details.get('tool_calls'))}  "
        f"format errors {_plain(details.get('format_error_count'))}  "
        f"retries {_plain(details.get('api_retries'))}",
    )
    grid.add_row(
        "tokens",
        f"{_plain(details.get('prompt_tokens'))} in, "
        f"{_plain(details.get('completion_tokens'))} out",
    )
    if attempt.error_category or attempt.error_message:
        grid.add_row(
            "error", " ".join(p for p in (attempt.error_category, attempt.error_message) if p)
        )
    return grid


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _plain(value: object) -> str:
    return "-" if value is None else str(value)
