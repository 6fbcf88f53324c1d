"""The schema of an iqlzoo checkpoint's JSON, checked before anything is built from it.

``config.json`` and ``state.json`` may come from a stranger or a damaged disk, so every field is checked — type,
range, finiteness, consistency with the other fields — and every problem is a :class:`CheckpointError` that names
the field and says what to do, never a ``KeyError``/``TypeError`` from deep inside numpy or torch. The size of the
networks a config describes is measured without allocating them (on PyTorch's ``meta`` device) and held to
:class:`~iqlzoo.limits.LoadLimits` before a single parameter is allocated.

Fields of the agent's configuration and data transform are checked against their dataclass annotations (``int``,
``float``, ``bool``, ``str``, ``X | None``, ``tuple[int, ...]``, ``dict``), then by the configuration's own
``validate()``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from iqlzoo.agents.presets import DOMAIN_DEFAULTS
from iqlzoo.arguments import MAX_SEED, MIN_SEED
from iqlzoo.data.spaces import ObservationFlattener, space_from_json
from iqlzoo.errors import CheckpointError, InvalidInputError
from iqlzoo.limits import LoadLimits

if TYPE_CHECKING:
    from iqlzoo.checkpoint import Checkpoint

NetworkBuilder = Callable[[int, int, Any], torch.nn.Module]
"""``build(obs_dim, act_dim, config)``: the agent's networks for a configuration (e.g. ``IQLNetworks``)."""

ADVICE = "the file is corrupt, not from iqlzoo, or was edited by hand: re-save the agent or correct the field"
INT64 = 2**63
TOP_LEVEL_FIELDS = ("format", "format_version", "agent_class", "config", "spaces", "data", "num_timesteps", "seed",
                    "versions", "derived_tensors", "untrained_tensors")
"""Every field ``config.json`` may hold."""
REQUIRED_FIELDS = ("agent_class", "config", "spaces", "data")
RESOLVED_FIELDS = ("domain", *sorted({name for preset in DOMAIN_DEFAULTS.values() for name in preset}))
"""Configuration fields that ``None`` leaves to a domain preset; a saved configuration always has them filled."""
MAX_SPACE_RANK = 8
STATE_FIELDS = ("optimizer", "total_timesteps")
OPTIMIZER_TENSOR = re.compile(r"optimizer\.\d+\.[A-Za-z_]+")
RNG_TENSOR = "rng.generator"
CUDA_RNG_BYTES = 16
"""Size of a CUDA generator's state (``torch.Generator("cuda").get_state()``): its Philox seed and offset, two 64-bit
integers. A CPU generator's state (Mersenne Twister) is 5056 bytes."""


def rng_state_device(rng: torch.Tensor) -> str:
    """The device type of the generator a (validated) ``rng.generator`` state came from: ``cuda`` or ``cpu``."""
    return "cuda" if rng.numel() == CUDA_RNG_BYTES else "cpu"


SHAPED_BY = {
    "actor.": "config.actor_hidden, config.actor_body and the spaces",
    "critic.": "config.critic_hidden, config.critic_body, config.critic_head, config.n_critics, config.n_cos and "
    "the spaces",
    "critic_target.": "config.critic_hidden, config.critic_body, config.critic_head, config.n_critics, config.n_cos "
    "and the spaces",
    "value.": "config.value_hidden, config.value_body, config.critic_head, config.distributional_loss, config.n_cos "
    "and spaces.observation",
    "penalty.": "config.penalty, config.penalty_hidden and the spaces",
    "obs_": "spaces.observation and spaces.obs_keys",
}
"""The fields that determine the shapes of each network's tensors, for pointing at the culprit of a mismatch."""


def field_error(where: str, path: str, problem: str) -> CheckpointError:
    """``where: field 'path' problem; <what to do>``."""
    return CheckpointError(f"{where}: field {path!r} {problem}; {ADVICE}")


