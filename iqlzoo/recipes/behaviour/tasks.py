"""The behaviour-policy training tasks known to the ``train`` CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

ActFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TaskSpec:
    """How to build, train and evaluate one behaviour policy.

    Attributes:
        name: CLI name of the task (``halfcheetah``, ``ant-goal``).
        env_id: Gymnasium id of the simulated robot, recorded on weight cards.
        make_env: Builds one training/evaluation environment.
        sac_kwargs: Keyword arguments for ``stable_baselines3.SAC`` besides policy, env, seed and device.
        evaluate: ``evaluate(act_fn, episodes, seed) -> metrics``; ``act_fn`` maps a batch-free observation to an
            action. The metrics dictionary holds JSON-serialisable numbers.
        score_key: The metric used to compare snapshots (larger is better).
        levels: Shipped policy name -> ``(target, low, high)`` band of ``score_key`` to promote, or ``None`` to
            promote the best snapshot.
        card_fields: Extra fields written on every weights card of this task (observation layout etc.).
        n_envs: Environments stepped together (SB3 ``DummyVecEnv``); SAC's ``train_freq=1`` then means one gradient
            step per ``n_envs`` environment steps, trading sample efficiency for wall-clock speed.
        version: Bumped whenever the environment or reward changes, so that checkpoints of an older version are
            never resumed under the new one.
    """

    name: str
    env_id: str
    make_env: Callable[[], gym.Env]
    sac_kwargs: dict[str, Any]
    evaluate: Callable[[ActFn, int, int], dict[str, float]]
    score_key: str
    levels: dict[str, tuple[float, float, float] | None]
    card_fields: dict[str, Any] = field(default_factory=dict)
    n_envs: int = 1
    version: int = 1


def get_task(name: str) -> TaskSpec:
    """Return the task called ``name``; raises ``KeyError`` listing the known tasks otherwise."""
    from iqlzoo.recipes.behaviour import ant_goal, halfcheetah

    tasks = {spec.name: spec for spec in (halfcheetah.TASK, ant_goal.TASK)}
    if name not in tasks:
        raise KeyError(f"unknown behaviour task {name!r}; known: {sorted(tasks)}")
    return tasks[name]
