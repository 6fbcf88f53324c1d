"""The iqlzoo save format: JSON + safetensors, never pickle, written atomically and durably.

A checkpoint is a folder (or a ``.zip`` of the same files):

- ``config.json``: format marker and version, agent class, full configuration, spaces, data transforms,
  step count and library versions;
- ``model.safetensors``: every network tensor;
- ``optimizer.safetensors`` + ``state.json`` (optional): optimizer moments and RNG state, for resuming.

An *inference export* (:func:`export_checkpoint`, what the zoo publishes) leaves out the optimizer and state files and
the tensors that are copies of others at initialisation, e.g. a target critic: ``config.json`` then maps each left-out
prefix to the prefix it is rebuilt from (``"derived_tensors": {"critic_target.": "critic."}``), and loading copies
those tensors back. Such files carry format version 2; every other checkpoint is still written as version 1. An
export may also leave out networks that training never updated (behaviour cloning's critics and value): config.json
lists their prefixes (``"untrained_tensors": ["critic.", "value."]``) and loading builds them as a new agent does.
Such files carry format version 3.

Loading reads JSON and safetensors only, so opening a stranger's checkpoint cannot execute code; it reads with bounded
memory (:mod:`iqlzoo.safe_read`, under :class:`~iqlzoo.limits.LoadLimits`), and the agent checks every JSON field
(:mod:`iqlzoo.validation`) before building anything, so a malformed file is a :class:`CheckpointError` naming the
problem.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from iqlzoo.atomic import atomic_write, atomic_write_folder
from iqlzoo.errors import CheckpointError, CheckpointNotFoundError
from iqlzoo.limits import RATIO_CHECK_MIN_BYTES, LoadLimits
from iqlzoo.safe_read import check_zip_directory, parse_json, read_json, read_safetensors
from iqlzoo.validation import check_envelope, field_error, is_real

FORMAT = "iqlzoo-checkpoint"
FORMAT_VERSION = 3
#: config.json key of an inference export: left-out tensor prefix -> the prefix its tensors are copied from on load.
DERIVED_KEY = "derived_tensors"
#: At most this many prefixes are derived (an export derives one: the target critic).
MAX_DERIVED = 8
#: config.json key of an inference export: prefixes of networks training never updated, left out of the file and
#: initialised on load as a new agent's (at most MAX_DERIVED of them).
UNTRAINED_KEY = "untrained_tensors"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
FILES = (CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE)


@dataclass
class Checkpoint:
    """The decoded contents of a checkpoint.

    ``limits``: those it was read under (None for one built in memory, e.g. by ``IQL.agent``); ``origin``: the path it
    was read from, for messages.
    """

    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    optimizer_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    limits: LoadLimits | None = None
    origin: str | None = None


def _encode(ckpt: Checkpoint) -> dict[str, bytes]:
    # version 2 only adds derived tensors: files without them stay readable by iqlzoo versions that know version 1
    version = 3 if ckpt.config.get(UNTRAINED_KEY) else 2 if ckpt.config.get(DERIVED_KEY) else 1
    config = {**ckpt.config, "format": FORMAT, "format_version": version}
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


def _size_limit(name: str) -> str:
    return "max_json_bytes" if name.endswith(".json") else "max_tensor_bytes"


def _read_member(stream: IO[bytes], declared: int, name: str, where: str, limits: LoadLimits) -> bytes:
    if _size_limit(name) == "max_json_bytes":
        return read_json(stream, declared, where, limits)
    return read_safetensors(stream, declared, where, limits)


def _read_folder(path: Path, limits: LoadLimits) -> dict[str, bytes]:
    files = {}
    for name in FILES:
        file = path / name
        if file.is_file():
            with open(file, "rb") as stream:
                files[name] = _read_member(stream, os.fstat(stream.fileno()).st_size, name, str(file), limits)
    return files


def _checked_zip(handle: IO[bytes], path: Path, limits: LoadLimits) -> IO[bytes]:
    """``handle``, rewound, once its central directory is within ``limits`` (see :func:`check_zip_directory`)."""
    check_zip_directory(handle, str(path), limits)
    return handle


def _read_zip(path: Path, limits: LoadLimits) -> dict[str, bytes]:
    files = {}
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(_checked_zip(handle, path, limits)) as zf:
            infos = zf.infolist()
            limits.check(f"the number of entries in {path}", len(infos), "max_zip_entries")
            members = {info.filename: info for info in infos}
            if CONFIG_FILE not in members and "policy.pth" in members:
                raise CheckpointError(
                    f"{path} is a Stable-Baselines3 zip, not an iqlzoo checkpoint; iqlzoo never unpickles files"
                )
            for name in FILES:
                info = members.get(name)
                if info is None:
                    continue
                where = f"{path}/{name}"
                limits.check(f"the size of {where}", info.file_size, _size_limit(name))
                if info.file_size >= RATIO_CHECK_MIN_BYTES:
                    ratio = info.file_size / max(info.compress_size, 1)
                    limits.check(f"the compression ratio of {where} ({info.file_size:,} bytes from "
                                 f"{info.compress_size:,})", round(ratio), "max_compression_ratio")
                with zf.open(info) as stream:
                    files[name] = _read_member(stream, info.file_size, name, where, limits)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        raise CheckpointError(
            f"{path} is not an iqlzoo checkpoint: not a folder and not a readable zip archive ({exc}); "
            "it may be truncated, or saved by another library"
        ) from None
    return files


def _read_files(path: Path, limits: LoadLimits) -> dict[str, bytes]:
    if path.is_dir():
        return _read_folder(path, limits)
    if not path.exists() and path.suffix != ".zip" and path.with_suffix(".zip").exists():
        path = path.with_suffix(".zip")
    if not path.exists():
        raise CheckpointNotFoundError(f"no checkpoint at {path}: expected a folder with {CONFIG_FILE} or a .zip "
                                      "archive; check the path")
    if not path.is_file():
        raise CheckpointError(f"{path} is neither a folder nor a regular file, so not an iqlzoo checkpoint")
    return _read_zip(path, limits)


def load_checkpoint(path: str | os.PathLike, limits: LoadLimits | None = None) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, with a clear error for anything else.

    Every file is read with bounded memory under ``limits`` (default: :class:`LoadLimits` from the environment);
    ``config.json``'s format fields are checked here, the rest by the agent (:mod:`iqlzoo.validation`).
    """
    path = Path(path)
    limits = limits if limits is not None else LoadLimits()
    files = _read_files(path, limits)
    if CONFIG_FILE not in files:
        raise CheckpointError(f"{path} is not an iqlzoo checkpoint: it has no {CONFIG_FILE}")
    config = parse_json(files[CONFIG_FILE], f"{path}/{CONFIG_FILE}")
    check_envelope(config, f"{path}/{CONFIG_FILE}", FORMAT, FORMAT_VERSION)
    if MODEL_FILE not in files:
        raise CheckpointError(f"{path} has no {MODEL_FILE}: the checkpoint is incomplete")
    tensors = _decode_tensors(files[MODEL_FILE], f"{path}/{MODEL_FILE}")
    _restore_derived(config.get(DERIVED_KEY), tensors, f"{path}/{CONFIG_FILE}")
    check_untrained(config.get(UNTRAINED_KEY), tensors, f"{path}/{CONFIG_FILE}")
    optimizer_tensors: dict[str, torch.Tensor] = {}
    state: dict[str, Any] = {}
    if OPTIMIZER_FILE in files or STATE_FILE in files:
        if OPTIMIZER_FILE not in files or STATE_FILE not in files:
            present, absent = (OPTIMIZER_FILE, STATE_FILE) if OPTIMIZER_FILE in files else (STATE_FILE, OPTIMIZER_FILE)
            raise CheckpointError(f"{path} has {present} but no {absent}: the resume state is incomplete; delete "
                                  f"{present} to load the model for inference")
        optimizer_tensors = _decode_tensors(files[OPTIMIZER_FILE], f"{path}/{OPTIMIZER_FILE}")
        state = parse_json(files[STATE_FILE], f"{path}/{STATE_FILE}")
    return Checkpoint(config, tensors, optimizer_tensors, state, limits=limits, origin=str(path))


