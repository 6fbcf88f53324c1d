"""Network building blocks: MLP bodies, the critic ensemble and the Gaussian policy."""

from iqlzoo.nets.critics import EnsembleQ, ValueNet
from iqlzoo.nets.mlp import MLP, EnsembleLinear, EnsembleMLP
from iqlzoo.nets.policies import GaussianPolicy

__all__ = ["MLP", "EnsembleLinear", "EnsembleMLP", "EnsembleQ", "ValueNet", "GaussianPolicy"]
