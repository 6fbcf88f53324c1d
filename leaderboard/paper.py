"""The leaderboard's paper-protocol section: our runs at the IQL paper's budget beside the published numbers.

A run belongs to the section when its store suite is a main suite under the `paper` budget ("antmaze-paper",
"halfcheetah-paper"; `PAPER_SUITES`). Per (dataset, agent) the section shows

- ours: the mean over seeds of each run's final normalised score (D4RL x100; on AntMaze 100 x the success rate),
  with rliable's 95% percentile-bootstrap CI over seeds;
- the published numbers on the official D4RL data (`leaderboard.published`): the IQL paper's Table 1 and CORL's IQL
  (last and best evaluation, mean ± std over seeds) — theirs, on data that is not ours;
- ours − paper, and whether our 95% CI lies wholly below the paper's number ("below by more than our CI"): those are
  the cells whose gap needs an explanation with evidence;
- the data our runs trained on (source and build) and whether the curve was still rising at its final evaluation;
- for IQL, the independent check (`leaderboard.independent`): the final score of the reference IQL
  (`benchmarks/reference_iql.py`, no code shared with iqlzoo's agents) on the same data, protocol and settings,
  where the store holds a finished run of it;
- where our data normalises returns with other reference returns than D4RL's (locomotion: each dataset's own random
  and expert policies), a paragraph giving both and our returns on D4RL's scale (:func:`scale_note`).

Then one learning-curve plot per suite: per dataset, the mean normalised score over seeds at every evaluation step
with its 95% bootstrap band, one line per agent, and the IQL paper's number as a dashed line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from benchmarks import stats
from benchmarks.scales import normalisation_refs, rounded
from benchmarks.store import build_label
from benchmarks.suites import BUDGETS, MAIN_SUITES, task_of
from leaderboard import plots
from leaderboard.independent import INDEPENDENT_NOTE, ReferenceRun, independent_cell, matching
from leaderboard.published import PUBLISHED, plus_minus, published_task
from leaderboard.text import markdown_table, span, with_ci

PAPER_BUDGET = BUDGETS["paper"]
#: Store suites of the main suites at the paper's budget.
PAPER_SUITES: tuple[str, ...] = tuple(f"{suite}-{PAPER_BUDGET.name}" for suite in MAIN_SUITES)
TITLE = "Paper protocol: ours at the IQL paper's budget beside the published numbers"
ANCHOR = "paper-protocol-ours-at-the-iql-papers-budget-beside-the-published-numbers"
METRIC = "normalized_score"
#: The agent the reference implementation implements: the only rows with an independent check.
REFERENCE_AGENT = "IQL"


class Renderer(Protocol):
    """What the section needs of `leaderboard.render._Renderer`."""

    reps: int
    seed: int
    colors: Mapping[str, plots.Color]

    def precision(self, run_id: str) -> str: ...

    def agent_config(self, run_id: str) -> Mapping[str, Any]: ...

    def protocol(self, run_id: str) -> Mapping[str, Any]: ...

    def run_link(self, run_id: str, label: str) -> str: ...

    def store_link(self, label: str, path: Path) -> str: ...

    def add_plot(self, name: str, png: bytes, alt: str) -> str: ...


def paper_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The evaluations of `frame` that belong to the paper-protocol section."""
    return frame[frame["suite"].isin(PAPER_SUITES)]


def _published_cells(official_id: str, ours: float, upper: float) -> list[str]:
    """IQL paper, CORL IQL last, CORL IQL best, ours − paper and the below-CI flag for one row."""
    found = PUBLISHED.get(official_id)
    if found is None:
        return ["n/a"] * 5
    pm = [plus_minus(found.corl_last), plus_minus(found.corl_best)]
    if found.iql_paper is None:
        return ["n/a", *pm, "n/a", "n/a"]
    below = "**yes**" if upper < found.iql_paper else "no"
    return [f"{found.iql_paper:.1f}", *pm, f"{ours - found.iql_paper:+.1f}", below]


