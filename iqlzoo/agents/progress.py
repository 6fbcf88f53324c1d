"""The training progress bar: SB3's tqdm/rich bar, whose rate is the mean over the whole ``learn`` call.

SB3's bar shows rich's speed estimate, the rate of the last 30 seconds. Training shares the CPU (evaluation workers,
other runs, a second core that is busy or not), so that rate can differ a lot from the mean rate a run ends with,
which is what ``learn`` logs (``time/updates_per_s`` per log interval) and what a summary reports (updates / seconds
of ``learn``). The quick start's bar ended at 40 it/s while its summary said 27.6 updates/s: neither counted compile
time (under ``compile="auto"`` only calls of >= 20k steps compile) nor evaluation (timed apart); the bar had simply
forgotten the slower first minutes. :class:`MeanRateColumn` shows completed steps / elapsed time instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from rich.progress import BarColumn, ProgressColumn, Task, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text
from tqdm import TqdmExperimentalWarning
from tqdm.rich import FractionColumn, tqdm_rich


class MeanRateColumn(ProgressColumn):
    """Steps per second since the bar started (rich's own speed column averages only the last 30 s)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("? it/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:,.0f} it/s", style="progress.data.speed")


def gradient_step_bar(total: int) -> Any:
    """A tqdm/rich bar over ``total`` gradient steps, laid out like SB3's, with :class:`MeanRateColumn`."""
    columns = (
        "[progress.percentage]{task.percentage:>4.0f}%",
        BarColumn(bar_width=None),
        FractionColumn(),
        "[", TimeElapsedColumn(), "<", TimeRemainingColumn(), ",", MeanRateColumn(), "]",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmExperimentalWarning)  # "rich is experimental/alpha" (SB3 hides it too)
        return tqdm_rich(total=total, progress=columns)
