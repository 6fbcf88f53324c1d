"""Local regenerations of D4RL's AntMaze datasets (Minari ``D4RL/antmaze/*-v1``): ``iqlzoo/antmaze/{name}-v0``.

How the originals were made (D4RL ``scripts/generation/generate_ant_maze_datasets.py``; Minari
``minari-dataset-generation-scripts/scripts/antmaze``): a goal-reaching Ant policy, fed the Ant state and the vector
to a waypoint, is steered through the maze by a planner over maze cells (Q-iteration) whose intermediate waypoints
are cell centres jittered by up to 0.2 and count as reached within 0.45; Gaussian noise of std 0.2 is added to its
(sampled) actions; seed 123; 1M steps. Minari used ``AntMaze_*-v4`` with ``continuing_task=True,
reset_target=False`` and 700/1000-step episodes, so once the Ant reached its goal it stayed there until the
episode ended: much of the data idles at the goal (Minari issue 296: IQL fails on those datasets).

What these recipes do (``AntMaze_*-v5`` with ``include_cfrc_ext_in_observation=False``: 27-d ``observation`` plus
2-d ``achieved_goal``, which together are D4RL's 29-d state, and the 2-d ``desired_goal``, which D4RL's states lack).
Like Minari's, these datasets label each episode for its own goal; D4RL relabelled every transition for the
evaluation goal instead, a different task on the play and diverse mazes: :mod:`iqlzoo.recipes.antmaze_evalgoal`
builds that labelling from these builds. In detail:

* **Each dataset episode is one attempt at one goal**, at most the evaluation horizon long (700 steps in the
  U-maze, 1000 in the others). It ends with ``termination=True`` on the step the Ant comes within 0.45 of its goal
  (reward 1: the same event that ends an evaluation episode) or with ``truncation=True`` at the horizon — or
  ``FLIP_TAIL`` (50) steps after the Ant lands upside down (it cannot right itself). The tail keeps upside-down
  states in the data: recipe v2 truncated on the flip itself, so the last ``next_observation`` of ~600 episodes per
  dataset was a state seen nowhere else, IQL's V extrapolated there (mean V at those states -52 after 40k steps,
  +304 after 60k) and the bootstrapped Q diverged on every seed; with 50 stuck steps V learns the stuck Ant's value
  (~-100 after reward shaping) from data. No step is spent idling at a reached goal, and the data's MDP is the
  evaluation MDP.
* After a success the Ant gets a **new goal where it stands** (no physical reset): the next attempt starts at the
  old goal, so starts are as varied as goals. After a time-out or a flip, or in ``umaze``, the environment is reset.
  ``umaze``: fixed start (3, 1) and goal (1, 1) as in D4RL/Minari; ``*-diverse``: starts and goals drawn uniformly
  from every open cell (D4RL: "random goals from random starts"); ``*-play``: starts and goals drawn from a
  hand-picked set of cells (D4RL: "hand-picked goals from hand-picked starts"; here gymnasium-robotics'
  ``*_DIVERSE_GR`` cells plus the evaluation goal's cell). Goals and resets get the environment's uniform noise of
  ±1 per axis. The recorded ``env`` spec carries the data map (its ``r``/``g``/``c`` cells encode these sets), so
  ``recover_environment()`` reproduces the start/goal distribution.
* The evaluation environment (``recover_environment(eval_env=True)``) has the same walls, D4RL's fixed start and
  goal (U-maze: as in the data; medium (1, 1) → (6, 6); large (1, 1) → (7, 9)) and ``continuing_task=False``, so
  an episode ends at the goal and its return is 1 on success, else 0. ``ref_min_score = 0`` and
  ``ref_max_score = 1`` make the normalised score the success rate (D4RL's AntMaze convention, which the IQL paper
  reports). Minari instead measured its reference scores in a continuing evaluation environment, where returns
  count steps spent at the goal; and its U-maze evaluation map is the mirror image of the data maze.
* ``infos`` hold ``qpos`` (15), ``qvel`` (14), ``goal`` (2) and ``success`` for every observation, as Minari's.

The planner lives in :mod:`iqlzoo.recipes.maze_planner`; :func:`expert_check` measures how often the waypoint
controller with the shipped Ant policy reaches the evaluation goal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import gymnasium_robotics
import numpy as np
import torch
from gymnasium_robotics.envs.maze import maps
from minari import MinariDataset
from minari.data_collector.episode_buffer import EpisodeBuffer

from iqlzoo.data.equivalents import OFFICIAL
from iqlzoo.recipes.behaviour.ant_goal import policy_input, torso_up
from iqlzoo.recipes.behaviour.policy import WEIGHTS_DIR, BehaviourPolicy
from iqlzoo.recipes.common import (
    AUTHOR,
    AUTHOR_EMAIL,
    code_permalink,
    policy_fingerprint,
    progress_bar,
    require_policy,
)
from iqlzoo.recipes.maze_planner import Cell, MazePlanner, WaypointController
from iqlzoo.recipes.writer import existing_dataset, recipe_hash, write_dataset

gym.register_envs(gymnasium_robotics)

CELL_SIZE = 4.0
SUCCESS_RADIUS = 0.45
FLIP_TAIL = 50
"""Steps an attempt goes on after the Ant lands upside down, so that stuck states are in the data (see above)."""
WAYPOINT_THRESHOLD = 0.45
WAYPOINT_JITTER = 0.2
ACTION_NOISE = 0.2
SEED = 123
DEFAULT_STEPS = 1_000_000
N_ENVS = 8
POLICY_NAME = "ant-goal"
#: Minari metadata of every AntMaze dataset iqlzoo writes: an evaluation episode's return is its success (0 or 1), so
#: reference scores 0 and 1 make the normalised score the success rate (D4RL's convention, the IQL paper's table).
SUCCESS_SCORED: dict[str, Any] = {"author": AUTHOR, "author_email": AUTHOR_EMAIL, "ref_min_score": 0.0,
                                  "ref_max_score": 1.0, "num_episodes_average_score": 0}
DATA_ENV_KWARGS = {"include_cfrc_ext_in_observation": False, "continuing_task": True, "reset_target": False}
EVAL_ENV_KWARGS = {"include_cfrc_ext_in_observation": False, "continuing_task": False, "reset_target": False}

Walls = list[list[int]]


def _walls(maze_map: list[list[Any]]) -> Walls:
    return [[1 if cell == 1 else 0 for cell in row] for row in maze_map]


def _open_cells(walls: Walls) -> list[Cell]:
    return [(i, j) for i, row in enumerate(walls) for j, cell in enumerate(row) if cell != 1]


@dataclass(frozen=True)
class AntMazeTask:
    """One AntMaze dataset: its environment, walls, start/goal cells and evaluation start/goal.

    ``starts``/``goals`` of ``None`` mean every open cell.
    """

    name: str
    env_id: str
    walls: Walls
    starts: tuple[Cell, ...] | None
    goals: tuple[Cell, ...] | None
    eval_start: Cell
    eval_goal: Cell
    summary: str

    @property
    def dataset_id(self) -> str:
        """The iqlzoo id of this dataset."""
        return f"iqlzoo/antmaze/{self.name}-v0"

    @property
    def official_id(self) -> str:
        """The Minari id of the dataset this one regenerates."""
        return OFFICIAL[self.dataset_id]

    def data_map(self) -> list[list[int | str]]:
        """Walls with the start cells marked ``r``, goal cells ``g``, both ``c`` (plain walls: every cell both)."""
        marked: list[list[int | str]] = [list(row) for row in self.walls]
        starts, goals = set(self.starts or ()), set(self.goals or ())
        for i, j in starts | goals:
            marked[i][j] = "c" if (i, j) in starts and (i, j) in goals else ("r" if (i, j) in starts else "g")
        return marked

    def eval_map(self) -> list[list[int | str]]:
        """Walls with the fixed evaluation start ``r`` and goal ``g``."""
        marked: list[list[int | str]] = [list(row) for row in self.walls]
        marked[self.eval_start[0]][self.eval_start[1]] = "r"
        marked[self.eval_goal[0]][self.eval_goal[1]] = "g"
        return marked

    @property
    def horizon(self) -> int:
        """Steps of one evaluation episode (and the longest data episode): the environment's registered limit."""
        return int(gym.spec(self.env_id).max_episode_steps or 1000)

    def goal_cells(self) -> list[Cell]:
        """The cells goals are drawn from."""
        return list(self.goals) if self.goals is not None else _open_cells(self.walls)

    def make_env(self, eval_env: bool = False, **kwargs: Any) -> gym.Env:
        """The data-collection (or evaluation) environment of this task."""
        if eval_env:
            return gym.make(self.env_id, maze_map=self.eval_map(), **EVAL_ENV_KWARGS, **kwargs)
        return gym.make(self.env_id, maze_map=self.data_map(), **DATA_ENV_KWARGS, **kwargs)


