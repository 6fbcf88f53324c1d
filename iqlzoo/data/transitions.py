"""In-memory transition datasets: the form every data source is turned into before training."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import minari
import numpy as np
from gymnasium import spaces

from iqlzoo.data.spaces import ObservationFlattener, default_obs_keys
from iqlzoo.errors import InvalidInputError

_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminations")


def _length(value: Any, name: str, dataset_id: str | None) -> int:
    """The number of entries of the dataset field ``name`` (0 for a scalar)."""
    try:
        return len(value) if np.ndim(value) > 0 else 0
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"dataset {dataset_id or '(in memory)'}: field {name!r} is not an array of numbers "
                                f"({exc}); pass float arrays") from None


@dataclass
class TransitionDataset:
    """Transitions (s, a, r, s', d) as flat float32 arrays, with what is needed to evaluate on their environment.

    ``terminations`` marks true terminal states (d = 1 stops bootstrapping); time-limit truncations are *not*
    terminations. Observations are already flattened (see :class:`ObservationFlattener`); ``observation_space``
    is the environment's original space and ``obs_keys`` the dict keys that were concatenated, in order.
    ``episode_returns`` holds the undiscounted return of every episode (used by IQL's locomotion reward scaling).
    ``env_spec``/``eval_env_spec`` describe the environments of in-memory data; data read from Minari keeps its
    ``MinariDataset`` in ``metadata["minari_dataset"]`` and recreates the environments through it (:meth:`make_env`).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    observation_space: spaces.Space
    action_space: spaces.Box
    obs_keys: tuple[str, ...] | None = None
    episode_returns: np.ndarray | None = None
    episode_starts: np.ndarray | None = None
    dataset_id: str | None = None
    env_spec: Any = None
    eval_env_spec: Any = None
    ref_min_score: float | None = None
    ref_max_score: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.action_space, spaces.Box):
            raise InvalidInputError(f"IQL needs a continuous (Box) action space, got {self.action_space}")
        if self.obs_keys is None:
            self.obs_keys = default_obs_keys(self.observation_space)
        flattener = ObservationFlattener(self.observation_space, self.obs_keys)
        lengths = {name: _length(getattr(self, name), name, self.dataset_id) for name in _FIELDS}
        if not any(lengths.values()):
            raise InvalidInputError(f"dataset {self.dataset_id or '(in memory)'} holds no transitions")
        n = Counter(lengths.values()).most_common(1)[0][0]
        odd = {name: length for name, length in lengths.items() if length != n}
        if odd:
            described = ", ".join(f"{name} has {length}" for name, length in odd.items())
            raise InvalidInputError(f"dataset {self.dataset_id or '(in memory)'}: every field needs one entry per "
                                    f"transition ({n} for most fields), but {described}")
        expected = {
            "observations": (n, flattener.dim),
            "actions": (n, int(np.prod(self.action_space.shape))),
            "rewards": (n,),
            "next_observations": (n, flattener.dim),
            "terminations": (n,),
        }
        for name in _FIELDS:
            try:
                arr = np.asarray(getattr(self, name), dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"dataset {self.dataset_id or '(in memory)'}: field {name!r} is not an array "
                                        f"of numbers ({exc}); pass float arrays") from None
            if arr.shape != expected[name]:
                raise InvalidInputError(f"dataset field {name!r} has shape {arr.shape}, expected {expected[name]}")
            rows = ~np.isfinite(arr).reshape(n, -1).all(axis=1)
            if rows.any():
                index = int(np.argmax(rows))
                raise InvalidInputError(
                    f"dataset {self.dataset_id or '(in memory)'}: field {name!r} holds NaN or inf at "
                    f"{self.locate(index)} ({int(rows.sum())} transitions affected); clean or drop those "
                    "transitions before training"
                )
            if name == "terminations" and not np.isin(arr, (0.0, 1.0)).all():
                index = int(np.argmax(~np.isin(arr, (0.0, 1.0))))
                raise InvalidInputError(f"dataset {self.dataset_id or '(in memory)'}: terminations must be 0 or 1 "
                                        f"(true terminal states), got {float(arr[index]):g} at {self.locate(index)}")
            setattr(self, name, arr)
        if n == 0:
            raise InvalidInputError(f"dataset {self.dataset_id or '(in memory)'} holds no transitions")
        self._check_actions_in_bounds()
        if self.episode_returns is not None:
            self.episode_returns = np.asarray(self.episode_returns, dtype=np.float64)

    def _check_actions_in_bounds(self) -> None:
        low, high = self.action_space.low.reshape(-1), self.action_space.high.reshape(-1)
        tol = 1e-3 * np.maximum(high - low, 1e-6)
        outside = (self.actions < low - tol) | (self.actions > high + tol)
        if outside.any():
            index = int(np.argwhere(outside)[0][0])
            raise InvalidInputError(
                f"dataset {self.dataset_id or '(in memory)'}: the action at {self.locate(index)} = "
                f"{self.actions[index].tolist()} lies "
                f"outside the action space [{low.tolist()}, {high.tolist()}]; the dataset and the action space disagree"
            )
        np.clip(self.actions, low, high, out=self.actions)

    def locate(self, index: int) -> str:
        """Human-readable position of transition ``index``: its episode and step when episodes are known."""
        if self.episode_starts is None or len(self.episode_starts) == 0:
            return f"transition {index}"
        episode = int(np.searchsorted(self.episode_starts, index, side="right")) - 1
        return f"transition {index} (episode {episode}, step {index - int(self.episode_starts[episode])})"

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def has_reference_scores(self) -> bool:
        return self.ref_min_score is not None and self.ref_max_score is not None

    @property
    def minari_dataset(self) -> minari.MinariDataset | None:
        """The Minari dataset these transitions were read from (see :func:`iqlzoo.data.from_minari`), if any."""
        return self.metadata.get("minari_dataset")

    def normalized_score(self, returns: np.ndarray | float) -> np.ndarray:
        """D4RL normalised score on the ×100 scale: 100 · (R − R_min) / (R_max − R_min).

        For data from Minari this is ``100 * minari.get_normalized_score(dataset, returns)`` (Minari reports the
        0–1 scale); for in-memory data the same formula with ``ref_min_score`` and ``ref_max_score``.
        """
        if not self.has_reference_scores:
            raise InvalidInputError(f"dataset {self.dataset_id or '(in memory)'} has no reference scores to normalise "
                                    "with")
        returns = np.asarray(returns, dtype=np.float64)
        if self.minari_dataset is not None:
            return 100.0 * np.asarray(minari.get_normalized_score(self.minari_dataset, returns))
        return 100.0 * (returns - self.ref_min_score) / (self.ref_max_score - self.ref_min_score)

    def make_env(self, eval_env: bool = True, **kwargs: Any) -> gym.Env:
        """The dataset's evaluation environment (``eval_env=False``: the data-collection one); ``kwargs`` go to
        ``gym.make``.

        For data from Minari this is ``recover_environment(eval_env=...)``, which falls back to the data-collection
        environment when the dataset names no evaluation environment; for in-memory data, the recorded specs.
        """
        name = self.dataset_id or "(in memory)"
        source = self.minari_dataset
        if source is not None:
            try:
                return source.recover_environment(eval_env=eval_env, **kwargs)
            except Exception as exc:  # gym.make raises anything from ValueError to DependencyNotInstalled
                reason = "it records no environment" if source.env_spec is None else f"{type(exc).__name__}: {exc}"
                raise InvalidInputError(
                    f"dataset {name}: Minari cannot recreate its {'evaluation ' if eval_env else ''}environment "
                    f"({reason}); pass env= explicitly"
                ) from exc
        spec = self.eval_env_spec if eval_env and self.eval_env_spec is not None else self.env_spec
        if spec is None:
            raise InvalidInputError(f"dataset {name} records no environment; pass env= explicitly")
        return gym.make(spec, **kwargs)
