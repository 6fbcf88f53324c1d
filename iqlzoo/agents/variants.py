"""The source report's IQL variants as named presets of the one IQL agent.

Each class only sets defaults of :class:`~iqlzoo.agents.iql.IQLConfig`; the update is IQL's. Any combination is a
configuration of any of them, e.g. ``IQL("MlpPolicy", ds, critic_body="d2rl", penalty="rnd",
critic_head="quantile")``. Checkpoints record the class name and the full configuration.
"""

from __future__ import annotations

from typing import Any, ClassVar

from iqlzoo.agents.base import AGENTS
from iqlzoo.agents.iql import IQL
from iqlzoo.errors import InvalidInputError


class DistributionalIQL(IQL):
    """Distributional IQL (report part III): IQN-style quantile critics; ``distributional_loss`` picks the form."""

    agent_name: ClassVar[str] = "DistributionalIQL"
    preset: ClassVar[dict[str, Any]] = {"critic_head": "quantile"}


class D2RLIQL(IQL):
    """IQL with D2RL dense networks (report part IV, "IQL+SC") for the policy, the critics and the value."""

    agent_name: ClassVar[str] = "D2RLIQL"
    preset: ClassVar[dict[str, Any]] = {"actor_body": "d2rl", "critic_body": "d2rl", "value_body": "d2rl"}


class BonusIQL(IQL):
    """IQL with an anti-exploration bonus (report part V): Q − α·b̃ with ``bonus="rnd"`` (default) or ``"cvae"``."""

    agent_name: ClassVar[str] = "BonusIQL"
    preset: ClassVar[dict[str, Any]] = {"penalty": "rnd"}

    def __init__(self, *args: Any, bonus: str | None = None, **kwargs: Any) -> None:
        if bonus is not None:
            if "penalty" in kwargs and kwargs["penalty"] != bonus:
                raise InvalidInputError(f"bonus={bonus!r} and penalty={kwargs['penalty']!r} disagree; pass one of them")
            kwargs["penalty"] = bonus
        super().__init__(*args, **kwargs)


__all__ = ["AGENTS", "BonusIQL", "D2RLIQL", "DistributionalIQL", "IQL"]