def is_int(value: Any) -> bool:
    """A JSON integer (``bool`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A JSON number (``bool`` is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def type_problem(value: Any, annotation: Any) -> str | None:
    """What keeps ``value`` from fitting the type ``annotation``, as "must be ..." — or None when it fits.

    The one type check of settings, used for a checkpoint's JSON (:func:`check_value`) and for the arguments of
    ``IQLConfig`` (``IQLConfig.validate``): ``bool`` takes only a bool; ``int`` an integer in [-2**63, 2**63), never
    a bool; ``float`` any finite real number, never a bool; ``str`` a string; ``tuple[X, ...]`` a list or tuple of X;
    ``dict`` a mapping with string keys; ``X | None`` None or an X; ``Literal[...]`` one of its values.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        problems = [type_problem(value, option) for option in options]
        if any(problem is None for problem in problems):
            return None
        if len(options) == 1:
            return problems[0] + (" or None" if type(None) in args else "")
        return "must be " + " or ".join(type_text(option) for option in options)
    if origin is typing.Literal:
        return None if value in args else f"must be one of {list(args)}"
    if annotation is bool:
        return None if isinstance(value, bool) else "must be bool (true or false)"
    if annotation is int:
        return None if is_int(value) and -INT64 <= value < INT64 else "must be int (an integer in [-2**63, 2**63))"
    if annotation is float:
        if not is_real(value):
            return "must be float (a number)"
        return None if math.isfinite(value) else "must be finite"
    if annotation is str:
        return None if isinstance(value, str) else "must be str (text)"
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return f"must be {type_text(annotation)} (a list)"
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is None and len(value) != len(args):
            return f"must be {type_text(annotation)} (a list of {len(args)})"
        for index, element in enumerate(value):
            problem = type_problem(element, item if item is not None else args[index])
            if problem is not None:
                return f"must be {type_text(annotation)} (item {index} {problem})"
        return None
    if origin is dict or annotation is dict:
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            return "must be dict (an object with text keys)"
        return None
    return None


def type_text(annotation: Any) -> str:
    """An annotation as a reader writes it, e.g. ``float | None``."""
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_value(value: Any, annotation: Any, path: str, where: str) -> None:
    """Raise a :class:`CheckpointError` naming ``path`` unless the JSON ``value`` fits ``annotation`` (see
    :func:`type_problem`)."""
    problem = type_problem(value, annotation)
    if problem is not None:
        raise field_error(where, path, f"is {_describe(value)}; it {problem}")


def check_dataclass_fields(data: Any, cls: type, path: str, where: str) -> None:
    """Raise unless ``data`` is a JSON object whose keys are fields of the dataclass ``cls`` with fitting values.

    Absent fields are allowed: they take the dataclass default (how checkpoints of older versions stay loadable).
    """
    if not isinstance(data, dict):
        raise field_error(where, path, f"is {_describe(data)}, not an object of {cls.__name__} settings")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise field_error(where, path, f"has unknown settings {unknown} (written by a newer iqlzoo? then upgrade); "
                          f"{cls.__name__} has {names}")
    for name, value in data.items():
        check_value(value, hints[name], f"{path}.{name}", where)


def check_envelope(config: Any, where: str, fmt: str, newest_version: int) -> None:
    """The fields that make ``config.json`` an iqlzoo checkpoint: ``format``, ``format_version``, ``agent_class``."""
    if not isinstance(config, dict) or config.get("format") != fmt:
        raise CheckpointError(f"{where} is not an iqlzoo checkpoint config (no format marker {fmt!r})")
    version = config.get("format_version")
    if not is_int(version) or version < 1:
        raise field_error(where, "format_version", f"is {_describe(version)}, not a positive integer")
    if version > newest_version:
        raise CheckpointError(
            f"{where}: the checkpoint uses format {version}, newer than this iqlzoo understands "
            f"({newest_version}); upgrade iqlzoo"
        )
    if not isinstance(config.get("agent_class"), str):
        raise field_error(where, "agent_class", f"is {_describe(config.get('agent_class'))}, not a class name")


# ---------------------------------------------------------------------------------------------------------- spaces
def _check_numbers(values: Any, shape: list[int], path: str, where: str) -> None:
    """``values`` must be nested lists of exactly ``shape`` holding numbers (±inf allowed, NaN not)."""
    level = [values]
    for depth, size in enumerate(shape):
        for item in level:
            if not isinstance(item, list) or len(item) != size:
                raise field_error(where, path, f"does not have the shape {shape} that the space declares "
                                  f"(at depth {depth}: {_describe(item)})")
        level = [element for item in level for element in item]
    for item in level:
        if isinstance(item, list):
            raise field_error(where, path, f"has more dimensions than the shape {shape} that the space declares")
        if not is_real(item) or math.isnan(item):
            raise field_error(where, path, f"holds {_describe(item)}; bounds must be numbers (±Infinity allowed)")


