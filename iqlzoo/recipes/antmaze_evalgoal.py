"""AntMaze data labelled for the evaluation goal, as D4RL labelled it: ``iqlzoo/antmaze/{name}-evalgoal-v0``.

The regenerations ``iqlzoo/antmaze/{name}-v0`` follow Minari's AntMaze datasets: each episode pursues its own goal,
its reward and termination say whether the Ant reached *that* goal, and the observation carries the goal
(``desired_goal``). The datasets the IQL paper and CORL report on are D4RL's, and D4RL defined another task:
``scripts/generation/generate_ant_maze_datasets.py`` stores the state without the goal (``s[:-2]``: the 29-d
position + Ant state), and ``scripts/generation/relabel_antmaze_rewards.py`` (whose ``_sparse`` output files are
the published datasets) relabels every transition for the *evaluation* target ``g*``:

    r_t = d_t = 1[ ||xy(s_{t+1}) − g*|| ≤ 0.5 ],

whatever goal the data-collecting controller was pursuing. Every path that passes the evaluation goal then carries
its reward, so a value function can stitch the whole dataset towards it; with per-episode goals only the episodes
aimed at the evaluation goal's cell do (on ``medium-play`` 548 of 2,705 episodes, while 1,042 pass within 0.5 of
it: ``docs/datasets/README.md``).

This recipe turns a built ``-v0`` dataset into that task, without simulating anything again:

* observations keep ``achieved_goal`` and ``observation`` and drop ``desired_goal`` (the dataset's observation
  space is ``Dict(achieved_goal, observation)``; agents flatten evaluation observations by the dataset's keys, so
  the evaluation goal's noise is as invisible to them as in D4RL);
* r_t = 1 and a termination where ``||achieved_goal_{t+1} − c|| ≤ 0.45``, c the centre of the evaluation goal's
  cell (the mean of the evaluation environment's goal, whose success radius is 0.45); else r_t = 0;
* each source episode is split after every such step (a Minari episode ends at its termination); the next part
  starts from the same state, so the transitions are exactly the source's. A part that ends where its source
  episode ended without reaching g* is truncated;
* the data and evaluation environments are the source's (evaluation: D4RL's fixed start and goal cells, the
  environment's goal noise, episode ends at the goal, return = success).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium import spaces
from minari import MinariDataset
from minari.data_collector.episode_buffer import EpisodeBuffer

from iqlzoo.recipes.antmaze import (
    CELL_SIZE,
    DEFAULT_STEPS,
    SUCCESS_RADIUS,
    SUCCESS_SCORED,
    TASKS,
    build_antmaze_dataset,
)
from iqlzoo.recipes.common import code_permalink
from iqlzoo.recipes.maze_planner import MazePlanner
from iqlzoo.recipes.writer import existing_dataset, read_recipe, write_dataset

KEPT_KEYS = ("achieved_goal", "observation")
SUFFIX = "-evalgoal-v0"


def dataset_id(name: str) -> str:
    """The id of maze `name`'s evaluation-goal dataset, e.g. ``iqlzoo/antmaze/medium-play-evalgoal-v0``."""
    return f"iqlzoo/antmaze/{name}{SUFFIX}"


DATASET_IDS = {name: dataset_id(name) for name in TASKS}


def goal_centre(name: str) -> np.ndarray:
    """The centre (x, y) of maze `name`'s evaluation goal cell, in the environment's coordinates (the planner's cell
    geometry, which ``tests/test_recipes.py`` checks against gymnasium-robotics')."""
    task = TASKS[name]
    return MazePlanner(task.walls, CELL_SIZE).cell_center(task.eval_goal)


