"""A thin adapter over Minari: resolve a dataset id with clear errors (falling back to iqlzoo's regenerated
equivalent of an official dataset when allowed), and turn its episodes into transitions."""

from __future__ import annotations

import os
import warnings
from typing import Literal

import minari
import numpy as np
from minari import MinariDataset
from minari.storage.datasets_root_dir import get_dataset_path

from iqlzoo.data.equivalents import regenerated_equivalent
from iqlzoo.data.spaces import ObservationFlattener
from iqlzoo.data.transitions import TransitionDataset

DataSource = Literal["auto", "official", "regenerated"]


class DatasetNotFoundError(FileNotFoundError):
    """A Minari dataset id that is neither in the local store nor downloadable."""


def local_dataset_ids() -> list[str]:
    """Ids of the Minari datasets in the local store (``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``)."""
    return sorted(minari.list_local_datasets())


def _not_found_message(dataset_id: str, reason: str) -> str:
    local = local_dataset_ids()
    shown = ", ".join(local[:20]) + (" …" if len(local) > 20 else "") if local else "none"
    equivalent = regenerated_equivalent(dataset_id)
    build = (
        f"build its local regeneration {equivalent!r} with `python -m iqlzoo.recipes build {equivalent}` and load "
        f"that id (or pass data='auto' to resolve_dataset)"
        if equivalent is not None
        else "build a locally generated dataset with `python -m iqlzoo.recipes list` / "
        "`python -m iqlzoo.recipes build ID`"
    )
    return (
        f"Minari dataset {dataset_id!r} is not available: {reason}.\n"
        f"  Local store: {get_dataset_path()} (set MINARI_DATASETS_PATH to use another).\n"
        f"  Local datasets: {shown}.\n"
        f"  To get it: on a machine with internet run `minari download {dataset_id}` and copy the folder into the "
        f"local store; or {build}."
    )


def load_dataset(dataset_id: str, download: bool | None = None) -> MinariDataset:
    """Load a Minari dataset from the local store, downloading it when allowed.

    ``download=None`` (default) downloads unless ``HF_HUB_OFFLINE``/``MINARI_OFFLINE`` is set; ``False`` never
    downloads. Any failure becomes a :class:`DatasetNotFoundError` that names the id, the local datasets and the
    ways to obtain or generate one.
    """
    if not isinstance(dataset_id, str) or not dataset_id:
        raise TypeError(f"a Minari dataset id must be a non-empty string, got {dataset_id!r}")
    if (get_dataset_path(dataset_id) / "data").exists():
        return minari.load_dataset(dataset_id)
    if download is None:
        download = not any(os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "MINARI_OFFLINE"))
    if not download:
        raise DatasetNotFoundError(
            _not_found_message(dataset_id, "it is not in the local store and downloads are off")
        )
    try:
        return minari.load_dataset(dataset_id, download=True)
    except Exception as exc:  # minari raises anything from ValueError to httpx.ConnectError here
        raise DatasetNotFoundError(
            _not_found_message(dataset_id, f"not local, and the download failed ({type(exc).__name__}: {exc})")
        ) from None


def resolve_dataset(
    dataset_id: str, data: DataSource = "auto", download: bool | None = None
) -> tuple[MinariDataset, Literal["official", "regenerated"]]:
    """Load ``dataset_id`` or iqlzoo's local regeneration of it; returns ``(dataset, source)``.

    Args:
        dataset_id: An official Minari id (``D4RL/antmaze/umaze-v1``, ``mujoco/halfcheetah/medium-v0``) or an
            iqlzoo id.
        data: ``"official"``: only the dataset itself (local store, else download as in :func:`load_dataset`);
            ``"regenerated"``: only its regeneration (``iqlzoo/antmaze/umaze-v0``), from the local store;
            ``"auto"``: the official one if it can be had, else the regeneration, with a warning saying so.
        download: As in :func:`load_dataset`, for the official dataset.

    Raises:
        DatasetNotFoundError: when no allowed source has it; the message names the build command.
        ValueError: for an unknown ``data`` value, or ``"regenerated"`` for an id without a regeneration.
    """
    if data not in ("auto", "official", "regenerated"):
        raise ValueError(f"data must be 'auto', 'official' or 'regenerated', got {data!r}")
    equivalent = regenerated_equivalent(dataset_id)
    if data == "regenerated":
        if equivalent is None:
            raise ValueError(f"{dataset_id!r} has no iqlzoo regeneration; use data='official' (or 'auto')")
        return load_dataset(equivalent, download=False), "regenerated"
    try:
        return load_dataset(dataset_id, download=download), "official"
    except DatasetNotFoundError:
        if data == "official" or equivalent is None or not (get_dataset_path(equivalent) / "data").exists():
            raise
    warnings.warn(
        f"{dataset_id!r} is not available; using its local regeneration {equivalent!r} instead "
        "(built by iqlzoo, not the official data)",
        UserWarning,
        stacklevel=2,
    )
    return load_dataset(equivalent, download=False), "regenerated"


def from_minari(dataset: MinariDataset | str, download: bool | None = None) -> TransitionDataset:
    """Episodes → transitions (s_t, a_t, r_t, s_{t+1}, d_t) with d_t = termination.

    Truncations (time limits) do not stop bootstrapping, so they are not copied into d_t.

    Minari episodes store T+1 observations for T steps; dict observations are flattened to
    [achieved_goal, observation, desired_goal] for goal datasets (see :class:`ObservationFlattener`). The
    ``MinariDataset`` stays in ``metadata["minari_dataset"]``: environments come from its
    ``recover_environment`` and normalised scores from ``minari.get_normalized_score``.
    """
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, download=download)
    flattener = ObservationFlattener(dataset.observation_space)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "act", "rew", "next", "term")}
    returns, starts, offset = [], [], 0
    for episode in dataset.iterate_episodes():
        steps = len(episode.rewards)
        if steps == 0:
            continue
        obs, _ = flattener.flatten(episode.observations)
        parts["obs"].append(obs[:-1])
        parts["next"].append(obs[1:])
        parts["act"].append(np.asarray(episode.actions, dtype=np.float32).reshape(steps, -1))
        parts["rew"].append(np.asarray(episode.rewards, dtype=np.float32))
        parts["term"].append(np.asarray(episode.terminations, dtype=np.float32))
        returns.append(float(np.sum(episode.rewards, dtype=np.float64)))
        starts.append(offset)
        offset += steps
    if offset == 0:
        raise ValueError(f"Minari dataset {dataset.spec.dataset_id!r} holds no transitions")
    meta = dataset.storage.metadata
    return TransitionDataset(
        observations=np.concatenate(parts["obs"]),
        actions=np.concatenate(parts["act"]),
        rewards=np.concatenate(parts["rew"]),
        next_observations=np.concatenate(parts["next"]),
        terminations=np.concatenate(parts["term"]),
        observation_space=dataset.observation_space,
        action_space=dataset.action_space,
        obs_keys=flattener.keys,
        episode_returns=np.asarray(returns),
        episode_starts=np.asarray(starts, dtype=np.int64),
        dataset_id=dataset.spec.dataset_id,
        env_spec=dataset.env_spec,  # the evaluation environment comes from dataset.recover_environment(eval_env=True)
        ref_min_score=meta.get("ref_min_score"),
        ref_max_score=meta.get("ref_max_score"),
        metadata={"minari_dataset": dataset},
    )
