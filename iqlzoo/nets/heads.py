"""Value heads: scalar, or IQN-style quantiles of the return distribution.

Every head maps body features (E, B, H) and quantile fractions τ of shape (E, B, N) to values (E, B, N); a scalar
head ignores τ and returns (E, B, 1), which broadcasts against any N — so one loss written per quantile serves both.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from iqlzoo.nets.mlp import EnsembleLinear

HEADS = ("scalar", "quantile")


def cosine_embedding(taus: torch.Tensor, n_cos: int) -> torch.Tensor:
    r"""IQN's cosine basis of quantile fractions: φ(τ)_k = cos(π k τ), k = 0..n_cos−1; (..., N) → (..., N, n_cos)."""
    k = torch.arange(n_cos, device=taus.device, dtype=taus.dtype)
    return torch.cos(math.pi * k * taus.unsqueeze(-1))


class ScalarHead(nn.Module):
    """Q(s, a) = w·h + b per ensemble member; returns (E, B, 1)."""

    def __init__(self, ensemble_size: int, feature_dim: int) -> None:
        super().__init__()
        self.out = EnsembleLinear(ensemble_size, feature_dim, 1)

    def forward(self, features: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(features)


class QuantileHead(nn.Module):
    r"""Implicit quantile head (Dabney et al., 2018): Z_τ = w·(h ⊙ ReLU(W_τ φ(τ) + b_τ)) + b; returns (E, B, N).

    φ(τ) is :func:`cosine_embedding`; the τ-embedding is learned per ensemble member.
    """

    def __init__(self, ensemble_size: int, feature_dim: int, n_cos: int = 64) -> None:
        super().__init__()
        self.n_cos = n_cos
        self.ensemble_size = ensemble_size
        self.tau_embed = EnsembleLinear(ensemble_size, n_cos, feature_dim)
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


def make_head(kind: str, ensemble_size: int, feature_dim: int, n_cos: int = 64) -> nn.Module:
    if kind not in HEADS:
        raise ValueError(f"unknown critic head {kind!r}; choose one of {HEADS}")
    if kind == "scalar":
        return ScalarHead(ensemble_size, feature_dim)
    return QuantileHead(ensemble_size, feature_dim, n_cos)
