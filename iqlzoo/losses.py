"""The losses of Implicit Q-Learning and its distributional variant, as pure functions.

Notation (Kostrikov et al., 2021): dataset D of transitions (s, a, r, s', d); Q̂ the target critic (minimum over
the critic ensemble), V the value network, π the policy, γ the discount.

Every function takes a leading *agent* dimension K (independent agents trained side by side, K = 1 for one agent)
and returns one loss per agent, shape (K,): the agents' losses are summed before the backward pass, so each agent's
parameters receive exactly the gradient of its own loss.
"""

from __future__ import annotations

import torch


def _per_agent_mean(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).mean(dim=1)


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    r"""Asymmetric squared loss L₂^τ of IQL's value update, averaged over all but the agent dimension.

    .. math:: L_2^\tau(u) = |\tau - \mathbb{1}(u < 0)|\, u^2, \qquad u = \hat Q(s, a) - V(s)

    With τ > 0.5, under-estimates of Q (u > 0) cost more than over-estimates, so V approaches an upper
    expectile of Q over the dataset's actions: the value of the best in-distribution actions.
    """
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return _per_agent_mean(weight * diff.square())


def td_loss(q_values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared TD error of IQL's Q update, summed over the critic ensemble (and averaged over quantiles).

    .. math:: L_Q = \sum_{i} \mathbb{E}_D\big[(r + \gamma (1 - d) V(s') - Q_i(s, a))^2\big]

    ``q_values`` has shape (K, n_critics, batch, N) and ``target`` (K, batch, N) without gradient; N = 1 for scalar
    critics, and the number of quantile fractions when the loss is applied per quantile.
    """
    return (q_values - target.unsqueeze(1)).square().mean(dim=(-2, -1)).sum(dim=1)


def quantile_huber_loss(
    predictions: torch.Tensor, targets: torch.Tensor, taus: torch.Tensor, kappa: float = 1.0
) -> torch.Tensor:
    r"""Quantile-Huber loss of distributional TD learning (Dabney et al., 2018; the source report's Eq. 7).

    For every pair of predicted quantile θ_i (fraction τ_i) and target sample T_j, with δ_ij = T_j − θ_i:

    .. math::
        ρ^κ_τ(δ) = |τ − \mathbb{1}(δ < 0)| \cdot
            \begin{cases} δ^2 / (2κ) & |δ| ≤ κ \\ |δ| − κ/2 & \text{otherwise} \end{cases}

    summed over i, averaged over j and over the batch, summed over the critic ensemble. Shapes: ``predictions``
    (K, n_critics, B, N), ``targets`` (K, B, M) (no gradient), ``taus`` (K, B, N).
    """
    delta = targets[:, None, :, None, :] - predictions.unsqueeze(-1)  # (K, C, B, N, M)
    abs_delta = delta.abs()
    huber = torch.where(abs_delta <= kappa, 0.5 * delta.square() / kappa, abs_delta - 0.5 * kappa)
    weight = (taus[:, None, :, :, None] - (delta < 0).to(delta.dtype)).abs()
    per_sample = (weight * huber).mean(dim=-1).sum(dim=-1)  # (K, C, B)
    return per_sample.mean(dim=-1).sum(dim=-1)


def awr_weights(advantage: torch.Tensor, temperature: float, max_weight: float) -> torch.Tensor:
    r"""Advantage weights of IQL's policy extraction, ``min(exp(β·A), w_max)`` with β the inverse temperature."""
    return torch.exp(temperature * advantage).clamp(max=max_weight)


def awr_loss(log_prob: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""Advantage-weighted regression (weighted behaviour cloning) loss; inputs (K, B).

    .. math:: L_\pi = -\mathbb{E}_D\big[\min(e^{\beta (\hat Q(s,a) - V(s))}, w_{max}) \log \pi(a \mid s)\big]
    """
    return -_per_agent_mean(weights * log_prob)
