"""Behaviour cloning, the baseline every offline-RL number is read against: what imitating the data alone reaches."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from iqlzoo.agents.iql import IQL, IQLNetworks
from iqlzoo.errors import InvalidInputError
from iqlzoo.losses import awr_loss


class BC(IQL):
    r"""Behaviour cloning with IQL's policy: π fitted to the dataset actions by maximum likelihood,
    L_π = −E_D[log π(a|s)] — advantage-weighted regression with every weight 1 (β = 0).

    It shares IQL's networks, options, multi-seed training and checkpoint format (so everything that loads, evaluates,
    publishes or exports an IQL takes a BC too); Q and V exist in the checkpoint but are neither trained nor used
    (an inference export, as the zoo publishes, leaves them out: `never_trained`).
    """

    agent_name: ClassVar[str] = "BC"
    base_stats: ClassVar[tuple[str, ...]] = ("actor_loss", "log_std_mean")
    never_trained: ClassVar[tuple[str, ...]] = ("critic.", "critic_target.", "value.")

    def _build(self, cfg: Any, *args: Any, **kwargs: Any) -> None:
        if cfg.penalty != "none":
            raise InvalidInputError(f"BC takes no penalty (got penalty={cfg.penalty!r}): it never uses a critic")
        super()._build(cfg, *args, **kwargs)

    def _trained_modules(self, nets: IQLNetworks) -> dict[str, nn.Module]:
        return {"actor": nets.actor}

    def _losses(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        rew: torch.Tensor,
        next_obs: torch.Tensor,
        term: torch.Tensor,
        taus: torch.Tensor | None,
        noise: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """The negative log-likelihood of the dataset actions, per agent (K,)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
            log_prob = self.nets.actor.log_prob(obs, act).float()
        return {"actor_loss": awr_loss(log_prob, torch.ones_like(log_prob))}

    def _loss_names(self, parts: dict[str, torch.Tensor]) -> tuple[str, ...]:
        return ("actor_loss",)

    def _statistics(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "actor_loss": parts["actor_loss"].detach(),
            "log_std_mean": self.nets.actor.clipped_log_std().detach().reshape(self.n_seeds, -1).mean(dim=1),
        }
