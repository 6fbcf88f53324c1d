"""The interface every novelty bonus implements, and the normalisation every bonus shares."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class NoveltyBonus(nn.Module, ABC):
    """A bonus b(s, a) ≥ 0 with its own training loss, fitted on dataset pairs alongside IQL.

    Inputs carry a leading agent dimension K: (K, B, ·) → bonuses (K, B) and losses (K,). The bonus owns its
    normalisation: :meth:`normalized` divides b by a bias-corrected running mean of its value on data batches,
    E_D[b] ≈ ema_t / (1 − (1 − m)^t) with momentum m, so that b̃ ≈ 1 on the data and one α fits every dataset.
    Subclasses take ``(obs_dim, act_dim, hidden, n_agents=..., norm_momentum=...)`` and their own keyword
    hyperparameters (reachable from the agent's config as ``penalty_kwargs``).
    """

    noise_dim: int = 0
    """Size of the per-sample standard normal noise :meth:`loss` needs (0: none)."""

    def __init__(self, n_agents: int = 1, norm_momentum: float = 0.01) -> None:
        super().__init__()
        self.norm_momentum = norm_momentum
        self.register_buffer("bonus_ema", torch.zeros(n_agents))
        self.register_buffer("bonus_updates", torch.zeros(()))

    @abstractmethod
    def bonus(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """b(s, a) for a batch; shape (K, B)."""

    @abstractmethod
    def loss(self, obs: torch.Tensor, act: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Per-agent losses (K,) whose minimisation on the data makes b small there; ``noise``: (K, B, noise_dim)."""

    def normalized(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(b̃ (K, B), b (K, B), the scale E_D[b] (K,)) for a data batch, updating the running mean with it first.
        Call it under ``torch.no_grad()``: the penalty enters IQL's targets, never its gradients."""
        bonus = self.bonus(obs, act)
        self.bonus_updates.add_(1.0)
        self.bonus_ema.lerp_(bonus.mean(dim=-1), self.norm_momentum)
        scale = self.bonus_ema / (1.0 - (1.0 - self.norm_momentum) ** self.bonus_updates)
        return bonus / scale.unsqueeze(-1), bonus, scale
