"""``python -m benchmarks.walltime`` — what each cell of a results store cost to train, from its runs' own logs.

Every ``log_interval`` steps a run's ``train_log.jsonl`` records ``time/updates_per_s``, the rate of the steps since
the previous line, evaluations included, and ``seed_group_size``, the number K of seeds trained as one model then
(:mod:`benchmarks.runner`; a line without it is taken as K = 1, a run trained alone). For a run with lines at steps
s_1 < s_2 < ... and rates r_i:

    wall time       T   = sum_i (s_i - s_{i-1}) / r_i            (s_0 = 0)
    core time       C   = sum_i (s_i - s_{i-1}) / (r_i * K_i)     (a seed group's time shared by its K seeds)

A rate is a *group*-update rate: one step of a K-seed model is one update of each of its seeds. Per cell (agent x
dataset x suite x budget): its wall time is the longest of its seeds' T (the cell has ended when its last seed has),
its core time the sum of its seeds' C (one lane is one core), and the median and 10th percentile of the logged rates
(over all lines of all seeds) say how fast it went. Lines that are not JSON objects (one cut short by a kill) are
skipped; a step logged twice (a resumed run that logged past its checkpoint before) counts once, its last line. A run
without a provenance.json (which names its cell) or without timed lines is left out.

The sums are only as complete as the logs: a resumed run redoes the steps after its last checkpoint, and those redone
minutes are not in the log it keeps.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.store import TRAIN_LOG, ResultsStore, RunIdentity, read_train_log

RATE = "time/updates_per_s"
GROUP_SIZE = "seed_group_size"


@dataclass(frozen=True)
class RunCost:
    """One run's training time from its log: wall and core seconds, its rates, its last logged step."""

    wall_s: float
    core_s: float
    rates: tuple[float, ...]
    last_step: int


@dataclass
class CellCost:
    """A cell's runs' costs, with the CPU models their provenance names (the machine each run began on: a run
    resumed elsewhere keeps its first machine's model there)."""

    runs: dict[int, RunCost] = field(default_factory=dict)  # by seed
    cpus: set[str] = field(default_factory=set)

    @property
    def wall_h(self) -> float:
        return max(run.wall_s for run in self.runs.values()) / 3600

    @property
    def core_h(self) -> float:
        return sum(run.core_s for run in self.runs.values()) / 3600

    def rate_quantiles(self) -> tuple[float, float]:
        """(median, 10th percentile) of every logged group-update rate of the cell's runs."""
        rates = sorted(rate for run in self.runs.values() for rate in run.rates)
        return statistics.median(rates), rates[len(rates) // 10]


def run_cost(log: Path) -> RunCost | None:
    """The cost of the run whose training log is `log` (module docstring), or None when no line holds a rate."""
    by_step: dict[int, tuple[float, int]] = {}
    for entry in read_train_log(log):
        rate, group = entry.get(RATE), entry.get(GROUP_SIZE, 1)
        if isinstance(rate, (int, float)) and rate > 0 and isinstance(group, int):
            by_step[entry["step"]] = (float(rate), max(group, 1))
    if not by_step:
        return None
    wall = core = 0.0
    previous = 0
    for step in sorted(by_step):
        rate, group = by_step[step]
        seconds = (step - previous) / rate
        wall, core, previous = wall + seconds, core + seconds / group, step
    return RunCost(wall, core, tuple(rate for rate, _ in by_step.values()), previous)


def cell_costs(results: Path, match: str = "") -> dict[tuple[str, str, str, int], CellCost]:
    """Costs of the cells of the store `results` with a run whose id contains `match`, keyed by (agent, dataset id,
    suite, budget steps)."""
    cells: dict[tuple[str, str, str, int], CellCost] = {}
    store = ResultsStore(results)
    for run_id in store.run_ids():
        log = store.run_dir(run_id) / TRAIN_LOG
        if match not in run_id or not log.is_file():
            continue
        try:
            record = store.read_provenance(run_id)
        except ValueError:  # the store's ResultsFormatError: provenance.json is not a JSON object
            continue
        identity = RunIdentity.from_provenance(record)
        if record is None or identity is None:
            continue
        key = (identity.label, identity.dataset_id, identity.suite, identity.steps)
        seed = identity.seed
        cost = run_cost(log)
        if cost is None:
            continue
        cell = cells.setdefault(key, CellCost())
        cell.runs[seed] = cost
        cell.cpus.add(str(record.get("cpu_model", "unknown")))
    return cells


def markdown(cells: dict[tuple[str, str, str, int], CellCost]) -> str:
    """One table row per cell: seeds, steps logged, wall and core hours, median (p10) group-updates/s, CPUs."""
    lines = [
        "| agent | dataset | suite | budget | seeds | last step | wall (h) | core (h) "
        "| group-updates/s median (p10) | CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (agent, dataset_id, suite, budget), cell in sorted(cells.items()):
        median, p10 = cell.rate_quantiles()
        last = min(run.last_step for run in cell.runs.values())
        lines.append(
            f"| {agent} | `{dataset_id}` | {suite} | {budget:,} | {len(cell.runs)} | {last:,} | {cell.wall_h:.2f} | "
            f"{cell.core_h:.2f} | {median:.1f} ({p10:.1f}) | {', '.join(sorted(cell.cpus))} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="results store (default: results)")
    parser.add_argument("--match", default="", help="only runs whose id contains this (e.g. antmaze-paper)")
    args = parser.parse_args(argv)
    cells = cell_costs(args.results, args.match)
    if not cells:
        parser.error(f"no run in {args.results / 'runs'} matching {args.match!r} has a provenance.json and a "
                     f"{TRAIN_LOG} with '{RATE}' lines: pass the store the runs trained in with --results")
    table = markdown(cells)
    print(table, end="")
    return table


if __name__ == "__main__":
    main()
