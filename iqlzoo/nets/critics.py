"""IQL's critics: an ensemble of state-action values Q_i(s, a[, τ]) and a state value V(s[, τ]).

Both are body → head compositions (``cfg``, the agent's configuration, carries the head's hyperparameters); with a
scalar head τ is ignored and the last dimension has size 1. Inputs carry
a leading agent dimension K (independent agents stacked as ensemble members; K = 1 for one agent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from iqlzoo.nets.heads import make_head
from iqlzoo.nets.mlp import make_body


class EnsembleQ(nn.Module):
    """Q_1..Q_C(s, a, τ) per agent on the concatenation [s, a]: (K, B, ·) inputs → (K, C, B, N) values."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        n_critics: int,
        body: str = "mlp",
        head: str = "scalar",
        cfg: Any = None,
        n_agents: int = 1,
    ) -> None:
        super().__init__()
        self.n_critics, self.n_agents = n_critics, n_agents
        self.body = make_body(body, n_agents * n_critics, obs_dim + act_dim, hidden)
        self.head = make_head(head, n_agents * n_critics, self.body.out_dim, cfg)

    def forward(self, obs: torch.Tensor, act: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        k, b, _ = obs.shape
        c = self.n_critics
        x = torch.cat([obs, act], dim=-1).unsqueeze(1).expand(-1, c, -1, -1).reshape(k * c, b, -1)
        if taus is not None:
            taus = taus.unsqueeze(1).expand(-1, c, -1, -1).reshape(k * c, b, -1)
        return self.head(self.body(x), taus).reshape(k, c, b, -1)


class ValueNet(nn.Module):
    """V(s, τ) per agent: (K, B, obs_dim) → (K, B, N) (N = 1 for a scalar head)."""

    def __init__(
        self,
        obs_dim: int,
        hidden: Sequence[int],
        body: str = "mlp",
        head: str = "scalar",
        cfg: Any = None,
        n_agents: int = 1,
    ) -> None:
        super().__init__()
        self.body = make_body(body, n_agents, obs_dim, hidden)
        self.head = make_head(head, n_agents, self.body.out_dim, cfg)

    def forward(self, obs: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(obs), taus)
