"""A thin adapter over Minari: resolve a dataset id with clear errors (an official id falls back to iqlzoo's local
regeneration of it when the official data cannot be had), and turn its episodes into transitions."""

from __future__ import annotations

import logging
from typing import Literal

import minari
import numpy as np
from minari import MinariDataset
from minari.storage.datasets_root_dir import get_dataset_path

from iqlzoo.data.equivalents import build_time, regenerated_equivalent
from iqlzoo.data.network import download_blocker, offline_switch
from iqlzoo.data.spaces import ObservationFlattener
from iqlzoo.data.transitions import TransitionDataset

DataSource = Literal["auto", "official", "regenerated"]
logger = logging.getLogger(__name__)


class DatasetNotFoundError(FileNotFoundError):
    """A Minari dataset id that is neither in the local store nor downloadable.

    ``dataset_id`` and ``reason`` (why it could not be had, e.g. ``"not in the local store, and downloads are off"``)
    let a command line word its own advice; the message is the library's.
    """

    def __init__(self, message: str, dataset_id: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.dataset_id = dataset_id
        self.reason = reason


def local_dataset_ids() -> list[str]:
    """Ids of the Minari datasets in the local store (``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``)."""
    return sorted(minari.list_local_datasets())


def is_local(dataset_id: str) -> bool:
    """Whether ``dataset_id`` is in the local Minari store."""
    return (get_dataset_path(dataset_id) / "data").exists()


def build_command(dataset_id: str) -> str:
    """The command that builds an iqlzoo dataset, with its rough duration: ``python -m iqlzoo.recipes build ID``
    (~9-12 min)."""
    return f"`python -m iqlzoo.recipes build {dataset_id}` ({build_time(dataset_id)})"


def _how_to_get(dataset_id: str) -> str:
    if build_time(dataset_id) is not None:
        return f"build it with {build_command(dataset_id)}"
    download = f"on a machine with internet run `minari download {dataset_id}` and copy the folder into the local store"
    equivalent = regenerated_equivalent(dataset_id)
    if equivalent is None:
        return f"{download}; or use one of the datasets iqlzoo builds (`python -m iqlzoo.recipes list`)"
    return (
        f"{download}; or build its local regeneration with {build_command(equivalent)}, which iqlzoo then uses "
        f"for {dataset_id!r} when the official data cannot be had"
    )


def _not_found(dataset_id: str, reason: str, hint: str = "") -> DatasetNotFoundError:
    local = local_dataset_ids()
    shown = ", ".join(local[:20]) + (" …" if len(local) > 20 else "") if local else "none"
    message = (
        f"Minari dataset {dataset_id!r} is not available: {reason}.\n"
        f"  Local store: {get_dataset_path()} (set MINARI_DATASETS_PATH to use another).\n"
        f"  Local datasets: {shown}.\n"
        f"  To get it: {_how_to_get(dataset_id)}.{hint}"
    )
    return DatasetNotFoundError(message, dataset_id=dataset_id, reason=reason)


def load_dataset(dataset_id: str, download: bool | None = None) -> MinariDataset:
    """Load a Minari dataset from the local store, downloading it when allowed.

    ``download=None`` (default) downloads unless ``HF_HUB_OFFLINE``/``MINARI_OFFLINE`` is set; ``False`` never
    downloads. Before downloading, one probe per process checks that the download host can be reached
    (:mod:`iqlzoo.data.network`), so an offline machine fails at once instead of retrying for ~23 s per dataset.
    Any failure becomes a :class:`DatasetNotFoundError` that names the id, the local datasets and the ways to obtain
    or build one.
    """
    if not isinstance(dataset_id, str) or not dataset_id:
        raise TypeError(f"a Minari dataset id must be a non-empty string, got {dataset_id!r}")
    if is_local(dataset_id):
        return minari.load_dataset(dataset_id)
    switch = offline_switch()
    if download is None:
        download = switch is None
    if not download:
        off = f" ({switch} is set)" if switch else ""
        raise _not_found(dataset_id, f"not in the local store, and downloads are off{off}")
    if switch is None:
        blocker = download_blocker()
        if blocker is not None:
            raise _not_found(
                dataset_id,
                f"not in the local store, and it cannot be downloaded ({blocker})",
                "\n  Offline on purpose? Set HF_HUB_OFFLINE=1 and iqlzoo skips its connection check (one per process).",
            )
    try:
        return minari.load_dataset(dataset_id, download=True)
    except Exception as exc:  # minari raises anything from ValueError to httpx.ConnectError here
        raise _not_found(
            dataset_id, f"not in the local store, and the download failed ({type(exc).__name__}: {exc})"
        ) from None


def resolve_dataset(
    dataset_id: str, data: DataSource = "auto", download: bool | None = None, *, announce: bool = True
) -> tuple[MinariDataset, Literal["official", "regenerated"]]:
    """Load ``dataset_id`` or iqlzoo's local regeneration of it; returns ``(dataset, source)``.

    Args:
        dataset_id: An official Minari id (``D4RL/antmaze/umaze-v1``, ``mujoco/halfcheetah/medium-v0``) or an
            iqlzoo id.
        data: ``"official"``: only the dataset itself (local store, else download as in :func:`load_dataset`);
            ``"regenerated"``: only its regeneration (``iqlzoo/antmaze/umaze-v0``), from the local store;
            ``"auto"``: the official one if it can be had, else the regeneration.
        download: As in :func:`load_dataset`, for the official dataset.
        announce: Log one line (logger ``iqlzoo.data.minari``, level WARNING) when ``"auto"`` falls back to the
            regeneration, saying which data is used and why.

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
    except DatasetNotFoundError as error:
        if data == "official" or equivalent is None or not is_local(equivalent):
            raise
        reason = error.reason
    if announce:
        logger.warning(
            "Data: using %s, iqlzoo's local regeneration of %s (built from iqlzoo's own behaviour policies, not the "
            "official data): the official dataset is %s.", equivalent, dataset_id, reason
        )
    return load_dataset(equivalent, download=False), "regenerated"


def from_minari(dataset: MinariDataset | str, download: bool | None = None) -> TransitionDataset:
    """Episodes → transitions (s_t, a_t, r_t, s_{t+1}, d_t) with d_t = termination.

    A dataset id is resolved as :func:`resolve_dataset` does with ``data="auto"``: an official id whose data cannot
    be had uses iqlzoo's local regeneration, with one logged line saying so.

    Truncations (time limits) do not stop bootstrapping, so they are not copied into d_t.

    Minari episodes store T+1 observations for T steps; dict observations are flattened to
    [achieved_goal, observation, desired_goal] for goal datasets (see :class:`ObservationFlattener`). The
    ``MinariDataset`` stays in ``metadata["minari_dataset"]``: environments come from its
    ``recover_environment`` and normalised scores from ``minari.get_normalized_score``.
    """
    if isinstance(dataset, str):
        dataset, _ = resolve_dataset(dataset, data="auto", download=download)
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