def split_episode(observations: dict[str, np.ndarray], actions: np.ndarray, infos: dict[str, np.ndarray],
                  centre: np.ndarray, radius: float = SUCCESS_RADIUS) -> list[EpisodeBuffer]:
    """One source episode (T + 1 observations, T actions) as episodes labelled for the goal at `centre`.

    Step t is rewarded and terminal iff ``||achieved_goal[t + 1] − centre|| ≤ radius``; the episode is cut after
    each such step, and a last part that reaches no such step is truncated.
    """
    steps = len(actions)
    hits = np.linalg.norm(observations["achieved_goal"][1:] - centre, axis=1) <= radius
    cuts = [int(t) + 1 for t in np.flatnonzero(hits)]
    if not cuts or cuts[-1] != steps:
        cuts.append(steps)
    parts, start = [], 0
    for end in cuts:
        terminated = bool(hits[end - 1])
        n = end - start
        parts.append(EpisodeBuffer(
            observations={key: observations[key][start:end + 1] for key in KEPT_KEYS},
            actions=actions[start:end],
            rewards=hits[start:end].astype(np.float64).tolist(),
            terminations=[False] * (n - 1) + [terminated],
            truncations=[False] * (n - 1) + [not terminated],
            infos={
                "qpos": infos["qpos"][start:end + 1],
                "qvel": infos["qvel"][start:end + 1],
                "goal": np.broadcast_to(centre, (n + 1, 2)).copy(),
                "success": np.linalg.norm(observations["achieved_goal"][start:end + 1] - centre, axis=1) <= radius,
            },
        ))
        start = end
    return parts


def build_evalgoal_dataset(name: str, steps: int = DEFAULT_STEPS, *, force: bool = False, progress: bool = False,
                           **source_kwargs: Any) -> MinariDataset:
    """Build (or reuse, when built from the same source build and labels) ``iqlzoo/antmaze/{name}-evalgoal-v0``
    from ``iqlzoo/antmaze/{name}-v0`` (built first when missing, ~9-12 min, with `source_kwargs` passed to
    :func:`iqlzoo.recipes.antmaze.build_antmaze_dataset`); see the module docstring."""
    if name not in TASKS:
        raise ValueError(f"unknown AntMaze dataset {name!r}; expected one of {sorted(TASKS)}")
    task = TASKS[name]
    source = build_antmaze_dataset(name, steps, progress=progress, **source_kwargs)
    source_recipe = read_recipe(task.dataset_id) or {}
    centre = goal_centre(name)
    recipe: dict[str, Any] = {
        "recipe": "antmaze-evalgoal",
        "version": 1,
        "source": task.dataset_id,
        "source_hash": source_recipe.get("hash"),
        "labels": f"r = terminal = 1 where ||achieved_goal(s') - c|| <= {SUCCESS_RADIUS}, c = centre of the "
                  "evaluation goal cell; episodes cut after each such step",
        "goal_centre": centre.tolist(),
        "observation_keys": list(KEPT_KEYS),
    }
    target = dataset_id(name)
    if not force and (found := existing_dataset(target, recipe)) is not None:
        return found
    started = time.time()
    episodes: list[EpisodeBuffer] = []
    for episode in source.iterate_episodes():
        episodes += split_episode(episode.observations, np.asarray(episode.actions), episode.infos, centre)
    rewarded = int(sum(sum(part.rewards) for part in episodes))
    observation_space = spaces.Dict({key: source.observation_space[key] for key in KEPT_KEYS})
    data_env, eval_env = task.make_env(), task.make_env(eval_env=True)
    try:
        return write_dataset(
            target,
            episodes,
            recipe,
            build_info={
                "seconds": round(time.time() - started, 1),
                "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "source_episodes": source.total_episodes,
                "episodes": len(episodes),
                "rewarded_transitions": rewarded,
            },
            env=data_env.spec,
            eval_env=eval_env.spec,
            observation_space=observation_space,
            action_space=source.action_space,
            algorithm_name=f"{task.dataset_id} relabelled for the evaluation goal (D4RL's AntMaze task)",
            code_permalink=code_permalink(__file__),
            **SUCCESS_SCORED,
            description=(
                f"The transitions of {task.dataset_id} (recipe hash {str(source_recipe.get('hash'))[:12]}) labelled "
                f"as D4RL labelled {task.official_id}'s original: reward 1 and a termination wherever the Ant "
                f"comes within {SUCCESS_RADIUS} of the evaluation goal cell's centre {centre.tolist()} "
                f"({rewarded} transitions), whatever goal the controller pursued; observations without the goal "
                "(achieved_goal + observation, D4RL's 29-d state). Evaluation as the source's. Built locally; not "
                "an official Minari dataset."
            ),
        )
    finally:
        data_env.close()
        eval_env.close()