def _curves(
    frame: pd.DataFrame, run_ids: Sequence[str], reps: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean and 95% CI (2 x steps) of the normalised score over the runs `run_ids`, at every step that all of
    them evaluated."""
    rows = frame[frame["run_id"].isin(run_ids)].dropna(subset=[METRIC])
    table = rows.pivot_table(index="step", columns="run_id", values=METRIC, aggfunc="last").dropna()
    steps = table.index.to_numpy(dtype=int)
    means, bands = [], []
    for step in steps:
        values = table.loc[step].to_numpy(dtype=float) * stats.SCORE_SCALES[METRIC]
        found = stats.mean_over_seeds({"x": values}, reps=reps, seed=seed)
        means.append(found.point["x"][0])
        bands.append(found.interval["x"][:, 0])
    return steps, np.asarray(means), np.asarray(bands).T.reshape(2, -1)


def labelled_for_own_goals(dataset_id: str, data_source: str) -> bool:
    """Whether a row's data labels each AntMaze episode for its own goal (iqlzoo's ``-v0`` regenerations, as
    Minari's datasets), where D4RL labelled every transition for the evaluation goal: every regeneration of a D4RL
    maze but umaze's, whose one data goal is the evaluation goal. (The ``-evalgoal`` datasets regenerate no official
    one: `task_of` gives them their own id.)"""
    task = task_of(dataset_id)
    return (data_source == "regenerated" and task.startswith("D4RL/antmaze/")
            and not task.rsplit("/", 1)[1].startswith("umaze-v"))


def _task_note(final: pd.DataFrame) -> list[str]:
    """A paragraph naming the rows whose AntMaze task differs from the paper's (:func:`labelled_for_own_goals`)."""
    differ = sorted({dataset_id for dataset_id, source in zip(final["dataset_id"], final["data_source"], strict=True)
                     if labelled_for_own_goals(dataset_id, source)})
    if not differ:
        return []
    return [
        "**Not the paper's task on " + ", ".join(f"`{dataset_id}`" for dataset_id in differ) + ".** That data labels "
        "each episode for its own goal and gives the goal as input (as Minari's AntMaze datasets do); D4RL's, on which "
        "the published numbers were measured, has no goal input and rewards every transition that reaches the "
        "evaluation goal (`relabel_antmaze_rewards.py`). Compare these rows with the published ones as scores on a "
        "related task, not as a reproduction: [docs/datasets/README.md](../docs/datasets/README.md), last section. "
        "The `-evalgoal` datasets carry D4RL's labelling on the same transitions; on medium-play it did not raise "
        "the scores (an independent IQL fell to 0% by 400k steps there: "
        "[docs/antmaze/README.md](../docs/antmaze/README.md), section 6), so these rows stay on the `-v0` task.",
        "",
    ]


def _on_scale(value: float, refs: tuple[float, float]) -> float:
    """A return `value` as a normalised score (x100) with the reference returns `refs`."""
    return 100.0 * (value - refs[0]) / (refs[1] - refs[0])


def scale_note(runs: pd.DataFrame, final: pd.DataFrame) -> list[str]:
    """A paragraph per dataset whose runs normalise returns with other reference returns than the D4RL ones its
    published numbers use (`Published.d4rl_refs`; by more than 0.5% of D4RL's expert − random): the two pairs of
    references, and each agent's final mean return with its score on D4RL's references, beside the IQL paper's number
    as a return. *Ours − paper* then compares where each agent stands between its own data's random and expert
    policies, which is what the normalised score was made for, not returns."""
    lines = []
    for dataset_id in sorted(final["dataset_id"].unique()):
        found = PUBLISHED.get(published_task(dataset_id))
        if found is None or found.d4rl_refs is None:
            continue
        d4rl = found.d4rl_refs
        on_dataset = runs[runs["dataset_id"] == dataset_id]
        solved = [normalisation_refs(rows) for _, rows in on_dataset.groupby("dataset_hash")]
        ours = sorted({rounded(refs) for refs in solved if refs is not None})
        if not ours or all(max(abs(a - b) for a, b in zip(refs, d4rl, strict=True)) <= 0.005 * (d4rl[1] - d4rl[0])
                           for refs in ours):
            continue
        named = " / ".join(f"random {lo:,.1f}, expert {hi:,.1f}" for lo, hi in ours)
        returns = []
        last = final[final["dataset_id"] == dataset_id]
        for agent in stats.order_agents(last["agent"]):
            mean = float(last.loc[last["agent"] == agent, "return_mean"].mean())
            returns.append(f"{agent} {mean:,.0f} ({_on_scale(mean, d4rl):.1f} on D4RL's references)")
        paper = "" if found.iql_paper is None else (
            f"; the IQL paper's {found.iql_paper:.1f} is a return of "
            f"{d4rl[0] + found.iql_paper / 100.0 * (d4rl[1] - d4rl[0]):,.0f}")
        lines += [
            f"**Other reference returns on `{dataset_id}`.** Our scores there are normalised with that data's own "
            f"reference returns ({named}; solved from the runs' records of return and score, per build), the "
            f"published ones with D4RL's (random {d4rl[0]:,.1f}, expert {d4rl[1]:,.1f}; `d4rl/infos.py`). *Ours − "
            "paper* therefore compares where each agent stands between its own data's random and expert policies, not "
            f"returns. In returns, mean over seeds of the final evaluations: {'; '.join(returns)}{paper}. How our data "
            "was made, with its behaviour policies' scores: [docs/datasets/README.md](../docs/datasets/README.md).",
            "",
        ]
    return lines


