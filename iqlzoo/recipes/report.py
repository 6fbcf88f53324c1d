"""What a built dataset holds: episode and return statistics, goal-reaching statistics for maze datasets, a plot of
the visited (x, y) positions over the maze walls, and a Markdown card.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from minari import MinariDataset

from iqlzoo.recipes.maze_planner import MazePlanner
from iqlzoo.recipes.writer import read_recipe

GOAL_RADII = (0.45, 0.5)


def _is_goal_dataset(dataset: MinariDataset) -> bool:
    space = dataset.observation_space
    return isinstance(space, gym.spaces.Dict) and {"achieved_goal", "desired_goal"} <= set(space.spaces)


def evaluation_cells(dataset: MinariDataset) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Centres of the evaluation environment's start (``r``) and goal (``g``) cells and the cell size, or None when
    the dataset records no evaluation maze with exactly one of each (e.g. a map with ``c`` cells)."""
    spec = getattr(dataset, "_eval_env_spec", None)
    maze_map = (spec.kwargs or {}).get("maze_map") if spec is not None else None
    if not maze_map:
        return None
    cells = {tag: [(i, j) for i, row in enumerate(maze_map) for j, c in enumerate(row) if c == tag] for tag in "rg"}
    if len(cells["r"]) != 1 or len(cells["g"]) != 1:
        return None
    size = maze_layout(dataset)[1]
    planner = MazePlanner(maze_map, cell_size=size)
    return planner.cell_center(cells["r"][0]), planner.cell_center(cells["g"][0]), size


def demonstrates_task(path: np.ndarray, start: np.ndarray, goal: np.ndarray, size: float) -> bool:
    """Whether a path of (x, y) positions is in the start cell at some step and in the goal cell at a later one
    (a cell: |x − x_c| ≤ size/2 and |y − y_c| ≤ size/2) — a demonstration of the evaluation task, part of which
    behaviour cloning can copy without stitching trajectories together."""
    in_start = np.nonzero(np.max(np.abs(path - start), axis=1) <= size / 2)[0]
    in_goal = np.nonzero(np.max(np.abs(path - goal), axis=1) <= size / 2)[0]
    return bool(len(in_start) and len(in_goal) and in_goal[-1] > in_start[0])


def dataset_report(dataset: MinariDataset) -> dict[str, Any]:
    """Statistics of ``dataset`` (JSON-serialisable).

    Always: transitions, episodes, terminations and truncations, the return distribution, the reference scores and
    the behaviour's normalised score 100·(mean return − ref_min)/(ref_max − ref_min). For goal datasets (AntMaze):
    the share of steps that end within 0.45 and 0.5 of the episode's goal, the share of episodes that get within
    0.45 of their goal, and — when the evaluation maze has one start and one goal cell — how many episodes
    demonstrate the evaluation task (:func:`demonstrates_task`): few of them means an agent must stitch pieces of
    trajectories to solve it, which is what the ``-play``/``-diverse`` mazes are meant to test. With such a maze, also
    what D4RL's labelling would reward (``scripts/generation/relabel_antmaze_rewards.py``: every transition whose
    next position is within the radius of the evaluation goal, whatever goal its episode pursued): those
    transitions per radius, the episodes passing within 0.5 of the evaluation goal cell's centre, and (datasets with
    a ``desired_goal``) the episodes whose own goal lies in the evaluation goal cell. For iqlzoo builds: the recipe
    hash and the build record (time, measured references).
    """
    returns, lengths, terminations, truncations = [], [], 0, 0
    near = dict.fromkeys(GOAL_RADII, 0)
    reached = demonstrations = passing = aimed = 0
    near_eval_goal = dict.fromkeys(GOAL_RADII, 0)
    positions = isinstance(dataset.observation_space, gym.spaces.Dict) and "achieved_goal" in \
        dataset.observation_space.spaces
    task = evaluation_cells(dataset) if positions else None
    for episode in dataset.iterate_episodes():
        rewards = np.asarray(episode.rewards, dtype=np.float64)
        returns.append(float(rewards.sum()))
        lengths.append(len(rewards))
        terminations += int(np.sum(episode.terminations))
        truncations += int(np.sum(episode.truncations))
        observations = episode.observations
        if isinstance(observations, dict) and "desired_goal" in observations:
            after = observations["achieved_goal"][1:] - observations["desired_goal"][1:]
            distance = np.linalg.norm(after, axis=1)
            for radius in GOAL_RADII:
                near[radius] += int(np.sum(distance <= radius))
            reached += bool(np.any(distance <= GOAL_RADII[0]))
        if task is not None:
            start, goal, size = task
            demonstrations += demonstrates_task(observations["achieved_goal"], start, goal, size)
            to_eval_goal = np.linalg.norm(observations["achieved_goal"][1:] - goal, axis=1)
            for radius in GOAL_RADII:
                near_eval_goal[radius] += int(np.sum(to_eval_goal <= radius))
            passing += bool(np.any(to_eval_goal <= GOAL_RADII[-1]))
            if "desired_goal" in observations:
                aimed += bool(np.max(np.abs(observations["desired_goal"][0] - goal)) <= size / 2)
    values = np.asarray(returns)
    steps = int(np.sum(lengths))
    meta = dataset.storage.metadata
    ref_min, ref_max = meta.get("ref_min_score"), meta.get("ref_max_score")
    report: dict[str, Any] = {
        "dataset_id": dataset.spec.dataset_id,
        "transitions": steps,
        "episodes": len(values),
        "episode_length_mean": float(np.mean(lengths)),
        "terminations": terminations,
        "truncations": truncations,
        "return_mean": float(values.mean()),
        "return_std": float(values.std()),
        "return_min": float(values.min()),
        "return_p25": float(np.percentile(values, 25)),
        "return_median": float(np.median(values)),
        "return_p75": float(np.percentile(values, 75)),
        "return_max": float(values.max()),
        "ref_min_score": ref_min,
        "ref_max_score": ref_max,
    }
    if ref_min is not None and ref_max is not None:
        report["behaviour_normalized_score"] = 100.0 * (float(values.mean()) - ref_min) / (ref_max - ref_min)
    if _is_goal_dataset(dataset):
        for radius in GOAL_RADII:
            report[f"share_steps_within_{radius}_of_goal"] = near[radius] / steps
        report["share_episodes_reaching_goal"] = reached / len(values)
    if task is not None:
        report["episodes_demonstrating_evaluation_task"] = demonstrations
        report["share_episodes_demonstrating_evaluation_task"] = demonstrations / len(values)
        for radius in GOAL_RADII:
            report[f"transitions_into_{radius}_of_evaluation_goal"] = near_eval_goal[radius]
        report["episodes_passing_evaluation_goal"] = passing
        if _is_goal_dataset(dataset):
            report["episodes_aimed_at_evaluation_goal_cell"] = aimed
    record = read_recipe(dataset.spec.dataset_id)
    if record is not None:
        report["recipe_hash"] = record["hash"]
        report["build"] = record.get("build", {})
    return report


