"""``python -m benchmarks.speed`` — gradient updates per second of iqlzoo's IQL, measured side by side in one process.

Every configuration trains on the same synthetic 1M-transition buffer with HalfCheetah shapes (17-d observations,
6-d actions), batch 256, 256x256 networks; batch sampling is inside every timed loop. Reported per configuration:
updates/s per agent, matmul FLOPs per update (counted by ``torch.utils.flop_counter`` on one eager update: forward,
backward and optimizer), achieved GFLOP/s, and that as a share of the ``torch.mm`` peak measured at the start of
the same run (both at a large size and at the update's own 256x256x256 shape).

Rows: the eager reference implementation (:mod:`benchmarks.reference_iql`), iqlzoo eager and compiled with 1 and 2
threads (``OMP_WAIT_POLICY=PASSIVE``, set before torch loads), K=5 seeds as one vectorised model, the variants, and
d3rlpy's IQL when it is installed. Results go to JSON and a markdown table (default ``leaderboard/speed.*``).
Timings depend on what else the machine runs: the JSON records the load average before and after.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmarks.reference_iql import ReferenceIQL  # noqa: E402
from iqlzoo import IQL, TransitionDataset  # noqa: E402
from iqlzoo.atomic import atomic_write_text  # noqa: E402

OBS_DIM, ACT_DIM, N_TRANSITIONS = 17, 6, 1_000_000
VARIANTS: dict[str, dict[str, Any]] = {
    "D2RL (IQL+SC)": dict(actor_body="d2rl", critic_body="d2rl", value_body="d2rl"),
    "Distributional (iql form, N=8)": dict(critic_head="quantile"),
    "Distributional (quantile-Huber, N=8)": dict(critic_head="quantile", distributional_loss="quantile_huber"),
    "Bonus (RND)": dict(penalty="rnd"),
    "Bonus (CVAE)": dict(penalty="cvae"),
}


def synthetic_dataset(
    n: int = N_TRANSITIONS,
    seed: int = 0,
    obs_dim: int = OBS_DIM,
    act_dim: int = ACT_DIM,
    dataset_id: str = "synthetic/halfcheetah-shapes",
) -> TransitionDataset:
    """Random transitions, HalfCheetah's shapes by default (values do not affect speed)."""
    rng = np.random.default_rng(seed)
    return TransitionDataset(
        observations=rng.standard_normal((n, obs_dim), dtype=np.float32),
        actions=rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        rewards=rng.standard_normal(n, dtype=np.float32),
        next_observations=rng.standard_normal((n, obs_dim), dtype=np.float32),
        terminations=np.zeros(n, dtype=np.float32),
        observation_space=spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        action_space=spaces.Box(-1.0, 1.0, (act_dim,), np.float32),
        episode_returns=rng.normal(0, 1000, 100),
        dataset_id=dataset_id,
    )