def _combined_cells(maze_map: list[list[Any]]) -> tuple[Cell, ...]:
    return tuple((i, j) for i, row in enumerate(maze_map) for j, cell in enumerate(row) if cell == "c")


_U, _MEDIUM, _LARGE = _walls(maps.U_MAZE), _walls(maps.MEDIUM_MAZE), _walls(maps.LARGE_MAZE)
_MEDIUM_PICKED = (*_combined_cells(maps.MEDIUM_MAZE_DIVERSE_GR), (6, 6))  # + the evaluation goal's cell
_LARGE_PICKED = _combined_cells(maps.LARGE_MAZE_DIVERSE_GR)  # already holds the evaluation goal's cell (7, 9)
TASKS: dict[str, AntMazeTask] = {
    task.name: task
    for task in (
        AntMazeTask("umaze", "AntMaze_UMaze-v5", _U, ((3, 1),), ((1, 1),), (3, 1), (1, 1),
                    "U-maze, fixed start and goal"),
        AntMazeTask("umaze-diverse", "AntMaze_UMaze-v5", _U, None, None, (3, 1), (1, 1),
                    "U-maze, random starts and goals"),
        AntMazeTask("medium-play", "AntMaze_Medium-v5", _MEDIUM, _MEDIUM_PICKED, _MEDIUM_PICKED, (1, 1), (6, 6),
                    "medium maze, hand-picked starts and goals"),
        AntMazeTask("medium-diverse", "AntMaze_Medium_Diverse_GR-v5", _MEDIUM, None, None, (1, 1), (6, 6),
                    "medium maze, random starts and goals"),
        AntMazeTask("large-play", "AntMaze_Large-v5", _LARGE, _LARGE_PICKED, _LARGE_PICKED, (1, 1), (7, 9),
                    "large maze, hand-picked starts and goals"),
        AntMazeTask("large-diverse", "AntMaze_Large_Diverse_GR-v5", _LARGE, None, None, (1, 1), (7, 9),
                    "large maze, random starts and goals"),
    )
}
DATASET_IDS = {name: task.dataset_id for name, task in TASKS.items()}


