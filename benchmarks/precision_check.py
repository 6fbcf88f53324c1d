"""``python -m benchmarks.precision_check CHECKPOINT --dataset ID``: what bfloat16 does to a trained agent's values.

Loads a trained IQL checkpoint and, on a batch of its dataset, computes the value path — Q̂(s,a) (min over the
target critics), V(s), the advantage A = Q̂ − V and the AWR weight min(exp(β·A), w_max) — twice: in float32, and
with the critic and value networks under bfloat16 autocast (as every network ran in iqlzoo before 2026-12-02).
Prints the absolute errors of Q̂, V and A and the relative error of the weights (mean, 99th percentile, max), and
the share of transitions whose advantage changes sign. It measures the risk that ``bf16=True`` now avoids by keeping
the value path in float32; it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np
import torch

from iqlzoo import IQL


def shift_values(model: IQL, offset: float) -> None:
    """Add `offset` to the output bias of Q, Q̂ and V, so every value sits near `offset` and advantages stay as
    they were: the regime of a converged AntMaze agent (r − 1 rewards, γ = 0.99: values in [−100, 0])."""
    with torch.no_grad():
        for head in (model.nets.critic.head, model.nets.critic_target.head, model.nets.value.head):
            head.out.bias.add_(offset)


def value_path(model: IQL, obs: torch.Tensor, act: torch.Tensor, bf16: bool) -> dict[str, torch.Tensor]:
    """Q̂, V, A and the AWR weights of one agent on (K=1, B, ·) inputs, with the value networks in bf16 or float32."""
    cfg, nets = model.config, model.nets
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        target_q = nets.critic_target(obs, act, None).float().min(dim=1).values.mean(dim=-1)
        v = nets.value(obs, None).float().mean(dim=-1)
    advantage = target_q - v
    weights = torch.exp(cfg.temperature * advantage).clamp(max=cfg.max_weight)
    return {"q": target_q, "v": v, "advantage": advantage, "weights": weights}


def compare(model: IQL, n: int = 4096, seed: int = 0) -> dict[str, float]:
    """Error statistics of the bf16 value path against float32 on `n` transitions drawn with `seed`."""
    model._setup_training(1)
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(len(model.buffer.data), (1, n), generator=generator)
    obs, act, *_ = model.buffer.gather(index)
    exact, rounded = value_path(model, obs, act, False), value_path(model, obs, act, True)
    out: dict[str, float] = {"transitions": n, "q_mean": float(exact["q"].mean()), "v_mean": float(exact["v"].mean()),
                             "advantage_abs_mean": float(exact["advantage"].abs().mean())}
    for name in ("q", "v", "advantage"):
        error = (rounded[name] - exact[name]).abs().flatten().numpy()
        out |= {f"{name}_err_mean": float(error.mean()), f"{name}_err_p99": float(np.quantile(error, 0.99)),
                f"{name}_err_max": float(error.max())}
    relative = ((rounded["weights"] - exact["weights"]) / exact["weights"]).abs().flatten().numpy()
    out |= {"weight_relerr_mean": float(relative.mean()), "weight_relerr_p99": float(np.quantile(relative, 0.99)),
            "weight_relerr_max": float(relative.max()),
            "advantage_sign_flips": float((torch.sign(rounded["advantage"]) != torch.sign(exact["advantage"]))
                                          .float().mean())}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision_check", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a saved IQL (folder or .zip)")
    parser.add_argument("--dataset", required=True, help="the dataset it was trained on (a local Minari id)")
    parser.add_argument("--transitions", type=int, default=4096)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = IQL.load(args.checkpoint, dataset=args.dataset, device="cpu")
    print(json.dumps({"checkpoint": args.checkpoint, "step": model.num_timesteps,
                      **compare(model, args.transitions)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