def _check_box(desc: Any, path: str, where: str) -> None:
    keys = {"type", "shape", "low", "high", "dtype"}
    if not isinstance(desc, dict):
        raise field_error(where, path, f"is {_describe(desc)}, not an object describing a Box space")
    if set(desc) != keys:
        missing, unknown = sorted(keys - set(desc)), sorted(set(desc) - keys)
        raise field_error(where, path, f"lacks {missing} and has unknown {unknown}: a Box space has exactly "
                          f"{sorted(keys)}")
    shape = desc["shape"]
    if not isinstance(shape, list) or len(shape) > MAX_SPACE_RANK or not all(is_int(d) and d >= 0 for d in shape):
        raise field_error(where, f"{path}.shape", f"is {_describe(shape)}, not a list of at most {MAX_SPACE_RANK} "
                          "non-negative integers")
    dtype = desc["dtype"]
    try:
        kind = np.dtype(dtype).kind if isinstance(dtype, str) else None
    except (TypeError, ValueError, SyntaxError):
        kind = None
    if kind not in ("f", "i", "u"):
        raise field_error(where, f"{path}.dtype", f"is {_describe(dtype)}, not a numeric dtype such as 'float32'")
    _check_numbers(desc["low"], shape, f"{path}.low", where)
    _check_numbers(desc["high"], shape, f"{path}.high", where)
    if not np.all(np.asarray(desc["low"], dtype=np.float64) <= np.asarray(desc["high"], dtype=np.float64)):
        raise field_error(where, f"{path}.low", f"exceeds {path}.high somewhere")


def _check_space(desc: Any, path: str, where: str, allow_dict: bool) -> None:
    if not isinstance(desc, dict):
        raise field_error(where, path, f"is {_describe(desc)}, not an object describing a space")
    kind = desc.get("type")
    if kind == "Box":
        _check_box(desc, path, where)
    elif kind == "Dict" and allow_dict:
        members = desc.get("spaces")
        if set(desc) != {"type", "spaces"} or not isinstance(members, dict) or not members:
            raise field_error(where, path, "has type 'Dict' but not just a non-empty object 'spaces' of named Box "
                              "spaces")
        for name, member in members.items():
            _check_box(member, f"{path}.spaces.{name}", where)
    else:
        allowed = "'Box' or 'Dict' (of Box spaces)" if allow_dict else "'Box'"
        raise field_error(where, f"{path}.type", f"is {_describe(kind)}; it must be {allowed}")


def check_spaces(desc: Any, where: str) -> tuple[int, int]:
    """Check the ``spaces`` field; return the sizes (obs_dim, act_dim) of flat observations and actions."""
    if not isinstance(desc, dict) or not {"observation", "action"} <= set(desc) <= {"observation", "action",
                                                                                     "obs_keys"}:
        raise field_error(where, "spaces", f"is {_describe(desc)}, not an object of observation, action, obs_keys")
    _check_space(desc["observation"], "spaces.observation", where, allow_dict=True)
    _check_space(desc["action"], "spaces.action", where, allow_dict=False)
    keys = desc.get("obs_keys")
    if desc["observation"]["type"] == "Box" and keys is not None:
        raise field_error(where, "spaces.obs_keys", f"is {_describe(keys)} for a Box observation space; it must be "
                          "null (only Dict observations have keys)")
    if keys is not None:
        members = desc["observation"]["spaces"]
        known = isinstance(keys, list) and keys and all(isinstance(k, str) and k in members for k in keys)
        if not known or len(set(keys)) != len(keys):
            raise field_error(where, "spaces.obs_keys", f"is {_describe(keys)}; it must be null or a list of distinct "
                              f"keys of the observation space {sorted(members)}")
    try:
        observation, action = space_from_json(desc["observation"]), space_from_json(desc["action"])
        obs_dim = ObservationFlattener(observation, keys).dim
    except (ValueError, TypeError, OverflowError) as exc:
        raise field_error(where, "spaces", f"does not describe usable spaces ({exc})") from None
    act_dim = int(np.prod(action.shape))
    if obs_dim < 1 or act_dim < 1:
        raise field_error(where, "spaces", f"describes {obs_dim}-d observations and {act_dim}-d actions; both need "
                          "at least one dimension")
    return obs_dim, act_dim


