"""Anti-exploration novelty bonuses b(s, a) (Rezaeifar et al., 2022): large for state-action pairs unlike the data.

IQL with a bonus penalises the critic, Q(s, a) − α·b̃(s, a), wherever it uses Q (``penalty`` in the agent's
config names the bonus model that defines the penalty); b̃ is the bonus normalised on the data (see
:class:`NoveltyBonus`). Adding a bonus is one new module here and one line in :data:`PENALTIES`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from iqlzoo.errors import InvalidInputError
from iqlzoo.penalties.base import NoveltyBonus
from iqlzoo.penalties.cvae import CVAEBonus
from iqlzoo.penalties.rnd import RNDBonus

PENALTIES: dict[str, type[NoveltyBonus]] = {
    "rnd": RNDBonus,
    "cvae": CVAEBonus,
}
NO_PENALTY = "none"
_BUILT_BY_THE_AGENT = {"self", "obs_dim", "act_dim", "hidden", "n_agents", "norm_momentum"}


def penalty_options(kind: str) -> list[str]:
    """The keyword hyperparameters of bonus `kind` a config may set in ``penalty_kwargs``."""
    return [name for name in inspect.signature(PENALTIES[kind].__init__).parameters if name not in _BUILT_BY_THE_AGENT]


def check_penalty(kind: str, kwargs: Mapping[str, Any]) -> None:
    """ValueError unless `kind` is ``none`` or registered and `kwargs` are among its hyperparameters."""
    if kind == NO_PENALTY:
        if kwargs:
            raise InvalidInputError(f"penalty_kwargs={dict(kwargs)!r} given without a penalty: set penalty to one of "
                             f"{tuple(PENALTIES)}")
        return
    if kind not in PENALTIES:
        raise InvalidInputError(f"penalty={kind!r}: must be one of {(NO_PENALTY, *PENALTIES)}")
    unknown = sorted(set(kwargs) - set(penalty_options(kind)))
    if unknown:
        raise InvalidInputError(f"penalty_kwargs {unknown} are not hyperparameters of the {kind!r} bonus; it takes "
                         f"{penalty_options(kind)}")


def make_penalty(
    kind: str,
    obs_dim: int,
    act_dim: int,
    hidden: Sequence[int],
    n_agents: int = 1,
    norm_momentum: float = 0.01,
    kwargs: Mapping[str, Any] | None = None,
) -> NoveltyBonus | None:
    """``none`` → None, else the registered bonus `kind` with its own hyperparameters `kwargs`."""
    check_penalty(kind, kwargs or {})
    if kind == NO_PENALTY:
        return None
    return PENALTIES[kind](obs_dim, act_dim, hidden, n_agents=n_agents, norm_momentum=norm_momentum, **(kwargs or {}))


__all__ = ["CVAEBonus", "NO_PENALTY", "NoveltyBonus", "PENALTIES", "RNDBonus", "make_penalty", "penalty_options"]
