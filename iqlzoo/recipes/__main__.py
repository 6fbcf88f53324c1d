"""``python -m iqlzoo.recipes {list,build,info,expert-check}`` — the locally generated datasets.

    list                          the ids iqlzoo can build, whether each is built, and the official id it stands in for
    build ID [ID ...] [--steps N] build (or reuse an identical build of) datasets in turn, with a progress bar, on one
                                  torch thread unless --threads says otherwise
    info ID [--plot P] [--card C] JSON statistics of a local dataset; a PNG of visited maze positions; a Markdown card
    expert-check [MAZE ...]       success rate of the waypoint controller + Ant policy on the evaluation start/goal
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from minari.storage.datasets_root_dir import get_dataset_path

from iqlzoo.arguments import cli_positive_int, cli_seed
from iqlzoo.data.equivalents import build_time, regenerated_equivalent
from iqlzoo.data.minari import DatasetNotFoundError, build_command, is_local, load_dataset, local_dataset_ids
from iqlzoo.machine import torch_threads
from iqlzoo.recipes.registry import RECIPES, build
from iqlzoo.recipes.report import dataset_card, dataset_report, plot_positions


def not_built(dataset_id: str, error: DatasetNotFoundError) -> str:
    """What ``info`` says about a dataset that is not in the local store: the command that builds it, and how long
    that takes, when iqlzoo can build it (or its regeneration); else the library's message."""
    if build_time(dataset_id) is not None:
        return (f"{dataset_id} is not built yet (local store: {get_dataset_path()}). Build it with "
                f"{build_command(dataset_id)}.")
    equivalent = regenerated_equivalent(dataset_id)
    if equivalent is None:
        return str(error)
    if is_local(equivalent):
        return (f"{dataset_id} is not in the local store; iqlzoo's regeneration of it is built: "
                f"`python -m iqlzoo.recipes info {equivalent}`.")
    return (f"{dataset_id} is not in the local store ({get_dataset_path()}). Build iqlzoo's regeneration of it, "
            f"{equivalent}, with {build_command(equivalent)}.")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m iqlzoo.recipes``."""
    parser = argparse.ArgumentParser(
        prog="python -m iqlzoo.recipes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the dataset ids iqlzoo can build, and which are built")
    p_build = sub.add_parser("build", help="build (or reuse) datasets, one after the other")
    p_build.add_argument("dataset_ids", nargs="+", metavar="dataset_id", choices=sorted(RECIPES))
    p_build.add_argument("--steps", type=cli_positive_int, default=None,
                         help="environment steps (default: the recipe's, 1M)")
    p_build.add_argument("--force", action="store_true", help="rebuild even if an identical build exists")
    p_build.add_argument("--quiet", action="store_true", help="no progress bar")
    p_build.add_argument(
        "--threads", type=cli_positive_int, default=1,
        help="torch threads for the behaviour policy (default 1: it acts on one observation at a time, where more "
             "threads only spin; two builds side by side on 2 cores ran at ~400 steps/s each with 2, ~760 with 1)",
    )
    p_info = sub.add_parser("info", help="statistics of a local dataset (JSON on stdout)")
    p_info.add_argument("dataset_id")
    p_info.add_argument("--plot", metavar="PATH", help="save a PNG of the visited (x, y) positions (maze datasets)")
    p_info.add_argument("--card", metavar="PATH", help="write a Markdown card of the dataset")
    p_check = sub.add_parser("expert-check", help="success rate of the AntMaze controller (JSON on stdout)")
    p_check.add_argument("mazes", nargs="*", help="AntMaze names (default: umaze, medium-play, large-play)")
    p_check.add_argument("--episodes", type=cli_positive_int, default=100)
    p_check.add_argument("--weights-dir", help="folder with ant-goal.{safetensors,json} (default: the shipped one)")
    p_check.add_argument("--seed", type=cli_seed, default=0)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.command == "list":
        local = set(local_dataset_ids())
        for dataset_id, recipe in sorted(RECIPES.items()):
            stands_in = f" [regenerates {recipe.official_id}]" if recipe.official_id else ""
            print(f"{dataset_id:36s} {'built' if dataset_id in local else 'not built':10s} {recipe.summary}{stands_in}")
    elif args.command == "build":
        with torch_threads(args.threads):
            for dataset_id in args.dataset_ids:
                started = time.time()
                dataset = build(dataset_id, force=args.force, steps=args.steps, progress=not args.quiet)
                print(
                    f"{dataset.spec.dataset_id}: {dataset.total_episodes} episodes, {dataset.total_steps} steps "
                    f"({time.time() - started:.1f} s)"
                )
    elif args.command == "expert-check":
        from pathlib import Path

        from iqlzoo.recipes import antmaze

        weights = {"weights_dir": Path(args.weights_dir)} if args.weights_dir else {}
        results = {}
        for maze in args.mazes or ["umaze", "medium-play", "large-play"]:
            if maze not in antmaze.TASKS:
                parser.error(f"unknown maze {maze!r}; choose from {sorted(antmaze.TASKS)}")
            results[maze] = antmaze.expert_check(maze, args.episodes, seed=args.seed, **weights)
        print(json.dumps(results, indent=2))
    else:
        try:
            dataset = load_dataset(args.dataset_id, download=False)
        except DatasetNotFoundError as error:
            parser.exit(1, f"{not_built(args.dataset_id, error)}\n")
        report = dataset_report(dataset)
        if args.plot:
            print(f"plot: {plot_positions(dataset, args.plot)}", file=sys.stderr)
        if args.card:
            with open(args.card, "w") as handle:
                handle.write(dataset_card(dataset, report, plot=args.plot))
            print(f"card: {args.card}", file=sys.stderr)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
