"""PNG plots of `benchmarks.stats` results, drawn by `rliable.plot_utils`.

Each function returns PNG bytes. The bytes are deterministic for the same inputs: figures are drawn under
matplotlib's default style with the bundled DejaVu Sans font, rendered by the Agg renderer at a fixed dpi, and saved
without the "Software" metadata entry (PNG has no timestamp unless one is asked for). Agents keep one colour across
all plots (`agent_colors`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from rliable import plot_utils

from benchmarks.stats import PAIR_SEPARATOR, Estimates

DPI = 100
_STYLE = {"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"], "savefig.dpi": DPI, "figure.dpi": DPI}

Color = tuple[float, float, float]


def agent_colors(agents: Sequence[str]) -> dict[str, Color]:
    """One colour per agent from seaborn's colour-blind palette, in the order given."""
    return dict(zip(agents, sns.color_palette("colorblind", n_colors=len(agents)), strict=True))


@contextmanager
def _style() -> Iterator[None]:
    with plt.style.context("default"), plt.rc_context(_STYLE):
        yield


def _png(draw: Callable[[], Figure]) -> bytes:
    """Draw a figure with `draw()` under the fixed style and return it as PNG bytes (the figure is closed)."""
    with _style():
        figure = draw()
        try:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
        finally:
            plt.close(figure)
    return buffer.getvalue()


def interval_estimates_png(
    estimates: Estimates, metric_names: Sequence[str], colors: Mapping[str, Color], xlabel: str
) -> bytes:
    """Point estimate and 95% CI of each metric (one panel per metric, one bar per agent)."""

    def draw() -> Figure:
        figure, _ = plot_utils.plot_interval_estimates(
            estimates.point,
            estimates.interval,
            metric_names=list(metric_names),
            algorithms=list(estimates.point),
            colors=dict(colors),
            xlabel=xlabel,
            row_height=0.5,
            xlabel_y_coordinate=-0.35,
        )
        return figure

    return _png(draw)


def performance_profiles_png(
    taus: np.ndarray, profiles: Estimates, colors: Mapping[str, Color], xlabel: str
) -> bytes:
    """Fraction of runs scoring above τ against τ, with 95% CI bands."""

    def draw() -> Figure:
        figure, axis = plt.subplots(figsize=(7, 5))
        plot_utils.plot_performance_profiles(
            profiles.point,
            taus,
            performance_profile_cis=profiles.interval,
            colors=dict(colors),
            xlabel=xlabel,
            ylabel=r"Fraction of runs with score > $\tau$",
            ax=axis,
            legend=True,
        )
        return figure

    return _png(draw)


def probability_of_improvement_png(estimates: Estimates, colors: Mapping[str, Color]) -> bytes:
    """P(X > Y) with 95% CI for each pair "X,Y" of `estimates`, coloured by agent X."""

    def draw() -> Figure:
        figure, axis = plt.subplots(figsize=(5, 1 + 0.6 * len(estimates.point)))
        plot_utils.plot_probability_of_improvement(
            {pair: float(value[0]) for pair, value in estimates.point.items()},
            {pair: interval[:, 0] for pair, interval in estimates.interval.items()},
            pair_separator=PAIR_SEPARATOR,
            ax=axis,
            colors=[colors[pair.split(PAIR_SEPARATOR)[0]] for pair in estimates.point],
            xticks=[0.0, 0.25, 0.5, 0.75, 1.0],
        )
        axis.set_xlim(0.0, 1.0)
        return figure

    return _png(draw)


def sample_efficiency_png(
    steps: np.ndarray, curves: Estimates, colors: Mapping[str, Color], xlabel: str, ylabel: str
) -> bytes:
    """An aggregate score (with 95% CI band) against evaluation step, one line per agent."""

    def draw() -> Figure:
        figure, axis = plt.subplots(figsize=(7, 5))
        plot_utils.plot_sample_efficiency_curve(
            steps,
            curves.point,
            curves.interval,
            algorithms=list(curves.point),
            colors=dict(colors),
            xlabel=xlabel,
            ylabel=ylabel,
            ax=axis,
            labelsize="x-large",
            ticklabelsize="large",
            legend=True,
        )
        return figure

    return _png(draw)


def learning_curves_png(
    panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    published: Mapping[str, float | None],
    colors: Mapping[str, Color],
) -> bytes:
    """One panel per dataset (`panels`: dataset -> agent -> (steps, mean, 2 x steps CI)), the IQL paper's number of
    each dataset (`published`) as a dashed line."""

    def draw() -> Figure:
        figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
        for axis, (dataset, curves) in zip(axes[0], panels.items(), strict=True):
            for agent, (steps, mean, band) in curves.items():
                axis.plot(steps, mean, marker="o", markersize=3, color=colors[agent], label=agent)
                axis.fill_between(steps, band[0], band[1], color=colors[agent], alpha=0.2)
            if published.get(dataset) is not None:
                axis.axhline(published[dataset], color="black", linestyle="--", linewidth=1, label="IQL paper")
            axis.set_ylim(bottom=min(0.0, axis.get_ylim()[0]), top=max(100.0, axis.get_ylim()[1]))
            axis.set_title(dataset, fontsize="medium")
            axis.set_xlabel("Training step")
            axis.grid(alpha=0.3)
            axis.legend(fontsize="small")
        axes[0][0].set_ylabel("Normalised score (mean over seeds)")
        figure.tight_layout()
        return figure

    return _png(draw)
