"""Bonus models own their hyperparameters and their normalisation."""

import pytest
import torch

from iqlzoo import BonusIQL
from iqlzoo.penalties import RNDBonus, penalty_options

SMALL = {"policy_kwargs": {"net_arch": [16, 16]}, "batch_size": 32, "device": "cpu", "compile": False,
         "penalty_hidden": (16, 16)}


def test_per_bonus_hyperparameters_are_reachable_from_the_config(pendulum_data):
    assert penalty_options("cvae") == ["kl_weight"] and penalty_options("rnd") == ["embedding_dim"]
    cvae = BonusIQL("MlpPolicy", pendulum_data, bonus="cvae", penalty_kwargs={"kl_weight": 2.0}, **SMALL)
    assert cvae.nets.penalty.kl_weight == 2.0
    rnd = BonusIQL("MlpPolicy", pendulum_data, bonus="rnd", penalty_kwargs={"embedding_dim": 8}, **SMALL)
    assert rnd.nets.penalty.predictor_out.weight.shape[-1] == 8
    with pytest.raises(ValueError, match=r"penalty_kwargs \['kl_weight'\] are not hyperparameters of the 'rnd'"):
        BonusIQL("MlpPolicy", pendulum_data, bonus="rnd", penalty_kwargs={"kl_weight": 2.0}, **SMALL)


def test_the_bonus_normalises_itself_by_its_bias_corrected_running_mean():
    bonus = RNDBonus(3, 2, [8], n_agents=2, norm_momentum=0.5)
    obs, act = torch.randn(2, 5, 3), torch.randn(2, 5, 2)
    with torch.no_grad():
        normalized, raw, scale = bonus.normalized(obs, act)
    # after one update the bias-corrected mean is exactly the batch mean, so b̃ averages to 1 per agent
    torch.testing.assert_close(scale, raw.mean(dim=-1))
    torch.testing.assert_close(normalized.mean(dim=-1), torch.ones(2))
    assert bonus.bonus_updates.item() == 1.0
