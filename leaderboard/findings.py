"""The source report's claims (Parts II-IV) beside our measurements of them, computed from the results store.

The `seed-findings` suite (`hyperparams/seed-findings.yml`) trains the cells that test the report's claims.
`seed_findings` turns what the runs of one store suite (e.g. "seed-findings-quick") stored into rows with the keys
`claim`, `report` (the report's number or statement), `measured` (ours; None while no run of the claim has a record,
which `leaderboard.render.render_findings` shows as "not measured yet") and `records` (the run files the measurement
comes from: (group, label, path relative to the results root) triples). The rows are fixed by the suite's cells, so
every claim is listed whether or not it has been measured.

Inputs: the store's evaluation records (`ResultsStore.load`) and `RunRecords` (`load_run_records`): one row per run
with its state (status.json) and identity (its evaluations, else provenance.json, so that a run that diverged before
its first evaluation still counts), and the sranks that `iqlzoo.diagnostics.SrankCallback` logged at every checkpoint
to the run's train_log.jsonl (`benchmarks.runner`), with the mean Q logged there and the range of returns the
run's agent config fixes (`return_range`). Every function but `load_run_records` is pure.

What "ours" is:

- Final score: the normalised score (D4RL x100) of a run's final evaluation (its largest stored step); mean over
  seeds with a 95% percentile-bootstrap CI (`stats.mean_over_seeds`). Runs that ended `diverged` or `failed` are left
  out of every score and srank (their last records predate the failure) and counted on their own. Only runs that
  trained for the steps their store suite's budget gives today are compared; runs of a superseded budget (the 100k-step
  AntMaze `quick` runs once `quick` gave AntMaze 500k) are counted on their own (`leaderboard.budgets`).
- Twin vs single Q: the runs that ended `diverged` (stopped by the agent's guard: a non-finite statistic, or
  |mean Q| > divergence_factor·max|r|/(1−γ), 10x a bound on any return by default) out of the runs that ended
  (`finished` or `diverged`), for IQL-1Q and for IQL on each dataset, beside the final score of the runs that did not
  diverge; and, where the records bound the returns, in how many runs the logged mean Q (`train/q_mean`) left the
  range every discounted return lies in, [min(r_lo, 0), max(r_hi, 0)] / (1−γ) for rewards in [r_lo, r_hi] after the
  run's reward transform (`return_range`): values no return can have, which the guard's 10x margin lets a run reach
  and keep training with. Each run's largest |mean Q| is given beside it.
- Expectile: the final score of IQL-expectile0.5, IQL-expectile0.7 and IQL (expectile 0.9, the AntMaze preset) on
  each dataset, and whether the three means rise strictly with the expectile.
- srank: each run's last logged srank_δ (δ = 0.01) of the penultimate layer of the policy and of the first Q-network,
  mean over seeds, for IQL and D2RLIQL on the dataset matching the report's: of the layer's features on a fixed batch
  of dataset pairs (the form of Kumar et al. and of the report's table) and of the layer's weight matrix.
- IQL+SC converges better: the final score of IQL and D2RLIQL on antmaze-large-play and the probability of
  improvement P(D2RLIQL > IQL) with its 95% CI (`stats.probability_of_improvement`).
- Distributional IQL: the final score of IQL and DistributionalIQL, P(DistributionalIQL > IQL), how many runs of
  each diverged, and their instability: per run, the standard deviation (ddof 0) of the normalised score over its
  evaluations in the second half of the budget (step > budget / 2; runs with fewer than two such evaluations are
  left out), mean over seeds [95% CI].
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import stats
from benchmarks.curves import difference_text, welch_interval
from benchmarks.scales import differing_refs, largest_gap, named_refs
from benchmarks.store import (
    EVALUATIONS_FILE,
    STATUS_FILE,
    TRAIN_LOG,
    ResultsStore,
    RunIdentity,
    build_label,
    read_train_log,
)
from benchmarks.suites import (
    ANTMAZE,
    BUDGETS,
    HALFCHEETAH,
    SEED_FINDINGS_CELLS,
    SUITES,
    budget_of_store_suite,
    home_suite,
    short_name,
    task_of,
)
from iqlzoo.agents.config import DATA_FREE_REWARD_TRANSFORMS, return_bounds
from leaderboard.budgets import superseded, superseded_note
from leaderboard.report_claims import SRANK_CLAIMS, STATEMENTS
from leaderboard.text import span, with_ci

#: The suite whose runs measure the findings; its store suites are "seed-findings-<budget or overrides>".
SUITE = "seed-findings"
#: Keys of the sranks in the training log (`iqlzoo.diagnostics.network_sranks`): srank/<network>_<form>.
SRANK_NETWORKS: tuple[str, ...] = ("policy", "q")
SRANK_FORMS: tuple[str, ...] = ("features", "weights")
SRANK_COLUMNS: tuple[str, ...] = tuple(f"srank/{net}_{form}" for net in SRANK_NETWORKS for form in SRANK_FORMS)
#: srank_δ's threshold and the batch of dataset pairs whose features it is taken of: `SrankCallback`'s defaults,
#: which `benchmarks.runner` uses.
SRANK_DELTA = 0.01
SRANK_BATCH = 2048
#: Columns of `RunRecords.runs`; `return_low` / `return_high` bound every discounted return of the run's training
#: rewards (`return_range`; NaN where its records do not say).
RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "suite", "agent", "dataset_id", "seed", "budget", "state", "return_low", "return_high",
)
#: The mean Q the agents log at every log interval (`iqlzoo.agents.iql`'s statistic `q_mean`).
Q_MEAN = "train/q_mean"
#: Raw reward ranges that a domain's definition fixes: AntMaze's sparse reward is 1 at the goal and 0 elsewhere
#: (gymnasium-robotics `reward_type="sparse"`, in D4RL's data and in our regenerations). Locomotion rewards are not
#: bounded by definition, so their runs get no range.
RAW_REWARD_RANGES: dict[str, tuple[float, float]] = {"antmaze": (0.0, 1.0)}
#: The state of a run without status.json.
UNKNOWN_STATE = "unknown"
#: States of runs that are left out of scores and sranks.
LEFT_OUT_STATES: tuple[str, ...] = ("diverged", "failed")
#: States of runs that ended as training outcomes (the denominator of the divergence share).
ENDED_STATES: tuple[str, ...] = ("finished", "diverged")

BASELINE = "IQL"
SINGLE_Q = "IQL-1Q"
D2RL = "D2RLIQL"
DISTRIBUTIONAL = "DistributionalIQL"
#: The expectile of the IQL cell on AntMaze: its preset (`iqlzoo.agents.presets.DOMAIN_DEFAULTS["antmaze"]`).
ANTMAZE_EXPECTILE = 0.9
#: The report's task name -> our dataset for the srank table (the report does not say play or diverse; its
#: D2RL curves are on antmaze-large-play-v0).
SRANK_DATASETS: dict[str, str] = {
    "antmaze-large": ANTMAZE["large-play"],
    "antmaze-medium": ANTMAZE["medium-play"],
    "halfcheetah-expert": HALFCHEETAH["expert"],
}
#: Where the report shows IQL+SC converging better (antmaze-large-play-v0 there).
CONVERGENCE_DATASET = ANTMAZE["large-play"]
#: The score the claims are measured on (D4RL x100).
METRIC = "normalized_score"

_CELLS = {cell.label: cell for cell in SEED_FINDINGS_CELLS}
#: (expectile, label) of the expectile sweep, in increasing expectile.
EXPECTILE_SWEEP: tuple[tuple[float, str], ...] = tuple(
    sorted(
        [(float(cell.overrides["expectile"]), cell.label) for cell in SEED_FINDINGS_CELLS
         if "expectile" in cell.overrides]
        + [(ANTMAZE_EXPECTILE, BASELINE)]
    )
)
_EXPECTILE_DATASETS: tuple[str, ...] = tuple(
    dict.fromkeys(d for _, label in EXPECTILE_SWEEP if label != BASELINE for d in _CELLS[label].datasets)
)

#: (cell label, dataset) of the seed-findings runs that belong to a main suite -> that suite (`home_suite`).
SHARED_CELLS: dict[tuple[str, str], str] = {
    (cell.label, task): home_suite(SUITE, cell, task)
    for cell in SEED_FINDINGS_CELLS
    for task in cell.datasets
    if home_suite(SUITE, cell, task) != SUITE
}

Claim = dict[str, object]
Record = tuple[str, str, str]


@dataclass(frozen=True)
class RunRecords:
    """What the store holds about runs beside their evaluations.

    `runs`: one row per run, columns `RUN_COLUMNS` (`agent` is the cell label; `state` from status.json, `unknown`
    without one). `sranks`: one row per training-log line with an srank, columns run_id, step and `SRANK_COLUMNS`
    (NaN for a form the line lacks). `q_means`: one row per training-log line with a mean Q, columns run_id, step and
    q_mean.
    """

    runs: pd.DataFrame
    sranks: pd.DataFrame
    q_means: pd.DataFrame

    def without(self, run_ids: Iterable[str]) -> RunRecords:
        """These records less the runs `run_ids` and their training-log rows."""
        dropped = set(run_ids)
        return RunRecords(
            *(table[~table["run_id"].isin(dropped)].reset_index(drop=True)
              for table in (self.runs, self.sranks, self.q_means))
        )


def run_records(
    runs: Iterable[Mapping[str, object]],
    sranks: Iterable[Mapping[str, object]] = (),
    q_means: Iterable[Mapping[str, object]] = (),
) -> RunRecords:
    """`RunRecords` from plain rows (mappings with the columns of `RunRecords`), with fixed columns and dtypes."""
    run_frame = pd.DataFrame(list(runs), columns=list(RUN_COLUMNS))
    run_frame = run_frame.astype({"seed": "int64", "budget": "int64", "return_low": "float64",
                                  "return_high": "float64"}).sort_values("run_id", ignore_index=True)
    srank_frame = pd.DataFrame(list(sranks), columns=["run_id", "step", *SRANK_COLUMNS])
    srank_frame = srank_frame.astype({"step": "int64", **dict.fromkeys(SRANK_COLUMNS, "float64")})
    q_frame = pd.DataFrame(list(q_means), columns=["run_id", "step", "q_mean"]).astype(
        {"step": "int64", "q_mean": "float64"})
    return RunRecords(
        run_frame,
        srank_frame.sort_values(["run_id", "step"], kind="stable", ignore_index=True),
        q_frame.sort_values(["run_id", "step"], kind="stable", ignore_index=True),
    )


def return_range(config: Mapping[str, object]) -> tuple[float, float] | None:
    """The interval every discounted return of a run's training rewards lies in, from its agent config (``domain``,
    ``reward_transform``, ``gamma``), or None where the config does not fix it.

    Rewards in [r_lo, r_hi] after the transform r ↦ scale·r + shift give [min(r_lo, 0), max(r_hi, 0)] / (1 − γ)
    (`iqlzoo.agents.config.return_bounds`, which the agents warn with during training; a penalty leaves only the upper
    end). AntMaze with r − 1: [−1/(1−γ), 0] = [−100, 0] at γ = 0.99.
    """
    raw = RAW_REWARD_RANGES.get(str(config.get("domain")))
    # `return_scale` divides by the spread of the data's episode returns, which the records do not hold: no range
    transform = DATA_FREE_REWARD_TRANSFORMS.get(str(config.get("reward_transform")))
    gamma = config.get("gamma")
    if raw is None or transform is None or not isinstance(gamma, (int, float)) or not 0.0 <= gamma < 1.0:
        return None
    scale, shift = transform
    low, high = sorted(scale * reward + shift for reward in raw)
    return return_bounds(low, high, float(gamma), penalized=config.get("penalty", "none") != "none")


def is_findings_suite(suite: str) -> bool:
    """Whether a store suite holds runs of the `seed-findings` suite ("seed-findings" or "seed-findings-...")."""
    return suite == SUITE or suite.startswith(f"{SUITE}-")


def read_training_log(path: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(sranks, q_means) of a training log: the lines that hold an srank, as {"step", <srank columns present>}, and
    those that hold a mean Q, as {"step", "q_mean"}; lines that are not JSON objects (one cut short by a kill) are
    skipped."""
    sranks: list[dict[str, object]] = []
    q_means: list[dict[str, object]] = []
    for entry in read_train_log(path):
        values = {key: float(entry[key]) for key in SRANK_COLUMNS if isinstance(entry.get(key), (int, float))}
        if values:
            sranks.append({"step": entry["step"], **values})
        if isinstance(entry.get(Q_MEAN), (int, float)):
            q_means.append({"step": entry["step"], "q_mean": float(entry[Q_MEAN])})
    return sranks, q_means


