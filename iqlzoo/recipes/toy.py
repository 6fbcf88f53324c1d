"""A small offline dataset that iqlzoo builds by itself, offline, in seconds: ``iqlzoo/toy/pendulum-mixed-v0``.

Environment: Gymnasium's ``Pendulum-v1`` (3-d observation, 1-d torque in [-2, 2], 200-step episodes, reward
−(θ² + 0.1·θ̇² + 0.001·u²), truncation only). Behaviour: half the episodes come from a hand-written swing-up
controller (energy pumping far from upright, PD control near it) whose torque is perturbed by Gaussian noise of
std ``noise_std`` and replaced by a uniform random torque with probability ``random_prob``; the other half are
uniformly random. Reference scores: ``ref_min_score`` = random policy, ``ref_max_score`` = the noiseless
controller, both averaged over ``n_reference_episodes`` episodes; a normalised score of 100 means controller level.

It exists for quick starts, tests and CI, where the real benchmark datasets are too large to build.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from minari import MinariDataset
from minari.data_collector.episode_buffer import EpisodeBuffer

from iqlzoo.data.equivalents import PENDULUM_ID
from iqlzoo.recipes.writer import existing_dataset, recipe_hash, write_dataset


def swing_up_controller(obs: np.ndarray) -> np.ndarray:
    """Energy-pumping swing-up with a PD balance near upright; returns a torque in [-2, 2]."""
    cos_th, sin_th, th_dot = (float(x) for x in obs)
    theta = np.arctan2(sin_th, cos_th)
    if cos_th > 0.85:
        torque = -(12.0 * theta + 2.5 * th_dot)
    else:
        energy = th_dot**2 / 6.0 + 5.0 * cos_th  # 5 = energy at rest upright, up to a constant
        torque = (2.0 if energy < 5.0 else -0.5) * (np.sign(th_dot) or 1.0)
    return np.clip(np.array([torque], dtype=np.float32), -2.0, 2.0)


def rollout_episode(
    env: gym.Env, policy: Callable[[Any], np.ndarray], seed: int, episode_id: int
) -> EpisodeBuffer:
    """One episode of ``policy`` in ``env`` (reset with ``seed``) as a Minari EpisodeBuffer; dict observations are
    stacked per key."""
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards, terms, truncs = [obs], [], [], [], []
    done = False
    while not done:
        action = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(float(reward))
        terms.append(bool(terminated))
        truncs.append(bool(truncated))
        done = terminated or truncated
    if isinstance(observations[0], dict):
        stacked: Any = {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    else:
        stacked = np.asarray(observations, dtype=np.float32)
    return EpisodeBuffer(
        id=episode_id,
        seed=seed,
        observations=stacked,
        actions=np.asarray(actions, dtype=np.float32),
        rewards=rewards,
        terminations=terms,
        truncations=truncs,
    )


def build_pendulum_dataset(
    n_episodes: int = 100,
    seed: int = 0,
    noise_std: float = 1.0,
    random_prob: float = 0.3,
    n_reference_episodes: int = 20,
    dataset_id: str = PENDULUM_ID,
    force: bool = False,
) -> MinariDataset:
    """Build (or reuse, when built with the same parameters) the toy Pendulum dataset in the local Minari store."""
    if n_episodes < 2:
        raise ValueError(f"n_episodes must be >= 2, got {n_episodes}")
    recipe: dict[str, Any] = {
        "recipe": "pendulum-mixed",
        "version": 1,
        "env_id": "Pendulum-v1",
        "n_episodes": n_episodes,
        "seed": seed,
        "noise_std": noise_std,
        "random_prob": random_prob,
        "n_reference_episodes": n_reference_episodes,
    }
    if not force and (found := existing_dataset(dataset_id, recipe)) is not None:
        return found
    env = gym.make("Pendulum-v1")
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)

    def noisy_controller(obs: np.ndarray) -> np.ndarray:
        if rng.random() < random_prob:
            return env.action_space.sample()
        return np.clip(swing_up_controller(obs) + rng.normal(0.0, noise_std, 1), -2.0, 2.0).astype(np.float32)

    def random_policy(obs: np.ndarray) -> np.ndarray:
        return env.action_space.sample()

    episodes = [
        rollout_episode(env, noisy_controller if i % 2 == 0 else random_policy, seed * 100_003 + i, i)
        for i in range(n_episodes)
    ]
    ref_seeds = range(10**6, 10**6 + n_reference_episodes)
    ref_min = float(np.mean([sum(rollout_episode(env, random_policy, s, 0).rewards) for s in ref_seeds]))
    ref_max = float(np.mean([sum(rollout_episode(env, swing_up_controller, s, 0).rewards) for s in ref_seeds]))
    env.close()
    return write_dataset(
        dataset_id,
        episodes,
        recipe,
        env="Pendulum-v1",
        eval_env="Pendulum-v1",
        algorithm_name="swing-up controller with Gaussian and uniform noise / uniform random (iqlzoo toy recipe)",
        author="iqlzoo",
        author_email="see the iqlzoo README",
        code_permalink="https://github.com/iqlzoo/iqlzoo/blob/main/iqlzoo/recipes/toy.py",
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        description=(
            f"iqlzoo toy dataset (recipe hash {recipe_hash(recipe)[:12]}): Pendulum-v1, {n_episodes} episodes, half "
            f"from a noisy swing-up controller (noise std {noise_std}, random action prob {random_prob}), half "
            "uniformly random. Built locally; not an official Minari dataset."
        ),
    )
