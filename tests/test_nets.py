"""Network shapes and the Gaussian policy's density."""

import math

import pytest
import torch

from iqlzoo.nets import EnsembleMLP, EnsembleQ, GaussianPolicy


def test_ensemble_members_are_independent_mlps():
    net = EnsembleMLP(3, 4, [8], 2)
    x = torch.randn(5, 4)
    out = net(x)
    assert out.shape == (3, 5, 2)
    for e in range(3):
        h = torch.relu(x @ net.layers[0].weight[e] + net.layers[0].bias[e])
        ref = h @ net.layers[1].weight[e] + net.layers[1].bias[e]
        torch.testing.assert_close(out[e], ref)
    assert not torch.allclose(out[0], out[1])


def test_ensemble_q_shape():
    q = EnsembleQ(obs_dim=3, act_dim=2, hidden=[16, 16], n_critics=2)
    assert q(torch.randn(7, 3), torch.randn(7, 2)).shape == (2, 7)


def test_gaussian_log_prob_matches_torch_normal():
    pi = GaussianPolicy(3, 2, [8])
    with torch.no_grad():
        pi.log_std.copy_(torch.tensor([-0.3, 0.4]))
    obs, act = torch.randn(6, 3), torch.rand(6, 2) * 2 - 1
    ref = torch.distributions.Normal(pi.mean(obs), torch.exp(pi.log_std)).log_prob(act).sum(-1)
    torch.testing.assert_close(pi.log_prob(obs, act), ref)


def test_policy_log_std_is_clipped_and_mean_bounded():
    pi = GaussianPolicy(3, 2, [8], log_std_min=-5.0, log_std_max=2.0)
    with torch.no_grad():
        pi.log_std.fill_(-50.0)
    assert pi.clipped_log_std().tolist() == pytest.approx([-5.0, -5.0])
    assert pi.act(torch.randn(100, 3) * 100, deterministic=True).abs().max() <= 1.0
    g = torch.Generator().manual_seed(0)
    sample = pi.act(torch.zeros(1, 3), deterministic=False, generator=g)
    assert (sample - pi.mean(torch.zeros(1, 3))).abs().max() < 10 * math.exp(-5.0)
