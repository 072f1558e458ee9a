r"""Pictures of a report, following its grouping, in the format the file name asks for.

One grouping field gives bars with 95 % Wilson intervals; two give a heatmap (first field as
rows, second as columns) above grouped bars. Each cell is labelled with its interval's two ends,
never a symmetric ±, which misstates skewed intervals near 0 or 1. A group without judged tests
is drawn as "no data", never as 0 %. matplotlib runs with the Agg backend: no display is needed.

Every label is literal text: names come from stores and configs anyone may have written, and
matplotlib would read ``cost$\frac{$x`` as mathtext (and fail) or ``$x$`` as a formula. So figures
are built and drawn with mathtext and TeX off, control characters are shown as escapes, and
matplotlib's warnings about glyphs its font lacks (a CJK model name) stay off stderr: the label
is drawn with a placeholder box, which is all a warning could say.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from runbench.analysis.report import GroupResult, Report
from runbench.errors import UsageError
from runbench.redact import escape_control

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PlotFormat = Literal["png", "svg", "pdf"]
PLOT_FORMATS: dict[str, PlotFormat] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_MAX_LABEL = 22
_NO_DATA_COLOUR = "#d9d9d9"


def _short(label: str) -> str:
    label = escape_control(label)
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


@contextlib.contextmanager
def literal_text() -> Iterator[None]:
    """Within it, matplotlib draws every string as it is and keeps missing-glyph warnings quiet.

    Text objects read ``text.parse_math`` when created, and tick labels are created while
    drawing, so both building and saving a figure run inside.
    """
    import matplotlib

    with (
        matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .* missing from", category=UserWarning
        )
        yield


def plot_format(path: Path | str) -> PlotFormat:
    """The picture format a file name asks for, from its extension.

    Raises:
        UsageError: the extension is not .png, .svg or .pdf.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise UsageError(
            f"cannot tell the plot format of '{path}'",
            hint="end the --plot file name in .png, .svg or .pdf",
        )
    return PLOT_FORMATS[suffix]


