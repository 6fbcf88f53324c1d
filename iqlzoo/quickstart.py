"""The README's main job until the benchmark harness lands: train and evaluate IQL on the built-in toy dataset.

    python -m iqlzoo.quickstart [--steps 5000] [--eval-episodes 10] [--seed 0] [--out runs/quickstart]

It builds ``iqlzoo/toy/pendulum-mixed-v0`` locally (no network), trains IQL with the paper's defaults, evaluates
the mean action on Pendulum-v1, compares with the dataset's behaviour and a random policy, saves the agent, and
says what to try next.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

import numpy as np
import torch

from iqlzoo import IQL, evaluate
from iqlzoo.data.minari import from_minari
from iqlzoo.recipes.toy import PENDULUM_ID, build_pendulum_dataset


def next_steps(saved: Path) -> str:
    """What to try after the quick start: the saved agent, the harness, a real dataset, the leaderboard."""
    load = f"from iqlzoo import IQL, evaluate; print(evaluate(IQL.load({json.dumps(str(saved))})).as_metrics())"
    return (
        "Next:\n"
        f"  load and evaluate the saved agent:  python -c {shlex.quote(load)}\n"
        "  the benchmark harness, in seconds:  python -m benchmarks.run --suite smoke   (from the repository root)\n"
        "  a real dataset, then a benchmark:   python -m iqlzoo.recipes build iqlzoo/antmaze/umaze-v0   (~9-12 min)\n"
        "                                      python -m benchmarks.run --suite antmaze --datasets umaze --agents IQL "
        "--seeds 1   (100k updates)\n"
        "  the results so far:                 leaderboard/README.md (`python -m leaderboard` regenerates it)"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000,
                        help="gradient steps (default 5000: about 1 min at ~90 updates/s on a free core, up to ~3 "
                             "min when other work shares a 2-core machine)")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    print(f"Data: building (or reusing) the toy dataset {PENDULUM_ID} locally — Pendulum-v1, half noisy swing-up "
          "controller, half random episodes. It is a quick-start dataset, not a benchmark dataset.")
    data = from_minari(build_pendulum_dataset())
    behaviour = data.normalized_score(data.episode_returns)
    print(f"      {len(data.episode_returns)} episodes, {len(data)} transitions; behaviour normalised score "
          f"{behaviour.mean():.1f} (0 = random policy, 100 = noiseless controller)")

    model = IQL("MlpPolicy", data, seed=args.seed, verbose=0)
    cfg = model.config
    print(f"Train: IQL, {args.steps} gradient steps, domain preset {cfg.domain!r} (expectile {cfg.expectile}, "
          f"temperature {cfg.temperature}, reward transform {cfg.reward_transform}), batch {cfg.batch_size}")
    start = time.perf_counter()
    model.learn(args.steps, progress_bar=True)
    train_s = time.perf_counter() - start

    result = evaluate(model, data, n_episodes=args.eval_episodes, seed=args.seed + 10_000)
    random_scores = data.normalized_score(np.asarray(data.ref_min_score))
    summary = {
        "dataset": PENDULUM_ID,
        "steps": args.steps,
        "train_seconds": round(train_s, 1),
        "updates_per_s": round(args.steps / train_s, 1),
        "eval_episodes": result.n_episodes,
        "mean_return": round(result.mean_return, 1),
        "std_return": round(result.std_return, 1),
        "normalized_score": round(float(result.normalized_score), 1),
        "behaviour_normalized_score": round(float(behaviour.mean()), 1),
        "random_normalized_score": round(float(random_scores), 1),
    }
    path = model.save(args.out / "iql_pendulum")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"Result: IQL normalised score {summary['normalized_score']} (return {summary['mean_return']} ± "
          f"{summary['std_return']} over {result.n_episodes} episodes) vs behaviour "
          f"{summary['behaviour_normalized_score']} and random {summary['random_normalized_score']}; "
          f"{summary['updates_per_s']} updates/s (the mean over {summary['train_seconds']} s of training, as the "
          "bar shows; evaluation not included).")
    print(f"Saved: {path} (JSON + safetensors) and {args.out / 'summary.json'}")
    print(next_steps(path))
    return summary


if __name__ == "__main__":
    main()