def maze_layout(dataset: MinariDataset) -> tuple[list[list[Any]], float]:
    """The data environment's ``maze_map`` and cell size (AntMaze 4, PointMaze 1)."""
    spec = dataset.env_spec
    if spec is None:
        raise ValueError(f"{dataset.spec.dataset_id} records no environment spec, so no maze to draw")
    maze_map = spec.kwargs.get("maze_map") or gym.spec(spec.id).kwargs.get("maze_map")
    if maze_map is None:
        raise ValueError(f"{dataset.spec.dataset_id} ({spec.id}) is not a maze dataset: no maze_map to draw")
    return maze_map, 4.0 if "AntMaze" in spec.id else 1.0


def plot_positions(dataset: MinariDataset, path: str | Path, max_points: int = 200_000) -> Path:
    """Save a PNG of the visited (x, y) positions (``achieved_goal``) and goals over the maze walls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not _is_goal_dataset(dataset):
        raise ValueError(f"{dataset.spec.dataset_id} has no achieved_goal positions to plot (not a maze dataset)")
    maze_map, size = maze_layout(dataset)
    episodes = [(e.observations["achieved_goal"], e.observations["desired_goal"][0]) for e in dataset]
    positions = np.concatenate([p for p, _ in episodes])
    goals = np.stack([g for _, g in episodes])
    shown = positions
    if len(positions) > max_points:
        shown = positions[np.random.default_rng(0).choice(len(positions), max_points, replace=False)]
    height, width = len(maze_map), len(maze_map[0])
    fig, ax = plt.subplots(figsize=(1.2 * width + 1, 1.2 * height))
    for i, row in enumerate(maze_map):
        for j, cell in enumerate(row):
            if cell == 1:
                x, y = j * size - width * size / 2, height * size / 2 - (i + 1) * size
                ax.add_patch(Rectangle((x, y), size, size, color="0.35"))
    ax.scatter(shown[:, 0], shown[:, 1], s=0.2, alpha=0.15, color="tab:blue", rasterized=True, label="visited")
    ax.scatter(goals[:, 0], goals[:, 1], s=12, color="tab:red", marker="x", label="episode goals")
    ax.set_xlim(-width * size / 2, width * size / 2)
    ax.set_ylim(-height * size / 2, height * size / 2)
    ax.set_aspect("equal")
    ax.set_title(f"{dataset.spec.dataset_id}: {len(positions)} positions")
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (set, frozenset, list, tuple)):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def dataset_card(dataset: MinariDataset, report: dict[str, Any], plot: str | Path | None = None) -> str:
    """A Markdown card of ``dataset``: provenance, environments, statistics, build record."""
    meta = dataset.storage.metadata
    dataset_id = dataset.spec.dataset_id
    build = report.get("build", {})
    eval_spec = getattr(dataset, "_eval_env_spec", None) or dataset.env_spec
    lines = [
        f"# {dataset_id}",
        "",
        str(meta.get("description", "")),
        "",
        "| field | value |",
        "| --- | --- |",
        f"| environment | `{dataset.env_spec.id if dataset.env_spec else None}` |",
        f"| evaluation environment | `{eval_spec.id if eval_spec else None}` |",
        f"| algorithm | {meta.get('algorithm_name')} |",
        f"| author | {_fmt(meta.get('author'))} |",
        f"| code | {meta.get('code_permalink')} |",
        f"| recipe hash | `{report.get('recipe_hash')}` |",
        f"| build time | {build.get('seconds', 'n/a')} s ({build.get('steps_per_second', 'n/a')} steps/s), "
        f"{build.get('built_utc', 'n/a')} |",
        f"| card written | {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} |",
    ]
    if "recipe_hash" in report:
        lines.append(f"| rebuild | `python -m iqlzoo.recipes build {dataset_id}` |")
    lines += ["", "## Statistics", "", "| statistic | value |", "| --- | --- |"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in report.items() if key not in ("build", "dataset_id")]
    if eval_spec is not None and eval_spec.kwargs:
        lines += ["", "## Evaluation environment kwargs", "", "```", str(eval_spec.kwargs), "```"]
    if plot is not None:
        lines += ["", "## Visited positions", "", f"![visited positions]({Path(plot).name})"]
    return "\n".join(lines) + "\n"
