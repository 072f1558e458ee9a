"""The one factory for everything the CLI puts on a terminal: text from outside is data.

Model names, task ids, error messages and transcripts come from stores, legacy files, servers
and configs anyone may have written. Printed as they are, an escape sequence (``ESC]0;…BEL``,
``ESC[2J``) retitles or clears the terminal, a bidi override (U+202E) reverses a line, and rich
markup (``[bold]``, ``x[/]y``) is interpreted — or raises ``MarkupError`` and ends the command.
So every rich object the CLI prints is built here: strings become ``rich.text.Text`` (never
parsed as markup) with control, bidi and invisible characters shown as escapes. A test keeps
the rest of ``cli/`` from building ``Text``, ``Table`` or ``Panel`` itself.

Text folds at the edge rather than being cut: a name or a transcript line must be readable and
copyable whole, whatever the terminal's width.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from runbench.redact import escape_control


def plain(value: object, *, multiline: bool = False) -> str:
    """``value`` as a string safe for a terminal (for lines printed with markup off)."""
    return escape_control(str(value), keep_newlines=multiline)


def text(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """A literal, escaped ``Text`` that wraps (folding long words) and is never cropped.

    ``multiline`` keeps newlines and tabs (a transcript message); otherwise they are escaped
    too, so one value stays on one logical line.
    """
    return Text(
        plain(value, multiline=multiline),
        style=style,
        no_wrap=False,
        overflow="fold",
    )


def _cell(value: Any) -> Any:
    return text(value) if isinstance(value, str) else value


class SafeTable(Table):
    """A table whose string cells, headers, title and caption are literal, escaped text."""

    def add_row(self, *renderables: Any, **options: Any) -> None:
        super().add_row(*(_cell(cell) for cell in renderables), **options)

    def add_column(self, header: Any = "", *args: Any, **options: Any) -> None:
        super().add_column(_cell(header), *args, **options)


def table(title: str | None = None, caption: str | None = None, **options: Any) -> SafeTable:
    """The CLI's table style: a simple head, no outer padding, escaped text everywhere."""
    settings: dict[str, Any] = {"box": box.SIMPLE_HEAD, "pad_edge": False, "padding": (0, 0, 0, 1)}
    settings.update(options)
    return SafeTable(
        title=None if title is None else _annotation(title),
        caption=None if caption is None else _annotation(caption),
        **settings,
    )


def _annotation(value: str) -> Text:
    """A title or caption: literal and escaped, laid out as the console lays out plain text."""
    return Text(plain(value))


def grid(label_style: str = "bold") -> SafeTable:
    """Label/value lines: a bold label column and a value column that folds, never crops."""
    lines = SafeTable(box=None, padding=(0, 2), pad_edge=False, show_header=False, show_edge=False)
    lines.add_column(style=label_style)
    lines.add_column(overflow="fold")
    return lines


def panel(body: object, title: object) -> Panel:
    """A boxed block of multi-line text (a transcript message); its lines wrap inside the box."""
    return Panel(text(body, multiline=True), title=text(title), title_align="left")


def group(*parts: RenderableType) -> Group:
    """Several renderables printed one after another."""
    return Group(*parts)
