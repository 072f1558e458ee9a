"""Pictures of a report: a heatmap of full-success rates and a bar chart with 95 % intervals.

Both are drawn from a ``Report`` grouped by model and prompt type, so the picture and the table
can never disagree. matplotlib runs with the Agg backend: no display is needed.
"""

from __future__ import annotations

import io

from runbench.analysis.report import Report

_MAX_LABEL = 22


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def report_png(report: Report) -> bytes:
    """A PNG with the heatmap (models × prompt types) above the bar chart with error bars.

    Raises:
        ValueError: the report is not grouped by model and prompt type, or is empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if report.by[:2] != ("model", "prompt_type") or len(report.by) != 2:
        raise ValueError("plots need a report grouped by model,prompt_type")
    groups = [group for group in report.groups if group.tests]
    if not groups:
        raise ValueError("nothing to plot: no judged tests")
    models = sorted({group.group[0] for group in groups})
    prompts = sorted({group.group[1] for group in groups})
    rates = np.full((len(models), len(prompts)), np.nan)
    widths = np.full_like(rates, np.nan)
    for group in groups:
        row, column = models.index(group.group[0]), prompts.index(group.group[1])
        rates[row, column] = group.full_rate
        widths[row, column] = group.full_interval.width

    figure, (heat, bars) = plt.subplots(
        2,
        1,
        figsize=(max(8.0, 1.1 * len(prompts) + 3), 4 + 0.5 * len(models) + 4),
        layout="constrained",
    )
    image = heat.imshow(rates, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    heat.set_xticks(range(len(prompts)), [_short(p) for p in prompts], rotation=35, ha="right")
    heat.set_yticks(range(len(models)), [_short(m) for m in models])
    for (row, column), value in np.ndenumerate(rates):
        if value == value:
            colour = "black" if value > 0.6 else "white"
            text = f"{value:.0%}\n±{widths[row, column] / 2:.0%}"
            heat.text(column, row, text, ha="center", va="center", color=colour, fontsize=8)
    heat.set_title("full-success rate (± half the 95 % Wilson interval)")
    figure.colorbar(image, ax=heat, fraction=0.03)

    offsets = np.linspace(-0.4, 0.4, len(models) + 1)
    step = offsets[1] - offsets[0]
    for index, model in enumerate(models):
        mine = {group.group[1]: group for group in groups if group.group[0] == model}
        xs = [
            position + offsets[index] + step / 2 for position, p in enumerate(prompts) if p in mine
        ]
        chosen = [mine[p] for p in prompts if p in mine]
        heights = [group.full_rate for group in chosen]
        errors = [
            [group.full_rate - group.full_interval.low for group in chosen],
            [group.full_interval.high - group.full_rate for group in chosen],
        ]
        bars.bar(xs, heights, width=step * 0.9, yerr=errors, capsize=2, label=_short(model))
    bars.set_xticks(range(len(prompts)), [_short(p) for p in prompts], rotation=35, ha="right")
    bars.set_ylim(0, 1)
    bars.set_ylabel("full-success rate")
    bars.set_title("full-success rate with 95 % Wilson intervals")
    bars.legend(fontsize=8, ncols=min(4, len(models)))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
