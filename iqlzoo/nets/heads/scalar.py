"""The scalar head of IQL: Q(s, a) = w·h + b per ensemble member."""

from __future__ import annotations

from typing import Any

import torch

from iqlzoo.nets.heads.base import CriticHead
from iqlzoo.nets.mlp import EnsembleLinear


class ScalarHead(CriticHead):
    """Q(s, a) = w·h + b per ensemble member; returns (E, B, 1)."""

    def __init__(self, ensemble_size: int, feature_dim: int, cfg: Any = None) -> None:
        super().__init__(ensemble_size, feature_dim, cfg)
        self.out = EnsembleLinear(ensemble_size, feature_dim, 1)

    def forward(self, features: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(features)
