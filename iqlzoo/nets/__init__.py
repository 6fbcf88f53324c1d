"""Network building blocks: ensembled bodies (plain MLP or D2RL-dense), value heads, critics and the policy."""

from iqlzoo.nets.critics import EnsembleQ, ValueNet
from iqlzoo.nets.heads import HEADS, CriticHead, QuantileHead, ScalarHead, cosine_embedding
from iqlzoo.nets.mlp import EnsembleBody, EnsembleLinear, make_body
from iqlzoo.nets.policies import GaussianPolicy

__all__ = [
    "HEADS",
    "CriticHead",
    "EnsembleBody",
    "EnsembleLinear",
    "EnsembleQ",
    "GaussianPolicy",
    "QuantileHead",
    "ScalarHead",
    "ValueNet",
    "cosine_embedding",
    "make_body",
]
