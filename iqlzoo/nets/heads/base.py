"""What every critic head declares: whether it takes quantile fractions τ, the head V uses beside it, its TD loss
and the expectation that turns its outputs into one value per (s, a)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from iqlzoo.losses import td_loss


class CriticHead(nn.Module):
    """Maps body features (E, B, H) and quantile fractions τ (E, B, N) to values (E, B, N); a head that ignores τ
    returns (E, B, 1), which broadcasts against any N.

    Subclasses are built as ``Head(ensemble_size, feature_dim, cfg)`` with the agent's configuration ``cfg`` (an
    :class:`~iqlzoo.agents.config.IQLConfig`), from which they read their own hyperparameters.
    """

    takes_taus: ClassVar[bool] = False
    """Whether the head needs quantile fractions τ ~ U(0, 1) (``cfg.n_quantiles`` per transition) as input."""

    def __init__(self, ensemble_size: int, feature_dim: int, cfg: Any) -> None:
        super().__init__()
        self.ensemble_size = ensemble_size
        self.feature_dim = feature_dim

    @classmethod
    def value_head(cls, cfg: Any) -> str:
        """The registered name of the head V uses when Q uses this one (default: a scalar V)."""
        return "scalar"

    @classmethod
    def td_loss(cls, q: torch.Tensor, td_target: torch.Tensor, taus: torch.Tensor | None, cfg: Any) -> torch.Tensor:
        """Q's regression loss per agent (K,) for values q (K, C, B, N) and targets (K, B, N); default: squared TD,
        L_Q = Σ_i E[(y − Q_i)²]."""
        return td_loss(q, td_target)

    @staticmethod
    def expectation(values: torch.Tensor) -> torch.Tensor:
        """E over the last (quantile) dimension: (…, N) → (…)."""
        return values.mean(dim=-1)
