"""Multi-layer perceptrons, single and ensembled.

An ensemble of E MLPs is stored as stacked weights of shape (E, in, out) and evaluated with one batched matmul
per layer, so twin critics cost one kernel launch per layer instead of two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _init_linear_(weight: torch.Tensor, bias: torch.Tensor, fan_in: int) -> None:
    """PyTorch's default ``nn.Linear`` initialisation: U(-1/√fan_in, 1/√fan_in) for weight and bias."""
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(weight, -bound, bound)
    nn.init.uniform_(bias, -bound, bound)


class MLP(nn.Module):
    """x ↦ W_L σ(… σ(W_1 x + b_1) …) + b_L with ReLU σ; ``hidden`` lists the hidden widths."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        dims = [in_dim, *hidden]
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EnsembleLinear(nn.Module):
    """E independent affine maps applied to E input batches: y_e = x_e W_e + b_e, x of shape (E, B, in)."""

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_dim))
        for e in range(ensemble_size):
            _init_linear_(self.weight.data[e], self.bias.data[e], in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """E MLPs of identical shape evaluated together; input (E, B, in) or (B, in) broadcast to all members."""

    def __init__(self, ensemble_size: int, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        self.ensemble_size = ensemble_size
        dims = [in_dim, *hidden, out_dim]
        self.layers = nn.ModuleList(EnsembleLinear(ensemble_size, a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.ensemble_size, -1, -1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
