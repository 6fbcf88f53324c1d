"""Observation flattening and JSON descriptions of Gymnasium spaces.

Goal-conditioned Minari datasets (AntMaze) store dict observations: ``observation`` (the ant's 27-d state *without*
its x, y position), ``achieved_goal`` (the x, y position) and ``desired_goal``. D4RL's 29-d AntMaze state is the
ant's position plus that 27-d state; iqlzoo trains on [achieved_goal, observation, desired_goal] (2 + 27 + 2 = 31
dimensions): the D4RL state plus the goal, which the policy needs as soon as goals vary within a dataset (the
"diverse"/"play" data and iqlzoo's regenerated datasets). Without ``achieved_goal`` a policy could not know where
in the maze it is. A dataset labelled for one goal (``iqlzoo/antmaze/*-evalgoal-v0``, D4RL's task) has no
``desired_goal``; its keys are flattened in sorted order, [achieved_goal, observation]: D4RL's state, and an
evaluation environment's extra ``desired_goal`` is left out. The same flattening is applied to the dataset, to
``predict`` inputs and to evaluation environments, so the three can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from iqlzoo.errors import InvalidInputError

GOAL_KEYS = ("achieved_goal", "observation", "desired_goal")


def default_obs_keys(space: spaces.Space) -> tuple[str, ...] | None:
    """Keys to flatten for a Dict space: GOAL_KEYS for goal spaces, else all keys, sorted."""
    if isinstance(space, spaces.Box):
        return None
    if isinstance(space, spaces.Dict):
        if all(k in space.spaces for k in GOAL_KEYS):
            return GOAL_KEYS
        return tuple(sorted(space.spaces))
    raise InvalidInputError(
        f"iqlzoo supports Box and Dict(Box) observation spaces, got {type(space).__name__}; "
        "wrap the environment with gymnasium.wrappers.FlattenObservation first."
    )


class ObservationFlattener:
    """Maps observations of ``space`` (single or batched, Box or Dict of Box) to float32 arrays (B, obs_dim)."""

    def __init__(self, space: spaces.Space, keys: Sequence[str] | None = None) -> None:
        self.space = space
        self.keys = tuple(keys) if keys is not None else default_obs_keys(space)
        if self.keys is None:
            self.shapes: dict[str | None, tuple[int, ...]] = {None: tuple(space.shape)}
        else:
            missing = [k for k in self.keys if k not in space.spaces]
            if missing:
                raise InvalidInputError(f"observation keys {missing} are not in the observation space {space}")
            self.shapes = {k: tuple(space.spaces[k].shape) for k in self.keys}
        self.dim = int(sum(int(np.prod(s)) for s in self.shapes.values()))

    def flatten(self, observation: Any) -> tuple[np.ndarray, bool]:
        """Return (array of shape (B, dim), whether the input was a batch), validating shapes and dtypes."""
        if self.keys is None:
            if isinstance(observation, Mapping):
                raise InvalidInputError(f"expected an array observation of shape {self.shapes[None]}, got a dict")
            arr, batched = self._part(observation, None)
            return arr, batched
        if not isinstance(observation, Mapping):
            raise InvalidInputError(
                f"expected a dict observation with keys {list(self.keys)}, got {type(observation).__name__}"
            )
        missing = [k for k in self.keys if k not in observation]
        if missing:
            raise InvalidInputError(f"observation dict lacks keys {missing}; it must hold {list(self.keys)}")
        parts = [self._part(observation[k], k) for k in self.keys]
        batch_flags = {b for _, b in parts}
        sizes = {p.shape[0] for p, _ in parts}
        if len(batch_flags) > 1 or len(sizes) > 1:
            raise InvalidInputError("the entries of a dict observation disagree on being batched or on batch size")
        return np.concatenate([p for p, _ in parts], axis=1), parts[0][1]

    def _part(self, value: Any, key: str | None) -> tuple[np.ndarray, bool]:
        name = "observation" if key is None else f"observation[{key!r}]"
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:  # e.g. a ragged list
            raise InvalidInputError(f"{name} is not an array of numbers ({exc}); pass an array of shape "
                                    f"{self.shapes[key]} or a batch of them") from None
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise InvalidInputError(f"{name} has dtype {arr.dtype}; expected real numbers (float or int)")
        shape = self.shapes[key]
        if arr.shape == shape:
            return arr.reshape(1, -1).astype(np.float32), False
        if arr.shape[1:] == shape and arr.ndim == len(shape) + 1:
            if arr.shape[0] == 0:
                raise InvalidInputError(f"{name} is an empty batch (shape {arr.shape}); pass at least one observation")
            return arr.reshape(arr.shape[0], -1).astype(np.float32), True
        raise InvalidInputError(
            f"Unexpected {name} shape {arr.shape}: use {shape} for one observation or "
            f"(n_env, {', '.join(map(str, shape))}) for a batch."
        )


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON-safe description of a Box or Dict(Box) space (shape, bounds, dtype)."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "low": np.asarray(space.low, dtype=np.float64).tolist(),
            "high": np.asarray(space.high, dtype=np.float64).tolist(),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    raise InvalidInputError(f"cannot describe a {type(space).__name__} space; iqlzoo supports Box and Dict(Box)")


def space_from_json(desc: Mapping[str, Any]) -> spaces.Space:
    """Inverse of :func:`space_to_json`."""
    kind = desc.get("type")
    if kind == "Box":
        return spaces.Box(
            low=np.asarray(desc["low"], dtype=desc["dtype"]),
            high=np.asarray(desc["high"], dtype=desc["dtype"]),
            shape=tuple(desc["shape"]),
            dtype=np.dtype(desc["dtype"]),
        )
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(v) for k, v in desc["spaces"].items()})
    raise InvalidInputError(f"unknown space description type {kind!r}")
