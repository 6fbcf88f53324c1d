"""Behaviour cloning: only the policy trains, by maximum likelihood; IQL's checkpoint format and machinery apply."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from iqlzoo import BC, IQL, TransitionDataset

SMALL = {"policy_kwargs": {"net_arch": [32, 32]}, "batch_size": 64, "learning_rate": 1e-3, "device": "cpu",
         "compile": False}


def _deterministic_data() -> TransitionDataset:
    """Actions a = tanh(s·w) of a fixed linear policy: plain imitation can recover it exactly."""
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (2000, 3)).astype(np.float32)
    act = np.tanh(obs @ np.array([[1.5], [-1.0], [0.5]], dtype=np.float32))
    return TransitionDataset(observations=obs, actions=act, rewards=np.zeros(2000), next_observations=obs,
                             terminations=np.zeros(2000), observation_space=gym.spaces.Box(-1, 1, (3,)),
                             action_space=gym.spaces.Box(-1, 1, (1,)))


def test_bc_trains_only_the_policy_towards_the_dataset_actions(tmp_path):
    data = _deterministic_data()
    model = BC("MlpPolicy", data, seed=0, reward_transform="none", **SMALL)
    critic = {k: v.clone() for k, v in model.nets.critic.state_dict().items()}
    value = {k: v.clone() for k, v in model.nets.value.state_dict().items()}
    obs, act = data.observations, data.actions
    before = float(np.mean((model.predict(obs)[0] - act) ** 2))
    model.learn(1500)
    after = float(np.mean((model.predict(obs)[0] - act) ** 2))
    assert after < 0.1 * before  # it imitates the data
    assert all(torch.equal(critic[k], v) for k, v in model.nets.critic.state_dict().items())
    assert all(torch.equal(value[k], v) for k, v in model.nets.value.state_dict().items())
    assert model.stat_names == ("actor_loss", "log_std_mean")
    loaded = IQL.load(model.save(tmp_path / "bc"), device="cpu")
    assert type(loaded) is BC
    np.testing.assert_allclose(loaded.predict(obs[:5])[0], model.predict(obs[:5])[0], atol=1e-6)


def test_bc_multi_seed_and_compiled_match_single_eager(pendulum_data):
    multi = BC("MlpPolicy", pendulum_data, seed=3, n_seeds=2, **SMALL).learn(5)
    single = BC("MlpPolicy", pendulum_data, seed=4, **SMALL).learn(5)
    agent = multi.agent(1)
    for name, tensor in single.nets.actor.state_dict().items():
        torch.testing.assert_close(agent.nets.actor.state_dict()[name], tensor, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="BC takes no penalty"):
        BC("MlpPolicy", pendulum_data, penalty="rnd", **SMALL)