def export_checkpoint(ckpt: Checkpoint, derived: dict[str, str], untrained: Sequence[str] = ()) -> Checkpoint:
    """An inference export of ``ckpt``: no optimizer state, RNG state or resume counters, and for each
    ``target_prefix -> source_prefix`` of ``derived`` no tensors under ``target_prefix``; loading the export copies the
    tensors under ``source_prefix`` there instead (as a freshly built IQL initialises its target critic). No tensors
    under the prefixes of ``untrained`` either (networks training never updated): loading initialises them.

    Raises:
        ValueError: a prefix of ``derived`` or ``untrained`` matches no tensor, or the tensors under the two prefixes
            of a ``derived`` entry differ in names or shapes.
    """
    kept = dict(ckpt.tensors)
    for prefix in untrained:
        if not prefix.endswith(".") or not any(name.startswith(prefix) for name in kept):
            raise ValueError(f"cannot leave out {prefix!r}: it is not a prefix ending in '.' of the checkpoint's "
                             "tensors")
        kept = {name: value for name, value in kept.items() if not name.startswith(prefix)}
    for target, source in derived.items():
        left_out = {name: kept.pop(name) for name in list(kept) if name.startswith(target)}
        copies = {target + name[len(source):]: value for name, value in kept.items() if name.startswith(source)}
        if not left_out or left_out.keys() != copies.keys():
            raise ValueError(f"cannot derive {target!r} from {source!r}: the tensors under the two prefixes differ "
                             f"({sorted(left_out)} vs {sorted(copies)})")
        bad = [name for name, value in left_out.items() if value.shape != copies[name].shape]
        if bad:
            raise ValueError(f"cannot derive {bad} from {source!r}: shapes differ")
    config = {key: value for key, value in ckpt.config.items() if key not in (DERIVED_KEY, UNTRAINED_KEY)}
    if derived:
        config[DERIVED_KEY] = dict(derived)
    if untrained:
        config[UNTRAINED_KEY] = list(untrained)
    return Checkpoint(config=config, tensors=kept)


