"""An adversarial pass over iqlzoo: bad inputs a user or a stranger can hand it, and how each one ends.

Run from the repository root (``PYTHONPATH=<checkout> python <this file> --out DIR`` tries another checkout of
iqlzoo with this script)::

    python -m benchmarks.adversarial --out /tmp/adversarial
    python -m benchmarks.adversarial --only predict --out /tmp/adv   # one group (probe names start with it)

Every probe hands iqlzoo one bad input — a ``predict`` observation, an ``IQLConfig`` field, a ``learn`` argument, a
dataset array, a checkpoint file (JSON fields, safetensors, zips, pickles, path traversal, zip bombs), a command-line
flag of ``benchmarks.run``, ``leaderboard``, ``iqlzoo.recipes`` or ``iqlzoo.quickstart``, or a hyperparameter YAML
file — and its outcome is classified:

- **clear**: an error iqlzoo raised on purpose — an exception of a type defined in iqlzoo (or a ``ValueError``/
  ``TypeError``/``FileNotFoundError`` raised by iqlzoo's own code, not numpy's, torch's or json's) with a message
  of at least 30 characters; for a command line, a non-zero exit with a message and no traceback;
- **unclear**: any other exception (a foreign type or one raised deep inside a library, ``KeyError``, ``MemoryError``
  ...), or a command line that ends in a traceback;
- **silent**: the bad input was accepted (no error, or a command line that exits 0);
- **hang**: no answer within the probe's CPU-time budget (the worker is killed and a fresh one takes the next probe).

A few probes check that correct inputs give correct results instead (``correct``/``wrong``). Crash probes kill a
process with SIGKILL in the middle of ``save`` and fill the disk (``RLIMIT_FSIZE``) during a save, then count saved
models that no longer load (**data lost**); code-execution probes hand over pickles and code-like names and count
the marker files their payloads would have written (**code executed**).

Probes run one after the other in a worker process (``--worker``) that imports iqlzoo once; the parent feeds it probe
names and enforces the budgets, so the pass takes a few minutes of one core. ``--out`` receives ``results.jsonl``
(one line per probe) and ``tally.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CPU_BUDGET_S = 30.0
"""CPU seconds one probe may use before it counts as a hang."""
WALL_BUDGET_S = 600.0
"""Wall seconds one probe may take (generous: the machine may be busy)."""
MEMORY_LIMIT = 6 << 30
"""Address space of the worker: an input that makes iqlzoo allocate more fails with MemoryError (unclear)."""
OUTCOMES = ("clear", "unclear", "silent", "hang", "correct", "wrong", "n/a")


# ------------------------------------------------------------------------------------------------ the worker side
@dataclass
class Context:
    """What probes share inside the worker: a tiny dataset, a saved agent's files and a scratch folder."""

    tmp: Path
    data: Any
    files: dict[str, bytes]
    model: Any


PROBES: dict[str, Callable[[Context], Any]] = {}
KINDS: dict[str, str] = {}


def probe(name: str, kind: str = "refuse") -> Callable:
    """Register a probe; ``kind`` is ``refuse`` (a bad input), ``correct`` (a correct result is expected), ``crash``
    or ``code`` (the probe returns its own counts)."""

    def register(function: Callable[[Context], Any]) -> Callable[[Context], Any]:
        PROBES[name] = function
        KINDS[name] = kind
        return function

    return register


def _project_roots() -> tuple[str, ...]:
    import iqlzoo

    root = Path(iqlzoo.__file__).resolve().parent.parent
    return tuple(str(root / package) for package in ("iqlzoo", "benchmarks", "leaderboard"))


DELIBERATE = (ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError)
BUG_TYPES = (KeyError, IndexError, AttributeError, NameError, ZeroDivisionError, AssertionError, RecursionError,
             MemoryError, OverflowError, UnicodeError, ImportError)


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """(clear | unclear, a one-line description) of an exception a probe raised."""
    described = f"{type(exc).__module__}.{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    frames = traceback.extract_tb(exc.__traceback__)
    innermost = frames[-1] if frames else None
    where = f" [{Path(innermost.filename).name}:{innermost.lineno}: {(innermost.line or '').strip()[:60]}]" \
        if innermost else ""
    own_type = type(exc).__module__.split(".")[0] in ("iqlzoo", "benchmarks", "leaderboard")
    # raised on purpose: by a `raise` statement in iqlzoo's own code, not by an operation (a comparison, a call into
    # torch's C code) that failed there
    own_raise = (innermost is not None and innermost.filename.startswith(_project_roots())
                 and (innermost.line or "").lstrip().startswith("raise")
                 and isinstance(exc, DELIBERATE) and not isinstance(exc, BUG_TYPES))
    if (own_type or own_raise) and len(str(exc)) >= 30:
        return "clear", described + where
    return "unclear", described + where


def run_cli(module: str, argv: list[str], mention: str) -> tuple[str, str]:
    """Call ``module.main(argv)`` in this process: (clear | unclear | silent | n/a, description). A refusal is clear
    when it exits non-zero with a message naming ``mention``, and no traceback."""
    import importlib

    try:
        main = importlib.import_module(module).main
    except ImportError as exc:
        return "n/a", f"no {module} here ({exc})"
    err, out = io.StringIO(), io.StringIO()
    code: Any = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    except Exception as exc:  # noqa: BLE001 - a traceback is what the user would see
        return "unclear", f"traceback: {type(exc).__name__}: {str(exc)[:200]}"
    text = (err.getvalue() + out.getvalue()).strip()
    if isinstance(code, str):  # SystemExit("message")
        text, code = code, 1
    if "unrecognized arguments" in text and mention not in text.split("unrecognized arguments")[0]:
        return "n/a", f"a flag of this probe does not exist here: {text.splitlines()[-1][:200]}"
    if code in (0, None) or (isinstance(code, dict)):
        return "silent", f"exit 0: {text.splitlines()[-1][:200] if text else ''}"
    if "Traceback" in text:
        return "unclear", f"exit {code} with a traceback"
    last = text.splitlines()[-1] if text else ""
    if mention.lower() in text.lower():
        return "clear", f"exit {code}: {last[:200]}"
    return "unclear", f"exit {code} without naming {mention!r}: {last[:200]}"


