"""IQN-style quantile head (Dabney et al., 2018) of distributional IQL, with the two TD losses it can train with.

``cfg.distributional_loss``:

- ``"iql"`` — the source report's form: the IQL losses applied per quantile with shared fractions τ_i, and V a
  quantile head too: L_V = E_i[L₂^τ(min_e Q̂_e(s,a,τ_i) − V(s,τ_i))], L_Q = Σ_e E_i[(r + γ(1−d)V(s',τ_i) −
  Q_e(s,a,τ_i))²]. Nothing makes the τ_i-outputs actual quantiles; the report found it unstable.
- ``"quantile_huber"`` — a sound form: Q's quantiles fit the distributional target T = r + γ(1−d)V(s') with the
  quantile-Huber loss ρ^κ_τ (κ = ``cfg.huber_kappa``), and V is a scalar head, the upper expectile of the
  critic's expected value.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from iqlzoo.losses import quantile_huber_loss
from iqlzoo.nets.heads.base import CriticHead
from iqlzoo.nets.mlp import EnsembleLinear

DISTRIBUTIONAL_LOSSES = ("iql", "quantile_huber")


def cosine_embedding(taus: torch.Tensor, n_cos: int) -> torch.Tensor:
    r"""IQN's cosine basis of quantile fractions: φ(τ)_k = cos(π k τ), k = 0..n_cos−1; (..., N) → (..., N, n_cos)."""
    k = torch.arange(n_cos, device=taus.device, dtype=taus.dtype)
    return torch.cos(math.pi * k * taus.unsqueeze(-1))


class QuantileHead(CriticHead):
    r"""Z_τ = w·(h ⊙ ReLU(W_τ φ(τ) + b_τ)) + b; returns (E, B, N).

    φ(τ) is :func:`cosine_embedding` with ``cfg.n_cos`` terms; the τ-embedding is learned per ensemble member.
    """

    takes_taus: ClassVar[bool] = True

    def __init__(self, ensemble_size: int, feature_dim: int, cfg: Any = None) -> None:
        super().__init__(ensemble_size, feature_dim, cfg)
        self.n_cos = 64 if cfg is None else cfg.n_cos
        self.tau_embed = EnsembleLinear(ensemble_size, self.n_cos, feature_dim)
        self.out = EnsembleLinear(ensemble_size, feature_dim, 1)

    def forward(self, features: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        if taus is None:
            raise ValueError("a quantile head needs quantile fractions taus of shape (E, B, N)")
        e, b, h = features.shape
        n = taus.shape[-1]
        phi = cosine_embedding(taus, self.n_cos).reshape(e, b * n, self.n_cos)
        embedding = torch.relu(self.tau_embed(phi)).reshape(e, b, n, h)
        merged = (features.unsqueeze(2) * embedding).reshape(e, b * n, h)
        return self.out(merged).reshape(e, b, n)

    @classmethod
    def value_head(cls, cfg: Any) -> str:
        return "quantile" if cfg.distributional_loss == "iql" else "scalar"

    @classmethod
    def td_loss(cls, q: torch.Tensor, td_target: torch.Tensor, taus: torch.Tensor | None, cfg: Any) -> torch.Tensor:
        if cfg.distributional_loss == "quantile_huber":
            return quantile_huber_loss(q, td_target, taus, cfg.huber_kappa)
        return super().td_loss(q, td_target, taus, cfg)
