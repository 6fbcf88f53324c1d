"""Optional experiment tracking of harness runs: TensorBoard event files and Weights & Biases runs.

A tracker is an SB3 logger output (a ``KVWriter``). The run's SB3 logger writes the training statistics to it at the
logging cadence it already has (every ``log_interval`` steps, like ``train_log.jsonl``), and the runner writes each
evaluation to it as ``eval/<metric>``; nothing is written per gradient step.

- ``tensorboard``: SB3's ``TensorBoardOutputFormat``, writing event files into the run's folder beside
  ``train_log.jsonl``; ``tensorboard --logdir results/runs`` shows every run of a store.
- ``wandb``: one W&B run per harness run, set up as CORL's scripts do — ``wandb.init(project, group, name, id,
  config)`` with project ``$WANDB_PROJECT`` (default ``iqlzoo``), group the runs that differ only in their seed,
  name and id the run id (so a resumed run continues its W&B run), config the run's provenance (run spec, agent
  configuration, dataset and its hash, library versions, command). Files go to ``<run folder>/wandb/``. The mode is
  ``$WANDB_MODE`` when set, else ``offline`` (no network needed; upload later with ``wandb sync <run folder>/wandb/
  offline-run-*``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import KVWriter

TRACKERS: tuple[str, ...] = ("tensorboard", "wandb")
WANDB_PROJECT = "iqlzoo"
_INSTALL = "pip install 'iqlzoo[track]'"


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def resolve_trackers(requested: Sequence[str] | None) -> tuple[str, ...]:
    """The trackers of ``--track``: None → TensorBoard when its package is installed, else none; ``["none"]`` → none.

    Raises ValueError for a requested tracker whose package is missing (naming the extra to install), an unknown
    name, or ``none`` together with a tracker.
    """
    if requested is None:
        return ("tensorboard",) if _installed("tensorboard") else ()
    names = tuple(dict.fromkeys(requested))
    if "none" in names:
        if len(names) > 1:
            raise ValueError(f"--track none cannot be combined with trackers, got {list(names)}")
        return ()
    unknown = [name for name in names if name not in TRACKERS]
    if unknown:
        raise ValueError(f"unknown trackers {unknown}; choose from {list(TRACKERS)} or none")
    missing = [name for name in names if not _installed(name)]
    if missing:
        raise ValueError(f"--track {' '.join(missing)} needs the package(s) {', '.join(missing)}: {_INSTALL}")
    return names


def wandb_mode() -> str:
    """``$WANDB_MODE`` when the user set it, else ``offline`` (runs are recorded locally without a network)."""
    return os.environ.get("WANDB_MODE") or "offline"


class WandbOutput(KVWriter):
    """An SB3 logger output that logs every dump to a W&B run (numbers only), at the dump's step."""

    def __init__(
        self, run_id: str, group: str, config: Mapping[str, Any], directory: Path, mode: str = "offline"
    ) -> None:
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or WANDB_PROJECT,
            group=group,
            name=run_id,
            id=run_id,
            config=dict(config),
            dir=str(directory),
            mode=mode,
            resume="allow",
            reinit="create_new",  # a seed group trains several runs in one process
        )

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        values = {
            key: value
            for key, value in key_values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and "wandb" not in (key_excluded.get(key) or ())
        }
        if values:
            self.run.log(values, step=step)

    def close(self) -> None:
        self.run.finish()


def open_trackers(
    track: Sequence[str],
    run_dir: Path,
    run_id: str,
    group: str,
    config: Mapping[str, Any],
    mode: str = "offline",
) -> list[KVWriter]:
    """The logger outputs of ``track`` for the run in ``run_dir`` (see the module docstring)."""
    writers: list[KVWriter] = []
    if "tensorboard" in track:
        from stable_baselines3.common.logger import TensorBoardOutputFormat

        writers.append(TensorBoardOutputFormat(str(run_dir)))
    if "wandb" in track:
        writers.append(WandbOutput(run_id, group, config, run_dir, mode))
    return writers


def write_values(writers: Sequence[KVWriter], values: Mapping[str, float], step: int) -> None:
    """Write ``values`` logged at ``step`` to every writer (the runner's evaluations)."""
    for writer in writers:
        writer.write(dict(values), {key: None for key in values}, step)  # type: ignore[misc]
