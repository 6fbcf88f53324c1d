"""Which stored runs still describe their suite's budget, so that only runs of one budget are compared.

A budget can change after runs were recorded under it (AntMaze `quick` went from 100k to 500k steps). Those runs
keep their rows in the per-dataset tables, flagged, until reruns replace them; but an aggregate or a comparison that
pooled them with runs of the new budget would set an agent trained for 500k steps against one trained for 100k and
report the difference as a difference between methods. The leaderboard's aggregates and the seed findings therefore
use the *current* runs only and count the superseded ones on their own.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.suites import current_steps


def steps_now(runs: pd.DataFrame) -> list[int | None]:
    """For each row of `runs` (columns ``suite``, ``dataset_id``), the steps its store suite's budget gives that
    dataset today (`current_steps`; None for store suites without a named budget)."""
    return [current_steps(suite, dataset) for suite, dataset in zip(runs["suite"], runs["dataset_id"])]


def superseded(runs: pd.DataFrame) -> pd.Series:
    """For each row of `runs` (columns ``suite``, ``dataset_id``, ``budget``: a run's store suite, dataset and
    trained steps), whether its budget differs from the steps its store suite's budget gives that dataset today.
    Store suites without a named budget (protocol overrides) have nothing superseded."""
    if runs.empty:
        return pd.Series(False, index=runs.index, dtype=bool)
    flags = [steps is not None and int(budget) != steps for steps, budget in zip(steps_now(runs), runs["budget"])]
    return pd.Series(flags, index=runs.index, dtype=bool)


def superseded_note(runs: pd.DataFrame) -> str:
    """"3 superseded runs (trained for 100,000 steps; the budget now gives 500,000) are left out: ..." for the
    superseded rows of `runs` (one row per run: ``run_id``, ``agent``, ``suite``, ``dataset_id``, ``budget``), or
    "" when there are none."""
    old = runs[superseded(runs)].drop_duplicates("run_id")
    if old.empty:
        return ""
    used = " / ".join(f"{int(steps):,}" for steps in sorted(old["budget"].unique()))
    now = sorted({steps for steps in steps_now(old) if steps is not None})
    agents = ", ".join(f"{agent} {len(group)}" for agent, group in old.groupby("agent", sort=True))
    count = len(old)
    return (
        f"{count} superseded run{'s' if count != 1 else ''} ({agents}; trained for {used} steps, where the budget "
        f"now gives {' / '.join(f'{steps:,}' for steps in now)}) "
        f"{'are' if count != 1 else 'is'} left out: runs of different budgets are not compared."
    )
