"""The iqlzoo save format: JSON + safetensors, never pickle, written atomically and durably.

A checkpoint is a folder (or a ``.zip`` of the same files):

- ``config.json``: format marker and version, agent class, full configuration, spaces, data transforms,
  step count and library versions;
- ``model.safetensors``: every network tensor;
- ``optimizer.safetensors`` + ``state.json`` (optional): optimizer moments and RNG state, for resuming.

Loading reads JSON and safetensors only, so opening a stranger's checkpoint cannot execute code.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from iqlzoo.atomic import atomic_write, atomic_write_folder

FORMAT = "iqlzoo-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"


class CheckpointError(ValueError):
    """A file that is not a readable iqlzoo checkpoint (missing, truncated, foreign or corrupt)."""


@dataclass
class Checkpoint:
    """The decoded contents of a checkpoint."""

    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    optimizer_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


def _encode(ckpt: Checkpoint) -> dict[str, bytes]:
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **ckpt.config}
    files = {
        CONFIG_FILE: json.dumps(config, indent=2, sort_keys=True).encode(),
        MODEL_FILE: save_safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in ckpt.tensors.items()}),
    }
    if ckpt.optimizer_tensors or ckpt.state:
        files[OPTIMIZER_FILE] = save_safetensors_bytes(
            {k: v.detach().cpu().contiguous() for k, v in ckpt.optimizer_tensors.items()}
        )
        files[STATE_FILE] = json.dumps(ckpt.state, indent=2, sort_keys=True).encode()
    return files


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` (a folder, or a zip archive when the name ends in ``.zip``) atomically and durably.

    The new content is written next to the destination under a temporary name, flushed to disk and moved into place
    (see :mod:`iqlzoo.atomic`); an existing checkpoint at ``path`` stays intact until the new one is complete, and
    temporaries left in the folder by saves that were killed are removed.
    """
    path = Path(path)
    files = _encode(ckpt)
    if path.suffix != ".zip":
        return atomic_write_folder(path, files)

    def write_zip(handle: IO[bytes]) -> None:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)

    return atomic_write(path, write_zip)


def _read_files(path: Path) -> dict[str, bytes]:
    wanted = (CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE)
    if path.is_dir():
        return {name: (path / name).read_bytes() for name in wanted if (path / name).is_file()}
    if not path.exists() and path.suffix != ".zip" and path.with_suffix(".zip").exists():
        path = path.with_suffix(".zip")
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: expected a folder with {CONFIG_FILE} or a .zip archive")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if CONFIG_FILE not in names and "policy.pth" in names:
                raise CheckpointError(
                    f"{path} is a Stable-Baselines3 zip, not an iqlzoo checkpoint; iqlzoo never unpickles files"
                )
            return {name: zf.read(name) for name in wanted if name in names}
    except (zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(
            f"{path} is not an iqlzoo checkpoint: not a folder and not a readable zip archive ({exc}); "
            "it may be truncated, or saved by another library"
        ) from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, with a clear error for anything else."""
    path = Path(path)
    files = _read_files(path)
    if CONFIG_FILE not in files:
        raise CheckpointError(f"{path} is not an iqlzoo checkpoint: it has no {CONFIG_FILE}")
    try:
        config = json.loads(files[CONFIG_FILE])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}/{CONFIG_FILE} is not valid JSON ({exc}); the file is corrupt") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}/{CONFIG_FILE} is not an iqlzoo checkpoint config (no format marker {FORMAT!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses checkpoint format {config['format_version']}, newer than this iqlzoo understands "
            f"({FORMAT_VERSION}); upgrade iqlzoo"
        )
    if MODEL_FILE not in files:
        raise CheckpointError(f"{path} has no {MODEL_FILE}: the checkpoint is incomplete")
    tensors = _decode_tensors(files[MODEL_FILE], f"{path}/{MODEL_FILE}")
    optimizer_tensors: dict[str, torch.Tensor] = {}
    state: dict[str, Any] = {}
    if OPTIMIZER_FILE in files:
        optimizer_tensors = _decode_tensors(files[OPTIMIZER_FILE], f"{path}/{OPTIMIZER_FILE}")
        try:
            state = json.loads(files.get(STATE_FILE, b"{}"))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}/{STATE_FILE} is not valid JSON ({exc}); the file is corrupt") from None
    return Checkpoint(config=config, tensors=tensors, optimizer_tensors=optimizer_tensors, state=state)


def _decode_tensors(data: bytes, where: str) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{where} is truncated or corrupt ({exc}); re-save or re-download it") from None


def optimizer_to_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state dict into tensors (for safetensors) and JSON-safe param groups."""
    sd = optimizer.state_dict()
    tensors = {}
    for index, param_state in sd["state"].items():
        for key, value in param_state.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value)
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    for group in groups:
        for k, v in group.items():
            if isinstance(v, torch.Tensor):
                group[k] = v.item()
    return tensors, {"param_groups": groups}


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    """Restore what :func:`optimizer_to_tensors` produced into ``optimizer``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        index, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