def matmul_peak(n: int, seconds: float, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of ``torch.mm`` on n x n x n matrices of ``dtype``."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def rate(step: Callable[[int], None], seconds: float, chunk: int) -> float:
    """Calls of ``step(chunk)`` until ``seconds`` pass; returns steps per second."""
    step(chunk)  # warm-up
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(chunk)
        steps += chunk
    return steps / (time.perf_counter() - start)


def flops_per_update(model: IQL) -> int:
    """Matmul FLOPs of one eager update (all agents), counted by torch's flop counter."""
    model._setup_training(1)
    counter = FlopCounterMode(display=False)
    with counter:
        model._update(*model._draw_batch())
    return counter.get_total_flops()


def measure_iqlzoo(
    data: TransitionDataset, threads: int, compile: bool, seconds: float, n_seeds: int = 1, **config: Any
) -> dict[str, Any]:
    torch.set_num_threads(threads)
    model = IQL("MlpPolicy", data, seed=0, device="cpu", compile=compile, n_seeds=n_seeds, **config)
    flops = flops_per_update(model) / n_seeds
    model.learn(10, log_interval=10**9)  # builds the buffer and, with compile=True, compiles (timed separately)
    ups = rate(lambda n: model.learn(n, reset_num_timesteps=False, log_interval=10**9), seconds, 50) * n_seeds
    return {
        "updates_per_s": ups,
        "flops_per_update": flops,
        "gflops": ups * flops / 1e9,
        "compile_s": getattr(model, "compile_seconds", None) if compile else None,
    }


def measure_reference(data: TransitionDataset, seconds: float) -> dict[str, Any]:
    torch.set_num_threads(1)
    t = torch.as_tensor
    ref = ReferenceIQL(t(data.observations), t(data.actions), t(data.rewards), t(data.next_observations),
                       t(data.terminations))
    counter = FlopCounterMode(display=False)
    with counter:
        ref.update()
    flops = counter.get_total_flops()

    def step(n: int) -> None:
        for _ in range(n):
            ref.update()

    ups = rate(step, seconds, 20)
    return {"updates_per_s": ups, "flops_per_update": flops, "gflops": ups * flops / 1e9, "compile_s": None}


def measure_d3rlpy(seconds: float) -> dict[str, Any] | None:
    """d3rlpy's IQL on the same shapes, when d3rlpy is installed (optional extra)."""
    try:
        import d3rlpy
    except ImportError:
        return None
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = 100_000
    dataset = d3rlpy.dataset.MDPDataset(
        observations=rng.standard_normal((n, OBS_DIM)).astype(np.float32),
        actions=rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32),
        rewards=rng.standard_normal(n).astype(np.float32),
        terminals=np.zeros(n, dtype=np.float32),
        timeouts=(np.arange(n) % 1000 == 999).astype(np.float32),
    )
    algo = d3rlpy.algos.IQLConfig(batch_size=256).create(device="cpu:0")
    algo.build_with_dataset(dataset)
    start = time.perf_counter()
    steps = 500
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, show_progress=False, save_interval=10**9)
    return {"updates_per_s": steps / (time.perf_counter() - start), "flops_per_update": None, "gflops": None,
            "compile_s": None}


def run(seconds: float, include_variants: bool, include_threads: bool) -> dict[str, Any]:
    load_before = os.getloadavg()
    torch.set_num_threads(1)
    peaks = {
        "mm_2048_gflops": matmul_peak(2048, 3.0),
        "mm_256_gflops": matmul_peak(256, 3.0),
        "mm_2048_bf16_gflops": matmul_peak(2048, 3.0, torch.bfloat16),
    }
    data = synthetic_dataset()
    rows: dict[str, dict[str, Any]] = {"reference eager (1 thread)": measure_reference(data, seconds)}
    rows["iqlzoo IQL eager (1 thread)"] = measure_iqlzoo(data, 1, False, seconds)
    rows["iqlzoo IQL compiled (1 thread)"] = measure_iqlzoo(data, 1, True, seconds)
    if include_threads:
        rows["iqlzoo IQL eager (2 threads)"] = measure_iqlzoo(data, 2, False, seconds)
        rows["iqlzoo IQL compiled (2 threads)"] = measure_iqlzoo(data, 2, True, seconds)
    rows["iqlzoo IQL compiled, K=5 seeds (1 thread, per agent)"] = measure_iqlzoo(data, 1, True, seconds, n_seeds=5)
    rows["iqlzoo IQL compiled + bf16 (1 thread)"] = measure_iqlzoo(data, 1, True, seconds, bf16=True)
    rows["iqlzoo IQL compiled + bf16, K=5 seeds (1 thread, per agent)"] = measure_iqlzoo(
        data, 1, True, seconds, n_seeds=5, bf16=True
    )
    if include_variants:
        for name, config in VARIANTS.items():
            rows[f"iqlzoo {name} compiled (1 thread)"] = measure_iqlzoo(data, 1, True, seconds, **config)
            rows[f"iqlzoo {name} compiled + bf16 (1 thread)"] = measure_iqlzoo(
                data, 1, True, seconds, bf16=True, **config
            )
    d3 = measure_d3rlpy(seconds)
    if d3 is not None:
        rows["d3rlpy IQL (1 thread)"] = d3
    reference = rows["reference eager (1 thread)"]["updates_per_s"]
    for name, row in rows.items():
        plain = "iqlzoo IQL compiled + bf16 (1 thread)" if "bf16" in name else "iqlzoo IQL compiled (1 thread)"
        plain_gflops = rows.get(plain, rows["iqlzoo IQL compiled (1 thread)"])["gflops"]
        row["vs_reference"] = row["updates_per_s"] / reference
        if row["gflops"] is not None:
            row["share_of_mm_2048_peak"] = row["gflops"] / peaks["mm_2048_gflops"]
            row["share_of_mm_256_peak"] = row["gflops"] / peaks["mm_256_gflops"]
            row["cost_per_flop_vs_iql"] = plain_gflops / row["gflops"]
            own_peak = peaks["mm_2048_bf16_gflops"] if "bf16" in name else peaks["mm_2048_gflops"]
            row["share_of_own_precision_peak"] = row["gflops"] / own_peak
    return {
        "peaks": peaks,
        "rows": rows,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "setup": {"obs_dim": OBS_DIM, "act_dim": ACT_DIM, "transitions": N_TRANSITIONS, "batch_size": 256,
                  "hidden": [256, 256], "seconds_per_row": seconds},
    }