# ---------------------------------------------------------------------------------------------------------- sizes
def network_parameters(cfg: Any, obs_dim: int, act_dim: int, build: NetworkBuilder) -> int | None:
    """The number of values in the state dict of ``build(obs_dim, act_dim, cfg)``, counted without allocating them:
    the networks are built on PyTorch's ``meta`` device, where tensors have shapes but no storage (and initialisers
    draw no random numbers). None when it is beyond counting (a tensor of more than 2**63 elements)."""
    try:
        with torch.device("meta"):
            nets = build(obs_dim, act_dim, cfg)
    except InvalidInputError:
        raise
    except (RuntimeError, OverflowError, TypeError):  # torch's size arguments overflow
        return None
    return sum(t.numel() for t in nets.state_dict().values())


def check_network_size(cfg: Any, obs_dim: int, act_dim: int, build: NetworkBuilder, limits: LoadLimits,
                       where: str) -> None:
    """Refuse a checkpoint's configuration whose networks exceed ``limits`` — hidden layers per body, and the number
    of values in the state dict of ``build(obs_dim, act_dim, cfg)`` (:func:`network_parameters`) — before
    allocating them."""
    for name in ("actor_hidden", "critic_hidden", "value_hidden", "penalty_hidden"):
        limits.check(f"{where}: the number of hidden layers in config.{name}", len(getattr(cfg, name)),
                     "max_hidden_layers")
    what = (f"{where}: the number of network parameters that config.json describes ({obs_dim}-d observations, "
            f"{act_dim}-d actions, config.actor_hidden, critic_hidden, value_hidden, penalty_hidden, n_critics, n_cos)")
    count = network_parameters(cfg, obs_dim, act_dim, build)
    limits.check(what, count if count is not None else INT64, "max_parameters")


def check_agent_size(cfg: Any, obs_dim: int, act_dim: int, n_seeds: int, build: NetworkBuilder,
                     limits: LoadLimits, agent: str) -> None:
    """Refuse to build an agent whose networks exceed ``limits`` (the same ceilings a loaded checkpoint is held to),
    before a parameter is allocated: a config such as ``actor_hidden=(65536, 65536)`` would otherwise take
    gigabytes, or the machine. The message says how to raise the limit for a user who means it."""
    advice = ("if you mean it, pass limits=LoadLimits({0}=...) to the constructor or set the environment variable "
              "IQLZOO_{1}")
    for name in ("actor_hidden", "critic_hidden", "value_hidden", "penalty_hidden"):
        layers = len(getattr(cfg, name))
        if layers > limits.max_hidden_layers:
            raise InvalidInputError(f"{agent}: {name} has {layers} hidden layers, over the limit max_hidden_layers="
                                    f"{limits.max_hidden_layers}; " + advice.format("max_hidden_layers",
                                                                                     "MAX_HIDDEN_LAYERS"))
    per_seed = network_parameters(cfg, obs_dim, act_dim, build)
    total = None if per_seed is None else per_seed * n_seeds
    if total is None or total > limits.max_parameters:
        size = "beyond counting" if total is None else f"{total:,} (~{total * 16 / 2**30:.1f} GiB with gradients " \
            "and Adam's moments)"
        raise InvalidInputError(
            f"{agent}: the networks this configuration describes ({obs_dim}-d observations, {act_dim}-d actions, "
            f"actor_hidden, critic_hidden, value_hidden, penalty_hidden, n_critics, n_cos, n_seeds={n_seeds}) have "
            f"{size} parameters, over the limit max_parameters={limits.max_parameters:,}; "
            + advice.format("max_parameters", "MAX_PARAMETERS")
        )


# ---------------------------------------------------------------------------------------------------------- state
def _is_finite_number(value: Any) -> bool:
    return is_real(value) and math.isfinite(value)


def _is_setting(value: Any) -> bool:
    """An optimizer param-group setting: null, a boolean, a string, a finite number or a list of them."""
    if isinstance(value, list):
        return all(map(_is_finite_number, value))
    return value is None or isinstance(value, (bool, str)) or _is_finite_number(value)


