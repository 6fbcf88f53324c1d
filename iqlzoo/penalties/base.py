"""The interface every novelty bonus implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class NoveltyBonus(nn.Module, ABC):
    """A bonus b(s, a) ≥ 0 with its own training loss, fitted on dataset pairs alongside IQL.

    Inputs carry a leading agent dimension K: (K, B, ·) → bonuses (K, B) and losses (K,).
    """

    noise_dim: int = 0
    """Size of the per-sample standard normal noise :meth:`loss` needs (0: none)."""

    @abstractmethod
    def bonus(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """b(s, a) for a batch; shape (K, B)."""

    @abstractmethod
    def loss(self, obs: torch.Tensor, act: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Per-agent losses (K,) whose minimisation on the data makes b small there; ``noise``: (K, B, noise_dim)."""