def _identity_columns(identity: RunIdentity | None) -> dict[str, object] | None:
    """The run-table columns of a run known only from its provenance; None without a readable identity."""
    if identity is None:
        return None
    return {"suite": identity.suite, "agent": identity.label, "dataset_id": identity.dataset_id,
            "seed": identity.seed, "budget": identity.steps}


def load_run_records(root: str | os.PathLike[str], frame: pd.DataFrame) -> RunRecords:
    """Read `RunRecords` of the store at `root` whose evaluations are `frame` (`ResultsStore.load()`).

    A run's identity comes from its evaluations, else from its provenance; a run with neither is skipped. Training
    logs are read for every run (the findings use main-suite runs too, see `SHARED_CELLS`). A store that does not
    exist has no runs beyond those of `frame`.
    """
    store = ResultsStore(root)
    identities: dict[str, dict[str, object]] = {}
    for row in frame.drop_duplicates("run_id").itertuples(index=False):
        identities[row.run_id] = {
            "suite": row.suite,
            "agent": row.agent,
            "dataset_id": row.dataset_id,
            "seed": int(row.seed),
            "budget": int(row.budget),
        }
    runs, sranks, q_means = [], [], []
    for run_id in sorted(set(identities) | set(store.run_ids())):
        provenance = store.read_provenance(run_id) or {}
        identity = identities.get(run_id) or _identity_columns(RunIdentity.from_provenance(provenance))
        if identity is None:
            continue
        status = store.read_status(run_id)
        config = provenance.get("agent_config")
        bounds = return_range(config) if isinstance(config, dict) else None
        low, high = bounds if bounds else (math.nan, math.nan)
        runs.append({"run_id": run_id, **identity, "state": status.state if status else UNKNOWN_STATE,
                     "return_low": low, "return_high": high})
        log = store.run_dir(run_id) / TRAIN_LOG
        if log.is_file():  # every run: the findings also read shared runs of the main suites
            ranks, values = read_training_log(log)
            sranks += [{"run_id": run_id, **row} for row in ranks]
            q_means += [{"run_id": run_id, **row} for row in values]
    return run_records(runs, sranks, q_means)


