"""``python -m iqlzoo.datasets {list,build,info}`` — the locally generated datasets."""

from __future__ import annotations

import argparse
import json

from iqlzoo.data.minari import from_minari, local_dataset_ids
from iqlzoo.datasets.registry import RECIPES, build


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m iqlzoo.datasets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the dataset ids iqlzoo can build, and which are built")
    p_build = sub.add_parser("build", help="build (or reuse) a dataset")
    p_build.add_argument("dataset_id", choices=sorted(RECIPES))
    p_build.add_argument("--force", action="store_true", help="rebuild even if an identical build exists")
    p_info = sub.add_parser("info", help="summary of a local dataset")
    p_info.add_argument("dataset_id")
    args = parser.parse_args(argv)

    if args.command == "list":
        local = set(local_dataset_ids())
        for dataset_id, recipe in sorted(RECIPES.items()):
            print(f"{dataset_id:40s} {'built' if dataset_id in local else 'not built':10s} {recipe.summary}")
    elif args.command == "build":
        dataset = build(args.dataset_id, force=args.force)
        print(f"{dataset.spec.dataset_id}: {dataset.total_episodes} episodes, {dataset.total_steps} steps")
    else:
        data = from_minari(args.dataset_id, download=False)
        returns = data.episode_returns
        info = {
            "dataset_id": data.dataset_id,
            "transitions": len(data),
            "episodes": len(returns),
            "return_mean": float(returns.mean()),
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
            "terminations": int(data.terminations.sum()),
            "ref_min_score": data.ref_min_score,
            "ref_max_score": data.ref_max_score,
        }
        if data.has_reference_scores:
            info["behaviour_normalized_score"] = float(data.normalized_score(returns).mean())
        print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
