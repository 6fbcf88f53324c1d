"""Portable SAC training state: safetensors (no pickle, no replay buffer) that can be committed and carried.

A portable checkpoint holds the actor, both critics and the target critics, the entropy coefficient and the
three Adam optimisers (``<task>.safetensors``), plus counters and optimiser hyper-parameters (``<task>.json``).
The replay buffer is not included: resuming from a portable checkpoint refills the buffer by running the loaded
(stochastic) policy for a number of steps before gradient updates continue.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from iqlzoo.recipes.behaviour.policy import write_json_atomic

PORTABLE_FORMAT = "iqlzoo-sac-resume/1"


def _optimizers(model: Any) -> dict[str, torch.optim.Optimizer]:
    optimizers = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
    if model.ent_coef_optimizer is not None:
        optimizers["ent_coef"] = model.ent_coef_optimizer
    return optimizers


def save_portable(model: Any, path: Path, meta: dict[str, Any]) -> Path:
    """Write the SAC training state of ``model`` to ``path`` (``.safetensors`` + ``.json``) atomically."""
    weights = path.with_suffix(".safetensors")
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"policy/{k}": v for k, v in model.policy.state_dict().items()}
    if model.log_ent_coef is not None:
        tensors["log_ent_coef"] = model.log_ent_coef.detach()
    param_groups: dict[str, list[dict[str, Any]]] = {}
    for name, optimizer in _optimizers(model).items():
        state = optimizer.state_dict()
        param_groups[name] = state["param_groups"]
        for index, slots in state["state"].items():
            for slot, value in slots.items():
                tensors[f"optim/{name}/{index}/{slot}"] = torch.as_tensor(value)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    tmp = weights.with_name(weights.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": PORTABLE_FORMAT})
    card = {
        "format": PORTABLE_FORMAT,
        **meta,
        "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates),
        "episode_num": int(model._episode_num),
        "optimizer_param_groups": param_groups,
        "saved_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": "no replay buffer: resuming refills it by running the loaded stochastic policy first",
    }
    write_json_atomic(weights.with_suffix(".json"), card)
    tmp.replace(weights)
    return weights


def read_portable_meta(path: Path) -> dict[str, Any]:
    """The JSON part of a portable checkpoint; raises ``FileNotFoundError`` / ``ValueError`` when unusable."""
    card_path = path.with_suffix(".json")
    meta = json.loads(card_path.read_text())
    if meta.get("format") != PORTABLE_FORMAT:
        raise ValueError(f"{card_path} is not a {PORTABLE_FORMAT} checkpoint")
    if not path.with_suffix(".safetensors").is_file():
        raise FileNotFoundError(f"missing weights next to {card_path}")
    return meta


def load_portable(model: Any, path: Path) -> dict[str, Any]:
    """Load a portable checkpoint into a freshly built SAC ``model`` of the same shape; returns its metadata."""
    meta = read_portable_meta(path)
    tensors = load_file(str(path.with_suffix(".safetensors")))
    policy_state = {k.removeprefix("policy/"): v for k, v in tensors.items() if k.startswith("policy/")}
    model.policy.load_state_dict(policy_state, strict=True)
    if model.log_ent_coef is not None:
        with torch.no_grad():
            model.log_ent_coef.copy_(tensors["log_ent_coef"])
    for name, optimizer in _optimizers(model).items():
        state: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"optim/{name}/"
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, slot = key[len(prefix) :].split("/")
                state.setdefault(int(index), {})[slot] = value
        optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_param_groups"][name]})
    model.num_timesteps = int(meta["num_timesteps"])
    model._n_updates = int(meta["n_updates"])
    model._episode_num = int(meta["episode_num"])
    return meta


def refill_replay_buffer(model: Any, steps: int) -> None:
    """Add ``steps`` transitions from the model's stochastic policy to its (empty) replay buffer, no updates."""
    env = model.get_env()
    obs = env.reset()
    for _ in range(steps):
        action, _ = model.predict(obs, deterministic=False)
        next_obs, rewards, dones, infos = env.step(action)
        stored_next = next_obs.copy()
        for i, done in enumerate(dones):
            if done and infos[i].get("terminal_observation") is not None:
                stored_next[i] = infos[i]["terminal_observation"]
        buffer_action = model.policy.scale_action(action)
        model.replay_buffer.add(obs, stored_next, buffer_action, rewards, np.asarray(dones), infos)
        obs = next_obs
