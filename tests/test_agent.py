"""The SB3-style IQL agent: presets, predict, callbacks, logger, bad inputs, and that every network trains."""

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure

from iqlzoo import IQL


def test_domain_presets_follow_the_dataset_id_and_yield_to_the_user(pendulum_data, antmaze_data, make_iql):
    generic = make_iql(pendulum_data)
    assert (generic.config.domain, generic.config.expectile, generic.config.temperature) == ("generic", 0.7, 3.0)
    spread = pendulum_data.episode_returns.max() - pendulum_data.episode_returns.min()
    assert generic.transform.reward_scale == pytest.approx(1000.0 / spread)
    maze = make_iql(antmaze_data)
    assert (maze.config.domain, maze.config.expectile, maze.config.temperature) == ("antmaze", 0.9, 10.0)
    assert (maze.transform.reward_scale, maze.transform.reward_shift) == (1.0, -1.0)
    custom = make_iql(antmaze_data, expectile=0.7, reward_transform="none")
    assert custom.config.expectile == 0.7 and custom.config.temperature == 10.0
    assert (custom.transform.reward_scale, custom.transform.reward_shift) == (1.0, 0.0)


def test_sb3_style_arguments(pendulum_data):
    model = IQL("MlpPolicy", pendulum_data, learning_rate=1e-3, policy_kwargs={"net_arch": {"pi": [8], "qf": [16]}})
    assert (model.config.actor_lr, model.config.critic_lr, model.config.value_lr) == (1e-3, 1e-3, 1e-3)
    assert model.config.actor_hidden == (8,) and model.config.critic_hidden == (16,)
    assert model.config.value_hidden == (256, 256)


def test_predict_single_and_batched_box(pendulum_data, make_iql):
    model = make_iql(pendulum_data)
    obs = pendulum_data.observations[0]
    action, state = model.predict(obs)
    assert action.shape == (1,) and state is None
    assert action.dtype == model.action_space.dtype
    actions, _ = model.predict(pendulum_data.observations[:5])
    assert actions.shape == (5, 1)
    assert np.all(np.abs(actions) <= 2.0)
    np.testing.assert_allclose(actions[0], action, rtol=1e-5, atol=1e-6)
    sampled, _ = model.predict(pendulum_data.observations[:5], deterministic=False)
    assert sampled.shape == (5, 1) and not np.array_equal(sampled, actions)


def test_predict_dict_observations(antmaze_minari, antmaze_data, make_iql):
    model = make_iql(antmaze_data)
    antmaze_minari.observation_space.seed(0)
    obs = antmaze_minari.observation_space.sample()
    action, _ = model.predict(obs)
    assert action.shape == (8,)
    batch = {k: np.stack([v] * 3) for k, v in obs.items()}
    actions, _ = model.predict(batch)
    assert actions.shape == (3, 8)
    # batched and single matmuls may round differently in the last bit
    np.testing.assert_allclose(actions[1], action, rtol=1e-5, atol=1e-6)


def test_predict_rejects_wrong_shape_and_dtype(pendulum_data, make_iql):
    model = make_iql(pendulum_data)
    with pytest.raises(ValueError, match=r"Unexpected observation shape \(4,\): use \(3,\)"):
        model.predict(np.zeros(4))
    with pytest.raises(ValueError, match="dtype"):
        model.predict(np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="got a dict"):
        model.predict({"observation": np.zeros(3)})


def test_works_with_sb3_evaluate_policy_and_eval_callback(pendulum_data, make_iql, tmp_path):
    model = make_iql(pendulum_data)
    mean, std = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=2)
    assert np.isfinite(mean) and mean < 0
    callback = EvalCallback(gym.make("Pendulum-v1"), n_eval_episodes=1, eval_freq=5, log_path=str(tmp_path), verbose=0)
    model.learn(10, callback=callback)
    assert len(np.load(tmp_path / "evaluations.npz")["timesteps"]) == 2


def test_callback_returning_false_stops_training(pendulum_data, make_iql):
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 7

    model = make_iql(pendulum_data).learn(100, callback=StopAt())
    assert model.num_timesteps == 7


def test_sb3_logger_records_losses(pendulum_data, make_iql, tmp_path):
    model = make_iql(pendulum_data)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    returned = model.learn(20, log_interval=10)
    assert returned is model
    log = pd.read_csv(tmp_path / "progress.csv")
    assert list(log["time/total_timesteps"]) == [10, 20]
    for key in ("train/value_loss", "train/critic_loss", "train/actor_loss", "train/q_mean", "train/v_mean"):
        assert np.isfinite(log[key]).all(), key


