"""Regenerate the leaderboard from the results store.

    python -m leaderboard [--results DIR] [--out leaderboard/README.md] [--reps N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

from benchmarks.store import DEFAULT_RESULTS, TEST_DATA_MARKER, load_results
from iqlzoo.arguments import cli_positive_int, cli_seed
from iqlzoo.zoo import CHECKOUT_ZOO
from leaderboard.findings import count_label
from leaderboard.render import DEFAULT_OUT, build_leaderboard, write_leaderboard


def main(argv: Sequence[str] | None = None) -> int:
    """Load every evaluation record under --results and write the leaderboard markdown (and plots) to --out."""
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results store (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write (default: %(default)s)")
    parser.add_argument("--reps", type=cli_positive_int, default=2000,
                        help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--seed", type=cli_seed, default=0, help="seed of the bootstrap (default: %(default)s)")
    parser.add_argument("--zoo", type=Path, default=CHECKOUT_ZOO,
                        help="published zoo whose model cards the rows link (default: %(default)s)")
    args = parser.parse_args(argv)
    if (args.results / TEST_DATA_MARKER).exists() and args.out.resolve() == DEFAULT_OUT.resolve():
        parser.error(f"{args.results} holds test data ({TEST_DATA_MARKER}); it must not be published to {DEFAULT_OUT}")
    matplotlib.use("Agg")
    if not args.results.is_dir():
        parser.error(f"--results {args.results} is not a results store (no such folder); run python -m benchmarks.run "
                     "first or point --results at one")
    frame = load_results(args.results)
    try:
        board = build_leaderboard(frame, args.results, args.out.parent, reps=args.reps, seed=args.seed,
                                  zoo_root=args.zoo)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_leaderboard(board, args.out)
    print(f"wrote {args.out}: {frame['run_id'].nunique()} runs, {len(board.plots)} plots")
    if board.unended:
        left_out = count_label(len(board.unended), "run")
        print(f"left out {left_out} still pending or running (not final): {', '.join(board.unended)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
