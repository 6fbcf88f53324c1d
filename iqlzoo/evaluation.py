"""Policy evaluation on a dataset's evaluation environment, with vectorised rollouts.

Reports the mean and standard deviation of undiscounted episode returns, the D4RL normalised score
100·(R − R_random)/(R_expert − R_random) when the dataset has reference scores, and for goal-reaching tasks the
success rate: the share of episodes in which the environment reported ``info["success"]`` at least once (in
continuing mazes the return counts steps spent at the goal, so return ≠ success).

Rollouts call the policy on :data:`EVAL_THREADS` torch thread(s) whatever the process has set: how a matmul is split
between threads changes its last bits, and the dynamics (HalfCheetah's, AntMaze's contacts) grow a last-bit
difference in an action into a different episode, so a published card's returns are reproducible only at a fixed
thread count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import minari
import numpy as np
from gymnasium.envs.registration import EnvSpec
from minari import MinariDataset

from iqlzoo.data.minari import from_minari, is_local, load_dataset
from iqlzoo.data.spaces import ObservationFlattener
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.machine import torch_threads

EnvSource = tuple[Callable[[], gym.Env], Callable[[np.ndarray], np.ndarray] | None, str | None]

#: torch CPU threads that :func:`evaluate` runs the policy on (one: a rollout's batch is at most a few hundred rows,
#: too small for more threads to help, and the same count everywhere makes the returns reproducible).
EVAL_THREADS = 1


@dataclass
class EvaluationResult:
    """Per-episode returns, lengths and successes, with their summaries."""

    returns: np.ndarray
    lengths: np.ndarray
    successes: np.ndarray | None
    normalized_scores: np.ndarray | None
    env_id: str | None

    @property
    def n_episodes(self) -> int:
        return len(self.returns)

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def std_return(self) -> float:
        return float(self.returns.std())

    @property
    def normalized_score(self) -> float | None:
        """Mean normalised score (D4RL ×100 scale), or None without reference scores."""
        return None if self.normalized_scores is None else float(self.normalized_scores.mean())

    @property
    def success_rate(self) -> float | None:
        """Share of successful episodes in [0, 1], or None for tasks without a success signal."""
        return None if self.successes is None else float(self.successes.mean())

    def as_metrics(self) -> dict[str, Any]:
        """A JSON-safe summary (the form model cards and result records take)."""
        out: dict[str, Any] = {
            "mean_reward": self.mean_return,
            "std_reward": self.std_return,
            "n_episodes": self.n_episodes,
        }
        if self.normalized_scores is not None:
            out["normalized_score"] = self.normalized_score
        if self.successes is not None:
            out["success_rate"] = self.success_rate
        return out


def _normalized(dataset: MinariDataset, returns: np.ndarray) -> np.ndarray:
    """D4RL normalised score on the ×100 scale, as Minari computes it: 100 · (R − R_min) / (R_max − R_min)."""
    return 100.0 * np.asarray(minari.get_normalized_score(dataset, returns))


def _recorded_dataset_source(dataset_id: str) -> EnvSource:
    """The evaluation environment and reference scores of a dataset in the local store, read from Minari directly
    (``recover_environment(eval_env=True)``, ``get_normalized_score``; no transitions are loaded)."""
    dataset = load_dataset(dataset_id, download=False)
    meta = dataset.storage.metadata
    has_scores = meta.get("ref_min_score") is not None and meta.get("ref_max_score") is not None
    normalize = functools.partial(_normalized, dataset) if has_scores else None
    spec = EnvSpec.from_json(meta["eval_env_spec"]) if meta.get("eval_env_spec") else dataset.env_spec
    return (lambda: dataset.recover_environment(eval_env=True)), normalize, getattr(spec, "id", None)


def _recorded_env_source(model: Any, env_id: str, dataset_id: str | None) -> EnvSource:
    """``gym.make(env_id)``, checked against the model's spaces (the dataset that recorded its options is absent)."""
    if env_id not in gym.registry:  # gymnasium-robotics' environments (AntMaze) are registered on import
        import gymnasium_robotics

        gym.register_envs(gymnasium_robotics)
    env = gym.make(env_id)
    try:
        fits = ObservationFlattener(env.observation_space, model.flattener.keys).dim == model.flattener.dim
    except (ValueError, TypeError):
        fits = False
    finally:
        env.close()
    if not fits:
        raise ValueError(
            f"evaluate() cannot rebuild this model's evaluation environment: its dataset {dataset_id!r} is not in the "
            f"local store, and gym.make({env_id!r}) (without the dataset's recorded environment options) gives "
            f"observations that do not fit the model ({env.observation_space}). Make the dataset available locally, "
            "or pass the dataset or an environment: evaluate(model, dataset_or_env)"
        )
    return (lambda: gym.make(env_id)), None, env_id