def _check_state(state: Any, num_timesteps: int, where: str) -> None:
    if not isinstance(state, dict):
        raise field_error(where, "state", f"is {_describe(state)}, not an object")
    unknown = sorted(set(state) - set(STATE_FIELDS))
    if unknown:
        raise field_error(where, str(unknown[0]), f"is not a state.json field (known: {list(STATE_FIELDS)})")
    optimizer = state.get("optimizer")
    if not isinstance(optimizer, dict) or set(optimizer) != {"param_groups"}:
        problem = "is missing" if optimizer is None else f"is {_describe(optimizer)}, not {{'param_groups': [...]}}"
        raise field_error(where, "optimizer", f"{problem}: without the optimizer's settings training cannot resume "
                          "exactly (save with include_optimizer=False for a model without them)")
    groups = optimizer["param_groups"]
    if not isinstance(groups, list) or not groups:
        raise field_error(where, "optimizer.param_groups", f"is {_describe(groups)}, not a list of groups")
    for index, group in enumerate(groups):
        path = f"optimizer.param_groups[{index}]"
        if not isinstance(group, dict):
            raise field_error(where, path, f"is {_describe(group)}, not an object")
        params = group.get("params")
        if not isinstance(params, list) or not all(is_int(p) and 0 <= p < INT64 for p in params):
            raise field_error(where, f"{path}.params", f"is {_describe(params)}, not a list of parameter indices")
        for key, value in group.items():
            if key != "params" and not _is_setting(value):
                raise field_error(where, f"{path}.{key}", f"is {_describe(value)}, not a finite number, a list of "
                                  "them, a boolean, a string or null")
    total = state.get("total_timesteps", num_timesteps)
    if not is_int(total) or not num_timesteps <= total < INT64:
        raise field_error(where, "total_timesteps", f"is {_describe(total)}, not an integer >= num_timesteps "
                          f"({num_timesteps})")


def _check_optimizer_tensors(tensors: Mapping[str, torch.Tensor], where: str) -> None:
    foreign = sorted(n for n in tensors if n != RNG_TENSOR and not OPTIMIZER_TENSOR.fullmatch(n))
    if foreign:
        raise CheckpointError(f"{where} holds tensors that are not optimizer state: {foreign[:5]}; {ADVICE}")
    rng = tensors.get(RNG_TENSOR)
    if rng is None:
        raise CheckpointError(f"{where} lacks the tensor {RNG_TENSOR!r} (the batch sampler's random state), so "
                              f"training could not resume exactly; {ADVICE}")
    problem = f"dtype {rng.dtype}, shape {tuple(rng.shape)}"
    if rng.dtype == torch.uint8 and rng.dim() == 1 and rng.numel() == CUDA_RNG_BYTES:
        # torch checks a CUDA state only on a CUDA machine: its Philox offset must be a non-negative multiple of 4
        offset = int.from_bytes(bytes(rng[8:].tolist()), "little", signed=True)
        if offset >= 0 and offset % 4 == 0:
            return
        problem = f"its Philox offset {offset} is not a non-negative multiple of 4"
    elif rng.dtype == torch.uint8 and rng.dim() == 1:
        try:
            torch.Generator().set_state(rng)
            return
        except RuntimeError as exc:
            problem = str(exc)
    raise CheckpointError(f"{where}: tensor {RNG_TENSOR!r} is neither a CPU nor a CUDA generator state ({problem}); "
                          f"{ADVICE}")


