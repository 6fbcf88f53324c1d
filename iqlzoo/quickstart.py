"""The README's main job: show a shipped pretrained agent, then train and evaluate IQL on the built-in toy dataset.

    python -m iqlzoo.quickstart [--zoo REPO_ID|none] [--steps 5000] [--eval-episodes 10] [--seed 0] [--out DIR]

First, when the zoo on this machine (``zoo/`` of the checkout) holds a published agent, it loads it without network,
replays the first episodes of its card's evaluation (same seeds) and prints their returns beside the card's. Then it
builds ``iqlzoo/toy/pendulum-mixed-v0`` locally (no network), trains IQL with the paper's defaults, evaluates
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
from iqlzoo.arguments import cli_positive_int, cli_seed
from iqlzoo.data.minari import from_minari
from iqlzoo.recipes.toy import PENDULUM_ID, build_pendulum_dataset
from iqlzoo.zoo import shipped_repos, zoo_roots


def next_steps(saved: Path) -> str:
    """What to try after the quick start: the saved agent, the harness, a real dataset, the leaderboard."""
    load = f"from iqlzoo import IQL, evaluate; print(evaluate(IQL.load({json.dumps(str(saved))})).as_metrics())"
    return (
        "Next:\n"
        f"  load and evaluate the saved agent:  python -c {shlex.quote(load)}\n"
        "  the benchmark harness, in seconds:  python -m benchmarks.run --suite smoke   (from the repository root)\n"
        "  a real dataset, then a benchmark:   python -m iqlzoo.recipes build iqlzoo/antmaze/umaze-v0   (~9-12 min)\n"
        "                                      python -m benchmarks.run --suite antmaze --datasets umaze --agents IQL "
        "--seeds 1   (500k updates, 1-2 h)\n"
        "  the results so far:                 leaderboard/README.md (`python -m leaderboard` regenerates it)"
    )


def zoo_step(repo_id: str) -> dict:
    """Load the shipped pretrained agent `repo_id` from the zoo on this machine (no network) and replay the first
    batch of its card's re-evaluation: the same reset seeds (2,000,000 + i) in as many parallel environments as the
    card used (10, or fewer when it had fewer episodes). The batch matters: the policy's matmuls round differently at
    other batch sizes (and thread counts, which `evaluate` fixes), and HalfCheetah's dynamics amplify a last-bit
    difference into a different episode. On the kind of CPU the card records the returns are the card's to float
    precision."""
    from iqlzoo.machine import cpu_model
    from iqlzoo.zoo import REEVAL_ENVS, REEVAL_SEED, RESULTS_FILE, local_copy

    folder = local_copy(repo_id)
    if folder is None:
        roots = ", ".join(map(str, zoo_roots()))
        raise FileNotFoundError(f"{repo_id} is not in a zoo folder on this machine ({roots}); --zoo none skips it")
    results = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    card = results["reevaluation"]
    batch = min(int(card["n_episodes"]), int(card.get("n_envs", REEVAL_ENVS)))
    model = IQL.load(folder)
    start = time.perf_counter()
    result = evaluate(model, n_episodes=batch, seed=REEVAL_SEED, n_envs=batch)
    seconds = time.perf_counter() - start
    ours, theirs = np.asarray(result.returns, dtype=float), np.asarray(card["returns"][:batch], dtype=float)
    return {
        "repo_id": repo_id,
        "folder": str(folder),
        "dataset": results["dataset"]["id"],
        "budget_steps": results["budget"]["steps"],
        "episodes": batch,
        "mean_return": round(float(ours.mean()), 1),
        "card_mean_return": round(float(theirs.mean()), 1),
        "max_abs_difference": float(np.max(np.abs(ours - theirs))),
        "card_normalized_score": card["normalized_score"],
        "card_episodes": card["n_episodes"],
        "eval_seconds": round(seconds, 1),
        "card_cpu": card.get("cpu"),
        "cpu": cpu_model(),
    }


def print_zoo_step(summary: dict) -> None:
    """The zoo step's lines: what was loaded, its returns beside the card's, how to go on."""
    print(f"Zoo: {summary['repo_id']} — a pretrained IQL shipped in {summary['folder']} (trained "
          f"{summary['budget_steps']:,} steps on {summary['dataset']}); loaded with IQL.load, no network.")
    print(f"     its first {summary['episodes']} re-evaluation episodes, replayed here: mean return "
          f"{summary['mean_return']:,} (card: {summary['card_mean_return']:,}; largest difference of an episode "
          f"{summary['max_abs_difference']:.3g}); the card's normalised score over {summary['card_episodes']} "
          f"episodes: {summary['card_normalized_score']:.1f} ({summary['eval_seconds']} s)")
    if summary["max_abs_difference"] > 1e-3:
        if summary["card_cpu"] and summary["card_cpu"] == summary["cpu"]:
            why = (f"the card was made on this kind of CPU ({summary['cpu']}), so the torch or MuJoCo build must "
                   "differ from the one its results.json lists")
        else:
            why = (f"the card was made on {summary['card_cpu'] or 'a CPU it does not record'}, this is "
                   f"{summary['cpu'] or 'an unknown CPU'}, and their arithmetic can differ in the last bits")
        print(f"     (not the card's returns to float precision: {why}; the dynamics amplify a last-bit difference "
              "over an episode)")
    print(f"     from the Hub:  IQL.load_from_hub({summary['repo_id']!r})   offline: python -m iqlzoo.serve_zoo zoo/")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The quick start's command line, checked (a bad value is argparse's usage error, exit status 2)."""
    parser = argparse.ArgumentParser(prog="python -m iqlzoo.quickstart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=cli_positive_int, default=5000,
                        help="gradient steps (default 5000: about 1 min at ~90 updates/s on a free core, up to ~3 "
                             "min when other work shares a 2-core machine)")
    parser.add_argument("--eval-episodes", type=cli_positive_int, default=10)
    parser.add_argument("--seed", type=cli_seed, default=0)
    parser.add_argument("--threads", type=cli_positive_int, default=1,
                        help="torch CPU threads (1 is fastest on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    parser.add_argument("--zoo", metavar="REPO_ID", help="the shipped agent to show first (default: a featured one "
                        "if the zoo on this machine has it); 'none' skips the zoo step")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    repos = shipped_repos() if args.zoo is None else ([] if args.zoo == "none" else [args.zoo])
    zoo_summary = None
    if repos:
        zoo_summary = zoo_step(repos[0])
        print_zoo_step(zoo_summary)

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
        "zoo": zoo_summary,
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