def _budget_suffix(store_suite: str, suite: str) -> str | None:
    """"-paper" for `store_suite` "antmaze-paper" of the suite "antmaze"; None when it is not a store suite of it."""
    return store_suite[len(suite):] if store_suite.startswith(f"{suite}-") else None


def suite_runs(records: RunRecords, suite: str) -> pd.DataFrame:
    """The runs (rows of `records.runs`, with a `task` column) that measure the findings in the store suite `suite`
    ("seed-findings-quick"): its own runs, and the main-suite runs of the same budget that its plain-agent cells
    share (`SHARED_CELLS`: "antmaze-quick" for "seed-findings-quick")."""
    table = records.runs.assign(task=records.runs["dataset_id"].map(task_of))
    suffix = _budget_suffix(suite, SUITE)
    wanted = {(label, task, f"{home}{suffix}") for (label, task), home in SHARED_CELLS.items()}
    borrowed = [(row.agent, row.task, row.suite) in wanted for row in table.itertuples(index=False)]
    return table[(table["suite"] == suite) | pd.Series(borrowed, index=table.index, dtype=bool)]


def findings_suites(records: RunRecords) -> list[str]:
    """The store suites that measure findings, sorted: those of `seed-findings` runs, and "seed-findings-<budget>"
    for every budget at which the store holds only shared main-suite runs (the `paper` runs of IQL and D2RLIQL
    measure the report's claims made at 1M steps even though no seed-findings cell ran at that budget)."""
    found = {suite for suite in records.runs["suite"] if is_findings_suite(suite)}
    for row in records.runs.itertuples(index=False):
        home = SHARED_CELLS.get((row.agent, task_of(row.dataset_id)))
        suffix = _budget_suffix(row.suite, home) if home else None
        if suffix:
            found.add(f"{SUITE}{suffix}")
    return sorted(found)