class _Attempts:
    """Per-environment state of a lock-step AntMaze rollout: the environment, its controller and current episode."""

    def __init__(self, task: AntMazeTask, eval_env: bool, seed: int) -> None:
        self.env = task.make_env(eval_env=eval_env)
        self.base = self.env.unwrapped
        self.horizon = task.horizon
        self.planner = MazePlanner(self.base.maze.maze_map, CELL_SIZE)
        self.controller = WaypointController(
            self.planner, WAYPOINT_THRESHOLD, WAYPOINT_JITTER, np.random.default_rng([seed, 1])
        )
        self.goal_cells = task.goal_cells()
        self.obs, info = self.base.reset(seed=seed)
        self._start_episode(info)

    def _start_episode(self, info: dict[str, Any]) -> None:
        self.flipped_at: int | None = None
        self.observations = [self.obs]
        self.infos = [self._info(self.obs, info)]
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []

    @staticmethod
    def _info(obs: dict[str, np.ndarray], info: dict[str, Any]) -> dict[str, Any]:
        return {
            "qpos": np.concatenate([obs["achieved_goal"], obs["observation"][:13]]),
            "qvel": obs["observation"][13:].copy(),
            "goal": obs["desired_goal"].copy(),
            "success": bool(info["success"]),
        }

    def policy_input(self) -> np.ndarray:
        """The low-level policy's input: Ant state and vector to the current waypoint."""
        waypoint = self.controller.waypoint(self.obs["achieved_goal"], self.obs["desired_goal"])
        return policy_input(self.obs["observation"], waypoint - self.obs["achieved_goal"])

    def step(self, action: np.ndarray) -> tuple[bool, bool]:
        """Step once; returns ``(success, truncated)`` for the current episode: truncated at the horizon or
        ``FLIP_TAIL`` steps after the Ant first lay upside down (it cannot recover)."""
        self.obs, reward, _, _, info = self.base.step(action)
        self.observations.append(self.obs)
        self.infos.append(self._info(self.obs, info))
        self.actions.append(action)
        self.rewards.append(float(reward))
        steps = len(self.rewards)
        if self.flipped_at is None and torso_up(self.obs["observation"]) < 0.0:
            self.flipped_at = steps
        stuck = self.flipped_at is not None and steps - self.flipped_at >= FLIP_TAIL
        return bool(info["success"]), steps >= self.horizon or stuck

    def finish(self, terminated: bool) -> EpisodeBuffer:
        """The current episode as a Minari buffer, ending in a termination or a truncation."""
        steps = len(self.rewards)
        return EpisodeBuffer(
            observations={k: np.stack([o[k] for o in self.observations]) for k in self.obs},
            actions=np.stack(self.actions).astype(np.float32),
            rewards=self.rewards,
            terminations=[False] * (steps - 1) + [terminated],
            truncations=[False] * (steps - 1) + [not terminated],
            infos={k: np.stack([np.asarray(i[k]) for i in self.infos]) for k in self.infos[0]},
        )

    def next_goal(self) -> None:
        """Start a new episode where the Ant stands, towards a goal in another goal cell."""
        here = self.planner.cell_of(self.obs["achieved_goal"])
        choices = [c for c in self.goal_cells if c != here] or self.goal_cells
        cell = choices[int(self.base.np_random.integers(len(choices)))]
        self.base.goal = self.base.add_xy_position_noise(self.planner.cell_center(cell))
        self.base.update_target_site_pos()
        self.obs = {**self.obs, "desired_goal": self.base.goal.copy()}
        distance = np.linalg.norm(self.obs["achieved_goal"] - self.base.goal)
        self._start_episode({"success": distance <= SUCCESS_RADIUS})

    def reset(self) -> None:
        """Reset the environment (new start and goal from its own random stream) and start a new episode."""
        self.obs, info = self.base.reset()
        self.controller.reset()
        self._start_episode(info)


