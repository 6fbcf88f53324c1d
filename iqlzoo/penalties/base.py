"""The interface every novelty bonus implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn


class NoveltyBonus(nn.Module, ABC):
    """A bonus b(s, a) ≥ 0 with its own training loss, fitted on dataset pairs alongside IQL."""

    @abstractmethod
    def bonus(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """b(s, a) for a batch; shape (B,)."""

    @abstractmethod
    def loss(self, obs: torch.Tensor, act: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The scalar loss whose minimisation on dataset pairs makes b small there (noise drawn from ``generator``)."""
