"""iqlzoo: Implicit Q-Learning and its variants as Stable-Baselines3-style offline RL agents on Minari datasets."""

# ruff: noqa: E402 -- the notice filters go first, before anything imports gymnasium-robotics or MuJoCo
from iqlzoo.quiet import quiet_third_party_notices

quiet_third_party_notices()

from iqlzoo.agents.base import TrainingDivergedError
from iqlzoo.agents.bc import BC
from iqlzoo.agents.iql import IQL, IQLConfig
from iqlzoo.agents.variants import AGENTS, D2RLIQL, BonusIQL, DistributionalIQL
from iqlzoo.checkpoint import CheckpointError
from iqlzoo.data import DatasetNotFoundError, TransitionDataset, from_minari, load_dataset
from iqlzoo.errors import InvalidInputError, IqlzooError
from iqlzoo.evaluation import EvaluationResult, evaluate
from iqlzoo.limits import LoadLimits

__version__ = "0.1.0"

__all__ = [
    "AGENTS",
    "BC",
    "BonusIQL",
    "D2RLIQL",
    "DistributionalIQL",
    "IQL",
    "CheckpointError",
    "DatasetNotFoundError",
    "EvaluationResult",
    "IQLConfig",
    "InvalidInputError",
    "IqlzooError",
    "LoadLimits",
    "TrainingDivergedError",
    "TransitionDataset",
    "evaluate",
    "from_minari",
    "load_dataset",
]