def count_label(n: int, word: str) -> str:
    """"1 run", "3 runs": `n` and `word`, plural with an s when `n` is not 1."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"




def suite_summary(records: RunRecords, suite: str) -> str:
    """One line: how many runs of `suite` the store holds, by state, with their seeds and budgets."""
    runs = suite_runs(records, suite)
    if (runs["suite"] == suite).any():
        runs = runs[runs["suite"] == suite]
        whose = f"of `{suite}` in the store"
    else:
        shared = ", ".join(f"`{name}`" for name in sorted(set(runs["suite"])))
        whose = f"of {shared} in the store measure the claims of `{suite}` (no run of its own)"
    states = runs["state"].value_counts().sort_index()
    by_state = ", ".join(f"{count} {state}" for state, count in states.items())
    return (
        f"{count_label(len(runs), 'run')} {whose} ({by_state}); seeds {span(runs['seed'])}; "
        f"budget {span(runs['budget'])} steps."
    )


def unmeasured_summary() -> str:
    """What to run to measure the findings (from the suite's default budget)."""
    budget = BUDGETS[SUITES[SUITE].default_budget]
    return (
        f"No run of the `{SUITE}` suite is stored yet. `python -m benchmarks.run --suite {SUITE}` trains its cells "
        f"(budget `{budget.name}`: {budget.steps_text()}, {budget.seeds} seeds)."
    )


def method_notes(reps: int, seed: int) -> list[str]:
    """How each "Ours" entry is computed, as markdown list items."""
    return [
        "How ours is measured:",
        "",
        "- *Final score*: D4RL normalised score x100 of each run's final evaluation (its largest stored step), mean "
        f"over seeds with a 95% percentile-bootstrap CI (rliable, {reps} resamples, seed {seed}). Runs that ended "
        "`diverged` or `failed` (status.json) are left out of scores and sranks and counted on their own. Only runs "
        "trained for the steps their budget gives today are compared: runs of a superseded budget are counted on "
        "their own, not set against runs trained for longer.",
        "- *Twin vs single Q*: runs that ended `diverged` out of the runs that ended (`finished` or `diverged`); a run "
        "ends `diverged` when the agent's guard stops it (a non-finite statistic, or |mean Q| above 10x a bound on "
        "any return). Beside it, in how many runs the logged mean Q (`train/q_mean`) ever left the range every "
        "discounted return of the training rewards lies in, [min(r_lo, 0), max(r_hi, 0)] / (1−γ) (AntMaze's r − 1: "
        "[−100, 0]; locomotion rewards are not bounded by definition, so there only the largest |mean Q| is given): "
        "a value no return can have, short of the guard's margin.",
        f"- *Expectile*: 0.5 and 0.7 are the IQL-expectile cells, {ANTMAZE_EXPECTILE:g} the IQL cell (AntMaze preset); "
        '"rise" means each mean is above the one of the next lower expectile; each step up the sweep is also given as '
        "the difference of the means with its Welch 95% interval over seeds, which says whether 3 seeds resolve it.",
        f"- *srank*: srank_δ, δ = {SRANK_DELTA:g}, of the penultimate layer of the policy and of the first "
        f"Q-network, from each run's last srank in `{TRAIN_LOG}` (logged at every checkpoint), mean over seeds: first "
        f"of the layer's features on a fixed batch of {SRANK_BATCH} dataset pairs (the report's form, after Kumar et "
        "al.), then of its weight matrix. The report names its tasks antmaze-large / antmaze-medium (v0); ours are "
        "the play datasets (v1).",
        f"- *P(X > {BASELINE})*: rliable's probability of improvement, the probability that a run of X scores above a "
        f"run of {BASELINE} on the dataset (ties count one half), with a 95% bootstrap CI.",
        "- *Instability*: per run, the standard deviation (ddof 0) of the normalised score over its evaluations in "
        "the second half of the budget (step > budget / 2; runs with fewer than two of them are left out), mean over "
        "seeds [95% CI]; higher is less stable.",
    ]


class _Suite:
    """The records of one store suite (None: no suite, every claim unmeasured) and the statistics' settings."""

    def __init__(self, frame: pd.DataFrame, records: RunRecords, suite: str | None, reps: int, seed: int) -> None:
        if suite:
            table = suite_runs(records, suite)
        else:
            table = records.runs.assign(task=records.runs["dataset_id"].map(task_of)).iloc[:0]
        old = superseded(table)
        self.runs_table, self.superseded_table = table[~old], table[old]
        ids = set(self.runs_table["run_id"])
        self.frame = frame[frame["run_id"].isin(ids)]
        self.final = stats.final_evaluations(self.frame).set_index("run_id", drop=False)
        self.sranks = records.sranks[records.sranks["run_id"].isin(ids)]
        self.q_means = records.q_means[records.q_means["run_id"].isin(ids)]
        self.evaluated = set(self.frame["run_id"])
        self.reps, self.seed = reps, seed
        self.budget = budget_of_store_suite(suite) if suite else None

    def outside_scope(self, labels: Iterable[str], dataset_id: str) -> list[str]:
        """The cells of `labels` that the scope of this store suite's budget (`hyperparams/seed-findings.yml`,
        ``scope``) does not train on `dataset_id`."""
        scope = SUITES[SUITE].scopes.get(self.budget) if self.budget else None
        if scope is None:
            return []
        return [label for label in labels if label in _CELLS and dataset_id not in scope.pairs.get(label, ())]

    def with_superseded(self, measured: str | None, labels: Iterable[str], dataset_id: str) -> str | None:
        """`measured` followed by a count of the superseded runs of `labels` on `dataset_id` that it leaves out
        (`leaderboard.budgets`); when only superseded runs exist, says so instead of "not measured"; when the budget's
        scope trains the claim's cells nowhere, says that and why."""
        labels = list(labels)
        rows = self.superseded_table
        note = superseded_note(rows[rows["agent"].isin(labels) & (rows["task"] == dataset_id)])
        if note:
            return f"{measured} {note}" if measured else f"Not measured at the current budget yet: {note}"
        left_out = self.outside_scope(labels, dataset_id)
        if measured is None and left_out:
            why = SUITES[SUITE].scopes[str(self.budget)].why
            return (f"Not trained at the `{self.budget}` budget: its scope leaves {', '.join(left_out)} on "
                    f"`{short_name(dataset_id)}` out: {why}.")
        return measured

    def runs(self, label: str, dataset_id: str) -> pd.DataFrame:
        """The runs of `label` on `dataset_id` at the store suite's current budget, sorted by seed."""
        table = self.runs_table
        rows = table[(table["agent"] == label) & (table["task"] == dataset_id)]
        return rows.sort_values(["seed", "run_id"], ignore_index=True)

    @staticmethod
    def kept(runs: pd.DataFrame) -> pd.DataFrame:
        """The runs that neither diverged nor failed."""
        return runs[~runs["state"].isin(LEFT_OUT_STATES)]

    def final_rows(self, runs: pd.DataFrame) -> pd.DataFrame:
        """Final evaluations of the kept `runs` that have the score, in the order of `runs`."""
        ids = [run for run in self.kept(runs)["run_id"] if run in self.final.index]
        rows = self.final.loc[ids]
        return rows[rows[METRIC].notna()]

    def scores(self, runs: pd.DataFrame) -> np.ndarray:
        """Final scores (0-100 scale) of the kept `runs`, one per run."""
        return self.final_rows(runs)[METRIC].to_numpy(dtype=float) * stats.SCORE_SCALES[METRIC]

    def mean_text(self, label: str, values: np.ndarray, digits: int = 1) -> str:
        """The text "label mean [95% CI] (n seeds)" over `values`, or that there is none."""
        if values.size == 0:
            return f"{label} n/a (no final score)"
        found = stats.mean_over_seeds({label: values}, reps=self.reps, seed=self.seed)
        text = with_ci(found.point[label][0], *found.interval[label][:, 0], digits)
        return f"{label} {text} ({count_label(values.size, 'seed')})"

    def steps_text(self, runs: Sequence[pd.DataFrame]) -> str:
        """The steps of the final evaluations used and the budget."""
        finals = [self.final_rows(group) for group in runs]
        steps = [int(step) for rows in finals for step in rows["step"]]
        budgets = [int(budget) for group in runs for budget in group["budget"]]
        if not steps:
            return f"No final evaluation yet (budget {span(budgets)} steps)."
        return f"Final evaluations at step {span(steps)} (budget {span(budgets)}).{self.builds_text(runs)}"

    def builds_text(self, runs: Sequence[pd.DataFrame]) -> str:
        """" Trained on 2 builds of the dataset (`a` for L1, `b` for L2)." when the kept `runs` (one frame per label)
        hold more than one dataset content hash (first 8 hex digits), else "": a regenerated dataset is not
        bit-identical across CPUs, so runs compared across builds differ in their data too."""
        ids = set().union(*(self.kept(group)["run_id"] for group in runs)) if runs else set()
        hashes = self.frame.loc[self.frame["run_id"].isin(ids), ["run_id", "agent", "dataset_hash"]].drop_duplicates()
        if hashes["dataset_hash"].nunique() < 2:
            return ""
        named = [
            f"`{build_label(data_hash)}` for {', '.join(sorted(group['agent'].unique()))}"
            for data_hash, group in hashes.groupby("dataset_hash", sort=True)
        ]
        refs = differing_refs(self.frame[self.frame["run_id"].isin(ids)])
        scale = "" if not refs else (
            f", whose scores are normalised with different reference returns ({named_refs(refs)}; one return scores "
            f"up to {largest_gap(refs):.1f}% apart)")
        return f" Trained on {hashes['dataset_hash'].nunique()} builds of the dataset ({'; '.join(named)}){scale}."

    def improvement_text(self, values: Mapping[str, np.ndarray], label: str) -> str:
        """The text "P(label > IQL) = p [95% CI]": rliable's probability of improvement of `label`'s final scores
        over IQL's on one dataset (`stats.probability_of_improvement`), or that one of them has none."""
        pair = f"P({label} > {BASELINE})"
        if not (values[label].size and values[BASELINE].size):
            return f"{pair} needs final scores of both"
        matrices = {name: values[name].reshape(-1, 1) for name in (BASELINE, label)}
        estimate = stats.probability_of_improvement(matrices, baseline=BASELINE, reps=self.reps, seed=self.seed)
        key = f"{label}{stats.PAIR_SEPARATOR}{BASELINE}"
        return f"{pair} = {with_ci(estimate.point[key][0], *estimate.interval[key][:, 0], 2)}"

    def left_out_text(self, groups: Mapping[str, pd.DataFrame]) -> str:
        """The text " Left out: <label> <n> diverged, ..." for the runs that diverged or failed, or "" without any."""
        parts = []
        for label, runs in groups.items():
            counts = runs["state"].value_counts()
            parts += [f"{label} {counts[state]} {state}" for state in LEFT_OUT_STATES if counts.get(state, 0)]
        return f" Left out: {', '.join(parts)}." if parts else ""

    def records(self, groups: Mapping[str, pd.DataFrame], file: str = EVALUATIONS_FILE) -> list[Record]:
        """Links to `file` of every run in `groups` (status.json for runs without evaluations), labelled by seed."""
        found: list[Record] = []
        for label, runs in groups.items():
            for run in runs.itertuples(index=False):
                name = f"s{run.seed}" + (f" {run.state}" if run.state in LEFT_OUT_STATES else "")
                evaluated = run.run_id in self.evaluated
                target = STATUS_FILE if file == EVALUATIONS_FILE and not evaluated else file
                found.append((label, name, f"runs/{run.run_id}/{target}"))
        return found

    def last_sranks(self, runs: pd.DataFrame, column: str) -> pd.DataFrame:
        """Each kept run's last logged value of `column`: columns run_id, step, value."""
        rows = self.sranks[self.sranks["run_id"].isin(self.kept(runs)["run_id"]) & self.sranks[column].notna()]
        last = rows.sort_values(["run_id", "step"], kind="stable").groupby("run_id", sort=True).tail(1)
        return last[["run_id", "step", column]].rename(columns={column: "value"})


def _divergence_text(label: str, runs: pd.DataFrame) -> str:
    """The text "label diverged in d/n ended runs (m not ended yet, f failed)"."""
    if runs.empty:
        return f"{label}: no runs"
    states = runs["state"]
    ended, diverged = int(states.isin(ENDED_STATES).sum()), int((states == "diverged").sum())
    failed = int((states == "failed").sum())
    open_runs = len(runs) - ended - failed
    extra = [text for n, text in ((open_runs, f"{open_runs} not ended yet"), (failed, f"{failed} failed")) if n]
    return f"{label} diverged in {diverged}/{ended} ended runs" + (f" ({', '.join(extra)})" if extra else "")


def _value_range_text(label: str, runs: pd.DataFrame, q_means: pd.DataFrame) -> str:
    """The text "label k/n runs outside [lo, hi] (first at step s), largest |mean Q| a / b / c": in how many of
    `runs` (with a logged mean Q and a known return range) the logged mean Q ever left the range every discounted
    return lies in, and each run's largest |mean Q|, in seed order."""
    logged = q_means[q_means["run_id"].isin(runs["run_id"])]
    if logged.empty:
        return f"{label}: no mean Q logged"
    largest = logged.assign(size=logged["q_mean"].abs()).groupby("run_id")["size"].max()
    sizes = " / ".join(f"{largest[run]:.0f}" for run in runs["run_id"] if run in largest.index)
    bounded = runs[runs["return_low"].notna() & runs["return_high"].notna() & runs["run_id"].isin(largest.index)]
    if bounded.empty:
        return f"{label}: largest |mean Q| {sizes} (its records bound no return)"
    ranges = {(float(row.return_low), float(row.return_high)) for row in bounded.itertuples(index=False)}
    firsts = []
    for row in bounded.itertuples(index=False):
        values = logged[logged["run_id"] == row.run_id]
        outside = values[(values["q_mean"] < row.return_low) | (values["q_mean"] > row.return_high)]
        if not outside.empty:
            firsts.append(int(outside["step"].min()))
    where = " / ".join(f"[{low:g}, {high:g}]" for low, high in sorted(ranges))
    first = f" (first at step {span(firsts)})" if firsts else ""
    return f"{label} {len(firsts)}/{len(bounded)} runs outside {where}{first}, largest |mean Q| {sizes}"


def twin_q_claims(suite: _Suite) -> list[Claim]:
    """Claim 1, per dataset of the IQL-1Q cell: divergence share, runs whose mean Q left the range of every return,
    and final score of IQL-1Q and IQL."""
    claims = []
    for dataset in _CELLS[SINGLE_Q].datasets:
        groups = {SINGLE_Q: suite.runs(SINGLE_Q, dataset), BASELINE: suite.runs(BASELINE, dataset)}
        measured = None
        if not groups[SINGLE_Q].empty:
            divergence = "; ".join(_divergence_text(label, runs) for label, runs in groups.items())
            scores = ", ".join(suite.mean_text(label, suite.scores(runs)) for label, runs in groups.items())
            values = "; ".join(_value_range_text(label, runs, suite.q_means) for label, runs in groups.items())
            measured = (
                f"{divergence}. Mean Q outside the range of every discounted return: {values}. Final score of the "
                f"runs that did not diverge: {scores}. {suite.steps_text(list(groups.values()))}"
            )
        claims.append(
            {
                "claim": f"{_CELLS[SINGLE_Q].finding} Dataset `{dataset}`.",
                "report": STATEMENTS["twin_q"],
                "measured": suite.with_superseded(measured, groups, dataset),
                "records": suite.records(groups),
            }
        )
    return claims


def _expectile_steps(values: Mapping[str, np.ndarray]) -> str:
    """Each step up the sweep as the difference of mean final scores, higher expectile minus lower, with its Welch
    95% interval over seeds (`benchmarks.curves.welch_interval`); empty where a cell has fewer than 2 seeds."""
    texts = []
    for (low, low_label), (high, high_label) in zip(EXPECTILE_SWEEP, EXPECTILE_SWEEP[1:]):
        if min(values[low_label].size, values[high_label].size) < 2:
            return ""
        texts.append(f"{high:g} − {low:g}: {difference_text(*welch_interval(values[high_label], values[low_label]))}")
    return f" Steps (Welch 95% CI over seeds): {'; '.join(texts)}."


def expectile_claims(suite: _Suite) -> list[Claim]:
    """Claim 2, per dataset of the expectile cells: final score per expectile and whether it rises with it."""
    claims = []
    for dataset in _EXPECTILE_DATASETS:
        groups = {label: suite.runs(label, dataset) for _, label in EXPECTILE_SWEEP}
        measured = None
        if any(not runs.empty for runs in groups.values()):
            values = {label: suite.scores(runs) for label, runs in groups.items()}
            parts = [f"{expectile:g}: {suite.mean_text(label, values[label])}" for expectile, label in EXPECTILE_SWEEP]
            steps = ""
            if all(scores.size for scores in values.values()):
                means = [float(np.mean(values[label])) for _, label in EXPECTILE_SWEEP]
                if all(low < high for low, high in zip(means, means[1:])):
                    rises = "yes"
                elif all(low > high for low, high in zip(means, means[1:])):
                    rises = "no, they fall as it rises"
                else:
                    rises = "no"
                steps = _expectile_steps(values)
            else:
                rises = "needs a final score for every expectile"
            measured = (
                f"Final score by expectile: {'; '.join(parts)}. Means rise with the expectile: {rises}.{steps}"
                f"{suite.left_out_text(groups)} {suite.steps_text(list(groups.values()))}"
            )
        finding = _CELLS[EXPECTILE_SWEEP[0][1]].finding
        claims.append(
            {
                "claim": f"{finding} Dataset `{dataset}`.",
                "report": STATEMENTS["expectile"],
                "measured": suite.with_superseded(measured, groups, dataset),
                "records": suite.records(groups),
            }
        )
    return claims


def _srank_means(last: Mapping[tuple[str, str], pd.DataFrame], labels: Iterable[str], form: str) -> str:
    """The text "a / b": the mean over runs of each label's last srank of `form`, "n/a" for a label without one."""
    values = [last[label, form]["value"] for label in labels]
    return " / ".join(f"{value.mean():.1f}" if len(value) else "n/a" for value in values)


def srank_claims(suite: _Suite) -> list[Claim]:
    """Claim 3, one row per number of the report's srank table: mean over seeds of each run's last srank of IQL and
    D2RLIQL, of the penultimate layer's features and of its weights."""
    claims = []
    for claim in SRANK_CLAIMS:
        dataset, network = SRANK_DATASETS[claim["report_dataset"]], claim["network"]
        groups = {label: suite.runs(label, dataset) for label in (BASELINE, D2RL)}
        last = {
            (label, form): suite.last_sranks(runs, f"srank/{network}_{form}")
            for label, runs in groups.items()
            for form in SRANK_FORMS
        }
        measured = None
        if any(not found.empty for found in last.values()):
            seeds = " / ".join(str(len(last[label, "features"])) for label in groups)
            steps = [int(step) for found in last.values() for step in found["step"]]
            budgets = [int(budget) for runs in groups.values() for budget in runs["budget"]]
            measured = (
                f"{' / '.join(groups)}: {_srank_means(last, groups, 'features')} from penultimate-layer features "
                f"(δ = {SRANK_DELTA:g}); {_srank_means(last, groups, 'weights')} from that layer's weights. Mean "
                f"over {seeds} seeds of each run's last logged srank, at step {span(steps)} "
                f"(budget {span(budgets)}) on `{dataset}`.{suite.builds_text(list(groups.values()))}"
                f"{suite.left_out_text(groups)}"
            )
        logged = set(suite.sranks["run_id"])
        records = suite.records({label: runs[runs["run_id"].isin(logged)] for label, runs in groups.items()}, TRAIN_LOG)
        claims.append(
            {
                "claim": f"{claim['claim']} (ours: IQL / D2RLIQL on `{dataset}`)",
                "report": claim["report"],
                "measured": suite.with_superseded(measured, groups, dataset),
                "records": records,
            }
        )
    return claims


def convergence_claim(suite: _Suite) -> Claim:
    """Claim 4: final score of IQL and D2RLIQL on antmaze-large-play and P(D2RLIQL > IQL) with its 95% CI."""
    groups = {label: suite.runs(label, CONVERGENCE_DATASET) for label in (BASELINE, D2RL)}
    measured = None
    if any(not runs.empty for runs in groups.values()):
        values = {label: suite.scores(runs) for label, runs in groups.items()}
        scores = ", ".join(suite.mean_text(label, values[label]) for label in groups)
        measured = (
            f"Final score: {scores}; {suite.improvement_text(values, D2RL)}.{suite.left_out_text(groups)} "
            f"{suite.steps_text(list(groups.values()))}"
        )
    return {
        "claim": f"{_CELLS[D2RL].finding} Dataset `{CONVERGENCE_DATASET}`.",
        "report": STATEMENTS["d2rl_convergence"],
        "measured": suite.with_superseded(measured, groups, CONVERGENCE_DATASET),
        "records": suite.records(groups),
    }


def instability(frame: pd.DataFrame, run_id: str, budget: int) -> float | None:
    """Standard deviation (ddof 0) of a run's normalised score (0-100 scale) over its evaluations at steps above
    half its budget; None with fewer than two of them."""
    rows = frame[(frame["run_id"] == run_id) & (frame["step"] > budget / 2)][METRIC].dropna()
    if len(rows) < 2:
        return None
    return float(np.std(rows.to_numpy(dtype=float) * stats.SCORE_SCALES[METRIC]))


def distributional_claims(suite: _Suite) -> list[Claim]:
    """Claim 5, per dataset of the DistributionalIQL cell: final score and instability of IQL and
    DistributionalIQL, P(DistributionalIQL > IQL), and how many runs of each diverged."""
    claims = []
    for dataset in _CELLS[DISTRIBUTIONAL].datasets:
        groups = {label: suite.runs(label, dataset) for label in (BASELINE, DISTRIBUTIONAL)}
        measured = None
        if not groups[DISTRIBUTIONAL].empty:
            values = {label: suite.scores(runs) for label, runs in groups.items()}
            scores = ", ".join(suite.mean_text(label, values[label]) for label in groups)
            spread = []
            for label, runs in groups.items():
                found = [
                    instability(suite.frame, run.run_id, int(run.budget))
                    for run in suite.kept(runs).itertuples(index=False)
                ]
                spread.append(suite.mean_text(label, np.array([value for value in found if value is not None])))
            divergence = "; ".join(_divergence_text(label, runs) for label, runs in groups.items())
            measured = (
                f"Final score: {scores}; {suite.improvement_text(values, DISTRIBUTIONAL)}. Instability (std of the "
                f"score over the evaluations after half the budget, mean over seeds): {', '.join(spread)}. "
                f"{divergence}. {suite.steps_text(list(groups.values()))}"
            )
        claims.append(
            {
                "claim": f"{_CELLS[DISTRIBUTIONAL].finding} Dataset `{dataset}`.",
                "report": STATEMENTS["distributional"],
                "measured": suite.with_superseded(measured, groups, dataset),
                "records": suite.records(groups),
            }
        )
    return claims


def seed_findings(
    frame: pd.DataFrame, records: RunRecords, suite: str | None, reps: int = 2000, seed: int = 0
) -> list[Claim]:
    """Every claim of the report that the `seed-findings` suite tests, measured on the runs of the store suite
    `suite` (None: none, so every claim reads unmeasured): twin vs single Q, the expectile sweep, the srank table,
    IQL+SC's convergence and distributional IQL, in that order (see the module docstring for the measurements).
    `frame` holds the evaluation records, `records` the runs' states and sranks; `reps` and `seed` set rliable's
    bootstrap."""
    measured = _Suite(frame, records, suite, reps, seed)
    return [
        *twin_q_claims(measured),
        *expectile_claims(measured),
        *srank_claims(measured),
        convergence_claim(measured),
        *distributional_claims(measured),
    ]
