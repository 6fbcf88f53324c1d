"""The IQL losses on small hand-computed cases."""

import math

import pytest
import torch

from iqlzoo.losses import awr_loss, awr_weights, expectile_loss, td_loss


def test_expectile_loss_weights_positive_and_negative_differences_asymmetrically():
    diff = torch.tensor([[2.0, -1.0]])  # one agent, two samples
    # τ=0.9: 0.9·2² = 3.6 and 0.1·(−1)² = 0.1 → mean 1.85
    assert expectile_loss(diff, 0.9).tolist() == pytest.approx([1.85])
    # τ=0.5 is half the mean squared error
    assert expectile_loss(diff, 0.5).tolist() == pytest.approx([0.5 * (4 + 1) / 2])
    # agents are reduced separately
    assert expectile_loss(torch.tensor([[2.0, -1.0], [0.0, 1.0]]), 0.9).tolist() == pytest.approx([1.85, 0.45])


def test_expectile_minimiser_is_the_expectile():
    values = torch.tensor([[0.0, 1.0, 10.0]])
    v = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([v], lr=0.1)
    for _ in range(3000):
        opt.zero_grad()
        expectile_loss(values - v, 0.8).sum().backward()
        opt.step()
    # the τ-expectile m solves Σ|τ − 1(x<m)|(x − m) = 0; for 1 < m < 10: 0.2(0 − m) + 0.2(1 − m) + 0.8(10 − m) = 0
    expected = (0.2 * 1 + 0.8 * 10) / (0.2 + 0.2 + 0.8)
    assert v.item() == pytest.approx(expected, abs=1e-3)


def test_td_loss_sums_over_critics_and_averages_over_batch():
    q = torch.tensor([[1.0, 2.0], [0.0, 0.0]]).reshape(1, 2, 2, 1)  # (agents, critics, batch, N)
    target = torch.tensor([1.0, 0.0]).reshape(1, 2, 1)
    # critic 1: (0² + 2²)/2 = 2; critic 2: (1² + 0²)/2 = 0.5
    assert td_loss(q, target).tolist() == pytest.approx([2.5])


def test_awr_weights_are_exponential_and_clipped():
    adv = torch.tensor([0.0, 0.5, 10.0])
    w = awr_weights(adv, temperature=2.0, max_weight=100.0)
    assert w.tolist() == pytest.approx([1.0, math.e, 100.0])
    loss = awr_loss(torch.tensor([[-1.0, -2.0, 0.0]]), w.unsqueeze(0))
    assert loss.tolist() == pytest.approx([(1.0 + 2 * math.e) / 3])
