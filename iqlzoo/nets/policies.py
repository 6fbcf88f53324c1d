"""IQL's policy: a Gaussian with tanh-bounded mean and a state-independent log standard deviation.

π(a | s) = N(a; tanh(μ(s)), diag(exp(2·clip(log σ, log σ_min, log σ_max)))), in the normalised action space
[-1, 1]^d. The Gaussian is *not* squashed: a tanh-squashed Gaussian is known to fail on AntMaze (its log-density
of dataset actions near ±1 explodes). Evaluation uses the mean action.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from iqlzoo.nets.mlp import EnsembleLinear, make_body

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class GaussianPolicy(nn.Module):
    """μ(s) by an MLP (plain or D2RL body), log σ a free parameter vector clipped to [log_std_min, log_std_max].

    Inputs carry a leading agent dimension K: observations (K, B, obs_dim) → means (K, B, act_dim).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        body: str = "mlp",
        n_agents: int = 1,
    ) -> None:
        super().__init__()
        self.body = make_body(body, n_agents, obs_dim, hidden)
        self.mean_out = EnsembleLinear(n_agents, self.body.out_dim, act_dim)
        self.log_std = nn.Parameter(torch.zeros(n_agents, 1, act_dim))
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max

    def mean(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean_out(self.body(obs)).float())  # float32 even under bf16 autocast

    def clipped_log_std(self) -> torch.Tensor:
        return self.log_std.clamp(self.log_std_min, self.log_std_max)

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        r"""log π(a|s) = Σ_j [ -(a_j - μ_j)² / (2σ_j²) - log σ_j - ½ log 2π ]; shape (K, B)."""
        log_std = self.clipped_log_std()
        z = (act - self.mean(obs)) * torch.exp(-log_std)
        return (-0.5 * z.square() - log_std - _LOG_SQRT_2PI).sum(dim=-1)

    def act(self, obs: torch.Tensor, deterministic: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """The mean action when ``deterministic``, else a sample a = μ + σ·ε, ε ~ N(0, I)."""
        mean = self.mean(obs)
        if deterministic:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(self.clipped_log_std()) * noise
