"""Effective-rank diagnostics (Kumar et al., 2021), as used in the source report's part IV.

srank_δ(Φ) = min{k : Σ_{i≤k} σ_i(Φ) / Σ_i σ_i(Φ) ≥ 1 − δ}, σ_i the singular values in decreasing order.

Kumar et al. apply it to the *feature matrix* Φ ∈ R^{B×H} of the penultimate layer on a batch of inputs; the
report's text calls Φ "the weight matrix of the penultimate layer". Both are computed: ``features`` (activations
of the last hidden layer on a fixed batch) and ``weights`` (the last hidden layer's weight matrix).
"""

from __future__ import annotations

import torch
from stable_baselines3.common.callbacks import BaseCallback

from iqlzoo.agents.base import OfflineAgent


def srank(matrix: torch.Tensor, delta: float = 0.01) -> int:
    """Effective rank srank_δ of a 2-D matrix (see module docstring)."""
    if matrix.dim() != 2:
        raise ValueError(f"srank needs a 2-D matrix, got shape {tuple(matrix.shape)}")
    sv = torch.linalg.svdvals(matrix.detach().double().cpu())  # on the CPU whatever the training device
    total = sv.sum()
    if total == 0:
        return 0
    cumulative = torch.cumsum(sv, 0) / total
    return int(torch.searchsorted(cumulative, torch.tensor(1.0 - delta, dtype=cumulative.dtype)).item()) + 1


@torch.no_grad()
def network_sranks(model: OfflineAgent, obs: torch.Tensor, act: torch.Tensor, delta: float = 0.01) -> dict[str, int]:
    """srank of the policy's and the first critic's penultimate layer: features on (obs, act) and weights.

    ``obs`` are raw flat observations (the model normalises them as it does when acting), ``act`` actions in [-1, 1].
    """
    features = model.penultimate_features(obs, act)
    weights = model.penultimate_weights()
    return {
        "srank/policy_features": srank(features["policy"], delta),
        "srank/q_features": srank(features["q"], delta),
        "srank/policy_weights": srank(weights["policy"], delta),
        "srank/q_weights": srank(weights["q"], delta),
    }


class SrankCallback(BaseCallback):
    """Log :func:`network_sranks` at every multiple of ``every`` gradient steps (the model's step count, so resumed
    runs keep the same cadence) on one fixed batch of ``batch_size`` dataset pairs."""

    def __init__(self, every: int = 10_000, batch_size: int = 2048, delta: float = 0.01, seed: int = 0) -> None:
        super().__init__()
        if every < 1 or batch_size < 1:
            raise ValueError("every and batch_size must be >= 1")
        self.every, self.batch_size, self.delta, self.seed = every, batch_size, delta, seed
        self.history: list[dict[str, int]] = []
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def fixed_batch(self, model: OfflineAgent) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``batch_size`` dataset pairs (observations, actions scaled to [-1, 1]) drawn with ``seed`` from
        ``model.dataset``: the same pairs at every measurement, and for every agent trained on that dataset."""
        data = model.dataset
        g = torch.Generator().manual_seed(self.seed)
        index = torch.randint(len(data), (min(self.batch_size, len(data)),), generator=g)
        low = torch.as_tensor(model.action_space.low.reshape(-1), dtype=torch.float32)
        high = torch.as_tensor(model.action_space.high.reshape(-1), dtype=torch.float32)
        act = 2.0 * (torch.as_tensor(data.actions)[index] - low) / (high - low) - 1.0
        return torch.as_tensor(data.observations)[index].to(model.device), act.clamp(-1.0, 1.0).to(model.device)

    def measure(self, model: OfflineAgent) -> dict[str, int]:
        """:func:`network_sranks` of ``model`` (a single agent) on the fixed batch (drawn on the first call)."""
        if self._batch is None:
            self._batch = self.fixed_batch(model)
        return network_sranks(model, *self._batch, delta=self.delta)

    def _on_training_start(self) -> None:
        self._batch = self.fixed_batch(self.model)

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            ranks = self.measure(self.model)
            self.history.append({"step": self.num_timesteps, **ranks})
            for key, value in ranks.items():
                self.logger.record(key, value)
        return True
