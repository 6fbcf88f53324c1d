"""``python -m benchmarks.awr_weights CHECKPOINT... --dataset ID``: what an IQL's advantage weights feed its policy.

IQL's policy maximises E_D[w(s, a) log π(a|s)] with w = min(exp(β·A), w_max), A = Q̂(s, a) − V(s) and V the
τ-expectile of Q̂ over the data's actions. The expectile sets where V sits inside the spread of Q̂, so it sets how
many transitions the weighted regression effectively fits. For each checkpoint, on `n` dataset transitions drawn
uniformly (float32 throughout), this prints:

- ``advantage_mean`` and ``advantage_positive``: E[A] and P(A > 0) (τ = 0.5 puts V at the mean of Q̂, so
  P(A > 0) ≈ ½; τ = 0.9 puts it near the top, so most advantages are negative);
- ``ess_fraction``: the effective sample size of the weights as a share of n, (Σw)² / (n·Σw²) ∈ (0, 1]
  (1 when all weights are equal, as in behaviour cloning; 1/n when one transition carries all the weight);
- ``top1pct_weight_share``: the share of Σw carried by the 1% largest weights; ``capped``: P(w = w_max);
- ``v_mean``, ``q_mean``: the mean of V and of Q̂ over the batch.

It changes nothing; it explains learning curves (issue 18: why expectile 0.5 beats 0.9 on the regenerated umaze).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import torch

from benchmarks.precision_check import value_path
from iqlzoo import IQL


def weight_statistics(advantage: torch.Tensor, weights: torch.Tensor, max_weight: float) -> dict[str, float]:
    """The statistics of the module docstring for one batch of advantages and their (capped) AWR weights."""
    a, w = advantage.flatten().double(), weights.flatten().double()
    if a.numel() == 0 or a.shape != w.shape:
        raise ValueError(f"need equally many advantages and weights, got {a.numel()} and {w.numel()}")
    top = torch.topk(w, max(1, w.numel() // 100)).values
    return {"advantage_mean": float(a.mean()), "advantage_positive": float((a > 0).double().mean()),
            "ess_fraction": float(w.sum() ** 2 / (w.numel() * (w**2).sum())),
            "top1pct_weight_share": float(top.sum() / w.sum()),
            "capped": float((w >= max_weight).double().mean())}


def describe(model: IQL, n: int = 16384, seed: int = 0) -> dict[str, float]:
    """Advantage and weight statistics of a loaded IQL on `n` of its dataset's transitions drawn with `seed`."""
    model._setup_training(1)
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(model.buffer.data), (1, n), generator=generator)
    obs, act, *_ = model.buffer.gather(index)
    path = value_path(model, obs, act, bf16=False)
    return {"step": model.num_timesteps, "expectile": model.config.expectile,
            "temperature": model.config.temperature, "q_mean": float(path["q"].mean()),
            "v_mean": float(path["v"].mean()),
            **weight_statistics(path["advantage"], path["weights"], model.config.max_weight)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.awr_weights", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="saved IQL agents (folders or .zip)")
    parser.add_argument("--dataset", required=True, help="the dataset they were trained on (a local Minari id)")
    parser.add_argument("--transitions", type=int, default=16384)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for checkpoint in args.checkpoints:
        model = IQL.load(checkpoint, dataset=args.dataset, device="cpu")
        print(json.dumps({"checkpoint": checkpoint, **describe(model, args.transitions)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
