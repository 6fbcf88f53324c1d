"""``python -m benchmarks.run`` — the benchmark harness (training grid) is not built yet.

The results store (:mod:`benchmarks.store`), the rliable statistics (:mod:`benchmarks.stats`) and the leaderboard
generator (``python -m leaderboard``) exist; the command that trains agent × dataset × seed runs comes next.
"""

import sys


def main() -> int:
    print(
        "The iqlzoo benchmark harness is not built yet: no runs were trained and no results were written.\n"
        "Until it lands, `python -m iqlzoo.quickstart` trains and evaluates IQL on the built-in toy dataset.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
