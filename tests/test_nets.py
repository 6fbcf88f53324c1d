"""Network shapes: ensembles, D2RL dense bodies, quantile heads, and the Gaussian policy's density."""

import math

import pytest
import torch

from iqlzoo.agents.config import IQLConfig
from iqlzoo.nets import EnsembleBody, EnsembleQ, GaussianPolicy, QuantileHead, ValueNet, cosine_embedding


def test_ensemble_members_are_independent_networks():
    body = EnsembleBody(3, 4, [8, 8])
    x = torch.randn(5, 4)
    out = body(x)
    assert out.shape == (3, 5, 8)
    for e in range(3):
        h = torch.relu(x @ body.layers[0].weight[e] + body.layers[0].bias[e])
        ref = torch.relu(h @ body.layers[1].weight[e] + body.layers[1].bias[e])
        torch.testing.assert_close(out[e], ref)
    assert not torch.allclose(out[0], out[1])


def test_d2rl_body_feeds_the_input_into_every_hidden_layer():
    body = EnsembleBody(1, 10, [32, 32, 32, 32], dense=True)
    assert [tuple(layer.weight.shape[1:]) for layer in body.layers] == [(10, 32), (42, 32), (42, 32), (42, 32)]
    x = torch.randn(6, 10)
    h = torch.relu(x @ body.layers[0].weight[0] + body.layers[0].bias[0])
    for layer in body.layers[1:]:
        h = torch.relu(torch.cat([h, x], -1) @ layer.weight[0] + layer.bias[0])
    torch.testing.assert_close(body(x)[0], h)
    plain = EnsembleBody(1, 10, [32, 32])
    assert [tuple(layer.weight.shape[1:]) for layer in plain.layers] == [(10, 32), (32, 32)]


def test_cosine_embedding_values_and_shape():
    taus = torch.tensor([[0.0, 0.5], [0.25, 1.0]])
    phi = cosine_embedding(taus, 4)
    assert phi.shape == (2, 2, 4)
    torch.testing.assert_close(phi[0, 1], torch.tensor([1.0, math.cos(math.pi * 0.5), -1.0, math.cos(math.pi * 1.5)]))
    torch.testing.assert_close(phi[:, :, 0], torch.ones(2, 2))


def test_quantile_critic_and_value_shapes():
    # inputs carry a leading agent dimension K; critics return (K, n_critics, B, N)
    q = EnsembleQ(obs_dim=3, act_dim=2, hidden=[16, 16], n_critics=2, head="quantile", cfg=IQLConfig(n_cos=8),
                  n_agents=3)
    taus = torch.rand(3, 7, 5)
    out = q(torch.randn(3, 7, 3), torch.randn(3, 7, 2), taus)
    assert out.shape == (3, 2, 7, 5)
    assert isinstance(q.head, QuantileHead)
    assert not torch.allclose(out[..., 0], out[..., 1])  # outputs depend on τ
    v = ValueNet(3, [16], head="quantile", cfg=IQLConfig(n_cos=8), n_agents=3)
    assert v(torch.randn(3, 7, 3), taus).shape == (3, 7, 5)
    assert ValueNet(3, [16])(torch.randn(1, 7, 3)).shape == (1, 7, 1)
    assert EnsembleQ(3, 2, [16], 2)(torch.randn(1, 7, 3), torch.randn(1, 7, 2)).shape == (1, 2, 7, 1)
    with pytest.raises(ValueError, match="needs quantile fractions"):
        q(torch.randn(3, 7, 3), torch.randn(3, 7, 2))


def test_gaussian_log_prob_matches_torch_normal():
    pi = GaussianPolicy(3, 2, [8])
    with torch.no_grad():
        pi.log_std.copy_(torch.tensor([[[-0.3, 0.4]]]))
    obs, act = torch.randn(1, 6, 3), torch.rand(1, 6, 2) * 2 - 1
    ref = torch.distributions.Normal(pi.mean(obs), torch.exp(pi.log_std)).log_prob(act).sum(-1)
    torch.testing.assert_close(pi.log_prob(obs, act), ref)


def test_policy_log_std_is_clipped_and_mean_bounded():
    pi = GaussianPolicy(3, 2, [8], log_std_min=-5.0, log_std_max=2.0, body="d2rl")
    with torch.no_grad():
        pi.log_std.fill_(-50.0)
    assert pi.clipped_log_std().flatten().tolist() == pytest.approx([-5.0, -5.0])
    assert pi.act(torch.randn(1, 100, 3) * 100, deterministic=True).abs().max() <= 1.0
    g = torch.Generator().manual_seed(0)
    sample = pi.act(torch.zeros(1, 1, 3), deterministic=False, generator=g)
    assert (sample - pi.mean(torch.zeros(1, 1, 3))).abs().max() < 10 * math.exp(-5.0)
