"""Malformed checkpoint fields are CheckpointErrors that name the field and say what to do, never raw errors from
json, numpy or torch, and never a silent load."""

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from iqlzoo import IQL, CheckpointError

ADVICE = "re-save the agent or correct the field"


def write_checkpoint(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def edited(files: dict[str, bytes], name: str, edit: Callable[[dict], None]) -> dict[str, bytes]:
    """``files`` with the JSON file ``name`` changed in place by ``edit``."""
    data = json.loads(files[name])
    edit(data)
    return {**files, name: json.dumps(data).encode()}


def edited_tensors(files: dict[str, bytes], name: str, edit: Callable[[dict], None]) -> dict[str, bytes]:
    tensors = load_tensors(files[name])
    edit(tensors)
    return {**files, name: save_tensors(tensors)}


def setter(*path: str, value: object) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return edit


FIELD_CASES = {
    "format_version null": ("config.json", setter("format_version", value=None), "field 'format_version' is None"),
    "seed a string": ("config.json", setter("seed", value="abc"), "field 'seed' is 'abc'"),
    "seed beyond 2**64": ("config.json", setter("seed", value=2**70), r"field 'seed' is 1180591620717411303424"),
    "agent_class a list": ("config.json", setter("agent_class", value=[1]), "field 'agent_class' is \\[1\\]"),
    "config a list": ("config.json", setter("config", value=[1, 2]), r"field 'config' is \[1, 2\], not an object"),
    "infinite actor_lr": ("config.json", setter("config", "actor_lr", value=math.inf), "'config.actor_lr' is inf"),
    "NaN reward_scale": ("config.json", setter("data", "reward_scale", value=math.nan), "'data.reward_scale' is nan"),
    "negative num_timesteps": ("config.json", setter("num_timesteps", value=-3), "field 'num_timesteps' is -3"),
    "obs_keys for a Box": ("config.json", setter("spaces", "obs_keys", value=["a"]), "'spaces.obs_keys' is \\['a'\\]"),
    "no optimizer in state.json": ("state.json", lambda state: state.pop("optimizer"), "field 'optimizer' is missing"),
    "a learning rate as text": (
        "state.json",
        lambda state: state["optimizer"]["param_groups"][0].update(lr="fast"),
        r"field 'optimizer.param_groups\[0\].lr' is 'fast'",
    ),
}


@pytest.mark.parametrize("case", sorted(FIELD_CASES))
def test_a_malformed_field_is_named_with_advice(saved_iql_files, tmp_path, case):
    name, edit, match = FIELD_CASES[case]
    folder = write_checkpoint(tmp_path / "agent", edited(saved_iql_files, name, edit))
    with pytest.raises(CheckpointError, match=match) as info:
        IQL.load(folder, device="cpu")
    assert ADVICE in str(info.value) and "newer iqlzoo" not in str(info.value)


UNDECODABLE = {
    "bad UTF-8": (b'{"a": "\xff"}', "not UTF-8"),
    "a 5000-digit number": (b"1" * 5000, "not valid JSON .*digits"),
    "nesting 100000 deep": (b"[" * 100_000, "not valid JSON .*recursion"),
}


@pytest.mark.parametrize("name", ["config.json", "state.json"])
@pytest.mark.parametrize("case", sorted(UNDECODABLE))
def test_undecodable_json_is_a_checkpoint_error(saved_iql_files, tmp_path, name, case):
    content, match = UNDECODABLE[case]
    folder = write_checkpoint(tmp_path / "agent", {**saved_iql_files, name: content})
    with pytest.raises(CheckpointError, match=f"{name} is {match}"):
        IQL.load(folder, device="cpu")


def test_foreign_or_missing_optimizer_tensors_are_refused_not_dropped(saved_iql_files, tmp_path):
    def add_foreign(tensors: dict) -> None:
        tensors["foreign.moment"] = torch.zeros(3)

    def drop_moment(tensors: dict) -> None:
        del tensors["optimizer.0.exp_avg"]

    def reshape_moment(tensors: dict) -> None:
        tensors["optimizer.0.exp_avg"] = torch.zeros(2, 2)

    cases = [
        (add_foreign, r"tensors that are not optimizer state: \['foreign.moment'\]"),
        (drop_moment, r"lacks \['optimizer.0.exp_avg'\]"),
        (reshape_moment, r"tensor 'optimizer.0.exp_avg' is \(2, 2\) torch.float32 but the optimizer's is \(1, 1, 1\)"),
    ]
    for index, (edit, match) in enumerate(cases):
        files = edited_tensors(saved_iql_files, "optimizer.safetensors", edit)
        folder = write_checkpoint(tmp_path / f"agent{index}", files)
        with pytest.raises(CheckpointError, match=match):
            IQL.load(folder, device="cpu")


def test_a_weight_mismatch_names_the_tensor_both_shapes_and_the_config_fields(saved_iql_files, tmp_path):
    files = edited(saved_iql_files, "config.json", setter("config", "actor_hidden", value=[64, 64]))
    folder = write_checkpoint(tmp_path / "agent", files)
    with pytest.raises(CheckpointError) as info:
        IQL.load(folder, device="cpu")
    message = str(info.value)
    assert "tensor 'actor.body.layers.0.weight' is (1, 3, 32) torch.float32 in the file" in message
    assert "but (1, 3, 64) torch.float32 in the network" in message and "config.actor_hidden" in message
