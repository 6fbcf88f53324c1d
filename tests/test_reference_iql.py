"""iqlzoo's IQL against the independent implementation in ``benchmarks.reference_iql``.

The two share no code: data loading, networks and losses are written separately. With the same weights and batch,
they must see the same transitions and compute the same three losses (the reference updates V before π and Q; with
V's learning rate at 0 both use one V, and then every loss must agree).
"""

import numpy as np
import torch

from benchmarks.reference_iql import ReferenceIQL, load_transitions
from iqlzoo import IQL
from tests.conftest import ANTMAZE_TINY_ID


def _copy_mlp(layers: list, sequential: torch.nn.Sequential, member: int) -> None:
    """Reference nn.Linear weights (out, in) into iqlzoo EnsembleLinear member `member` (in, out)."""
    linears = [m for m in sequential if isinstance(m, torch.nn.Linear)]
    assert len(linears) == len(layers)
    with torch.no_grad():
        for ours, theirs in zip(layers, linears):
            ours.weight[member].copy_(theirs.weight.T)
            ours.bias[member, 0].copy_(theirs.bias)


def _reference_for(model: IQL) -> ReferenceIQL:
    _, data, _ = load_transitions(ANTMAZE_TINY_ID)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32)

    ref = ReferenceIQL(t(data["obs"]), t(data["act"]), t(data["rew"] - 1.0), t(data["next_obs"]), t(data["done"]),
                       seed=3, expectile=model.config.expectile, temperature=model.config.temperature,
                       total_steps=100)
    nets = model.nets
    for member, (q, q_target) in enumerate(((ref.q1, ref.q1_target), (ref.q2, ref.q2_target))):
        _copy_mlp([*nets.critic.body.layers, nets.critic.head.out], q, member)
        _copy_mlp([*nets.critic_target.body.layers, nets.critic_target.head.out], q_target, member)
    _copy_mlp([*nets.value.body.layers, nets.value.head.out], ref.value, 0)
    _copy_mlp([*nets.actor.body.layers, nets.actor.mean_out], ref.actor, 0)
    with torch.no_grad():
        nets.actor.log_std.copy_(ref.log_std.reshape(nets.actor.log_std.shape))
    return ref


def test_iqlzoo_reads_the_same_transitions_as_the_reference(antmaze_data):
    model = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", compile=False, normalize_observations=False)
    model._setup_training(0)
    obs, act, rew, next_obs, term = model.buffer.split(model.buffer.data)
    _, data, _ = load_transitions(ANTMAZE_TINY_ID)
    np.testing.assert_allclose(obs.numpy(), data["obs"], atol=1e-6)
    np.testing.assert_allclose(next_obs.numpy(), data["next_obs"], atol=1e-6)
    np.testing.assert_allclose(act.numpy(), data["act"], atol=1e-5)
    np.testing.assert_allclose(rew.numpy(), data["rew"] - 1.0)  # the AntMaze preset's r − 1
    np.testing.assert_array_equal(term.numpy(), data["done"])


def test_iqlzoo_losses_equal_the_reference_on_one_batch(antmaze_data):
    model = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", compile=False, normalize_observations=False)
    assert (model.config.expectile, model.config.temperature) == (0.9, 10.0)
    ref = _reference_for(model)
    for group in ref.v_opt.param_groups:
        group["lr"] = 0.0  # the reference's π and Q losses then use the same V as iqlzoo's
    model._setup_training(0)
    index = torch.arange(64)
    ours = model._losses(*model.buffer.gather(index.unsqueeze(0)), None, None)
    theirs = ref.update(index)
    assert abs(ours["value_loss"].item() - theirs["v_loss"]) < 1e-5 * max(1.0, theirs["v_loss"])
    assert abs(ours["critic_loss"].item() - theirs["q_loss"]) < 1e-5 * max(1.0, theirs["q_loss"])
    assert abs(ours["actor_loss"].item() - theirs["pi_loss"]) < 1e-4 * max(1.0, abs(theirs["pi_loss"]))


def test_reference_cli_passes_an_expectile_ablation_through(monkeypatch, tmp_path):
    import benchmarks.reference_iql as reference

    seen = []
    monkeypatch.setattr(reference, "train_seed", lambda *args, **kwargs: seen.append((args, kwargs)))
    assert reference.main(["--dataset", ANTMAZE_TINY_ID, "--seeds", "4", "--expectile", "0.5", "--out",
                           str(tmp_path)]) == 0
    (args, kwargs), = seen
    assert args[1] == 4 and kwargs["expectile"] == 0.5 and kwargs["temperature"] is None


def test_reference_refuses_an_expectile_outside_the_unit_interval(tmp_path):
    import pytest

    from benchmarks.reference_iql import train_seed

    with pytest.raises(ValueError, match="expectile must lie in"):
        train_seed(ANTMAZE_TINY_ID, 0, 10, 10, 1, tmp_path, expectile=1.0)


def test_reference_hashes_the_transitions_as_iqlzoo_labels_its_builds(antmaze_data):
    from benchmarks.reference_iql import transitions_hash
    from benchmarks.runner import dataset_fingerprint

    _, data, _ = load_transitions(ANTMAZE_TINY_ID)
    assert transitions_hash(data) == dataset_fingerprint(antmaze_data)
    data["rew"] = data["rew"] - 1.0
    assert transitions_hash(data) != dataset_fingerprint(antmaze_data)


def test_reference_provenance_records_each_invocation_and_refuses_other_settings(tmp_path):
    import json

    import pytest

    from benchmarks.reference_iql import SettingsMismatch, record_provenance

    path = tmp_path / "seed0.provenance.json"
    settings = {"dataset": ANTMAZE_TINY_ID, "steps": 1000, "normalize_observations": True}
    record_provenance(path, settings, "abc")
    record_provenance(path, settings, "abc")
    saved = json.loads(path.read_text())
    assert saved["settings"] == settings and saved["dataset_hash"] == "abc"
    assert len(saved["invocations"]) == 2 and "git_commit" in saved["invocations"][0]
    with pytest.raises(SettingsMismatch, match="pass the same settings to resume it"):
        record_provenance(path, {**settings, "normalize_observations": False}, "abc")
    with pytest.raises(SettingsMismatch):
        record_provenance(path, settings, "another build")
    assert len(json.loads(path.read_text())["invocations"]) == 2


def test_reference_flattens_observations_by_the_datasets_keys():
    from gymnasium import spaces

    from benchmarks.reference_iql import _flat, observation_keys

    box = spaces.Box(-1.0, 1.0, (2,))
    goal_data = spaces.Dict({"observation": box, "desired_goal": box, "achieved_goal": box})
    single_goal = spaces.Dict({"observation": box, "achieved_goal": box})
    assert observation_keys(goal_data) == ("achieved_goal", "observation", "desired_goal")
    assert observation_keys(single_goal) == ("achieved_goal", "observation")
    env_obs = {"achieved_goal": [1, 2], "observation": [3, 4], "desired_goal": [5, 6]}
    assert _flat(env_obs, observation_keys(single_goal)).tolist() == [1, 2, 3, 4]  # the goal it never saw is left out
