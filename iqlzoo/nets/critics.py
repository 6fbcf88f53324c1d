"""IQL's critics: an ensemble of state-action values Q_i(s, a) and a state value V(s)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from iqlzoo.nets.mlp import MLP, EnsembleMLP


class EnsembleQ(nn.Module):
    """Q_1..Q_E(s, a) as one ensembled MLP on the concatenation [s, a]; returns shape (E, B)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], n_critics: int) -> None:
        super().__init__()
        self.net = EnsembleMLP(n_critics, obs_dim + act_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=-1)).squeeze(-1)


class ValueNet(nn.Module):
    """V(s) as an MLP; returns shape (B,)."""

    def __init__(self, obs_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = MLP(obs_dim, hidden, 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)