def markdown(result: dict[str, Any]) -> str:
    peaks, machine = result["peaks"], result["machine"]
    lines = [
        "| configuration | updates/s | vs reference | MFLOP/update | GFLOP/s | of fp32 mm peak (2048 / 256) | "
        "of own-precision peak | cost per FLOP vs IQL | compile s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result["rows"].items():
        if row["gflops"] is None:
            dashes = " – |" * 6
            lines.append(f"| {name} | {row['updates_per_s']:.1f} | {row['vs_reference']:.2f}x |{dashes}")
            continue
        compile_s = f"{row['compile_s']:.0f}" if row["compile_s"] else "–"
        lines.append(
            f"| {name} | {row['updates_per_s']:.1f} | {row['vs_reference']:.2f}x | {row['flops_per_update'] / 1e6:.0f}"
            f" | {row['gflops']:.1f} | {row['share_of_mm_2048_peak']:.0%} / {row['share_of_mm_256_peak']:.0%} | "
            f"{row['share_of_own_precision_peak']:.0%} | {row['cost_per_flop_vs_iql']:.2f}x | {compile_s} |"
        )
    reference = result["rows"]["reference eager (1 thread)"]
    needed = 1.8 * reference["gflops"]
    lines += [
        "",
        f"`torch.mm` peak on this machine in the same run: {peaks['mm_2048_gflops']:.1f} GFLOP/s (2048³), "
        f"{peaks['mm_256_gflops']:.1f} GFLOP/s (256³) in float32, {peaks['mm_2048_bf16_gflops']:.1f} GFLOP/s "
        "(2048³) in bfloat16; \"own-precision peak\" divides by the bfloat16 one for bf16 rows. 1.8x the reference "
        f"would need {needed:.1f} GFLOP/s of matmuls, {needed / peaks['mm_2048_gflops']:.0%} of the float32 peak. "
        f"One thread. {machine['cpus']} CPUs, torch {machine['torch']}, "
        f"load average before/after {machine['load_average_before'][0]:.1f}/{machine['load_average_after'][0]:.1f}.",
        "HalfCheetah shapes (17/6), batch 256, 256x256 networks, 1M-transition buffer; sampling inside every timed "
        "loop. Generated by `python -m benchmarks.speed`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per configuration")
    parser.add_argument("--no-variants", action="store_true")
    parser.add_argument("--no-threads", action="store_true", help="skip the 2-thread rows")
    parser.add_argument("--out", type=Path, default=Path("leaderboard"), help="folder for speed.json and speed.md")
    args = parser.parse_args(argv)
    result = run(args.seconds, not args.no_variants, not args.no_threads)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "speed.json", json.dumps(result, indent=2))
    atomic_write_text(args.out / "speed.md", markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