# ---------------------------------------------------------------------------------------------------------- entry
def validate_checkpoint(ckpt: Checkpoint, config_cls: type, transform_cls: type, build: NetworkBuilder) -> None:
    """Check every field of ``ckpt.config`` (config.json) and ``ckpt.state`` (state.json), the optimizer file's
    tensor names, and — for a checkpoint read from disk — the size of the networks it describes, against
    ``ckpt.limits``. ``config_cls``/``transform_cls``: the agent's configuration and data-transform dataclasses;
    ``build``: its networks (see :func:`check_network_size`)."""
    origin = f"{ckpt.origin}/" if ckpt.origin else ""
    where = f"{origin}config.json"
    config = ckpt.config
    if not isinstance(config, dict):
        raise CheckpointError(f"{where} is {_describe(config)}, not a JSON object; {ADVICE}")
    unknown = sorted(set(config) - set(TOP_LEVEL_FIELDS))
    if unknown:
        raise field_error(where, str(unknown[0]), f"is not a config.json field (written by a newer iqlzoo? then "
                          f"upgrade); known: {list(TOP_LEVEL_FIELDS)}")
    for name in REQUIRED_FIELDS:
        if name not in config:
            raise field_error(where, name, "is missing")
    num_timesteps = config.get("num_timesteps", 0)
    if not is_int(num_timesteps) or not 0 <= num_timesteps < INT64:
        raise field_error(where, "num_timesteps", f"is {_describe(num_timesteps)}, not an integer >= 0")
    seed = config.get("seed")
    if seed is not None and not (is_int(seed) and MIN_SEED <= seed <= MAX_SEED):
        raise field_error(where, "seed", f"is {_describe(seed)}, not null or an integer in [-2**63, 2**64 - 2**20]")
    versions = config.get("versions", {})
    if not isinstance(versions, dict):
        raise field_error(where, "versions", f"is {_describe(versions)}, not an object of version strings")
    for package, version in versions.items():
        check_value(version, str, f"versions.{package}", where)
    check_dataclass_fields(config["data"], transform_cls, "data", where)
    scale = config["data"].get("reward_scale", 1.0)
    if scale <= 0:
        raise field_error(where, "data.reward_scale", f"is {scale!r}; it must be > 0")
    check_dataclass_fields(config["config"], config_cls, "config", where)
    try:
        cfg = config_cls.from_json(config["config"])
        cfg.validate()
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{where}: field 'config' is invalid: {exc}; {ADVICE}") from None
    for name in RESOLVED_FIELDS:
        if getattr(cfg, name, "") is None:
            raise field_error(where, f"config.{name}", "is null or missing; a saved configuration has every preset "
                              "filled in")
    obs_dim, act_dim = check_spaces(config["spaces"], where)
    if ckpt.limits is not None:
        check_network_size(cfg, obs_dim, act_dim, build, ckpt.limits, where)
    if ckpt.state or ckpt.optimizer_tensors:
        _check_state(ckpt.state, num_timesteps, f"{origin}state.json")
        _check_optimizer_tensors(ckpt.optimizer_tensors, f"{origin}optimizer.safetensors")


def load_network_tensors(
    module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], origin: str = "", untrained: Sequence[str] = ()
) -> None:
    """Copy ``tensors`` into ``module``'s state exactly: the same names, shapes and dtypes, all finite; otherwise a
    :class:`CheckpointError` names the tensor, both shapes and the config fields that shape it. The tensors under the
    prefixes of ``untrained`` (networks the file leaves out because training never updated them) keep ``module``'s
    own initial values; each prefix must name some of them."""
    where = f"{origin}/model.safetensors" if origin else "model.safetensors"
    own = module.state_dict()
    for prefix in untrained:
        if not any(name.startswith(prefix) for name in own):
            raise CheckpointError(f"{origin or 'the checkpoint'}/config.json: field 'untrained_tensors' names "
                                  f"{prefix!r}, which is no network of this agent")
    fresh = {name: value for name, value in own.items() if name.startswith(tuple(untrained))}
    own = {name: value for name, value in own.items() if name not in fresh}

    def culprit(name: str) -> str:
        fields = next((v for prefix, v in SHAPED_BY.items() if name.startswith(prefix)), "the config")
        return f"(its shape follows from {fields} in config.json)"

    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or extra:
        problems = [f"it lacks the network's tensors {missing[:4]}"] if missing else []
        problems += [f"it has tensors the network has not: {extra[:4]}"] if extra else []
        raise CheckpointError(f"{where} does not match the network config.json describes: {'; '.join(problems)} "
                              f"{culprit((missing or extra)[0])}")
    for name, value in own.items():
        saved = tensors[name]
        if saved.shape != value.shape or saved.dtype != value.dtype:
            raise CheckpointError(
                f"{where} does not match the network config.json describes: tensor {name!r} is "
                f"{tuple(saved.shape)} {saved.dtype} in the file but {tuple(value.shape)} {value.dtype} in the "
                f"network {culprit(name)}"
            )
        if saved.is_floating_point() and not bool(torch.isfinite(saved).all()):
            raise CheckpointError(f"{where}: tensor {name!r} holds NaN or inf; the model is unusable (saved from a "
                                  "diverged run, or corrupt)")
    module.load_state_dict({**fresh, **tensors}, strict=True)