def _independent(references: Sequence[ReferenceRun], renderer: Renderer, agent: str, cell: pd.DataFrame) -> str:
    """The *Independent IQL* cell of one row (`cell`: its runs' final evaluations)."""
    if agent != REFERENCE_AGENT:
        return "n/a"
    run_ids = list(cell["run_id"])
    found = matching(references, str(cell["dataset_id"].iloc[0]), [renderer.agent_config(run) for run in run_ids],
                     [renderer.protocol(run) for run in run_ids])
    return independent_cell(found, list(cell["dataset_hash"].unique()),
                            lambda reference: renderer.store_link(f"s{reference.seed}", reference.curve_file))


def paper_section(frame: pd.DataFrame, renderer: Renderer, link_suite: Callable[[str], str],
                  references: Sequence[ReferenceRun] = ()) -> list[str]:
    """The section's markdown lines (empty when no finished run of a `PAPER_SUITES` suite is in `frame`);
    `references`: the store's reference IQL runs (`leaderboard.independent.load_reference_runs`)."""
    runs = paper_frame(frame)
    if runs.empty:
        return []
    final = stats.final_evaluations(runs)
    lines = [
        f"## {TITLE}",
        "",
        f"Runs of the main suites at the `{PAPER_BUDGET.name}` budget ({PAPER_BUDGET.summary}). *Ours*: the mean over "
        "seeds of each run's final normalised score [95% CI over seeds]. *IQL paper* (Kostrikov et al., 2021, Table "
        "1) and *CORL IQL* (Tarasov et al., 2022; mean ± std over seeds of the last and of the best evaluation) are "
        "**their** numbers, on the official D4RL data, not ours; ours trained on the data in the *Data* column. "
        "*Below by more than our CI*: our whole 95% interval lies under the paper's number. " + INDEPENDENT_NOTE
        + " Per-suite tables with every column are in "
        + ", ".join(link_suite(suite) for suite in sorted(set(runs["suite"]))) + ".",
        "",
    ]
    header = ["Dataset", "Agent", "Ours [95% CI]", "Seeds", "Steps", "Still rising", "Precision", "IQL paper",
              "CORL IQL last", "CORL IQL best", "Ours − paper", "Below by more than our CI", "Independent IQL",
              "Data", "Runs"]
    rows: list[list[object]] = []
    for dataset_id in sorted(final["dataset_id"].unique()):
        on_dataset = final[final["dataset_id"] == dataset_id]
        for agent in stats.order_agents(on_dataset["agent"]):
            cell = on_dataset[on_dataset["agent"] == agent].sort_values("seed")
            values = cell[METRIC].dropna().to_numpy(dtype=float) * stats.SCORE_SCALES[METRIC]
            if not values.size:
                continue
            found = stats.mean_over_seeds({agent: values}, reps=renderer.reps, seed=renderer.seed)
            point, (lower, upper) = found.point[agent][0], found.interval[agent][:, 0]
            rising = stats.still_rising(runs, list(cell["run_id"]), METRIC)
            sources = ", ".join(sorted(cell["data_source"].unique()))
            builds = ", ".join(f"`{build_label(value)}`" for value in sorted(cell["dataset_hash"].unique()))
            rows.append([
                f"`{dataset_id}`", agent, with_ci(point, lower, upper), len(cell), span(cell["step"]),
                "yes" if rising else ("n/a" if rising is None else "no"),
                ", ".join(sorted({renderer.precision(run_id) for run_id in cell["run_id"]})),
                *_published_cells(published_task(dataset_id), point, upper),
                _independent(references, renderer, agent, cell),
                f"{sources} {builds}",
                ", ".join(renderer.run_link(run.run_id, f"s{run.seed}") for run in cell.itertuples()),
            ])
    lines += [*markdown_table(header, rows), "", *_task_note(final), *scale_note(runs, final)]
    for suite in sorted(set(runs["suite"])):
        in_suite = runs[runs["suite"] == suite]
        panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        published: dict[str, float | None] = {}
        for dataset_id in sorted(in_suite["dataset_id"].unique()):
            on_dataset = in_suite[in_suite["dataset_id"] == dataset_id]
            panels[dataset_id] = {
                agent: _curves(on_dataset, list(on_dataset.loc[on_dataset["agent"] == agent, "run_id"].unique()),
                               renderer.reps, renderer.seed)
                for agent in stats.order_agents(on_dataset["agent"])
            }
            entry = PUBLISHED.get(published_task(dataset_id))
            published[dataset_id] = entry.iql_paper if entry else None
        png = plots.learning_curves_png(panels, published, renderer.colors)
        lines += [f"Learning curves of `{suite}` (mean over seeds, 95% bootstrap band; dashed: the IQL paper's "
                  "final number on the official data):", "",
                  renderer.add_plot(f"{suite}-learning-curves.png", png, f"{suite}: learning curves"), ""]
    return lines
