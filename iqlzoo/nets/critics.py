"""IQL's critics: an ensemble of state-action values Q_i(s, a[, τ]) and a state value V(s[, τ]).

Both are body → head compositions; with a scalar head τ is ignored and the last dimension has size 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from iqlzoo.nets.heads import make_head
from iqlzoo.nets.mlp import make_body


class EnsembleQ(nn.Module):
    """Q_1..Q_E(s, a, τ) on the concatenation [s, a]; returns (E, B, N) (N = 1 for a scalar head)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        n_critics: int,
        body: str = "mlp",
        head: str = "scalar",
        n_cos: int = 64,
    ) -> None:
        super().__init__()
        self.body = make_body(body, n_critics, obs_dim + act_dim, hidden)
        self.head = make_head(head, n_critics, self.body.out_dim, n_cos)

    def forward(self, obs: torch.Tensor, act: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(torch.cat([obs, act], dim=-1)), taus)


class ValueNet(nn.Module):
    """V(s, τ); returns (B, N) (N = 1 for a scalar head)."""

    def __init__(
        self, obs_dim: int, hidden: Sequence[int], body: str = "mlp", head: str = "scalar", n_cos: int = 64
    ) -> None:
        super().__init__()
        self.body = make_body(body, 1, obs_dim, hidden)
        self.head = make_head(head, 1, self.body.out_dim, n_cos)

    def forward(self, obs: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(obs), taus).squeeze(0)
