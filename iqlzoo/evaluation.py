"""Policy evaluation on a dataset's evaluation environment, with vectorised rollouts.

Reports the mean and standard deviation of undiscounted episode returns, the D4RL normalised score
100·(R − R_random)/(R_expert − R_random) when the dataset has reference scores, and for goal-reaching tasks the
success rate: the share of episodes in which the environment reported ``info["success"]`` at least once (in
continuing mazes the return counts steps spent at the goal, so return ≠ success).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from minari import MinariDataset

from iqlzoo.data.minari import from_minari
from iqlzoo.data.transitions import TransitionDataset


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


def _env_source(
    model: Any, source: Any
) -> tuple[Callable[[], gym.Env], Callable[[np.ndarray], np.ndarray] | None, str | None]:
    """(environment factory, returns → normalised scores or None, env id) for any accepted source."""
    if source is None:
        source = getattr(model, "dataset", None)
        if source is None:
            raise ValueError("evaluate() needs a dataset or an environment: the model carries no dataset")
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
    from its spec) or None for the model's own dataset. Episodes run ``n_envs`` at a time (default
    min(n_episodes, 10)) in a ``SyncVectorEnv`` (faster than subprocesses on few cores); episode i is reset with
    seed ``seed + i``, so results are reproducible.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    make_env, normalize, env_id = _env_source(model, dataset_or_env)
    n_envs = min(n_episodes, n_envs or 10)
    venv = gym.vector.SyncVectorEnv([make_env for _ in range(n_envs)])
    returns, lengths, successes = [], [], []
    saw_success = False
    try:
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
