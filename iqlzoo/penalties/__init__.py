"""Anti-exploration novelty bonuses b(s, a) (Rezaeifar et al., 2022): large for state-action pairs unlike the data.

IQL with a bonus uses the penalised critic Q(s, a) − α·b̃(s, a) wherever it uses Q; b̃ = b / E_D[b] is the bonus
normalised by a running mean of its value on dataset batches, so that b̃ ≈ 1 on the data and one α fits all
datasets. See :class:`iqlzoo.agents.iql.IQL` for where exactly it enters.
"""

from __future__ import annotations

from collections.abc import Sequence

from iqlzoo.penalties.base import NoveltyBonus
from iqlzoo.penalties.cvae import CVAEBonus
from iqlzoo.penalties.rnd import RNDBonus

PENALTIES = ("none", "rnd", "cvae")


def make_penalty(
    kind: str, obs_dim: int, act_dim: int, hidden: Sequence[int], n_agents: int = 1
) -> NoveltyBonus | None:
    """``none`` → None, ``rnd`` → :class:`RNDBonus`, ``cvae`` → :class:`CVAEBonus`."""
    if kind == "none":
        return None
    if kind == "rnd":
        return RNDBonus(obs_dim, act_dim, hidden, n_agents=n_agents)
    if kind == "cvae":
        return CVAEBonus(obs_dim, act_dim, hidden, n_agents=n_agents)
    raise ValueError(f"unknown penalty {kind!r}; choose one of {PENALTIES}")


__all__ = ["CVAEBonus", "NoveltyBonus", "PENALTIES", "RNDBonus", "make_penalty"]