def assert_every_trainable_parameter_moves(model) -> None:
    """One update changes every trained parameter, and moves the target critic by exactly rate·(online − target)."""
    before = {k: v.clone() for k, v in model.nets.state_dict().items()}
    model.learn(1)
    after = model.nets.state_dict()
    trained = {name for name, p in model.nets.named_parameters() if p.requires_grad}
    assert trained, "no trainable parameters"
    for name in trained:
        assert not torch.equal(after[name], before[name]), f"{name} did not change"
    for name in ("obs_mean", "obs_std"):
        torch.testing.assert_close(after[name], before[name])
    rate = model.config.target_update_rate
    for name in before:
        if name.startswith("critic_target."):
            online = "critic." + name[len("critic_target."):]
            torch.testing.assert_close(after[name], before[name] + rate * (after[online] - before[name]))


def test_every_network_parameter_moves_after_one_update(pendulum_data, make_iql):
    assert_every_trainable_parameter_moves(make_iql(pendulum_data))


class RecordActorLR(BaseCallback):
    """Appends the actor's learning rate at every step to `seen`."""

    def __init__(self, seen: list[float]) -> None:
        super().__init__()
        self.seen = seen

    def _on_step(self) -> bool:
        self.seen.append(float(self.model.optimizer.param_groups[0]["lr"]))
        return True


def test_actor_learning_rate_follows_cosine_schedule(pendulum_data, make_iql):
    model = make_iql(pendulum_data)
    seen: list[float] = []
    model.learn(4, callback=RecordActorLR(seen))
    lr = model.config.actor_lr
    assert seen == pytest.approx([lr * 0.5 * (1 + np.cos(np.pi * t / 4)) for t in range(4)])
    assert float(model.optimizer.param_groups[1]["lr"]) == pytest.approx(lr)  # critics are not annealed


def test_a_continued_learn_call_anneals_as_sb3_over_the_steps_so_far_and_its_own(pendulum_data, make_iql):
    """The README's promise: learn(N) then learn(N, reset_num_timesteps=False) follows SB3's progress_remaining =
    1 - num_timesteps / (N + N), so the second call starts at the schedule's midpoint (it is not learn(2N), whose
    first half anneals more slowly)."""
    model = make_iql(pendulum_data)
    seen: list[float] = []
    model.learn(4)
    model.learn(4, reset_num_timesteps=False, callback=RecordActorLR(seen))
    lr = model.config.actor_lr
    assert model.num_timesteps == 8
    assert seen == pytest.approx([lr * 0.5 * (1 + np.cos(np.pi * t / 8)) for t in range(4, 8)])


def test_bad_hyperparameters_and_mismatched_env(pendulum_data, make_iql):
    with pytest.raises(TypeError, match="unknown IQL hyperparameters \\['expectle'\\]"):
        make_iql(pendulum_data, expectle=0.9)
    with pytest.raises(ValueError, match="expectile=1.5 is invalid"):
        make_iql(pendulum_data, expectile=1.5)
    with pytest.raises(ValueError, match="policy='CnnPolicy'"):
        IQL("CnnPolicy", pendulum_data)
    with pytest.raises(ValueError, match="action space .* does not match"):
        make_iql(pendulum_data, env=gym.make("MountainCarContinuous-v0"))
    with pytest.raises(ValueError, match="observations flatten to 2 values but the model expects 3"):
        make_iql(pendulum_data, env=gym.wrappers.RescaleAction(gym.make("MountainCarContinuous-v0"), -2.0, 2.0))
    with pytest.raises(ValueError, match="total_timesteps must be positive"):
        make_iql(pendulum_data).learn(0)


def test_seeded_training_is_reproducible(pendulum_data, make_iql):
    a = make_iql(pendulum_data, seed=3).learn(5)
    b = make_iql(pendulum_data, seed=3).learn(5)
    for (name, x), y in zip(a.nets.state_dict().items(), b.nets.state_dict().values()):
        assert torch.equal(x, y), name


class _RecordingBar:
    """Stands in for the tqdm bar of SB3's ProgressBarCallback: records its total and how far it got."""

    bars: list["_RecordingBar"] = []

    def __init__(self, total: int) -> None:
        self.total, self.n = total, 0
        _RecordingBar.bars.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_progress_bar_counts_the_steps_of_a_resumed_learn(pendulum_data, make_iql, monkeypatch, tmp_path):
    import stable_baselines3.common.callbacks as sb3_callbacks

    import iqlzoo.agents.base as agent_base

    monkeypatch.setattr(sb3_callbacks, "tqdm", _RecordingBar)  # SB3's own bar
    monkeypatch.setattr(agent_base, "gradient_step_bar", _RecordingBar)  # learn(progress_bar=True)'s bar
    _RecordingBar.bars = []
    model = make_iql(pendulum_data).learn(30, progress_bar=True)
    resumed = IQL.load(model.save(tmp_path / "half"), dataset=pendulum_data, device="cpu")
    resumed.learn(20, reset_num_timesteps=False, progress_bar=True)
    # SB3's own callback passed by the user reads the same locals
    user_bar = sb3_callbacks.ProgressBarCallback()
    resumed.learn(10, reset_num_timesteps=False, callback=user_bar)
    assert [(bar.total, bar.n) for bar in _RecordingBar.bars] == [(30, 30), (20, 20), (10, 10)]
    assert resumed.num_timesteps == 60