def check_untrained(untrained: Any, tensors: dict[str, torch.Tensor], where: str) -> None:
    """``config.json``'s ``untrained_tensors``: None, or at most :data:`MAX_DERIVED` distinct prefixes ending in "."
    under which the file stores no tensor (the agent builds those tensors; see :func:`export_checkpoint`)."""
    if untrained is None:
        return
    if (not isinstance(untrained, list) or not untrained or len(untrained) > MAX_DERIVED
            or len(set(map(str, untrained))) != len(untrained)
            or not all(isinstance(p, str) and p.endswith(".") and len(p) > 1 for p in untrained)):
        raise field_error(where, UNTRAINED_KEY, f"is {untrained!r}; it must list at most {MAX_DERIVED} distinct "
                          "tensor-name prefixes (ending in '.')")
    stored = sorted(name for name in tensors if name.startswith(tuple(untrained)))
    if stored:
        raise field_error(where, UNTRAINED_KEY, f"says {untrained} are not stored, but the file stores {stored[:3]}")


def _restore_derived(derived: Any, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Add the tensors an inference export left out (see :func:`export_checkpoint`) to ``tensors``, in place.

    Bounded: at most :data:`MAX_DERIVED` prefixes, each a non-empty name prefix ending in ".", and the copies together
    no larger than the stored tensors, so a hostile map cannot multiply the memory a file takes.
    """
    if derived is None:
        return
    if (not isinstance(derived, dict) or not derived or len(derived) > MAX_DERIVED
            or not all(isinstance(k, str) and isinstance(v, str) and k.endswith(".") and v.endswith(".") and k != v
                       for k, v in derived.items())):
        raise field_error(where, DERIVED_KEY, f"is {derived!r}; it must map at most {MAX_DERIVED} tensor-name "
                          "prefixes (ending in '.') to other such prefixes")
    stored = sum(t.numel() * t.element_size() for t in tensors.values())
    added: dict[str, torch.Tensor] = {}
    for target, source in derived.items():
        copies = {target + name[len(source):]: value for name, value in tensors.items() if name.startswith(source)}
        clash = sorted((set(copies) & set(tensors)) | (set(copies) & set(added)))
        if not copies or clash:
            raise field_error(where, DERIVED_KEY, f"cannot rebuild {target!r} from {source!r} "
                              f"({'no tensors under it' if not copies else f'{clash[:3]} are stored too'})")
        added.update(copies)
    if sum(t.numel() * t.element_size() for t in added.values()) > stored:
        raise field_error(where, DERIVED_KEY, "derives more tensor bytes than the file stores")
    tensors.update({name: value.clone() for name, value in added.items()})


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


def _check_group(saved: dict[str, Any], own: dict[str, Any], path: str, where: str) -> None:
    """A saved param group must hold the settings of ``own`` (the live optimizer's group) with values of their kind."""
    if saved["params"] != own["params"]:
        raise field_error(where, f"{path}.params", f"lists {len(saved['params'])} parameters where the network's "
                          f"group has {len(own['params'])} (indices {own['params'][:3]}...)")
    unknown = sorted(set(saved) - set(own))
    if unknown:
        raise field_error(where, f"{path}.{unknown[0]}", f"is not a setting of {type(own).__name__} param groups "
                          f"here ({sorted(own)}); was it saved with another torch version or optimizer?")
    for key, template in own.items():
        if key == "params":
            continue
        if key not in saved:
            if template is None or isinstance(template, bool):
                continue  # a flag older torch versions did not write; torch fills in its default
            raise field_error(where, f"{path}.{key}", "is missing")
        value = saved[key]
        if isinstance(template, bool):
            ok = isinstance(value, bool)
        elif template is None:
            ok = value is None or isinstance(value, bool)
        elif isinstance(template, (tuple, list)):
            ok = isinstance(value, list) and len(value) == len(template) and all(map(is_real, value))
        elif isinstance(template, str):
            ok = isinstance(value, str)
        else:  # a number, or a 0-d tensor (iqlzoo keeps learning rates as tensors)
            ok = is_real(value) and value >= 0
        ok = ok and not (key == "betas" and not all(0 <= b < 1 for b in value)) and not (key == "eps" and value <= 0)
        if not ok:
            raise field_error(where, f"{path}.{key}", f"is {value!r}, which does not fit this optimizer setting "
                              f"(the network's optimizer has {template!r})")


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], meta: dict, origin: str = ""
) -> None:
    """Restore what :func:`optimizer_to_tensors` produced into ``optimizer``, exactly or not at all.

    ``optimizer``'s state must already be initialised (IQL creates Adam's state up front): it is the template. Every
    saved param group must match one of ``optimizer``'s, and the tensors under ``prefix`` must be exactly its state
    slots, with its shapes and dtypes; anything missing, extra or misshapen is a :class:`CheckpointError`, because a
    partial restore would silently make the resumed run differ from the uninterrupted one.
    """
    where = f"{origin}/{STATE_FILE}" if origin else STATE_FILE
    tensor_where = f"{origin}/{OPTIMIZER_FILE}" if origin else OPTIMIZER_FILE
    own = optimizer.state_dict()
    groups = meta["param_groups"]
    if len(groups) != len(own["param_groups"]):
        raise field_error(where, "optimizer.param_groups", f"has {len(groups)} groups where the network's optimizer "
                          f"has {len(own['param_groups'])} (check config.penalty)")
    for index, (saved, template) in enumerate(zip(groups, own["param_groups"])):
        _check_group(saved, template, f"optimizer.param_groups[{index}]", where)
    expected = {f"{prefix}.{i}.{slot}": value for i, slots in own["state"].items() for slot, value in slots.items()}
    found = {name for name in tensors if name.startswith(prefix + ".")}
    missing, extra = sorted(expected.keys() - found), sorted(found - expected.keys())
    if missing or extra:
        problems = [f"it lacks {missing[:4]}"] if missing else []
        problems += [f"it has {extra[:4]}, which the optimizer has not"] if extra else []
        raise CheckpointError(f"{tensor_where} does not match the network's optimizer: {'; '.join(problems)}; a "
                              "partial restore would break exact resumption: re-save the agent, or load it without "
                              "the resume state (delete optimizer.safetensors and state.json)")
    for name, value in expected.items():
        if tensors[name].shape != value.shape or tensors[name].dtype != value.dtype:
            raise CheckpointError(
                f"{tensor_where}: tensor {name!r} is {tuple(tensors[name].shape)} {tensors[name].dtype} but the "
                f"optimizer's is {tuple(value.shape)} {value.dtype}; re-save the agent"
            )
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name in expected:
        index, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(index), {})[key] = tensors[name]
    restored = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in groups]
    optimizer.load_state_dict({"state": state, "param_groups": restored})
