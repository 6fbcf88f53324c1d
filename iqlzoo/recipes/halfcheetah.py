"""Local regenerations of Minari's ``mujoco/halfcheetah/*-v0``: ``iqlzoo/halfcheetah/{level}-v0``.

Minari's originals (minari-dataset-generation-scripts, ``scripts/mujoco``) roll out a Stable-Baselines3 policy on
``HalfCheetah-v5`` with ``policy.predict(obs)``, i.e. *stochastic* actions, for 1M steps per level: 1000-step
episodes (truncation only; HalfCheetah never terminates), the k-th episode reset with seed ``123 + k``, trailing
partial episodes dropped. ``medium-expert`` concatenates ``medium`` and ``expert``. Reference scores: ``ref_min_score``
is the mean return of uniformly random actions and ``ref_max_score`` that of the expert policy, over 100 episodes.

The recipes here do the same with iqlzoo's own behaviour policies (``iqlzoo/recipes/weights/halfcheetah-*``,
trained with SAC by :mod:`iqlzoo.recipes.behaviour.train`; Minari used TQC): ``random`` (uniform actions),
``simple``, ``medium`` and ``expert`` (the shipped policies, stochastic), and ``medium-expert``. Reference scores are
measured on seeds disjoint from the data (from 1,000,000 on), cached per Minari store and recorded in the metadata
with their episode count. Episodes run in lock-step over ``n_envs`` environments with one batched policy call per
step, which is several times faster than one environment at a time.

There is no ``medium-replay``: Minari's HalfCheetah has ``simple-replay`` instead, and our training keeps no
replay buffer of the medium policy's training to export.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from minari import MinariDataset
from minari.data_collector.episode_buffer import EpisodeBuffer

from iqlzoo.recipes.behaviour.policy import WEIGHTS_DIR, BehaviourPolicy
from iqlzoo.recipes.common import (
    AUTHOR,
    AUTHOR_EMAIL,
    cached_reference_score,
    code_permalink,
    policy_fingerprint,
    progress_bar,
    require_policy,
)
from iqlzoo.recipes.writer import existing_dataset, read_recipe, recipe_hash, write_dataset

ENV_ID = "HalfCheetah-v5"
EPISODE_STEPS = 1000
DEFAULT_STEPS = 1_000_000
SEED = 123
REFERENCE_SEED = 1_000_000
REFERENCE_EPISODES = 100
N_ENVS = 10
LEVELS = ("random", "simple", "medium", "expert")
MIXTURES = {"medium-expert": ("medium", "expert")}
DATASET_IDS = {level: f"iqlzoo/halfcheetah/{level}-v0" for level in (*LEVELS, *MIXTURES)}

Actor = Callable[[np.ndarray], np.ndarray]  # batch of observations -> batch of actions


def _random_actor(action_space: gym.spaces.Box, seed: int) -> Actor:
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        return rng.uniform(action_space.low, action_space.high, size=(len(obs), *action_space.shape))

    return act


def _policy_actor(policy: BehaviourPolicy, seed: int) -> Actor:
    generator = torch.Generator().manual_seed(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        return policy(obs, deterministic=False, generator=generator)

    return act


def rollout(
    act: Actor, n_episodes: int, seed: int, n_envs: int = N_ENVS, on_step: Callable[[int], Any] | None = None
) -> list[EpisodeBuffer]:
    """Full HalfCheetah-v5 episodes of ``act``; episode ``k`` is reset with seed ``seed + k``.

    ``n_envs`` environments step in lock-step and ``act`` gets their observations as one batch.
    ``on_step(n)`` is called after every lock-step with the number of environment steps taken.
    """
    envs = [gym.make(ENV_ID) for _ in range(min(n_envs, n_episodes))]
    episodes: list[EpisodeBuffer] = []
    try:
        for first in range(0, n_episodes, len(envs)):
            batch = envs[: min(len(envs), n_episodes - first)]
            obs = np.stack([env.reset(seed=seed + first + k)[0] for k, env in enumerate(batch)])
            observations, actions, rewards, terms, truncs = [obs], [], [], [], []
            done = np.zeros(len(batch), dtype=bool)
            while not done.all():
                action = np.asarray(act(obs), dtype=np.float32)
                results = [env.step(a) for env, a in zip(batch, action, strict=True)]
                obs = np.stack([r[0] for r in results])
                observations.append(obs)
                actions.append(action)
                rewards.append([float(r[1]) for r in results])
                terms.append([bool(r[2]) for r in results])
                truncs.append([bool(r[3]) for r in results])
                done = np.array([r[2] or r[3] for r in results])
                if on_step is not None:
                    on_step(len(batch))
            if len(rewards) != EPISODE_STEPS or np.any(terms):
                raise RuntimeError(f"{ENV_ID} episodes should last exactly {EPISODE_STEPS} steps without termination")
            for k in range(len(batch)):
                episodes.append(
                    EpisodeBuffer(
                        id=first + k,
                        seed=seed + first + k,
                        observations=np.stack([o[k] for o in observations]),
                        actions=np.stack([a[k] for a in actions]),
                        rewards=[r[k] for r in rewards],
                        terminations=[t[k] for t in terms],
                        truncations=[t[k] for t in truncs],
                    )
                )
    finally:
        for env in envs:
            env.close()
    return episodes


def _mean_return(act: Actor, episodes: int, n_envs: int) -> float:
    return float(np.mean([sum(e.rewards) for e in rollout(act, episodes, REFERENCE_SEED, n_envs)]))


def reference_scores(
    expert: BehaviourPolicy, expert_name: str, episodes: int, n_envs: int = N_ENVS
) -> tuple[float, float]:
    """``(random return, expert return)`` averaged over ``episodes`` episodes (cached per Minari store)."""
    space = gym.make(ENV_ID).action_space
    assert isinstance(space, gym.spaces.Box)
    base = {"env_id": ENV_ID, "episodes": episodes, "seed": REFERENCE_SEED, "n_envs": n_envs}
    low = cached_reference_score(
        {**base, "policy": "uniform random"},
        lambda: _mean_return(_random_actor(space, REFERENCE_SEED), episodes, n_envs),
    )
    high = cached_reference_score(
        {**base, "policy": policy_fingerprint(expert, expert_name), "actions": "stochastic"},
        lambda: _mean_return(_policy_actor(expert, REFERENCE_SEED), episodes, n_envs),
    )
    return low, high


def build_halfcheetah_dataset(
    level: str,
    steps: int = DEFAULT_STEPS,
    *,
    weights_dir: Path = WEIGHTS_DIR,
    reference_episodes: int | None = None,
    seed: int = SEED,
    n_envs: int = N_ENVS,
    force: bool = False,
    progress: bool = False,
) -> MinariDataset:
    """Build (or reuse, when built from the same recipe) ``iqlzoo/halfcheetah/{level}-v0``.

    Args:
        level: ``random``, ``simple``, ``medium``, ``expert`` or ``medium-expert``.
        steps: Environment steps per level, rounded down to whole 1000-step episodes (``medium-expert`` holds
            ``2 * steps``).
        weights_dir: Folder holding the behaviour policies ``halfcheetah-{simple,medium,expert}.safetensors`` (+
            ``.json`` cards); default the shipped weights. The expert's mean return is ``ref_max_score``.
        reference_episodes: Episodes per reference score; default 100, or 10 when ``steps < 100_000``.
        seed: Seed of the first episode's reset (episode k: ``seed + k``) and of the action noise.
        n_envs: Environments stepped in lock-step (part of the recipe: it orders the action-noise draws).
        force: Rebuild even when an identical build exists.
        progress: Show a progress bar on stderr.

    Raises:
        MissingBehaviourPolicyError: if a needed policy file is missing (the message gives the training command).
    """
    if level in MIXTURES:
        parts = [
            build_halfcheetah_dataset(
                part, steps, weights_dir=weights_dir, reference_episodes=reference_episodes,
                seed=seed, n_envs=n_envs, force=force, progress=progress,
            )
            for part in MIXTURES[level]
        ]
        return _concatenate(level, parts, force)
    if level not in LEVELS:
        raise ValueError(f"unknown HalfCheetah level {level!r}; expected one of {[*LEVELS, *MIXTURES]}")
    n_episodes = steps // EPISODE_STEPS
    if n_episodes < 1:
        raise ValueError(f"steps must be at least one {EPISODE_STEPS}-step episode, got {steps}")
    ref_episodes = reference_episodes or (REFERENCE_EPISODES if steps >= 100_000 else 10)
    dataset_id = DATASET_IDS[level]
    expert_policy = weights_dir / "halfcheetah-expert"
    expert = require_policy(expert_policy, "halfcheetah", f"{dataset_id} (ref_max_score)")
    policy = weights_dir / f"halfcheetah-{level}"
    behaviour = None if level == "random" else require_policy(policy, "halfcheetah", dataset_id)
    recipe: dict[str, Any] = {
        "recipe": "halfcheetah",
        "version": 1,
        "level": level,
        "env_id": ENV_ID,
        "steps": n_episodes * EPISODE_STEPS,
        "seed": seed,
        "n_envs": n_envs,
        "policy": None if behaviour is None else policy_fingerprint(behaviour, policy.name),
        "actions": "uniform random" if behaviour is None else "stochastic (squashed Gaussian sample)",
        "reference": {
            "episodes": ref_episodes,
            "seed": REFERENCE_SEED,
            "min": "uniform random actions",
            "max": policy_fingerprint(expert, expert_policy.name),
        },
    }
    if not force and (found := existing_dataset(dataset_id, recipe)) is not None:
        return found

    started = time.time()
    ref_min, ref_max = reference_scores(expert, expert_policy.name, ref_episodes, n_envs)
    env = gym.make(ENV_ID)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    act = _random_actor(space, seed) if behaviour is None else _policy_actor(behaviour, seed)
    rollout_started = time.time()
    with progress_bar(n_episodes * EPISODE_STEPS, dataset_id, progress) as bar:
        episodes = rollout(act, n_episodes, seed, n_envs, on_step=bar.update)
    rollout_seconds = time.time() - rollout_started
    returns = np.array([sum(e.rewards) for e in episodes])
    who = "uniformly random actions" if behaviour is None else f"the SAC policy {policy.name} (stochastic actions)"
    description = (
        f"iqlzoo regeneration of Minari's mujoco/halfcheetah/{level}-v0 (recipe hash {recipe_hash(recipe)[:12]}): "
        f"{n_episodes} episodes of {EPISODE_STEPS} steps of {ENV_ID} from {who}; episode k reset with seed "
        f"{seed}+k; mean return {returns.mean():.1f}. Reference scores over {ref_episodes} episodes: random "
        f"{ref_min:.1f}, expert {ref_max:.1f} (policy {expert_policy.name}). Built locally by "
        "`python -m iqlzoo.recipes build`; not an official Minari dataset."
    )
    dataset = write_dataset(
        dataset_id,
        episodes,
        recipe,
        build_info={
            "seconds": round(time.time() - started, 1),
            "steps_per_second": round(n_episodes * EPISODE_STEPS / max(rollout_seconds, 1e-9), 1),
            "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ref_min_score": ref_min,
            "ref_max_score": ref_max,
            "reference_episodes": ref_episodes,
        },
        env=env.spec,
        eval_env=env.spec,
        algorithm_name="uniform random" if behaviour is None else f"SAC (iqlzoo behaviour policy {policy.name})",
        author=AUTHOR,
        author_email=AUTHOR_EMAIL,
        code_permalink=code_permalink(__file__),
        ref_min_score=ref_min,
        ref_max_score=ref_max,
        num_episodes_average_score=ref_episodes,
        description=description,
    )
    env.close()
    return dataset


def _concatenate(level: str, parts: list[MinariDataset], force: bool) -> MinariDataset:
    """Write the episodes of ``parts`` one after the other as ``iqlzoo/halfcheetah/{level}-v0``."""
    dataset_id = DATASET_IDS[level]
    records = [read_recipe(p.spec.dataset_id) for p in parts]
    recipe = {
        "recipe": "halfcheetah",
        "version": 1,
        "level": level,
        "parts": {p.spec.dataset_id: r["hash"] if r else None for p, r in zip(parts, records, strict=True)},
    }
    if not force and (found := existing_dataset(dataset_id, recipe)) is not None:
        return found
    started = time.time()
    episodes: list[EpisodeBuffer] = []
    for part in parts:
        for episode in part.iterate_episodes():
            episodes.append(
                EpisodeBuffer(
                    id=len(episodes),
                    observations=episode.observations,
                    actions=episode.actions,
                    rewards=list(episode.rewards),
                    terminations=list(episode.terminations),
                    truncations=list(episode.truncations),
                )
            )
    meta = parts[-1].storage.metadata
    names = " + ".join(p.spec.dataset_id for p in parts)
    return write_dataset(
        dataset_id,
        episodes,
        recipe,
        build_info={"seconds": round(time.time() - started, 1), "parts": names},
        env=parts[0].env_spec,
        eval_env=parts[0].env_spec,
        algorithm_name=f"concatenation of {names}",
        author=AUTHOR,
        author_email=AUTHOR_EMAIL,
        code_permalink=code_permalink(__file__),
        ref_min_score=meta["ref_min_score"],
        ref_max_score=meta["ref_max_score"],
        num_episodes_average_score=meta.get("num_episodes_average_score", REFERENCE_EPISODES),
        description=(
            f"iqlzoo regeneration of Minari's mujoco/halfcheetah/{level}-v0 (recipe hash "
            f"{recipe_hash(recipe)[:12]}): the episodes of {names}, in this order. Reference scores as in the "
            "parts. Built locally; not an official Minari dataset."
        ),
    )
