"""Goal-reaching Ant: the low-level controller that a waypoint planner steers through AntMaze.

Policy input (29-d, float32), rebuilt identically inside AntMaze by :func:`policy_input`:

* ``[0:27]`` the Ant-v5 state without x/y and without contact forces — exactly AntMaze's ``observation`` key
  (``include_cfrc_ext_in_observation=False``): torso z, torso quaternion (w, x, y, z), 8 joint angles, 14 velocities;
* ``[27:29]`` the goal vector ``goal_xy - torso_xy`` rotated into the torso's heading frame (yaw taken from the
  quaternion) and clipped to norm ``GOAL_CLIP``. In AntMaze: ``goal_xy - torso_xy = waypoint - achieved_goal``.

Training environment: ``Ant-v5`` (same MuJoCo model as AntMaze, which builds its maze around gymnasium's ant.xml),
goals sampled uniformly in an annulus around the torso; a new goal is sampled as soon as the torso is within
``GOAL_THRESHOLD``. Episodes last 1000 steps and end early when the Ant is unhealthy: outside Ant-v5's torso-height
range (0.2–1.0), or — since task version 3 — with the torso upside down (its up axis below the horizon). Reward per
control step (dt = 0.05 s)::

    r = VELOCITY_SCALE * (d_before - d_after) / dt  +  healthy_reward * [healthy]  -  ctrl_cost_weight * |a|^2

i.e. the speed towards the goal, scaled, plus Ant-v5's healthy bonus and control cost. The scale matters: with
``VELOCITY_SCALE = 1`` (task version 1) SAC settled for standing still — after 320k steps its return was ~900
(the healthy bonus minus control cost) with 0.3–1 unit of progress per 1000 steps. Minari's goal-reaching Ant uses
the same ×10 weight on the goal-directed velocity for the same reason (the Ant must turn, so it is slower than
Ant-v5's straight-line runner). Training steps 8 environments per gradient step (``TASK.n_envs``), as Minari's
training steps 16: on a CPU the gradient step dominates, and more, cheaper environment steps per update explore
more directions per second.

Why the upright condition (version 3): Ant-v5 counts an Ant lying on its back (torso height ~0.27) as healthy, so
version 2 was never stopped there and kept collecting the healthy bonus; at 1.1M steps its AntMaze runs failed
mostly that way (3 of 6 U-maze evaluation episodes ended upside down). Ending the episode makes a flip cost all the
goal-directed reward to come. Version 3 also counts a goal as reached at 0.3 instead of 0.5: AntMaze succeeds within
0.45, and with 0.5 the policy was never trained on the last stretch (v2 ended evaluation runs circling in the goal
cell).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.ant_v5 import AntEnv

from iqlzoo.recipes.behaviour.tasks import ActFn, TaskSpec

ENV_ID = "Ant-v5"
ANT_OBS_DIM = 27
GOAL_CLIP = 5.0
GOAL_THRESHOLD = 0.3  # < AntMaze's success radius 0.45, so the last stretch to a goal is trained too (v3; was 0.5)
GOAL_DISTANCE = (1.0, 8.0)
MAX_EPISODE_STEPS = 1000
VELOCITY_SCALE = 10.0


def heading(ant_obs: np.ndarray) -> float:
    """Yaw of the torso from the 27-d Ant state (quaternion w, x, y, z at indices 1..4)."""
    w, x, y, z = (float(v) for v in ant_obs[1:5])
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


def torso_up(ant_obs: np.ndarray) -> float:
    """z-component of the torso's up axis from the 27-d Ant state: 1 upright, negative upside down."""
    _, x, y, _ = (float(v) for v in ant_obs[1:5])
    return 1.0 - 2.0 * (x * x + y * y)


def goal_features(ant_obs: np.ndarray, goal_vector: np.ndarray, clip: float = GOAL_CLIP) -> np.ndarray:
    """Rotate the world-frame ``goal_vector`` into the torso heading frame and clip its norm to ``clip``."""
    yaw = heading(ant_obs)
    cos, sin = np.cos(yaw), np.sin(yaw)
    gx, gy = float(goal_vector[0]), float(goal_vector[1])
    local = np.array([cos * gx + sin * gy, -sin * gx + cos * gy])
    norm = float(np.linalg.norm(local))
    if norm > clip:
        local *= clip / norm
    return local


def policy_input(ant_obs: np.ndarray, goal_vector: np.ndarray) -> np.ndarray:
    """The 29-d policy observation from the 27-d Ant state and the world-frame vector from torso to goal.

    Inside AntMaze: ``policy_input(obs["observation"], waypoint - obs["achieved_goal"])``.
    """
    ant_obs = np.asarray(ant_obs, dtype=np.float64)
    if ant_obs.shape != (ANT_OBS_DIM,):
        raise ValueError(f"expected the {ANT_OBS_DIM}-d Ant state, got shape {ant_obs.shape}")
    return np.concatenate([ant_obs, goal_features(ant_obs, np.asarray(goal_vector))]).astype(np.float32)


