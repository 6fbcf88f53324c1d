"""Conditional VAE bonus: the anti-exploration reconstruction error of Rezaeifar et al. (2022), Algorithm 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from iqlzoo.nets.mlp import EnsembleLinear, make_body
from iqlzoo.penalties.base import NoveltyBonus


class CVAEBonus(NoveltyBonus):
    r"""Encoder q(z | s, a) = N(μ_ψ(s, a), σ_ψ(s, a)²), decoder a ≈ D_φ(s, z) = tanh(·), latent size 2·dim(a).

    Training loss (negative ELBO with KL weight β): E_D[‖D_φ(s, z) − a‖² + β·KL(q(z|s,a) ‖ N(0, I))], z ~ q.
    Bonus: the reconstruction error through the mean latent, b(s, a) = ‖a − D_φ(s, μ_ψ(s, a))‖² / dim(a):
    actions the model has seen for a state reconstruct well, actions unlike the data do not.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int],
        kl_weight: float = 0.5,
        n_agents: int = 1,
        norm_momentum: float = 0.01,
    ) -> None:
        super().__init__(n_agents, norm_momentum)
        self.latent_dim = self.noise_dim = 2 * act_dim
        self.kl_weight = kl_weight
        self.encoder = make_body("mlp", n_agents, obs_dim + act_dim, hidden)
        self.encoder_out = EnsembleLinear(n_agents, self.encoder.out_dim, 2 * self.latent_dim)
        self.decoder = make_body("mlp", n_agents, obs_dim + self.latent_dim, hidden)
        self.decoder_out = EnsembleLinear(n_agents, self.decoder.out_dim, act_dim)

    def _encode(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder_out(self.encoder(torch.cat([obs, act], dim=-1)))
        mean, log_std = out.chunk(2, dim=-1)
        return mean, log_std.clamp(-4.0, 15.0)

    def _decode(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder_out(self.decoder(torch.cat([obs, z], dim=-1))))

    def bonus(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        mean, _ = self._encode(obs, act)
        return (self._decode(obs, mean) - act).square().mean(dim=-1)

    def loss(self, obs: torch.Tensor, act: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        mean, log_std = self._encode(obs, act)
        if noise is None:
            raise ValueError("the CVAE loss needs standard normal noise of shape (K, B, latent_dim)")
        z = mean + torch.exp(log_std) * noise
        reconstruction = (self._decode(obs, z) - act).square().sum(dim=-1)
        kl = 0.5 * (mean.square() + torch.exp(2 * log_std) - 2 * log_std - 1).sum(dim=-1)
        return (reconstruction + self.kl_weight * kl).mean(dim=-1)