def _env_source(model: Any, source: Any) -> EnvSource:
    """(environment factory, returns → normalised scores or None, env id) for any accepted source.

    Without a source: the model's dataset; else, for a model loaded from a checkpoint, the dataset and environment
    its ``config.json`` records (``model.transform.dataset_id`` / ``env_id``): the dataset's evaluation environment
    and reference scores when it is in the local store, else ``gym.make(env_id)`` without a normalised score.
    """
    if source is None:
        source = getattr(model, "dataset", None)
    if source is None:
        transform = getattr(model, "transform", None)
        dataset_id, env_id = getattr(transform, "dataset_id", None), getattr(transform, "env_id", None)
        if dataset_id is not None and is_local(dataset_id):
            return _recorded_dataset_source(dataset_id)
        if env_id is not None:
            return _recorded_env_source(model, env_id, dataset_id)
        raise ValueError(
            "evaluate() needs a dataset or an environment: the model carries no dataset and records no environment"
        )
    if isinstance(source, (str, MinariDataset)):
        source = from_minari(source)
    if isinstance(source, TransitionDataset):
        spec = source.eval_env_spec or source.env_spec
        normalize = source.normalized_score if source.has_reference_scores else None
        return (lambda: source.make_env(eval_env=True)), normalize, getattr(spec, "id", None)
    if isinstance(source, gym.Env):
        spec = source.spec
        if spec is None:
            raise ValueError("evaluate() got an environment without a spec; pass a registered env or a dataset")
        return (lambda: gym.make(spec)), None, spec.id
    if isinstance(source, gym.envs.registration.EnvSpec):
        return (lambda: gym.make(source)), None, source.id
    raise TypeError(f"evaluate() cannot evaluate on a {type(source).__name__}; pass a dataset, id or gymnasium.Env")


def evaluate(
    model: Any,
    dataset_or_env: Any = None,
    n_episodes: int = 10,
    seed: int = 0,
    n_envs: int | None = None,
    deterministic: bool = True,
) -> EvaluationResult:
    """Roll out ``model.predict`` for ``n_episodes`` episodes on the evaluation environment.

    ``dataset_or_env`` is a Minari id, ``MinariDataset``, :class:`TransitionDataset`, ``gymnasium.Env`` (rebuilt
    from its spec) or None for the model's own dataset; a model loaded without one is evaluated on the dataset or
    environment its checkpoint records (see :func:`_env_source`). Episodes run ``n_envs`` at a time (default
    min(n_episodes, 10)) in a ``SyncVectorEnv`` (faster than subprocesses on few cores); episode i is reset with
    seed ``seed + i``, and the policy runs on :data:`EVAL_THREADS` torch thread(s), so on one kind of CPU the
    returns are reproducible to the bit.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    make_env, normalize, env_id = _env_source(model, dataset_or_env)
    n_envs = min(n_episodes, n_envs or 10)
    venv = gym.vector.SyncVectorEnv([make_env for _ in range(n_envs)])
    returns, lengths, successes = [], [], []
    saw_success = False
    try:
        with torch_threads(EVAL_THREADS):
            for first in range(0, n_episodes, n_envs):
                count = min(n_envs, n_episodes - first)
                obs, _ = venv.reset(seed=[seed + first + i for i in range(n_envs)])
                ret, length = np.zeros(n_envs), np.zeros(n_envs, dtype=np.int64)
                success = np.zeros(n_envs, dtype=bool)
                active = np.ones(n_envs, dtype=bool)
                active[count:] = False
                while active.any():
                    action, _ = model.predict(obs, deterministic=deterministic)
                    obs, reward, terminated, truncated, info = venv.step(action)
                    ret += np.where(active, reward, 0.0)
                    length += active
                    if "success" in info:
                        saw_success = True
                        mask = info.get("_success", np.ones(n_envs, dtype=bool))
                        success |= active & mask & np.asarray(info["success"], dtype=bool)
                    active &= ~(terminated | truncated)
                returns.extend(ret[:count])
                lengths.extend(length[:count])
                successes.extend(success[:count])
    finally:
        venv.close()
    returns_arr = np.asarray(returns, dtype=np.float64)
    return EvaluationResult(
        returns=returns_arr,
        lengths=np.asarray(lengths),
        successes=np.asarray(successes) if saw_success else None,
        normalized_scores=None if normalize is None else np.asarray(normalize(returns_arr), dtype=np.float64),
        env_id=env_id,
    )
