"""Critic heads, by name. Adding a head is one new module here (a :class:`CriticHead` subclass) and one line in
:data:`HEADS`; the agent asks the head what it needs and never tests its name."""

from __future__ import annotations

from typing import Any

from iqlzoo.nets.heads.base import CriticHead
from iqlzoo.nets.heads.quantile import QuantileHead, cosine_embedding
from iqlzoo.nets.heads.scalar import ScalarHead

HEADS: dict[str, type[CriticHead]] = {
    "scalar": ScalarHead,
    "quantile": QuantileHead,
}


def head_class(name: str) -> type[CriticHead]:
    """The head registered as `name`; ValueError listing the known ones otherwise."""
    if name not in HEADS:
        raise ValueError(f"unknown critic head {name!r}; choose one of {tuple(HEADS)}")
    return HEADS[name]


def make_head(name: str, ensemble_size: int, feature_dim: int, cfg: Any) -> CriticHead:
    """An instance of the head `name` for `ensemble_size` members on features of size `feature_dim`."""
    return head_class(name)(ensemble_size, feature_dim, cfg)


__all__ = ["HEADS", "CriticHead", "QuantileHead", "ScalarHead", "cosine_embedding", "head_class", "make_head"]