def test_load_takes_env_as_second_positional_argument_like_sb3(pendulum_data, make_iql, tmp_path):
    path = make_iql(pendulum_data).save(tmp_path / "agent")
    env = gym.make("Pendulum-v1")
    model = IQL.load(path, env, device="cpu")
    assert model.get_env().envs[0] is env and model.device == torch.device("cpu")
    assert IQL.load(path, None, "cpu", dataset=pendulum_data).dataset is pendulum_data
    with pytest.raises(ValueError, match="action space .* does not match"):
        IQL.load(path, gym.make("MountainCarContinuous-v0"))
    with pytest.raises(TypeError, match=r"second positional argument is the environment.*device='cpu'"):
        IQL.load(path, "cpu")


def test_get_and_set_parameters_copy_networks_and_optimizer_in_place(pendulum_data, make_iql, tmp_path):
    source = make_iql(pendulum_data, seed=1).learn(3)
    target = make_iql(pendulum_data, seed=2).learn(1)
    params = source.get_parameters()
    assert set(params) == {"nets", "optimizer"}
    assert all(isinstance(v, torch.Tensor) for v in params["nets"].values())
    own = dict(target.nets.state_dict())
    moments = [state["exp_avg"] for state in target.optimizer.state.values()]
    target.set_parameters(params)
    for name, tensor in target.nets.state_dict().items():
        assert torch.equal(tensor, params["nets"][name]), name
        assert tensor.data_ptr() == own[name].data_ptr(), f"{name} was replaced, not copied into"
    for moment, state, expected in zip(moments, target.optimizer.state.values(), source.optimizer.state.values()):
        assert state["exp_avg"] is moment and torch.equal(moment, expected["exp_avg"])
        assert moment.data_ptr() != expected["exp_avg"].data_ptr()
    obs = pendulum_data.observations[:8]
    np.testing.assert_array_equal(target.predict(obs)[0], source.predict(obs)[0])
    # training continues from the copied state exactly as the source does, on the same batches
    target.generator.set_state(source.generator.get_state())
    source.learn(2)
    target.learn(2)
    for (name, x), y in zip(source.nets.state_dict().items(), target.nets.state_dict().values()):
        assert torch.equal(x, y), name


def test_set_parameters_from_a_checkpoint_and_exact_match(pendulum_data, make_iql, tmp_path):
    source = make_iql(pendulum_data, seed=1).learn(2)
    target = make_iql(pendulum_data, seed=2)
    obs = pendulum_data.observations[:8]
    target.set_parameters(source.save(tmp_path / "full"))
    np.testing.assert_array_equal(target.predict(obs)[0], source.predict(obs)[0])
    weights_only = source.save(tmp_path / "weights", include_optimizer=False)
    with pytest.raises(ValueError, match=r"lack \['optimizer'\].*exact_match=False"):
        make_iql(pendulum_data, seed=3).set_parameters(weights_only)
    other = make_iql(pendulum_data, seed=3)
    other.set_parameters(weights_only, exact_match=False)
    np.testing.assert_array_equal(other.predict(obs)[0], source.predict(obs)[0])
    with pytest.raises(ValueError, match=r"\['policy'\] are not parameters"):
        other.set_parameters({"policy": {}}, exact_match=False)
    nets = {k: v for k, v in source.get_parameters()["nets"].items() if not k.startswith("value.")}
    with pytest.raises(ValueError, match="cannot set 'nets': Error.*loading state_dict"):
        other.set_parameters({"nets": nets, "optimizer": source.optimizer.state_dict()})


def test_set_parameters_refreshes_the_normalised_training_data_even_inside_learn(pendulum_data, make_iql):
    source = make_iql(pendulum_data, seed=1, normalize_observations=True)
    target = make_iql(pendulum_data, seed=2).learn(1)  # its buffer holds unnormalised observations

    class SetOnce(BaseCallback):
        def _on_step(self) -> bool:
            if self.n_calls == 1:
                self.model.set_parameters(source.get_parameters())
            return True

    target.learn(3, callback=SetOnce())
    obs = torch.as_tensor(pendulum_data.observations)
    expected = (obs - source.nets.obs_mean) / source.nets.obs_std
    torch.testing.assert_close(target.buffer.split(target.buffer.data)[0], expected)