def plot_bytes(report: Report, fmt: PlotFormat = "png") -> bytes:
    """The report drawn as PNG, SVG or PDF bytes.

    Raises:
        ValueError: the report is grouped by more than two fields, or has no judged test.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with literal_text():
        figure = report_figure(report)
        try:
            figure.savefig(buffer, format=fmt, dpi=110, metadata=_metadata(fmt))
        finally:
            plt.close(figure)
    return buffer.getvalue()


def write_plot(report: Report, path: Path | str) -> Path:
    """Draw the report into ``path`` in the format its extension names; return the path.

    Raises:
        UsageError: the extension is not .png, .svg or .pdf.
        ValueError: see ``plot_bytes``.
    """
    target = Path(path)
    data = plot_bytes(report, plot_format(target))
    target.write_bytes(data)
    return target


def report_png(report: Report) -> bytes:
    return plot_bytes(report, "png")


def report_svg(report: Report) -> str:
    return plot_bytes(report, "svg").decode("utf-8")


DrawnValues = tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], str, tuple[float, ...]], ...]]
# a thousandth of the rate axis: a fraction of a pixel at the sizes drawn here
_UNSEEN = 1e-3


def drawn_values(report: Report) -> DrawnValues:
    """What a drawing of ``report`` shows: its groups, every label as drawn, every height."""
    shown: list[tuple[tuple[str, ...], str, tuple[float, ...]]] = []
    for group in report.groups:
        rate, interval = group.full_rate, group.full_interval
        if rate is None or interval is None:
            shown.append((group.group, "no data", ()))
            continue
        labels = f"{rate:.0%} {interval.low:.0%}–{interval.high:.0%}"
        shown.append((group.group, labels, (rate, interval.low, interval.high)))
    return (report.by, tuple(shown))


def draws_alike(drawn: DrawnValues, now: DrawnValues) -> bool:
    """Whether ``now`` would draw the picture ``drawn`` was drawn as.

    The same groups and labels, and no height moved by a thousandth of the axis or more
    (less than a pixel) since that drawing: a viewer polling a large store while a run adds a
    few rows redraws only when something visible moved. Compared with what was drawn, not
    with the last poll, so small moves cannot add up unseen.
    """
    if drawn[0] != now[0] or len(drawn[1]) != len(now[1]):
        return False
    for (group, labels, heights), (group_now, labels_now, heights_now) in zip(
        drawn[1], now[1], strict=True
    ):
        if group != group_now or labels != labels_now or len(heights) != len(heights_now):
            return False
        if any(abs(a - b) >= _UNSEEN for a, b in zip(heights, heights_now, strict=True)):
            return False
    return True


def _metadata(fmt: PlotFormat) -> dict[str, str | None]:
    # No creation date: the same report draws the same bytes, so plots diff cleanly.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {}


def report_figure(report: Report) -> Figure:
    """A matplotlib figure of the report (bars for one field; heatmap and bars for two).

    Raises:
        ValueError: the report is grouped by more than two fields, or has no judged test.
    """
    with literal_text():
        return _figure(report)


def _figure(report: Report) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(report.by) > 2:
        raise ValueError("plots show one or two grouping fields; group the report by fewer")
    if not any(group.has_data for group in report.groups):
        raise ValueError("nothing to plot: no judged tests")
    if len(report.by) == 1:
        labels = [group.group[0] for group in report.groups]
        figure, bars = plt.subplots(
            figsize=(max(6.0, 0.7 * len(labels) + 2), 5), layout="constrained"
        )
        _bars(bars, report.groups, labels, None)
        bars.set_xlabel(escape_control(report.by[0]))
        return figure
    rows = sorted({group.group[0] for group in report.groups})
    columns = sorted({group.group[1] for group in report.groups})
    figure, (heat, bars) = plt.subplots(
        2,
        1,
        figsize=(max(8.0, 1.3 * len(columns) + 3), 4 + 0.55 * len(rows) + 4),
        layout="constrained",
    )
    _heatmap(heat, report, rows, columns)
    _grouped_bars(bars, report, rows, columns)
    return figure


def _heatmap(axes: Axes, report: Report, rows: list[str], columns: list[str]) -> None:
    import numpy as np

    cells = {(group.group[0], group.group[1]): group for group in report.groups}
    rates = np.full((len(rows), len(columns)), np.nan)
    for (row, column), group in cells.items():
        if group.full_rate is not None:
            rates[rows.index(row), columns.index(column)] = group.full_rate
    axes.set_facecolor(_NO_DATA_COLOUR)
    image = axes.imshow(
        np.ma.masked_invalid(rates), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto"
    )
    axes.set_xticks(range(len(columns)), [_short(c) for c in columns], rotation=35, ha="right")
    axes.set_yticks(range(len(rows)), [_short(r) for r in rows])
    axes.set_xlabel(report.by[1])
    axes.set_ylabel(report.by[0])
    for row_index, row in enumerate(rows):
        for column_index, column in enumerate(columns):
            cell = cells.get((row, column))
            if cell is None or cell.full_rate is None or cell.full_interval is None:
                text, colour = "no data", "#555555"
            else:
                interval = cell.full_interval
                text = f"{cell.full_rate:.0%}\n{interval.low:.0%}–{interval.high:.0%}"
                colour = "black" if cell.full_rate > 0.6 else "white"
            axes.text(
                column_index, row_index, text, ha="center", va="center", color=colour, fontsize=8
            )
    axes.set_title("full-success rate (95 % Wilson interval below; grey: no data)")
    axes.figure.colorbar(image, ax=axes, fraction=0.03)


def _grouped_bars(axes: Axes, report: Report, rows: list[str], columns: list[str]) -> None:
    import numpy as np

    cells = {(group.group[0], group.group[1]): group for group in report.groups}
    offsets = np.linspace(-0.4, 0.4, len(rows) + 1)
    step = float(offsets[1] - offsets[0])
    for index, row in enumerate(rows):
        chosen = [
            (position + offsets[index] + step / 2, cells[(row, column)])
            for position, column in enumerate(columns)
            if (row, column) in cells
        ]
        _bars(
            axes,
            [group for _, group in chosen],
            [str(x) for x, _ in chosen],
            [x for x, _ in chosen],
            width=step * 0.9,
            label=_short(row),
            annotate=False,
        )
    axes.set_xticks(range(len(columns)), [_short(c) for c in columns], rotation=35, ha="right")
    axes.set_xlim(-0.5, len(columns) - 0.5)
    axes.set_xlabel(report.by[1])
    axes.legend(fontsize=8, ncols=min(4, len(rows)), title=report.by[0], title_fontsize=8)


def _bars(
    axes: Axes,
    groups: tuple[GroupResult, ...] | list[GroupResult],
    labels: list[str],
    positions: list[float] | None,
    *,
    width: float = 0.7,
    label: str | None = None,
    annotate: bool = True,
) -> None:
    """Bars of full-success rate with Wilson error bars; "no data" where nothing was judged."""
    xs = positions if positions is not None else list(range(len(groups)))
    measured = [
        (x, group)
        for x, group in zip(xs, groups, strict=True)
        if group.full_rate is not None and group.full_interval is not None
    ]
    heights = [group.full_rate or 0.0 for _, group in measured]
    low = [group.full_interval.low if group.full_interval else 0.0 for _, group in measured]
    high = [group.full_interval.high if group.full_interval else 0.0 for _, group in measured]
    errors = [
        [height - bottom for height, bottom in zip(heights, low, strict=True)],
        [top - height for height, top in zip(heights, high, strict=True)],
    ]
    container = axes.bar(
        [x for x, _ in measured], heights, width=width, yerr=errors, capsize=2, label=label
    )
    if annotate:
        axes.bar_label(
            container,
            labels=[f"{bottom:.0%}–{top:.0%}" for bottom, top in zip(low, high, strict=True)],
            padding=3,
            fontsize=8,
        )
    for x, group in zip(xs, groups, strict=True):
        if group.full_rate is None:
            axes.text(x, 0.02, "no data", rotation=90, ha="center", va="bottom", fontsize=8)
    if positions is None:
        axes.set_xticks(xs, [_short(text) for text in labels], rotation=35, ha="right")
        axes.set_xlim(-0.6, len(xs) - 0.4)
    axes.set_ylim(0, 1.08)
    axes.set_ylabel("full-success rate")
    axes.set_title("full-success rate with 95 % Wilson intervals")