class GoalReachingAnt(gym.Env):
    """Ant-v5 that must walk to goals sampled around it; see the module docstring for the observation and reward.

    Args:
        goal_distance: ``(min, max)`` radius of the annulus around the torso in which goals are sampled.
        goal_threshold: Distance at which a goal counts as reached and a new one is sampled.
        velocity_scale: Weight of the speed towards the goal in the reward.
        upright: End the episode (unhealthy) when the torso is upside down.
        healthy_reward: Per-step bonus while the Ant is healthy (Ant-v5 default 1).
        ctrl_cost_weight: Weight of the squared action norm (Ant-v5 default 0.5).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        goal_distance: tuple[float, float] = GOAL_DISTANCE,
        goal_threshold: float = GOAL_THRESHOLD,
        velocity_scale: float = VELOCITY_SCALE,
        upright: bool = True,
        healthy_reward: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        render_mode: str | None = None,
    ) -> None:
        self.ant = AntEnv(
            exclude_current_positions_from_observation=False,
            include_cfrc_ext_in_observation=False,
            render_mode=render_mode,
        )
        self.render_mode = render_mode
        self.goal_distance = goal_distance
        self.goal_threshold = goal_threshold
        self.velocity_scale = velocity_scale
        self.upright = upright
        self.healthy_reward = healthy_reward
        self.ctrl_cost_weight = ctrl_cost_weight
        self.action_space = self.ant.action_space
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(ANT_OBS_DIM + 2,), dtype=np.float32)
        self.goal = np.zeros(2)
        self._state = np.zeros(ANT_OBS_DIM + 2)

    def _sample_goal(self, xy: np.ndarray) -> np.ndarray:
        radius = self.np_random.uniform(*self.goal_distance)
        angle = self.np_random.uniform(-np.pi, np.pi)
        return xy + radius * np.array([np.cos(angle), np.sin(angle)])

    def _observe(self) -> np.ndarray:
        return policy_input(self._state[2:], self.goal - self._state[:2])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Reset the Ant (Ant-v5 reset noise) and sample a first goal."""
        super().reset(seed=seed)
        ant_seed = int(self.np_random.integers(2**31 - 1))
        self._state, _ = self.ant.reset(seed=ant_seed)
        self.goal = self._sample_goal(self._state[:2])
        return self._observe(), {
            "goal": self.goal.copy(),
            "distance": float(np.linalg.norm(self.goal - self._state[:2])),
        }

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Advance one control step (0.05 s); see the module docstring for the reward."""
        before = float(np.linalg.norm(self.goal - self._state[:2]))
        self._state, _, terminated, _, _ = self.ant.step(action)
        flipped = torso_up(self._state[2:]) < 0.0
        terminated = terminated or (self.upright and flipped)
        after = float(np.linalg.norm(self.goal - self._state[:2]))
        progress = before - after
        ctrl_cost = self.ctrl_cost_weight * float(np.sum(np.square(action)))
        reward = self.velocity_scale * progress / self.ant.dt + (0.0 if terminated else self.healthy_reward) - ctrl_cost
        reached = after <= self.goal_threshold
        if reached:
            self.goal = self._sample_goal(self._state[:2])
        info = {
            "progress": progress,
            "goal_reached": reached,
            "distance": after,
            "goal": self.goal.copy(),
            "flipped": flipped,
        }
        return self._observe(), float(reward), bool(terminated), False, info

    def render(self) -> np.ndarray | None:
        """Render through the underlying Ant-v5."""
        return self.ant.render()

    def close(self) -> None:
        """Close the underlying Ant-v5."""
        self.ant.close()


def make_env() -> gym.Env:
    """One goal-reaching Ant with a 1000-step time limit."""
    return gym.wrappers.TimeLimit(GoalReachingAnt(), max_episode_steps=MAX_EPISODE_STEPS)


def evaluate(act: ActFn, episodes: int, seed: int) -> dict[str, float]:
    """Goal-reaching metrics of ``act`` over ``episodes`` episodes (up to 1000 steps each).

    Returns goals reached and distance gained towards the current goal per 1000 steps, the episode return, and
    the fraction of episodes that ended because the Ant became unhealthy.
    """
    env = make_env()
    steps = goals = falls = 0
    progress = 0.0
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs))
            total += float(reward)
            steps += 1
            goals += int(info["goal_reached"])
            progress += float(info["progress"])
            falls += int(terminated)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return {
        "episodes": episodes,
        "eval_steps": steps,
        "goals_per_1000_steps": 1000.0 * goals / steps,
        "progress_per_1000_steps": 1000.0 * progress / steps,
        "fall_rate": falls / episodes,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
    }


TASK = TaskSpec(
    name="ant-goal",
    env_id=ENV_ID,
    make_env=make_env,
    sac_kwargs={"learning_starts": 10_000},
    evaluate=evaluate,
    score_key="goals_per_1000_steps",
    levels={"ant-goal": None},
    n_envs=8,
    version=3,
    card_fields={
        "env_id": ENV_ID,
        "env_kwargs": {"include_cfrc_ext_in_observation": False},
        "observation": (
            "29-d: AntMaze observation (27-d Ant state without x/y and contact forces) + goal vector "
            "(waypoint - achieved_goal) rotated into the torso heading frame and clipped to norm 5; "
            "build it with iqlzoo.recipes.behaviour.ant_goal.policy_input"
        ),
        "goal_clip": GOAL_CLIP,
        "goal_threshold": GOAL_THRESHOLD,
        "goal_distance": list(GOAL_DISTANCE),
        "velocity_scale": VELOCITY_SCALE,
        "terminate_upside_down": True,
    },
)
