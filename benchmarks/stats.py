"""Aggregate statistics of stored evaluations with rliable (Agarwal et al., 2021).

Scores are arranged as rliable expects: for each agent a matrix of shape (runs x tasks), where tasks are the
datasets of a suite and runs are training seeds, holding the final evaluation of each run (the evaluation at its
largest step). Normalised scores are on the D4RL x100 scale; success rates are multiplied by 100.

All statistics are computed by rliable; this module only arranges the data and fixes the randomness. Interval
estimates are 95% percentile confidence intervals from rliable's stratified bootstrap: each resample draws the runs
of every task with replacement, separately per task ("stratified" by task), `reps` times.

Determinism: rliable 1.2.0 draws bootstrap indices with `np.random.choice`, i.e. from numpy's *global* random
state (its `random_state` argument reaches arch's own generator, which the stratified bootstraps never use, and
`create_performance_profile` takes no seed at all). Each function here therefore seeds the global state with
`seed` around each rliable call, one call per agent (or agent pair), and restores the caller's state afterwards:
an agent's intervals depend only on its own scores, `reps` and `seed`, not on which other agents are present.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rliable import library, metrics

#: Aggregate metrics computed by `aggregate`, in order.
METRIC_NAMES: tuple[str, ...] = ("IQM", "Median", "Mean", "Optimality gap")
#: Score columns that can be aggregated, with the factor that puts them on a 0-100 scale.
SCORE_SCALES: dict[str, float] = {"normalized_score": 1.0, "success_rate": 100.0}
#: The agent other agents are compared with.
BASELINE = "IQL"
#: Separator of the agent names in the keys of `probability_of_improvement`'s result.
PAIR_SEPARATOR = ","


@dataclass(frozen=True)
class Estimates:
    """Point estimates and their 95% confidence intervals, per key (an agent, or a pair "X,Y").

    `point[key]` has shape (k,) and `interval[key]` shape (2, k): lower bounds in row 0, upper bounds in row 1.
    """

    point: dict[str, np.ndarray]
    interval: dict[str, np.ndarray]


@dataclass(frozen=True)
class ScoreMatrices:
    """Final-evaluation scores of one suite on one metric, arranged for rliable.

    `scores[agent]` has shape (len(seeds[agent]), len(tasks)); row i is seed `seeds[agent][i]`, column j is dataset
    `tasks[j]`, values on the 0-100 scale. `run_ids[agent]` lists the runs used. `notes` says what was left out and
    why (tasks not run by every agent, seeds not run on every task, runs without this metric, unfinished runs).
    """

    suite: str
    metric: str
    tasks: tuple[str, ...]
    seeds: dict[str, tuple[int, ...]]
    scores: dict[str, np.ndarray]
    run_ids: dict[str, tuple[str, ...]]
    notes: tuple[str, ...]


@contextlib.contextmanager
def seeded_global_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's global random state with `seed` inside the block and restore the previous state after it."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def order_agents(agents: Iterable[str], baseline: str = BASELINE) -> list[str]:
    """Agent names sorted alphabetically, with `baseline` first when present."""
    return sorted(set(agents), key=lambda name: (name != baseline, name))


def final_evaluations(frame: pd.DataFrame) -> pd.DataFrame:
    """The final evaluation (largest step) of every run in `frame`, sorted by run_id."""
    if frame.empty:
        return frame.copy()
    last = frame.groupby("run_id", sort=True)["step"].idxmax()
    return frame.loc[last.to_numpy()].reset_index(drop=True)


#: The share of training whose evaluations `still_rising` compares with the share before it.
RISING_WINDOW = 0.1


def _late_gain(steps: np.ndarray, values: np.ndarray, fraction: float = RISING_WINDOW) -> float:
    """One run's gain over the last `fraction` of its training: the mean of its evaluations in (T − w, T] minus the
    mean of those in (T − 2w, T − w], where T is the final step and w = max(fraction · T, T − the previous
    evaluation's step), so each window holds at least one evaluation (the previous evaluation stands in for an empty
    earlier window)."""
    final = steps[-1]
    width = max(fraction * final, final - steps[-2])
    last = values[steps > final - width]
    before = values[(steps > final - 2 * width) & (steps <= final - width)]
    if before.size == 0:
        before = values[steps <= final - width][-1:]
    return float(last.mean() - before.mean())


def still_rising(frame: pd.DataFrame, run_ids: Sequence[str], metric: str = "normalized_score") -> bool | None:
    """Whether the learning curve of a cell (its runs `run_ids`, one per seed) is still rising at its end: the seeds'
    gains d_i over the last tenth of training (`_late_gain`: the mean evaluation of the last tenth minus that of
    the tenth before; with evaluations a tenth of the budget apart or sparser, the final evaluation minus the
    previous one) have mean d̄ > 0 and d̄ > SE(d) = sd(d)/√n. Averaging over a window, not one evaluation step,
    keeps a densely evaluated flat curve (HalfCheetah, every 5k steps on 10 episodes) from being flagged by the
    noise of its last two evaluations. None when a run has fewer than two evaluations."""
    changes = []
    for run_id in run_ids:
        curve = frame[frame["run_id"] == run_id].sort_values("step")[["step", metric]].dropna()
        if len(curve) < 2:
            return None
        changes.append(_late_gain(curve["step"].to_numpy(dtype=float), curve[metric].to_numpy(dtype=float)))
    if not changes:
        return None
    d = np.asarray(changes)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    return bool(d.mean() > 0 and d.mean() > se)


def _check_metric(metric: str) -> float:
    if metric not in SCORE_SCALES:
        raise ValueError(f"metric must be one of {sorted(SCORE_SCALES)}, got {metric!r}")
    return SCORE_SCALES[metric]


def _widest_tasks(task_sets: dict[str, set[str]]) -> set[str]:
    """The datasets to aggregate over: of the candidate sets (every agent's own datasets and the datasets all agents
    share), the one with the most (agent, dataset) cells among the agents that ran all of it; ties go to more agents.
    So one agent that ran fewer datasets is left out rather than shrinking everyone's aggregate to its datasets, and
    one that ran an extra dataset does not exclude the others."""
    if not task_sets:
        return set()
    candidates = [set.intersection(*task_sets.values()), *task_sets.values()]

    def cells(tasks: set[str]) -> tuple[int, int]:
        covering = sum(tasks <= own for own in task_sets.values())
        return covering * len(tasks), covering

    return max(candidates, key=cells)


def score_matrices(frame: pd.DataFrame, suite: str, metric: str = "normalized_score") -> ScoreMatrices:
    """Arrange the final evaluations of `suite` as {agent: (runs x tasks)} matrices of `metric` (0-100 scale).

    rliable needs every agent on the same tasks and a full matrix per agent, so: runs without the metric (NaN:
    no reference scores, or no goal) are left out; the datasets are chosen by `_widest_tasks`, and an agent that did
    not run all of them is left out; for each agent only
    the seeds it ran on every kept dataset are kept. Each omission is reported in `notes`. Raises `ValueError`
    when an (agent, dataset, seed) has more than one run (e.g. two configurations under one agent name) or the
    suite has no records.
    """
    scale = _check_metric(metric)
    final = final_evaluations(frame[frame["suite"] == suite])
    if final.empty:
        raise ValueError(f"no evaluation records for suite {suite!r}")
    notes: list[str] = []
    repeated = final[final.duplicated(["agent", "dataset_id", "seed"], keep=False)]
    if not repeated.empty:
        raise ValueError(
            f"suite {suite!r}: several runs share an (agent, dataset, seed): {sorted(repeated['run_id'])}; give "
            "different configurations different agent names or filter the records first"
        )
    without = final[metric].isna()
    if without.any():
        notes.append(f"{int(without.sum())} of {len(final)} runs have no {metric} and are left out.")
    final = final[~without]
    unfinished = final[final["step"] < final["budget"]]
    if not unfinished.empty:
        notes.append(f"{len(unfinished)} runs have not reached their budget; their latest evaluation is used.")
    agents = order_agents(final["agent"])
    task_sets = {agent: set(final.loc[final["agent"] == agent, "dataset_id"]) for agent in agents}
    tasks = sorted(_widest_tasks(task_sets))
    for agent in agents:
        if not set(tasks) <= task_sets[agent]:
            ran = len(task_sets[agent] & set(tasks))
            done = f"ran {ran} of these {len(tasks)} datasets" if ran else "ran none of these datasets"
            notes.append(f"{agent}: {done} and is left out of the aggregates until it runs them all.")
            continue
        extra = sorted(task_sets[agent] - set(tasks))
        if extra:
            notes.append(f"{agent}: datasets {extra} are not run by every agent and are left out.")
    agents = [agent for agent in agents if set(tasks) <= task_sets[agent]]
    seeds: dict[str, tuple[int, ...]] = {}
    scores: dict[str, np.ndarray] = {}
    run_ids: dict[str, tuple[str, ...]] = {}
    if not tasks:
        return ScoreMatrices(suite, metric, (), {}, {}, {}, tuple(notes))
    for agent in agents:
        rows = final[(final["agent"] == agent) & final["dataset_id"].isin(tasks)]
        seed_sets = [set(rows.loc[rows["dataset_id"] == task, "seed"]) for task in tasks]
        common = sorted(set.intersection(*seed_sets))
        dropped = sorted(set.union(*seed_sets) - set(common))
        if dropped:
            notes.append(
                f"{agent}: unequal seeds across datasets; using the {len(common)} seeds run on every dataset "
                f"{common}, leaving out seeds {dropped}."
            )
        if not common:
            continue
        used = rows[rows["seed"].isin(common)]
        table = used.pivot(index="seed", columns="dataset_id", values=metric).loc[common, tasks]
        seeds[agent] = tuple(int(seed) for seed in common)
        scores[agent] = table.to_numpy(dtype=float) * scale
        run_ids[agent] = tuple(sorted(used["run_id"]))
    return ScoreMatrices(suite, metric, tuple(tasks), seeds, scores, run_ids, tuple(notes))


def _estimates(
    score_dict: Mapping[str, np.ndarray | tuple[np.ndarray, ...]],
    func: Callable[..., np.ndarray],
    reps: int,
    seed: int,
) -> Estimates:
    """`library.get_interval_estimates` for each key on its own, under `seeded_global_numpy(seed)`."""
    point: dict[str, np.ndarray] = {}
    interval: dict[str, np.ndarray] = {}
    for key, scores in score_dict.items():
        with seeded_global_numpy(seed):
            points, intervals = library.get_interval_estimates({key: scores}, func, reps=reps)
        point[key] = np.atleast_1d(np.asarray(points[key], dtype=float))
        interval[key] = np.asarray(intervals[key], dtype=float).reshape(2, -1)
    return Estimates(point, interval)


def aggregate_metrics(scores: np.ndarray, optimality_gap_threshold: float = 100.0) -> np.ndarray:
    """[IQM, median, mean, optimality gap] of a (runs x tasks) matrix, each computed by `rliable.metrics`.

    IQM: mean of the middle 50% of all run x task scores pooled (the lowest and highest 25% trimmed).
    Median: median over tasks of each task's mean over runs. Mean: mean over tasks of each task's mean over runs.
    Optimality gap: γ - mean over all runs and tasks of min(score, γ), with γ = `optimality_gap_threshold`
    (100 = expert on the D4RL x100 scale); lower is better.
    """
    return np.array(
        [
            metrics.aggregate_iqm(scores),
            metrics.aggregate_median(scores),
            metrics.aggregate_mean(scores),
            metrics.aggregate_optimality_gap(scores, gamma=optimality_gap_threshold),
        ]
    )


def aggregate(
    score_dict: Mapping[str, np.ndarray],
    reps: int = 2000,
    seed: int = 0,
    optimality_gap_threshold: float = 100.0,
) -> Estimates:
    """IQM, median, mean and optimality gap (`METRIC_NAMES`, see `aggregate_metrics`) of each agent's
    (runs x tasks) matrix, with 95% stratified-bootstrap CIs from `library.get_interval_estimates`."""
    func = functools.partial(aggregate_metrics, optimality_gap_threshold=optimality_gap_threshold)
    return _estimates(score_dict, func, reps, seed)


def mean_over_seeds(values: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0) -> Estimates:
    """Mean over seeds of each key's 1-D scores, with a 95% bootstrap CI (rliable on a (seeds x 1) matrix).

    With a single seed the interval collapses to the value itself.
    """
    columns = {key: np.asarray(scores, dtype=float).reshape(-1, 1) for key, scores in values.items()}
    return _estimates(columns, metrics.aggregate_mean, reps, seed)


def default_taus(score_dict: Mapping[str, np.ndarray], num: int = 51) -> np.ndarray:
    """`num` thresholds from min(0, lowest score) to max(100, highest score) for performance profiles."""
    pooled = np.concatenate([np.ravel(scores) for scores in score_dict.values()])
    return np.linspace(min(0.0, float(pooled.min())), max(100.0, float(pooled.max())), num)


def performance_profiles(
    score_dict: Mapping[str, np.ndarray], taus: Sequence[float] | np.ndarray, reps: int = 2000, seed: int = 0
) -> Estimates:
    """Score distributions: for each τ in `taus`, the fraction of all run x task scores above τ, with 95%
    stratified-bootstrap CIs (`library.create_performance_profile`, one call per agent)."""
    point: dict[str, np.ndarray] = {}
    interval: dict[str, np.ndarray] = {}
    for agent, scores in score_dict.items():
        with seeded_global_numpy(seed):
            profiles, cis = library.create_performance_profile({agent: scores}, np.asarray(taus), reps=reps)
        point[agent] = np.asarray(profiles[agent], dtype=float)
        interval[agent] = np.asarray(cis[agent], dtype=float)
    return Estimates(point, interval)


def probability_of_improvement(
    score_dict: Mapping[str, np.ndarray], baseline: str = BASELINE, reps: int = 2000, seed: int = 0
) -> Estimates:
    """P(X > baseline) for every other agent X, keyed "X,baseline", with 95% CIs.

    P(X > Y) is the mean over tasks of P(a run of X scores above a run of Y on that task), i.e. the Mann-Whitney
    U statistic / (n_X n_Y), ties counting one half (`metrics.probability_of_improvement`); the CIs come from
    resampling the runs of X and of Y independently within each task (`library.get_interval_estimates` on pairs).
    """
    if baseline not in score_dict:
        raise ValueError(f"baseline {baseline!r} has no scores; agents: {sorted(score_dict)}")
    for agent in score_dict:
        if PAIR_SEPARATOR in agent:
            raise ValueError(f"agent name {agent!r} contains the pair separator {PAIR_SEPARATOR!r}")
    pairs = {
        f"{agent}{PAIR_SEPARATOR}{baseline}": (scores, score_dict[baseline])
        for agent, scores in score_dict.items()
        if agent != baseline
    }
    return _estimates(pairs, metrics.probability_of_improvement, reps, seed)


def _iqm_per_step(scores: np.ndarray) -> np.ndarray:
    """IQM over runs and tasks at each step of a (runs x tasks x steps) array."""
    return np.array([metrics.aggregate_iqm(scores[..., index]) for index in range(scores.shape[-1])])


def sample_efficiency(
    frame: pd.DataFrame, matrices: ScoreMatrices, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, Estimates]:
    """IQM over runs and tasks at each evaluation step, with 95% stratified-bootstrap CIs.

    Uses the runs of `matrices` (same agents, tasks and seeds) at the steps that every one of those runs
    evaluated. Returns (steps, estimates) with `point[agent]` of shape (len(steps),).
    """
    scale = SCORE_SCALES[matrices.metric]
    used = frame[frame["run_id"].isin([run for runs in matrices.run_ids.values() for run in runs])]
    step_sets = [set(steps) for _, steps in used.groupby("run_id")["step"]]
    steps = np.array(sorted(set.intersection(*step_sets)) if step_sets else [], dtype=np.int64)
    if steps.size == 0:
        return steps, Estimates({}, {})
    cubes: dict[str, np.ndarray] = {}
    for agent, seeds in matrices.seeds.items():
        rows = used[used["agent"] == agent].set_index(["seed", "dataset_id", "step"])[matrices.metric]
        index = pd.MultiIndex.from_product([seeds, matrices.tasks, steps], names=["seed", "dataset_id", "step"])
        cube = rows.reindex(index).to_numpy(dtype=float) * scale
        cubes[agent] = cube.reshape(len(seeds), len(matrices.tasks), len(steps))
    return steps, _estimates(cubes, _iqm_per_step, reps, seed)
