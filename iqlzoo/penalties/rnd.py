"""Random network distillation bonus (Burda et al., 2019; used for anti-exploration by Nikulin et al., 2023)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from iqlzoo.nets.mlp import EnsembleLinear, make_body
from iqlzoo.penalties.base import NoveltyBonus


class RNDBonus(NoveltyBonus):
    r"""b(s, a) = ‖f_θ(s, a) − f̄(s, a)‖² / k with f̄ a fixed random network and f_θ trained to imitate it on the data.

    Pairs seen in training are predicted well (small b); pairs unlike the data are not (large b).
    Training loss: E_D[b(s, a)].
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        embedding_dim: int = 32,
        n_agents: int = 1,
        norm_momentum: float = 0.01,
    ) -> None:
        super().__init__(n_agents, norm_momentum)
        in_dim = obs_dim + act_dim
        self.predictor = make_body("mlp", n_agents, in_dim, hidden)
        self.predictor_out = EnsembleLinear(n_agents, self.predictor.out_dim, embedding_dim)
        self.target = make_body("mlp", n_agents, in_dim, hidden)
        self.target_out = EnsembleLinear(n_agents, self.target.out_dim, embedding_dim)
        self.target.requires_grad_(False)
        self.target_out.requires_grad_(False)

    def bonus(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1)
        prediction = self.predictor_out(self.predictor(x))
        with torch.no_grad():
            target = self.target_out(self.target(x))
        return (prediction - target).square().mean(dim=-1)

    def loss(self, obs: torch.Tensor, act: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.bonus(obs, act).mean(dim=-1)
