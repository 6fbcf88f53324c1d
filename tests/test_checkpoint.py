"""Save/load: bit-exact round trips, resumable training, and clear errors for anything that is not a checkpoint."""

import json
import zipfile

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

from iqlzoo import IQL, CheckpointError, TrainingDivergedError


def _same_parameters(a: IQL, b: IQL) -> None:
    sa, sb = a.nets.state_dict(), b.nets.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.mark.parametrize("name", ["agent", "agent.zip"])
def test_save_load_predict_is_bit_exact(pendulum_data, make_iql, tmp_path, name):
    model = make_iql(pendulum_data, normalize_observations=True).learn(5)
    path = model.save(tmp_path / name)
    loaded = IQL.load(path, device="cpu")
    _same_parameters(model, loaded)
    obs = pendulum_data.observations[:50]
    np.testing.assert_array_equal(model.predict(obs)[0], loaded.predict(obs)[0])
    assert loaded.config == model.config and loaded.num_timesteps == 5
    assert loaded.dataset is None
    with pytest.raises(ValueError, match="no dataset to train on"):
        loaded.learn(1)


def test_checkpoint_holds_only_json_and_safetensors(pendulum_data, make_iql, tmp_path):
    make_iql(pendulum_data).save(tmp_path / "agent")
    assert sorted(p.name for p in (tmp_path / "agent").iterdir()) == [
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "state.json",
    ]
    config = json.loads((tmp_path / "agent" / "config.json").read_text())
    assert config["format"] == "iqlzoo-checkpoint" and config["agent_class"] == "IQL"
    assert config["spaces"]["action"]["shape"] == [1]
    assert "torch" in config["versions"]
    make_iql(pendulum_data).save(tmp_path / "slim", include_optimizer=False)
    assert sorted(p.name for p in (tmp_path / "slim").iterdir()) == ["config.json", "model.safetensors"]


def test_resumed_training_equals_uninterrupted_training(pendulum_data, make_iql, tmp_path):
    class SaveAndStop(BaseCallback):
        """Save at step 6 and stop, as a run killed right after a checkpoint would."""

        def _on_step(self) -> bool:
            if self.n_calls == 6:
                self.model.save(tmp_path / "half")
                return False
            return True

    straight = make_iql(pendulum_data, seed=1).learn(12)
    make_iql(pendulum_data, seed=1).learn(12, callback=SaveAndStop())
    resumed = IQL.load(tmp_path / "half", device="cpu", dataset=pendulum_data)
    assert resumed.num_timesteps == 6
    resumed.learn(12 - resumed.num_timesteps, reset_num_timesteps=False)
    assert resumed.num_timesteps == 12
    _same_parameters(straight, resumed)


def test_sb3_checkpoint_callback_writes_loadable_zips(pendulum_data, make_iql, tmp_path):
    make_iql(pendulum_data).learn(4, callback=CheckpointCallback(save_freq=2, save_path=str(tmp_path)))
    zips = sorted(tmp_path.glob("*.zip"))
    assert [p.name for p in zips] == ["rl_model_2_steps.zip", "rl_model_4_steps.zip"]
    assert IQL.load(zips[-1]).num_timesteps == 4


def test_truncated_and_foreign_files_give_clear_errors(pendulum_data, make_iql, tmp_path):
    folder = make_iql(pendulum_data).save(tmp_path / "agent")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="model.safetensors is truncated or corrupt"):
        IQL.load(folder)

    archive = make_iql(pendulum_data).save(tmp_path / "agent.zip")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="not a readable zip archive"):
        IQL.load(archive)

    sb3_like = tmp_path / "sb3.zip"
    with zipfile.ZipFile(sb3_like, "w") as zf:
        zf.writestr("data", "{}")
        zf.writestr("policy.pth", b"\x80\x04")
    with pytest.raises(CheckpointError, match="Stable-Baselines3 zip"):
        IQL.load(sb3_like)

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CheckpointError, match="no format marker"):
        IQL.load(other)
    (other / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        IQL.load(other)

    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        IQL.load(tmp_path / "missing")


def test_weights_that_do_not_match_the_config_are_rejected(pendulum_data, make_iql, tmp_path):
    folder = make_iql(pendulum_data).save(tmp_path / "agent", include_optimizer=False)
    config = json.loads((folder / "config.json").read_text())
    config["config"]["actor_hidden"] = [64, 64]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not match the network"):
        IQL.load(folder)


def test_nan_loss_stops_training_at_its_step_and_keeps_the_last_good_checkpoint(pendulum_data, make_iql, tmp_path):
    class Poison(BaseCallback):
        """Corrupt a critic weight after step 7, so the losses of step 8 are NaN."""

        def _on_step(self) -> bool:
            if self.n_calls == 7:
                with torch.no_grad():
                    self.model.nets.value.body.layers[0].weight.fill_(float("nan"))
            return True

    model = make_iql(pendulum_data)
    checkpoints = CheckpointCallback(save_freq=5, save_path=str(tmp_path), name_prefix="good")
    with pytest.raises(TrainingDivergedError, match="at gradient step 8") as info:
        model.learn(20, callback=[checkpoints, Poison()])
    assert info.value.step == 8
    good = IQL.load(tmp_path / "good_5_steps.zip")
    assert good.num_timesteps == 5
    assert np.isfinite(good.predict(pendulum_data.observations[:3])[0]).all()
    with pytest.raises(TrainingDivergedError, match="at gradient step 8"):
        model.save(tmp_path / "good_5_steps.zip")
    assert IQL.load(tmp_path / "good_5_steps.zip").num_timesteps == 5


def test_save_refuses_non_finite_parameters_and_keeps_the_old_file(pendulum_data, make_iql, tmp_path):
    model = make_iql(pendulum_data)
    path = model.save(tmp_path / "agent.zip")
    before = path.read_bytes()
    with torch.no_grad():
        model.nets.actor.log_std.fill_(float("inf"))
    with pytest.raises(TrainingDivergedError, match="refusing to save .*'actor.log_std'"):
        model.save(path)
    assert path.read_bytes() == before


def _with_sampler_state(folder, state: bytes) -> None:
    """Replace the saved batch sampler's random state in a checkpoint folder by `state`."""
    from safetensors.torch import load_file, save_file

    path = folder / "optimizer.safetensors"
    tensors = load_file(path)
    tensors["rng.generator"] = torch.tensor(list(state), dtype=torch.uint8)
    save_file(tensors, path)


def test_a_checkpoint_saved_on_cuda_loads_on_the_cpu(pendulum_data, make_iql, tmp_path):
    """A CUDA generator's state (Philox seed and offset, 16 bytes) is what a GPU-trained agent saves: it loads on a
    CPU for inference silently, for training with a warning that batches will differ, and a bad one is refused."""
    import warnings

    model = make_iql(pendulum_data).learn(3)
    folder = model.save(tmp_path / "agent")
    philox = (5).to_bytes(8, "little") + (8).to_bytes(8, "little")
    _with_sampler_state(folder, philox)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = IQL.load(folder, device="cpu")
    np.testing.assert_array_equal(model.predict(pendulum_data.observations[:8])[0],
                                  loaded.predict(pendulum_data.observations[:8])[0])
    with pytest.warns(UserWarning, match="cuda generator.*device='cuda' to resume exactly"):
        IQL.load(folder, device="cpu", dataset=pendulum_data).learn(2, reset_num_timesteps=False)
    _with_sampler_state(folder, (5).to_bytes(8, "little") + (6).to_bytes(8, "little"))
    with pytest.raises(CheckpointError, match="Philox offset 6"):
        IQL.load(folder, device="cpu")
