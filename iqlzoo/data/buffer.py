"""The training buffer: transitions as one preallocated tensor on the training device, sampled by index."""

from __future__ import annotations

import torch

from iqlzoo.data.transitions import TransitionDataset


class TransitionBuffer:
    """(s, a, r, s', d) packed column-wise into a single (N, 2·obs_dim + act_dim + 2) float32 tensor.

    One gather per batch fetches all fields at once; the views are split afterwards. Observations are
    stored already normalised and actions already mapped to [-1, 1], rewards already transformed.
    """

    def __init__(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_observations: torch.Tensor,
        terminations: torch.Tensor,
    ) -> None:
        self.obs_dim = observations.shape[1]
        self.act_dim = actions.shape[1]
        self.data = torch.cat(
            [observations, actions, rewards[:, None], next_observations, terminations[:, None]], dim=1
        ).contiguous()
        self.size = self.data.shape[0]

    @classmethod
    def from_dataset(
        cls,
        dataset: TransitionDataset,
        *,
        obs_mean: torch.Tensor,
        obs_std: torch.Tensor,
        act_low: torch.Tensor,
        act_high: torch.Tensor,
        reward_scale: float,
        reward_shift: float,
        device: torch.device,
    ) -> TransitionBuffer:
        """Build the buffer applying (s − μ)/σ, a ↦ 2(a − low)/(high − low) − 1 and r ↦ scale·r + shift."""

        def t(x: object) -> torch.Tensor:
            return torch.as_tensor(x, dtype=torch.float32, device=device)

        obs_mean, obs_std = obs_mean.to(device), obs_std.to(device)
        act_low, act_high = act_low.to(device), act_high.to(device)
        return cls(
            (t(dataset.observations) - obs_mean) / obs_std,
            (2.0 * (t(dataset.actions) - act_low) / (act_high - act_low) - 1.0).clamp(-1.0, 1.0),
            t(dataset.rewards) * reward_scale + reward_shift,
            (t(dataset.next_observations) - obs_mean) / obs_std,
            t(dataset.terminations),
        )

    def sample_index(self, batch_size: int, generators: list[torch.Generator]) -> torch.Tensor:
        """Uniform indices with replacement, one row of ``batch_size`` per generator (agent): shape (K, B)."""
        return torch.stack(
            [torch.randint(self.size, (batch_size,), device=self.data.device, generator=g) for g in generators]
        )

    def gather(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The transitions at ``index`` (K, B): (obs, act, reward, next_obs, termination), each with shape (K, B, ·)."""
        return self.split(self.data[index])

    def split(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Column blocks of packed rows (any leading shape)."""
        o, a = self.obs_dim, self.act_dim
        return (
            rows[..., :o],
            rows[..., o : o + a],
            rows[..., o + a],
            rows[..., o + a + 1 : 2 * o + a + 1],
            rows[..., 2 * o + a + 1],
        )
