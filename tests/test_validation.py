"""Bad arguments get iqlzoo's clear errors up front: configs, learn(), predict(), devices, datasets."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iqlzoo import IQL, IQLConfig, TransitionDataset

SMALL = {"policy_kwargs": {"net_arch": [16, 16]}, "batch_size": 32, "device": "cpu", "compile": False}


@pytest.mark.parametrize("field, value, message", [
    ("temperature", math.inf, "temperature=inf is invalid: must be finite"),
    ("max_weight", math.inf, "max_weight=inf is invalid: must be finite"),
    ("actor_lr", math.nan, "actor_lr=nan is invalid: must be finite"),
    ("batch_size", 2.5, "batch_size=2.5 is invalid: must be int"),
    ("batch_size", "64", "batch_size='64' is invalid: must be int"),
    ("n_critics", True, "n_critics=True is invalid: must be int"),
    ("bf16", 1, "bf16=1 is invalid: must be bool"),
    ("actor_hidden", (16, "a"), "actor_hidden=.* is invalid: must be tuple"),
    ("domain", "bogus", "domain='bogus': must be one of"),
])
def test_bad_hyperparameters_are_refused_naming_the_field(pendulum_data, field, value, message):
    with pytest.raises(ValueError, match=message):
        IQL("MlpPolicy", pendulum_data, **{**SMALL, field: value})


@given(field=st.sampled_from([f for f in IQLConfig.__dataclass_fields__ if f != "penalty_kwargs"]),
       value=st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                       st.text(max_size=5), st.lists(st.integers(-3, 300), max_size=3)))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_config_value_is_accepted_or_refused_with_a_value_error(field, value):
    """Never a TypeError/KeyError from deep inside: validate() says which field is wrong."""
    try:
        IQLConfig(**{field: value}).resolved("iqlzoo/antmaze/umaze-v0").validate()
    except ValueError as error:
        assert field in str(error)


@pytest.mark.parametrize("steps", [1.5, True, "100", None])
def test_learn_takes_only_a_positive_int(pendulum_data, steps):
    model = IQL("MlpPolicy", pendulum_data, **SMALL)
    with pytest.raises(TypeError, match="total_timesteps must be a positive int"):
        model.learn(steps)
    assert model.num_timesteps == 0
    with pytest.raises(ValueError, match="total_timesteps must be positive"):
        model.learn(0)
    model.learn(np.int64(2))
    assert model.num_timesteps == 2


def test_predict_refuses_nan_and_empty_observations(pendulum_data):
    model = IQL("MlpPolicy", pendulum_data, **SMALL)
    obs = pendulum_data.observations[:3].copy()
    obs[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite observation \(row 1"):
        model.predict(obs)
    with pytest.raises(ValueError, match="inf|NaN"):
        model.predict(np.full(pendulum_data.obs_dim, np.inf, dtype=np.float32))
    with pytest.raises(ValueError, match="empty batch"):
        model.predict(np.zeros((0, pendulum_data.obs_dim), dtype=np.float32))


def test_a_huge_batch_is_refused_before_training_and_one_above_the_dataset_warns(pendulum_data):
    model = IQL("MlpPolicy", pendulum_data, **{**SMALL, "batch_size": 10**7})
    with pytest.raises(ValueError, match=r"batch_size=10000000 is above 1,048,576"):
        model.learn(1)
    model = IQL("MlpPolicy", pendulum_data, **{**SMALL, "batch_size": 9000})
    with pytest.warns(UserWarning, match="batch_size=9000 exceeds the 8000 transitions"):
        model.learn(1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_is_refused_up_front(pendulum_data):
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        IQL("MlpPolicy", pendulum_data, **{**SMALL, "device": "cuda"})


def _dataset(**overrides):
    n = 6
    fields = dict(observations=np.zeros((n, 3)), actions=np.zeros((n, 1)), rewards=np.zeros(n),
                  next_observations=np.zeros((n, 3)), terminations=np.zeros(n))
    fields.update(overrides)
    import gymnasium as gym

    return TransitionDataset(observation_space=gym.spaces.Box(-1, 1, (3,)), action_space=gym.spaces.Box(-1, 1, (1,)),
                             **fields)


def test_datasets_with_bad_fields_name_the_field():
    with pytest.raises(ValueError, match="terminations must be 0 or 1.*got 7"):
        _dataset(terminations=np.array([0, 0, 7, 0, 0, 1.0]))
    with pytest.raises(ValueError, match="rewards has 5"):
        _dataset(rewards=np.zeros(5))
    with pytest.raises(ValueError, match="holds no transitions"):
        _dataset(observations=np.zeros((0, 3)), actions=np.zeros((0, 1)), rewards=np.zeros(0),
                 next_observations=np.zeros((0, 3)), terminations=np.zeros(0))


def test_domain_presets_standardise_antmaze_observations_only(antmaze_data, pendulum_data):
    antmaze = IQL("MlpPolicy", antmaze_data, **SMALL)
    assert antmaze.config.normalize_observations is True
    assert torch.allclose(antmaze.nets.obs_std, torch.as_tensor(antmaze_data.observations.std(axis=0) + 1e-3))
    assert IQL("MlpPolicy", pendulum_data, **SMALL).config.normalize_observations is False
    assert IQL("MlpPolicy", antmaze_data, normalize_observations=False, **SMALL).config.normalize_observations is False