def _act(
    policy: BehaviourPolicy, attempts: list[_Attempts], stochastic: bool, noise: float, generator: torch.Generator,
    rng: np.random.Generator,
) -> np.ndarray:
    inputs = np.stack([a.policy_input() for a in attempts])
    actions = policy(inputs, deterministic=not stochastic, generator=generator)
    if noise > 0:
        actions = actions + rng.normal(0.0, noise, size=actions.shape)
    low, high = policy.action_low.numpy(), policy.action_high.numpy()
    return np.clip(actions, low, high).astype(np.float32)


def collect(
    task: AntMazeTask,
    policy: BehaviourPolicy,
    steps: int,
    seed: int = SEED,
    n_envs: int = N_ENVS,
    action_noise: float = ACTION_NOISE,
    stochastic: bool = True,
    on_step: Callable[[int], Any] | None = None,
) -> list[EpisodeBuffer]:
    """Roll out the waypoint controller + ``policy`` for exactly ``steps`` steps; see the module docstring.

    ``n_envs`` environments (environment ``k`` seeded ``seed + k``) step in lock-step with one batched policy call;
    each takes an equal share of the steps and truncates its last episode when its share is used up. Episodes are
    numbered environment by environment.
    """
    if steps < n_envs:
        raise ValueError(f"steps ({steps}) must be at least n_envs ({n_envs})")
    attempts = [_Attempts(task, eval_env=False, seed=seed + k) for k in range(n_envs)]
    budgets = [steps // n_envs + (1 if k < steps % n_envs else 0) for k in range(n_envs)]
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    per_env: list[list[EpisodeBuffer]] = [[] for _ in range(n_envs)]
    try:
        for t in range(max(budgets)):
            active = [k for k in range(n_envs) if t < budgets[k]]
            actions = _act(policy, [attempts[k] for k in active], stochastic, action_noise, generator, rng)
            for k, action in zip(active, actions, strict=True):
                attempt = attempts[k]
                success, truncated = attempt.step(action)
                last = t + 1 == budgets[k]
                if success or truncated or last:
                    per_env[k].append(attempt.finish(terminated=success))
                    if last:
                        continue
                    if success and len(attempt.goal_cells) > 1:
                        attempt.next_goal()
                    else:
                        attempt.reset()
            if on_step is not None:
                on_step(len(active))
    finally:
        for attempt in attempts:
            attempt.env.close()
    return [replace(episode, id=i) for i, episode in enumerate(e for episodes in per_env for e in episodes)]


def build_antmaze_dataset(
    name: str,
    steps: int = DEFAULT_STEPS,
    *,
    weights_dir: Path = WEIGHTS_DIR,
    seed: int = SEED,
    n_envs: int = N_ENVS,
    action_noise: float = ACTION_NOISE,
    stochastic: bool = True,
    force: bool = False,
    progress: bool = False,
) -> MinariDataset:
    """Build (or reuse, when built from the same recipe) ``iqlzoo/antmaze/{name}-v0``; see the module docstring.

    Args:
        name: One of ``TASKS`` (``umaze``, ``umaze-diverse``, ``medium-play``, ``medium-diverse``, ``large-play``,
            ``large-diverse``).
        steps: Environment steps in the dataset.
        weights_dir: Folder holding the goal-reaching Ant policy ``ant-goal.safetensors`` + ``.json``.
        seed: Seed of the environments (``seed + k``), the controller jitter, the policy samples and the noise.
        n_envs: Environments stepped in lock-step (part of the recipe: it orders the random draws).
        action_noise: Std of the Gaussian noise added to the policy's actions (D4RL/Minari: 0.2).
        stochastic: Sample the policy's actions (as D4RL/Minari did) rather than taking its mean.
        force: Rebuild even when an identical build exists.
        progress: Show a progress bar on stderr.

    Raises:
        MissingBehaviourPolicyError: if the Ant policy is missing (the message gives the training command).
    """
    if name not in TASKS:
        raise ValueError(f"unknown AntMaze dataset {name!r}; expected one of {sorted(TASKS)}")
    task = TASKS[name]
    policy_path = weights_dir / POLICY_NAME
    policy = require_policy(policy_path, "ant-goal", task.dataset_id)
    recipe: dict[str, Any] = {
        "recipe": "antmaze",
        "version": 3,
        "name": name,
        "env_id": task.env_id,
        "data_map": task.data_map(),
        "eval_map": task.eval_map(),
        "steps": steps,
        "seed": seed,
        "n_envs": n_envs,
        "action_noise": action_noise,
        "actions": "stochastic (squashed Gaussian sample)" if stochastic else "deterministic (mean)",
        "waypoints": {"planner": "Q-iteration on cells", "threshold": WAYPOINT_THRESHOLD, "jitter": WAYPOINT_JITTER},
        "episodes": f"one goal each: terminated on success (0.45), truncated at the horizon or {FLIP_TAIL} steps "
        "after landing upside down; new goal in place",
        "policy": policy_fingerprint(policy, POLICY_NAME),
    }
    if not force and (found := existing_dataset(task.dataset_id, recipe)) is not None:
        return found
    started = time.time()
    with progress_bar(steps, task.dataset_id, progress) as bar:
        episodes = collect(task, policy, steps, seed, n_envs, action_noise, stochastic, on_step=bar.update)
    rollout_seconds = time.time() - started
    successes = sum(bool(e.terminations[-1]) for e in episodes)
    data_env, eval_env = task.make_env(), task.make_env(eval_env=True)
    dataset = write_dataset(
        task.dataset_id,
        episodes,
        recipe,
        build_info={
            "seconds": round(time.time() - started, 1),
            "steps_per_second": round(steps / max(rollout_seconds, 1e-9), 1),
            "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "episodes": len(episodes),
            "successful_episodes": successes,
            "reference": "ref_min_score 0, ref_max_score 1: evaluation return = success (D4RL convention)",
        },
        env=data_env.spec,
        eval_env=eval_env.spec,
        algorithm_name=f"Q-iteration waypoints + SAC goal-reaching Ant ({POLICY_NAME}), action noise {action_noise}",
        code_permalink=code_permalink(__file__),
        **SUCCESS_SCORED,
        description=(
            f"iqlzoo regeneration of {task.official_id} (recipe hash {recipe_hash(recipe)[:12]}): {task.summary}; "
            f"{steps} steps of {task.env_id} (27-d Ant state, no contact forces) driven by a Q-iteration waypoint "
            f"controller and a goal-reaching SAC Ant with action noise {action_noise}, seed {seed}. Each episode "
            f"pursues one goal: terminated when the Ant comes within {SUCCESS_RADIUS} of it ({successes} of "
            f"{len(episodes)} episodes), truncated at the {task.horizon}-step horizon; after a success the next goal "
            "is set where the Ant stands. Evaluation: fixed D4RL start "
            "and goal, episode ends at the goal, return = success; reference scores 0 and 1 (normalised score = "
            "success rate). Built locally; not an official Minari dataset."
        ),
    )
    data_env.close()
    eval_env.close()
    return dataset


def expert_check(
    name: str,
    episodes: int = 100,
    *,
    weights_dir: Path = WEIGHTS_DIR,
    seed: int = 0,
    n_envs: int = N_ENVS,
    stochastic: bool = False,
    action_noise: float = 0.0,
) -> dict[str, float]:
    """Success rate of the waypoint controller + Ant policy on the task's evaluation environment.

    The issue's done criterion for the Ant policy: at least 80% on U-maze and medium, 60% on large.
    Returns the episode count, the success rate and the mean number of steps of the successful episodes.
    """
    task = TASKS[name]
    policy = require_policy(weights_dir / POLICY_NAME, "ant-goal", f"the {name} expert check")
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    outcomes: list[tuple[bool, int]] = []
    for first in range(0, episodes, n_envs):
        attempts = [_Attempts(task, eval_env=True, seed=seed + first + k) for k in range(min(n_envs, episodes - first))]
        running = list(attempts)
        while running:
            actions = _act(policy, running, stochastic, action_noise, generator, rng)
            still = []
            for attempt, action in zip(running, actions, strict=True):
                success, truncated = attempt.step(action)
                if success or truncated:
                    outcomes.append((success, len(attempt.rewards)))
                else:
                    still.append(attempt)
            running = still
        for attempt in attempts:
            attempt.env.close()
    wins = [steps for success, steps in outcomes if success]
    return {
        "episodes": len(outcomes),
        "success_rate": len(wins) / len(outcomes),
        "mean_steps_to_goal": float(np.mean(wins)) if wins else float("nan"),
    }