def tiny_dataset(n: int = 60, **changes: Any) -> Any:
    """A Pendulum-shaped in-memory dataset (3-d observations, 1-d actions in [-2, 2]) of ``n`` transitions."""
    import gymnasium as gym
    import numpy as np

    from iqlzoo import TransitionDataset

    rng = np.random.default_rng(0)
    fields = dict(
        observations=rng.normal(size=(n, 3)).astype(np.float32),
        actions=rng.uniform(-2, 2, size=(n, 1)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        next_observations=rng.normal(size=(n, 3)).astype(np.float32),
        terminations=np.zeros(n, dtype=np.float32),
        observation_space=gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        action_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
        episode_returns=np.array([-100.0, -50.0, -10.0]),
    )
    fields.update(changes)
    return TransitionDataset(**fields)


SMALL = {"policy_kwargs": {"net_arch": [8, 8]}, "batch_size": 16, "device": "cpu", "compile": False, "seed": 0}


def small_iql(data: Any, **kwargs: Any) -> Any:
    from iqlzoo import IQL

    return IQL("MlpPolicy", data, **{**SMALL, **kwargs})


def make_context(tmp: Path) -> Context:
    import torch

    torch.set_num_threads(1)
    data = tiny_dataset()
    model = small_iql(data).learn(2)
    folder = model.save(tmp / "saved")
    files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
    return Context(tmp=tmp, data=data, files=files, model=model)


def load_files(ctx: Context, files: dict[str, bytes], name: str = "ckpt") -> Any:
    """Write ``files`` as a checkpoint folder and load it."""
    from iqlzoo import IQL

    folder = Path(tempfile.mkdtemp(dir=ctx.tmp, prefix=name))
    for member, data in files.items():
        (folder / member).write_bytes(data)
    return IQL.load(folder, device="cpu")


def edited_json(ctx: Context, member: str, path: tuple, value: Any, delete: bool = False) -> dict[str, bytes]:
    document = json.loads(ctx.files[member])
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return {**ctx.files, member: json.dumps(document).encode()}


# ---- predict
def _predict(observation: Callable[[], Any]) -> Callable[[Context], Any]:
    return lambda ctx: ctx.model.predict(observation())


def _np() -> Any:
    import numpy as np

    return np


for _name, _obs in {
    "predict/nan": lambda: _np().array([_np().nan, 0.0, 0.0]),
    "predict/inf": lambda: _np().array([_np().inf, 0.0, 0.0]),
    "predict/-inf in a batch": lambda: _np().array([[0.0, 0.0, 0.0], [0.0, -_np().inf, 0.0]]),
    "predict/empty batch": lambda: _np().zeros((0, 3)),
    "predict/wrong size": lambda: _np().zeros(4),
    "predict/wrong batch shape": lambda: _np().zeros((2, 4)),
    "predict/3-d batch": lambda: _np().zeros((2, 2, 3)),
    "predict/strings": lambda: _np().array(["a", "b", "c"]),
    "predict/dict for a Box": lambda: {"observation": _np().zeros(3)},
    "predict/None": lambda: None,
    "predict/object array": lambda: _np().array([object(), object(), object()]),
    "predict/ragged list": lambda: [[0.0, 0.0, 0.0], [0.0]],
    "predict/complex": lambda: _np().zeros(3, dtype=complex),
    "predict/scalar": lambda: 1.0,
}.items():
    probe(_name)(_predict(_obs))


@probe("predict/correct single, batch and int observations", kind="correct")
def _predict_correct(ctx: Context) -> None:
    np = _np()
    single, _ = ctx.model.predict(np.zeros(3))
    batch, _ = ctx.model.predict(np.zeros((5, 3)))
    ints, _ = ctx.model.predict(np.zeros(3, dtype=np.int64))
    assert single.shape == (1,) and batch.shape == (5, 1) and ints.shape == (1,)
    assert np.all(np.abs(batch) <= 2.0) and np.allclose(batch[0], single)


# ---- IQLConfig fields and constructor arguments
CONFIG_CASES: dict[str, dict[str, Any]] = {
    "temperature=inf": {"temperature": math.inf}, "temperature=-1": {"temperature": -1.0},
    "temperature=nan": {"temperature": math.nan}, "max_weight=inf": {"max_weight": math.inf},
    "max_weight=0": {"max_weight": 0.0}, "expectile=0": {"expectile": 0.0}, "expectile=1.5": {"expectile": 1.5},
    "expectile='0.7'": {"expectile": "0.7"}, "gamma=1.5": {"gamma": 1.5}, "gamma=nan": {"gamma": math.nan},
    "batch_size=0": {"batch_size": 0}, "batch_size=2.5": {"batch_size": 2.5}, "batch_size='64'": {"batch_size": "64"},
    "batch_size=True": {"batch_size": True}, "batch_size=10**30": {"batch_size": 10**30},
    "n_critics=0": {"n_critics": 0}, "n_critics=2.5": {"n_critics": 2.5}, "n_critics=10**6": {"n_critics": 10**6},
    "actor_hidden=[65536, 65536]": {"policy_kwargs": None, "actor_hidden": [65536, 65536]},
    "actor_hidden=[]": {"policy_kwargs": None, "actor_hidden": []},
    "actor_hidden=[0]": {"policy_kwargs": None, "actor_hidden": [0]},
    "actor_hidden=['a']": {"policy_kwargs": None, "actor_hidden": ["a"]},
    "actor_hidden=16": {"policy_kwargs": None, "actor_hidden": 16},
    "critic_hidden 200 layers": {"policy_kwargs": None, "critic_hidden": [4] * 200},
    "n_cos=10**9": {"n_cos": 10**9, "critic_head": "quantile"}, "n_cos=0": {"n_cos": 0},
    "domain='bogus'": {"domain": "bogus"}, "domain=5": {"domain": 5},
    "reward_transform='bogus'": {"reward_transform": "bogus"}, "actor_body='x'": {"actor_body": "x"},
    "critic_head='x'": {"critic_head": "x"}, "penalty='x'": {"penalty": "x"},
    "penalty_kwargs unknown": {"penalty": "rnd", "penalty_kwargs": {"foo": 1}},
    "penalty_kwargs='x'": {"penalty_kwargs": "x"}, "log_std_min > log_std_max": {"log_std_min": 3.0},
    "actor_lr=0": {"actor_lr": 0.0}, "actor_lr=inf": {"actor_lr": math.inf}, "actor_lr='fast'": {"actor_lr": "fast"},
    "target_update_rate=0": {"target_update_rate": 0.0}, "n_quantiles=0": {"n_quantiles": 0},
    "huber_kappa=0": {"huber_kappa": 0.0}, "divergence_factor=inf": {"divergence_factor": math.inf},
    "bf16='yes'": {"bf16": "yes"}, "normalize_observations='no'": {"normalize_observations": "no"},
    "unknown field expectle": {"expectle": 0.7}, "learning_rate='fast'": {"learning_rate": "fast"},
    "learning_rate=-1": {"learning_rate": -1.0}, "policy_kwargs unknown": {"policy_kwargs": {"foo": 1}},
    "policy_kwargs net_arch='big'": {"policy_kwargs": {"net_arch": "big"}},
    "seed='abc'": {"seed": "abc"}, "seed=2.5": {"seed": 2.5}, "seed=2**70": {"seed": 2**70},
    "verbose='loud'": {"verbose": "loud"}, "verbose=-1": {"verbose": -1}, "verbose=2.5": {"verbose": 2.5},
    "device='cuda' without a GPU": {"device": "cuda"}, "device='bogus'": {"device": "bogus"},
    "device=5": {"device": 5}, "n_seeds=0": {"n_seeds": 0}, "n_seeds=2.5": {"n_seeds": 2.5},
    "n_seeds=True": {"n_seeds": True}, "compile='yes'": {"compile": "yes"},
}


def _config_probe(changes: dict[str, Any]) -> Callable[[Context], Any]:
    def run(ctx: Context) -> Any:
        import torch

        if changes.get("device") == "cuda" and torch.cuda.is_available():
            return "skip"
        kwargs = {**SMALL, **changes}
        if kwargs.get("policy_kwargs") is None:
            kwargs.pop("policy_kwargs")
        model = small_iql(ctx.data, **{k: v for k, v in kwargs.items() if k not in SMALL or k in changes})
        model.learn(1)

    return run


for _name, _changes in CONFIG_CASES.items():
    probe(f"config/{_name}")(_config_probe(_changes))


@probe("config/policy='CnnPolicy'")
def _policy(ctx: Context) -> None:
    from iqlzoo import IQL

    IQL("CnnPolicy", ctx.data, **SMALL)


@probe("config/dataset=5")
def _dataset_int(ctx: Context) -> None:
    from iqlzoo import IQL

    IQL("MlpPolicy", 5, **SMALL)


@probe("config/dataset=None")
def _dataset_none(ctx: Context) -> None:
    from iqlzoo import IQL

    IQL("MlpPolicy", None, **SMALL)


# ---- learn
for _name, _args in {
    "learn(1.5)": ((1.5,), {}), "learn(True)": ((True,), {}), "learn('100')": (("100",), {}),
    "learn(0)": ((0,), {}), "learn(-5)": ((-5,), {}), "learn(None)": ((None,), {}),
    "learn(2, log_interval=0)": ((2,), {"log_interval": 0}),
    "learn(2, log_interval=2.5)": ((2,), {"log_interval": 2.5}),
}.items():
    probe(f"learn/{_name}")(lambda ctx, a=_args: small_iql(ctx.data).learn(*a[0], **a[1]))


@probe("learn/batch_size=10**7 on 60 transitions")
def _huge_batch(ctx: Context) -> None:
    small_iql(ctx.data, batch_size=10**7).learn(1)


@probe("learn/batch_size above the dataset trains (with a warning)", kind="correct")
def _batch_above(ctx: Context) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = small_iql(ctx.data, batch_size=100).learn(2)
    assert model.num_timesteps == 2


@probe("learn/an interrupted learn(8) resumed from its checkpoint equals learn(8)", kind="correct")
def _resume(ctx: Context) -> None:
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from iqlzoo import IQL

    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.model.num_timesteps < 4

    straight = small_iql(ctx.data).learn(8)
    interrupted = small_iql(ctx.data).learn(8, callback=StopAt())
    path = interrupted.save(ctx.tmp / "interrupted")
    resumed = IQL.load(path, dataset=ctx.data, device="cpu")
    resumed.learn(8 - resumed.num_timesteps, reset_num_timesteps=False)
    a, b = straight.nets.state_dict(), resumed.nets.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"


# ---- datasets
def _dataset_probe(**changes: Any) -> Callable[[Context], Any]:
    def run(ctx: Context) -> Any:
        small_iql(tiny_dataset(**{k: (v() if callable(v) and not isinstance(v, type) else v)
                                  for k, v in changes.items()})).learn(1)

    return run


for _name, _changes in {
    "terminations=7": {"terminations": lambda: _np().full(60, 7.0)},
    "terminations=0.5": {"terminations": lambda: _np().full(60, 0.5)},
    "a NaN reward": {"rewards": lambda: _np().where(_np().arange(60) == 5, _np().nan, 0.0)},
    "an inf observation": {"observations": lambda: _np().where(_np().arange(180).reshape(60, 3) == 7, _np().inf, 0.)},
    "rewards one short": {"rewards": lambda: _np().zeros(59)},
    "zero transitions": {"observations": lambda: _np().zeros((0, 3)), "actions": lambda: _np().zeros((0, 1)),
                         "rewards": lambda: _np().zeros(0), "next_observations": lambda: _np().zeros((0, 3)),
                         "terminations": lambda: _np().zeros(0)},
    "actions out of bounds": {"actions": lambda: _np().full((60, 1), 5.0)},
    "observations of the wrong width": {"observations": lambda: _np().zeros((60, 4))},
    "string rewards": {"rewards": lambda: _np().array(["x"] * 60)},
    "ragged observations": {"observations": lambda: [[0.0, 0.0, 0.0]] * 59 + [[0.0]]},
    "2-d rewards": {"rewards": lambda: _np().zeros((60, 2))},
    "a Discrete action space": {"action_space": lambda: __import__("gymnasium").spaces.Discrete(3)},
    "a Discrete observation space": {"observation_space": lambda: __import__("gymnasium").spaces.Discrete(3)},
}.items():
    probe(f"dataset/{_name}")(_dataset_probe(**_changes))


# ---- checkpoint JSON fields
CHECKPOINT_CASES: dict[str, tuple[str, tuple, Any]] = {
    "format_version null": ("config.json", ("format_version",), None),
    "format_version '1'": ("config.json", ("format_version",), "1"),
    "format_version 999": ("config.json", ("format_version",), 999),
    "agent_class 'os.system'": ("config.json", ("agent_class",), "os.system"),
    "agent_class 'Bogus'": ("config.json", ("agent_class",), "Bogus"),
    "agent_class [1]": ("config.json", ("agent_class",), [1]),
    "config [1, 2]": ("config.json", ("config",), [1, 2]),
    "config.actor_lr Infinity": ("config.json", ("config", "actor_lr"), math.inf),
    "config.actor_lr 'fast'": ("config.json", ("config", "actor_lr"), "fast"),
    "config.temperature -1": ("config.json", ("config", "temperature"), -1.0),
    "config.batch_size 2.5": ("config.json", ("config", "batch_size"), 2.5),
    "config.domain 'bogus'": ("config.json", ("config", "domain"), "bogus"),
    "config.actor_hidden [65536, 65536]": ("config.json", ("config", "actor_hidden"), [65536, 65536]),
    "config.n_critics 10**6": ("config.json", ("config", "n_critics"), 10**6),
    "config.critic_hidden 200 layers": ("config.json", ("config", "critic_hidden"), [4] * 200),
    "config.unknown field": ("config.json", ("config", "expectle"), 0.7),
    "data.reward_scale NaN": ("config.json", ("data", "reward_scale"), math.nan),
    "data.reward_scale -1": ("config.json", ("data", "reward_scale"), -1.0),
    "num_timesteps -5": ("config.json", ("num_timesteps",), -5),
    "num_timesteps 1.5": ("config.json", ("num_timesteps",), 1.5),
    "seed 'abc'": ("config.json", ("seed",), "abc"),
    "seed 2**70": ("config.json", ("seed",), 2**70),
    "spaces.obs_keys on a Box": ("config.json", ("spaces", "obs_keys"), ["a"]),
    "spaces.observation.shape [-1]": ("config.json", ("spaces", "observation", "shape"), [-1]),
    "spaces.observation.low of the wrong shape": ("config.json", ("spaces", "observation", "low"), [0.0]),
    "spaces.action.dtype 'object'": ("config.json", ("spaces", "action", "dtype"), "object"),
    "spaces.observation.type 'Discrete'": ("config.json", ("spaces", "observation", "type"), "Discrete"),
    "an unknown top-level field": ("config.json", ("extra",), 1),
    "derived_tensors hostile": ("config.json", ("derived_tensors",), {"": "actor."}),
    "state.json without optimizer": ("state.json", ("optimizer",), "<delete>"),
    "state.json lr 'fast'": ("state.json", ("optimizer", "param_groups", 0, "lr"), "fast"),
    "state.json total_timesteps -1": ("state.json", ("total_timesteps",), -1),
    "state.json foreign field": ("state.json", ("foreign",), 1),
    "state.json foreign optimizer key": ("state.json", ("optimizer", "param_groups", 0, "foreign"), 1.0),
}
for _name, (_member, _path, _value) in CHECKPOINT_CASES.items():
    probe(f"checkpoint/{_name}")(
        lambda ctx, m=_member, p=_path, v=_value: load_files(ctx, edited_json(ctx, m, p, v, delete=v == "<delete>")))

for _name, _content in {
    "config.json not JSON": b"{not json",
    "config.json non-UTF-8": b'{"format": "\xff\xfe"}',
    "config.json a list": b"[]",
    "config.json nested 100000 deep": b"[" * 100_000 + b"]" * 100_000,
    "config.json a number 1e999999": b'{"format": 1e999999}',
    "config.json 30 MB of whitespace": b" " * (30 << 20) + b"{}",
}.items():
    probe(f"checkpoint/{_name}")(lambda ctx, c=_content: load_files(ctx, {**ctx.files, "config.json": c}))


def _tensors(ctx: Context, member: str) -> dict:
    from safetensors.torch import load

    return load(ctx.files[member])


def _safetensors(tensors: dict) -> bytes:
    from safetensors.torch import save

    return save(tensors)


@probe("checkpoint/model.safetensors truncated")
def _truncated(ctx: Context) -> None:
    load_files(ctx, {**ctx.files, "model.safetensors": ctx.files["model.safetensors"][:-100]})


@probe("checkpoint/model.safetensors header claims 2**60 bytes")
def _header_length(ctx: Context) -> None:
    data = ctx.files["model.safetensors"]
    load_files(ctx, {**ctx.files, "model.safetensors": struct.pack("<Q", 2**60) + data[8:]})


@probe("checkpoint/model.safetensors header offsets beyond the file")
def _offsets(ctx: Context) -> None:
    data = ctx.files["model.safetensors"]
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"] = [0, 2**40]
    text = json.dumps(header).encode()
    load_files(ctx, {**ctx.files, "model.safetensors": struct.pack("<Q", len(text)) + text + data[8 + length :]})


@probe("checkpoint/a tensor of the wrong shape")
def _wrong_shape(ctx: Context) -> None:
    import torch

    tensors = _tensors(ctx, "model.safetensors")
    name = next(k for k in tensors if k.startswith("actor.") and tensors[k].dim() >= 2)
    tensors[name] = torch.zeros(*tensors[name].shape[:-1], tensors[name].shape[-1] + 1)
    load_files(ctx, {**ctx.files, "model.safetensors": _safetensors(tensors)})


@probe("checkpoint/a tensor holding NaN")
def _nan_tensor(ctx: Context) -> None:
    tensors = _tensors(ctx, "model.safetensors")
    name = next(k for k in tensors if tensors[k].is_floating_point() and tensors[k].numel() > 1)
    tensors[name] = tensors[name].clone().fill_(math.nan)
    load_files(ctx, {**ctx.files, "model.safetensors": _safetensors(tensors)})


@probe("checkpoint/optimizer.safetensors with foreign tensors")
def _foreign_optimizer(ctx: Context) -> None:
    import torch

    tensors = _tensors(ctx, "optimizer.safetensors")
    tensors["optimizer.99.foreign"] = torch.zeros(3)
    load_files(ctx, {**ctx.files, "optimizer.safetensors": _safetensors(tensors)})


@probe("checkpoint/optimizer.safetensors without the RNG state")
def _no_rng(ctx: Context) -> None:
    tensors = _tensors(ctx, "optimizer.safetensors")
    tensors.pop("rng.generator", None)
    load_files(ctx, {**ctx.files, "optimizer.safetensors": _safetensors(tensors)})


@probe("checkpoint/state.json without optimizer.safetensors")
def _half_state(ctx: Context) -> None:
    load_files(ctx, {k: v for k, v in ctx.files.items() if k != "optimizer.safetensors"})


@probe("checkpoint/no checkpoint at the path")
def _missing(ctx: Context) -> None:
    from iqlzoo import IQL

    IQL.load(ctx.tmp / "does-not-exist", device="cpu")


@probe("checkpoint/the path is /dev/zero")
def _dev_zero(ctx: Context) -> None:
    from iqlzoo import IQL

    IQL.load("/dev/zero", device="cpu")


@probe("checkpoint/the path is a FIFO")
def _fifo(ctx: Context) -> None:
    from iqlzoo import IQL

    path = ctx.tmp / "fifo.zip"
    if not path.exists():
        os.mkfifo(path)
    IQL.load(path, device="cpu")


def _zip(ctx: Context, members: dict[str, bytes], name: str = "agent.zip",
         compression: int = zipfile.ZIP_STORED) -> Path:
    path = Path(tempfile.mkdtemp(dir=ctx.tmp)) / name
    with zipfile.ZipFile(path, "w", compression) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def _bomb_zip(ctx: Context, member: str, size: int) -> Path:
    """A checkpoint zip whose ``member`` is ``size`` zero bytes, deflated (a few hundred KB)."""
    path = Path(tempfile.mkdtemp(dir=ctx.tmp)) / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in ctx.files.items():
            if name != member:
                zf.writestr(name, data)
        info = zipfile.ZipInfo(member)
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(1 << 20)
        with zf.open(info, "w", force_zip64=True) as stream:
            for _ in range(size >> 20):
                stream.write(chunk)
    return path


for _member in ("model.safetensors", "config.json"):
    probe(f"checkpoint/zip bomb: {_member} of 256 MiB zeros")(
        lambda ctx, m=_member: __import__("iqlzoo").IQL.load(_bomb_zip(ctx, m, 256 << 20), device="cpu"))


@probe("checkpoint/a zip of 5,000 entries")
def _many_entries(ctx: Context) -> None:
    from iqlzoo import IQL

    IQL.load(_zip(ctx, {**ctx.files, **{f"x{i}": b"" for i in range(5000)}}), device="cpu")


@probe("checkpoint/a zip with path-traversal members loads and writes nothing outside", kind="correct")
def _traversal(ctx: Context) -> dict:
    """Members named ``../../x`` are never extracted: loading reads the members it knows, in memory."""
    from iqlzoo import IQL

    target = ctx.tmp / "escaped.txt"
    relative = os.path.relpath(target, ctx.tmp / "x" / "y")
    outcome = _outcome(lambda: IQL.load(_zip(ctx, {**ctx.files, relative: b"escaped", "../../escaped.txt": b"x"}),
                                        device="cpu"))
    ok = outcome["outcome"] in ("silent", "clear") and not target.exists()
    return {"outcome": "correct" if ok else "wrong", "detail": outcome["detail"], "executed": int(target.exists())}


class _Payload:
    """Pickles to "call exec(code)": unpickling it runs ``code``; pickling it (here) runs nothing."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple:
        return exec, (self.code,)


def _pickle_payload(marker: Path) -> bytes:
    """Pickle bytes whose loading writes ``marker``."""
    return pickle.dumps(_Payload(f"open({str(marker)!r}, 'w').write('pwned')"))


def _code_probe(build: Callable[[Context, Path], Any]) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        marker = Path(tempfile.mkdtemp(dir=ctx.tmp)) / "marker"
        outcome = _outcome(lambda: build(ctx, marker))
        return {**outcome, "executed": int(marker.exists())}

    return run


def _outcome(action: Callable[[], Any]) -> dict:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        outcome, detail = classify_exception(exc)
        return {"outcome": outcome, "detail": detail}
    return {"outcome": "silent", "detail": "accepted"}


CODE_CASES: dict[str, Callable[[Context, Path], Any]] = {
    "a pickle as model.safetensors": lambda ctx, m: load_files(ctx, {**ctx.files,
                                                                     "model.safetensors": _pickle_payload(m)}),
    "a pickle as optimizer.safetensors": lambda ctx, m: load_files(ctx, {**ctx.files,
                                                                         "optimizer.safetensors": _pickle_payload(m)}),
    "a pickle as config.json": lambda ctx, m: load_files(ctx, {**ctx.files, "config.json": _pickle_payload(m)}),
    "an SB3 zip with a pickled policy.pth": lambda ctx, m: __import__("iqlzoo").IQL.load(
        _zip(ctx, {"policy.pth": _pickle_payload(m), "data": b"{}"}), device="cpu"),
    "agent_class naming code": lambda ctx, m: load_files(ctx, edited_json(
        ctx, "config.json", ("agent_class",), f"__import__('os').system('touch {m}')")),
    "config.penalty naming code": lambda ctx, m: load_files(ctx, edited_json(
        ctx, "config.json", ("config", "penalty"), f"__import__('os').system('touch {m}')")),
    "spaces dtype naming code": lambda ctx, m: load_files(ctx, edited_json(
        ctx, "config.json", ("spaces", "action", "dtype"), f"__import__('os').system('touch {m}')")),
}
for _name, _build in CODE_CASES.items():
    probe(f"code/{_name}", kind="code")(_code_probe(_build))


@probe("code/a valid checkpoint zip with an extra pickle loads without running it", kind="correct")
def _extra_pickle(ctx: Context) -> dict:
    """Members a checkpoint does not use (a README, or a pickle) are never read: the model loads, nothing runs."""
    from iqlzoo import IQL

    marker = Path(tempfile.mkdtemp(dir=ctx.tmp)) / "marker"
    outcome = _outcome(lambda: IQL.load(_zip(ctx, {**ctx.files, "policy.pth": _pickle_payload(marker)}),
                                        device="cpu"))
    ok = outcome["outcome"] == "silent" and not marker.exists()
    return {"outcome": "correct" if ok else "wrong", "detail": outcome["detail"], "executed": int(marker.exists())}


# ---- command lines
CLI_CASES: dict[str, tuple[str, list[str], str]] = {
    "benchmarks.run --agents Bogus": ("benchmarks.run", ["--suite", "smoke", "--agents", "Bogus"], "Bogus"),
    "benchmarks.run --steps 0": ("benchmarks.run", ["--suite", "smoke", "--steps", "0"], "--steps"),
    "benchmarks.run --steps abc": ("benchmarks.run", ["--suite", "smoke", "--steps", "abc"], "--steps"),
    "benchmarks.run --seeds 0": ("benchmarks.run", ["--suite", "smoke", "--seeds", "0"], "--seeds"),
    "benchmarks.run --suite bogus": ("benchmarks.run", ["--suite", "bogus"], "--suite"),
    "benchmarks.run --datasets mars": ("benchmarks.run", ["--suite", "smoke", "--datasets", "mars"], "mars"),
    "benchmarks.run --params expectile:2": ("benchmarks.run", ["--suite", "smoke", "--params", "expectile:2"],
                                            "expectile"),
    "benchmarks.run --params foo:1": ("benchmarks.run", ["--suite", "smoke", "--params", "foo:1"], "foo"),
    "benchmarks.run --params actor_lr:abc": ("benchmarks.run", ["--suite", "smoke", "--params", "actor_lr:abc"],
                                             "actor_lr"),
    "benchmarks.run --device cuda without a GPU": ("benchmarks.run", ["--suite", "smoke", "--device", "cuda"],
                                                   "cuda"),
    "benchmarks.run --out an unwritable path": ("benchmarks.run", ["--suite", "smoke", "--out", "/dev/null/store"],
                                                "/dev/null/store"),
    "benchmarks.run --workers 0": ("benchmarks.run", ["--suite", "smoke", "--workers", "0"], "--workers"),
    "benchmarks.run --gpus-per-run -1": ("benchmarks.run", ["--suite", "smoke", "--gpus-per-run", "-1"],
                                         "--gpus-per-run"),
    "benchmarks.run --reps 0": ("benchmarks.run", ["--suite", "smoke", "--reps", "0"], "--reps"),
    "benchmarks.run --max-attempts 0": ("benchmarks.run", ["--suite", "smoke", "--max-attempts", "0"],
                                        "--max-attempts"),
    "leaderboard --results /nonexistent": ("leaderboard.__main__", ["--results", "/nonexistent"], "/nonexistent"),
    "leaderboard --reps 0": ("leaderboard.__main__", ["--reps", "0"], "--reps"),
    "leaderboard --reps abc": ("leaderboard.__main__", ["--reps", "abc"], "--reps"),
    "leaderboard --seed -1": ("leaderboard.__main__", ["--seed", "-1"], "--seed"),
    "quickstart --steps 0": ("iqlzoo.quickstart", ["--zoo", "none", "--steps", "0"], "--steps"),
    "quickstart --steps abc": ("iqlzoo.quickstart", ["--zoo", "none", "--steps", "abc"], "--steps"),
    "quickstart --threads 0": ("iqlzoo.quickstart", ["--zoo", "none", "--threads", "0"], "--threads"),
    "quickstart --eval-episodes 0": ("iqlzoo.quickstart", ["--zoo", "none", "--eval-episodes", "0"],
                                     "--eval-episodes"),
    "quickstart --seed -1": ("iqlzoo.quickstart", ["--zoo", "none", "--seed", "-1"], "--seed"),
    "recipes build --steps 0": ("iqlzoo.recipes.__main__", ["build", "iqlzoo/toy/pendulum-mixed-v0", "--steps", "0"],
                                "--steps"),
    "recipes build --threads 0": ("iqlzoo.recipes.__main__",
                                  ["build", "iqlzoo/toy/pendulum-mixed-v0", "--threads", "0"], "--threads"),
    "recipes build bogus/id-v0": ("iqlzoo.recipes.__main__", ["build", "bogus/id-v0"], "bogus/id-v0"),
    "recipes expert-check --episodes 0": ("iqlzoo.recipes.__main__", ["expert-check", "umaze", "--episodes", "0"],
                                          "--episodes"),
    "recipes info of an unbuilt id": ("iqlzoo.recipes.__main__", ["info", "bogus/id-v0"], "bogus/id-v0"),
}


def _cli_probe(module: str, argv: list[str], mention: str) -> Callable[[Context], dict]:
    def run(ctx: Context) -> dict:
        store = Path(tempfile.mkdtemp(dir=ctx.tmp))
        extra = ["--out", str(store / "results"), "--offline", "--no-leaderboard"] if module == "benchmarks.run" \
            and "--out" not in argv else []
        if module == "benchmarks.run" and "--out" in argv:
            extra = ["--offline", "--no-leaderboard"]
        if module == "leaderboard.__main__":
            extra = ["--out", str(store / "README.md")] + ([] if "--results" in argv else ["--results",
                                                                                          str(store / "nothing")])
            if "--results" not in argv:
                (store / "nothing" / "runs").mkdir(parents=True)
        if module == "iqlzoo.quickstart":
            extra = ["--out", str(store / "quickstart")]
        outcome, detail = run_cli(module, argv + extra, mention)
        return {"outcome": outcome, "detail": detail}

    return run


for _name, (_module, _argv, _mention) in CLI_CASES.items():
    probe(f"cli/{_name}", kind="cli")(_cli_probe(_module, _argv, _mention))


# ---- hyperparameter files
YAML_CASES: dict[str, bytes] = {
    "non-UTF-8 bytes": b"summary: \xff\xfe\nbudget: quick\n",
    "an alias bomb": b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(8))
    + b"summary: *i\nbudget: quick\ndatasets: {toy: x/y-v0}\ncells: {IQL: {}}\n",
    "nesting 50000 deep": b"summary: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "a python tag": b"summary: !!python/object/apply:os.system ['true']\nbudget: quick\n",
    "a wrong-typed field": None,  # filled from the smoke file below
    "a list for cells": b"summary: s\nbudget: quick\ndatasets: {toy: x/y-v0}\ncells: [IQL]\n",
    "2 MB of comments": b"#" * (2 << 20) + b"\nsummary: s\n",
}


def _yaml_probe(name: str) -> Callable[[Context], Any]:
    def run(ctx: Context) -> Any:
        try:
            from benchmarks.hyperparams import HYPERPARAMS_DIR, load_suite_file
        except ImportError:
            return "skip"
        content = YAML_CASES[name]
        if content is None:
            text = (HYPERPARAMS_DIR / "smoke.yml").read_text()
            content = text.replace("  batch_size: 64", "  batch_size: sixty-four", 1).encode()
        path = Path(tempfile.mkdtemp(dir=ctx.tmp)) / "suite.yml"
        path.write_bytes(content)
        from benchmarks import suites

        if hasattr(suites, "load_suite"):
            suites.load_suite("suite", path.parent)
        else:
            load_suite_file(path)

    return run


for _name in YAML_CASES:
    probe(f"yaml/{_name}")(_yaml_probe(_name))


@probe("code/a YAML python tag", kind="code")
def _yaml_code(ctx: Context) -> dict:
    try:
        from benchmarks.hyperparams import load_suite_file
    except ImportError:
        return {"outcome": "n/a", "detail": "no hyperparameter files here", "executed": 0}
    marker = Path(tempfile.mkdtemp(dir=ctx.tmp)) / "marker"
    path = marker.parent / "suite.yml"
    path.write_text(f"summary: !!python/object/apply:os.system ['touch {marker}']\n")
    outcome = _outcome(lambda: load_suite_file(path))
    return {**outcome, "executed": int(marker.exists())}


# ---- crashes
def _params(model: Any) -> dict:
    return {k: v.clone() for k, v in model.nets.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _kill_during_save(ctx: Context, suffix: str, kills: int) -> dict:
    """Save model A, then ``kills`` times: fork a child that saves B and A over it in a loop, SIGKILL it at a random
    moment, and load the path: it must hold A or B, complete."""
    import random

    from iqlzoo import IQL

    a, b = ctx.model, small_iql(ctx.data, seed=1)
    known = [_params(a), _params(b)]
    path = Path(tempfile.mkdtemp(dir=ctx.tmp)) / f"agent{suffix}"
    a.save(path)
    survived = lost = 0
    rng = random.Random(0)
    for _ in range(kills):
        pid = os.fork()
        if pid == 0:  # the child saves until it is killed
            try:
                while True:
                    b.save(path)
                    a.save(path)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.005, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        try:
            loaded = _params(IQL.load(path, device="cpu"))
            ok = any(_same(loaded, params) for params in known)
        except Exception:  # noqa: BLE001 - a checkpoint that no longer loads is data lost
            ok = False
        survived, lost = survived + ok, lost + (not ok)
    a.save(path)  # the next save cleans up what killed saves left
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    return {"outcome": "n/a", "survived": survived, "lost": lost, "detail": f"temporaries left after the next save: "
            f"{leftovers[:3]}", "leftovers": len(leftovers)}


@probe("crash/SIGKILL during save (folder) x10", kind="crash")
def _kill_folder(ctx: Context) -> dict:
    return _kill_during_save(ctx, "", 10)


@probe("crash/SIGKILL during save (zip) x10", kind="crash")
def _kill_zip(ctx: Context) -> dict:
    return _kill_during_save(ctx, ".zip", 10)


def _disk_full(ctx: Context, suffix: str) -> dict:
    """Save model A, then in a child limited to files of 4 KB (RLIMIT_FSIZE: writes beyond fail as on a full disk)
    save B over it: the save must fail with an error naming the path, and A must still load."""
    from iqlzoo import IQL

    a, b = ctx.model, small_iql(ctx.data, seed=1)
    path = Path(tempfile.mkdtemp(dir=ctx.tmp)) / f"agent{suffix}"
    a.save(path)
    before = _params(a)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            b.save(path)
            message = "saved"
        except BaseException as exc:  # noqa: BLE001
            message = f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode()[:2000])
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    message = os.read(read, 4000).decode(errors="replace")
    os.close(read)
    try:
        ok = _same(_params(IQL.load(path, device="cpu")), before)
    except Exception:  # noqa: BLE001
        ok = False
    named = str(path.parent) in message or path.name in message
    return {"outcome": "n/a", "survived": int(ok), "lost": int(not ok),
            "detail": f"error names the path: {named}; {message[:200]}"}


@probe("crash/disk full during save (folder)", kind="crash")
def _full_folder(ctx: Context) -> dict:
    return _disk_full(ctx, "")


@probe("crash/disk full during save (zip)", kind="crash")
def _full_zip(ctx: Context) -> dict:
    return _disk_full(ctx, ".zip")


def run_probe(ctx: Context, name: str) -> dict:
    """Run one probe and classify what happened."""
    function, kind = PROBES[name], KINDS[name]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = function(ctx)
        except AssertionError as exc:
            if kind == "correct":
                return {"outcome": "wrong", "detail": str(exc)[:300]}
            outcome, detail = classify_exception(exc)
            return {"outcome": outcome, "detail": detail}
        except Exception as exc:  # noqa: BLE001
            outcome, detail = classify_exception(exc)
            if kind == "correct":
                outcome = "wrong"
            return {"outcome": outcome, "detail": detail}
    if result == "skip":
        return {"outcome": "n/a", "detail": "not applicable here"}
    if isinstance(result, dict):
        return result
    return {"outcome": "correct" if kind == "correct" else "silent", "detail": "no error"}


def worker() -> None:
    """Read probe names from stdin, answer one JSON line each on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints of the probed code must not corrupt the protocol
    with tempfile.TemporaryDirectory(prefix="iqlzoo-adversarial-") as tmp:
        ctx = make_context(Path(tmp))
        answer.write(json.dumps({"ready": True}) + "\n")
        answer.flush()
        for line in sys.stdin:
            name = line.strip()
            start = time.process_time()
            result = run_probe(ctx, name)
            result.update(name=name, kind=KINDS[name], cpu_s=round(time.process_time() - start, 2))
            answer.write(json.dumps(result) + "\n")
            answer.flush()


# ------------------------------------------------------------------------------------------------ the parent side
def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Worker:
    """A ``--worker`` process and the protocol to it."""

    def __init__(self) -> None:
        # the worker runs this file as a script, so put the checkout that `iqlzoo` resolves to here first on its path
        spec = importlib.util.find_spec("iqlzoo")
        root = str(Path(spec.origin).resolve().parent.parent) if spec and spec.origin else ""
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "MINARI_OFFLINE": "1", "PYTHONWARNINGS": "ignore",
               "PYTHONPATH": path}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env, bufsize=1)
        ready = self._read(budget_cpu=600.0, budget_wall=3600.0)
        if not ready or not ready.get("ready"):
            raise RuntimeError("the adversarial worker did not start (run it with --worker to see why)")

    def _read(self, budget_cpu: float, budget_wall: float) -> dict | None:
        assert self.proc.stdout is not None
        cpu0, wall0 = _cpu_seconds(self.proc.pid), time.monotonic()
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                return json.loads(line) if line else None
            if self.proc.poll() is not None:
                return None
            if _cpu_seconds(self.proc.pid) - cpu0 > budget_cpu or time.monotonic() - wall0 > budget_wall:
                return None

    def ask(self, name: str) -> dict | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return self._read(CPU_BUDGET_S, WALL_BUDGET_S)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_all(names: list[str], out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    results = []
    current: Worker | None = None
    with open(out / "results.jsonl", "w") as log:
        for name in names:
            current = current or Worker()
            answer = current.ask(name)
            if answer is None:
                died = current.proc.poll() is not None
                current.kill()
                current = None
                answer = {"name": name, "kind": KINDS[name],
                          "outcome": "unclear" if died else "hang",
                          "detail": "the worker died (killed for memory?)" if died else
                          f"no answer within {CPU_BUDGET_S:.0f} CPU s"}
            results.append(answer)
            log.write(json.dumps(answer) + "\n")
            log.flush()
            print(f"{answer['outcome']:8s} {name}: {answer.get('detail', '')[:150]}", flush=True)
    if current is not None:
        current.kill()
    return results


def tally(results: list[dict]) -> dict[str, int]:
    """The figures of the pass, in the issue's form."""
    inputs = [r for r in results if r["kind"] in ("refuse", "cli", "code") and r["outcome"] != "n/a"]
    counts = Counter(r["outcome"] for r in inputs)
    crashes = [r for r in results if r["kind"] == "crash"]
    return {
        "inputs tried": len(inputs),
        "clear errors": counts["clear"],
        "unclear": counts["unclear"],
        "silent": counts["silent"],
        "hangs": counts["hang"],
        "correct-behaviour checks passed": sum(r["outcome"] == "correct" for r in results),
        "correct-behaviour checks failed": sum(r["outcome"] in ("wrong", "hang", "unclear")
                                               for r in results if r["kind"] == "correct"),
        "crashes survived": sum(r.get("survived", 0) for r in crashes),
        "data lost": sum(r.get("lost", 0) for r in crashes),
        "temporaries left after the next save": sum(r.get("leftovers", 0) for r in crashes),
        "code-execution probes": sum("executed" in r for r in results),
        "code executed": sum(r.get("executed", 0) for r in results),
        "not applicable here": sum(r["outcome"] == "n/a" and r["kind"] != "crash" for r in results),
    }


def tally_markdown(figures: dict[str, int], results: list[dict]) -> str:
    lines = ["| figure | count |", "|---|---:|"] + [f"| {k} | {v} |" for k, v in figures.items()]
    bad = [r for r in results if r["outcome"] in ("unclear", "silent", "hang", "wrong")]
    if bad:
        lines += ["", "| probe | outcome | detail |", "|---|---|---|"]
        lines += [f"| {r['name']} | {r['outcome']} | {r.get('detail', '')[:160].replace('|', '/')} |" for r in bad]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adversarial", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for results.jsonl and tally.md")
    parser.add_argument("--only", nargs="+", metavar="PREFIX", help="run the probes whose names start with these")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    names = [n for n in PROBES if not args.only or any(n.startswith(prefix) for prefix in args.only)]
    if args.list:
        print("\n".join(names))
        return 0
    if args.out is None:
        parser.error("--out is required")
    if not names:
        parser.error(f"no probe starts with {args.only}; see --list")
    started = time.monotonic()
    results = run_all(names, args.out)
    figures = tally(results)
    text = tally_markdown(figures, results)
    (args.out / "tally.md").write_text(text)
    print(text)
    print(f"{len(results)} probes in {time.monotonic() - started:.0f} s; {args.out / 'results.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
