"""``python -m benchmarks.curves`` — learning curves of several groups of runs side by side, as Markdown and a PNG.

A *group* is a set of seeds trained alike: the runs of a results store selected by label, dataset, store suite and
configuration settings, or a folder of ``seed<N>.csv`` curves written by :mod:`benchmarks.reference_iql`::

    S=store:results:IQL:iqlzoo/antmaze/umaze-v0:antmaze-steps200000
    python -m benchmarks.curves --out docs/antmaze/umaze-200k --group "iqlzoo raw=$S:normalize_observations=" \\
        --group "iqlzoo standardised=$S:normalize_observations=true" --group "reference=csv:docs/antmaze/ref-umaze"

For every evaluation step the table gives each group's mean over seeds, the seeds' values and n; the PNG plots the
mean with the seeds' range. ``--compare A B`` (repeatable) adds whether two groups agree within seed noise
(`agreement`); ``--budget-at 0.9 A`` the step from which A's mean curve stays at or above 90% of its final value
(`budget_at`). The metric is the success rate in % where the runs record one, else the normalised score; the plot's
y axis is labelled with the groups' metric unless ``--ylabel`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.store import RunIdentity


@dataclass(frozen=True)
class Group:
    """A named set of seeds' curves: `curves[seed]` maps evaluation step -> metric value; `metrics` names the
    metric each curve holds (`SUCCESS` or `SCORE`)."""

    name: str
    curves: dict[int, dict[int, float]]
    metrics: frozenset[str] = frozenset()


SUCCESS, SCORE = "success rate (%)", "normalised score"


def _metric(frame: pd.DataFrame) -> tuple[str, pd.Series]:
    """The success rate in % where the evaluations record one, else the normalised score, with its name."""
    success = frame.get("success_rate")
    if success is not None and success.notna().any():
        return SUCCESS, 100.0 * success.astype(float)
    return SCORE, frame["normalized_score"].astype(float)


def _read_curve(path: Path) -> tuple[str, dict[int, float]]:
    """One seed's curve from an evaluations CSV (a run's, or a reference run's ``seed<N>.csv``): its metric's name
    and evaluation step -> value."""
    frame = pd.read_csv(path)
    metric, values = _metric(frame)
    return metric, dict(zip(frame["step"].astype(int), values))


def axis_label(groups: Sequence[Group]) -> str:
    """The y-axis label of `groups`: their metric's name, or both names where the groups hold different metrics."""
    metrics = set().union(*(g.metrics for g in groups))
    return " / ".join(name for name in (SUCCESS, SCORE) if name in metrics) or SUCCESS


def _matches(config: dict, selector: str) -> bool:
    """``key=value`` (value compared as JSON, or as text); an empty value means the key is absent."""
    key, _, value = selector.partition("=")
    if value == "":
        return key not in config
    try:
        wanted = json.loads(value)
    except json.JSONDecodeError:
        wanted = value
    return config.get(key) == wanted


def store_group(name: str, root: Path, label: str, dataset_id: str, suite: str, selectors: Sequence[str]) -> Group:
    """The runs under `root`/runs (or directly under `root`, a folder of run records such as the ones committed beside
    a doc) with this label, dataset and store suite whose spec config matches `selectors`."""
    runs = root / "runs" if (root / "runs").is_dir() else root
    if not runs.is_dir():
        raise ValueError(f"{root} is not a results store (no folder {root / 'runs'}) nor a folder of runs")
    curves: dict[int, dict[int, float]] = {}
    metrics: set[str] = set()
    for run_dir in sorted(runs.iterdir()):
        provenance_file, evaluations = run_dir / "provenance.json", run_dir / "evaluations.csv"
        if not provenance_file.exists() or not evaluations.exists():
            continue
        identity = RunIdentity.from_provenance(json.loads(provenance_file.read_text(encoding="utf-8")))
        if identity is None or (identity.label, identity.dataset_id, identity.suite) != (label, dataset_id, suite):
            continue
        if not all(_matches(dict(identity.config), selector) for selector in selectors):
            continue
        metric, curves[identity.seed] = _read_curve(evaluations)
        metrics.add(metric)
    return Group(name, curves, frozenset(metrics))


def csv_group(name: str, folder: Path) -> Group:
    """The ``seed<N>.csv`` curves of a :mod:`benchmarks.reference_iql` run."""
    curves, metrics = {}, set()
    for path in sorted(folder.glob("seed*.csv")):
        metric, curves[int(path.stem[4:])] = _read_curve(path)
        metrics.add(metric)
    return Group(name, curves, frozenset(metrics))


def parse_group(text: str) -> Group:
    """``NAME=store:ROOT:LABEL:DATASET:SUITE[:key=value...]`` or ``NAME=csv:FOLDER``."""
    name, _, source = text.partition("=")
    kind, _, rest = source.partition(":")
    if kind == "csv":
        return csv_group(name, Path(rest))
    if kind == "store":
        root, label, dataset_id, suite, *selectors = rest.split(":")
        return store_group(name, Path(root), label, dataset_id, suite, selectors)
    raise ValueError(f"--group {text!r}: expected NAME=store:ROOT:LABEL:DATASET:SUITE[:key=value] or NAME=csv:DIR")


def markdown(groups: Sequence[Group]) -> str:
    """One row per evaluation step: per group "mean (seed values)"."""
    steps = sorted({step for group in groups for curve in group.curves.values() for step in curve})
    header = "| step | " + " | ".join(f"{g.name} (n={len(g.curves)})" for g in groups) + " |"
    lines = [header, "|---|" + "---|" * len(groups)]
    for step in steps:
        cells = []
        for group in groups:
            values = [curve[step] for _, curve in sorted(group.curves.items()) if step in curve]
            cells.append("" if not values else f"{np.mean(values):.1f} ({' / '.join(f'{v:.1f}' for v in values)})")
        lines.append(f"| {step:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) − mean(b) and its Welch `level` confidence interval: d ± t_ν·√(s²_a/n_a + s²_b/n_b), with the
    Welch–Satterthwaite degrees of freedom ν. Two groups whose seeds are identical give a zero-width interval."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        raise ValueError(f"a confidence interval needs at least 2 seeds per group with every evaluation, got "
                         f"{x.size} and {y.size}")
    diff = float(x.mean() - y.mean())
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return diff, diff - half, diff + half


def difference_text(diff: float, low: float, high: float) -> str:
    """A difference and its interval with signs, one decimal: "+2.0 [-1.5, +5.5]"."""
    return f"{diff:+.1f} [{low:+.1f}, {high:+.1f}]"


def agreement(a: Group, b: Group) -> str:
    """Whether two groups' curves agree within seed noise, as Markdown: per common evaluation step, the difference
    of the means (a − b) with its Welch 95% CI over seeds; then the same for each seed's mean over all common steps
    (the area under its curve, one number per seed, the least noisy comparison). "within noise" means the interval
    contains 0."""
    steps = sorted(set.intersection(*({s for c in g.curves.values() for s in c} for g in (a, b))))
    full = {g.name: [c for c in g.curves.values() if all(s in c for s in steps)] for g in (a, b)}
    lines = [f"| step | {a.name} − {b.name} [95% CI] | within noise |", "|---|---|---|"]
    verdicts = []
    for step in steps:
        diff, low, high = welch_interval([c[step] for c in full[a.name]], [c[step] for c in full[b.name]])
        verdicts.append(low <= 0.0 <= high)
        lines.append(f"| {step:,} | {difference_text(diff, low, high)} | {'yes' if verdicts[-1] else 'no'} |")
    areas = [[float(np.mean([c[s] for s in steps])) for c in full[g.name]] for g in (a, b)]
    diff, low, high = welch_interval(*areas)
    within = low <= 0.0 <= high
    lines.append(f"| mean over steps | {difference_text(diff, low, high)} | {'yes' if within else 'no'} |")
    summary = (f"{a.name} vs {b.name} ({len(full[a.name])} and {len(full[b.name])} seeds, {len(steps)} evaluations): "
               f"within seed noise at {sum(verdicts)} of {len(steps)} evaluations and over the whole curve: "
               f"{'yes' if within else 'no'} (mean over steps {np.mean(areas[0]):.1f} vs "
               f"{np.mean(areas[1]):.1f}).")
    return "\n".join([summary, "", *lines]) + "\n"


def budget_at(group: Group, fraction: float) -> str:
    """Where `group`'s curve reaches `fraction` of its final value, as Markdown.

    With m(s) the mean over seeds at evaluation step s (over the seeds that evaluated s) and s_end the last step,
    the answer is the first step s* from which m stays at or above fraction · m(s_end): m(s) ≥ f·m(s_end) for every
    s ≥ s*. "Stays" keeps one lucky evaluation early on from choosing the budget; s_end qualifies by definition. A
    curve still rising at s_end makes the answer a lower bound: the final value is the curve's, not its plateau's.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"the fraction must lie in (0, 1], got {fraction}")
    steps = sorted({step for curve in group.curves.values() for step in curve})
    means = {s: float(np.mean([c[s] for c in group.curves.values() if s in c])) for s in steps}
    threshold = fraction * means[steps[-1]]
    chosen = steps[-1]
    for step in reversed(steps):
        if means[step] < threshold:
            break
        chosen = step
    return (f"{group.name}: final value {means[steps[-1]]:.1f} at step {steps[-1]:,}; the mean curve reaches "
            f"{fraction:.0%} of it ({threshold:.1f}) at step {chosen:,} ({means[chosen]:.1f}) and stays at or above "
            f"it from there.\n")


def plot(groups: Sequence[Group], path: Path, ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for group in groups:
        steps = sorted({step for curve in group.curves.values() for step in curve})
        rows = [[curve[s] for curve in group.curves.values() if s in curve] for s in steps]
        ax.plot(steps, [np.mean(r) for r in rows], marker="o", label=f"{group.name} (n={len(group.curves)})")
        ax.fill_between(steps, [min(r) for r in rows], [max(r) for r in rows], alpha=0.2)
    ax.set_xlabel("gradient steps")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def footer(argv: Sequence[str], note: str = "") -> str:
    """The command that made the file's table and plot (``--note`` left out of it), then `note`: written by the tool
    itself, so that a rerun keeps it and anyone can remake the file."""
    shown, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            shown.append(arg)
    line = f"Made with `{shlex.join(['python', '-m', 'benchmarks.curves', *shown])}`."
    return line + (f" {note}" if note else "") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    # no abbreviated options: the footer leaves out exactly `--note`, so `--not` must not stand for it
    parser = argparse.ArgumentParser(prog="python -m benchmarks.curves", description=__doc__.split("\n")[0],
                                     allow_abbrev=False)
    parser.add_argument("--group", action="append", required=True, help="NAME=store:... or NAME=csv:... (repeat)")
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.png")
    parser.add_argument("--ylabel", help="the y axis's label (default: the groups' metric, success rate (%%) where "
                        "the runs record one, else normalised score)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), action="append", default=[],
                        help="two group names: add their difference per step with Welch 95%% CIs over seeds (repeat "
                        "for more pairs)")
    parser.add_argument("--budget-at", nargs=2, metavar=("FRACTION", "GROUP"),
                        help="the step from which GROUP's mean curve stays at or above FRACTION of its final value")
    parser.add_argument("--note", default="",
                        help="a line on what the runs are (data build, dates), written under the command at the foot")
    args = parser.parse_args(argv)
    try:
        groups = [parse_group(text) for text in args.group]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    empty = [g.name for g in groups if not g.curves]
    if empty:
        print(f"error: no runs found for {empty}", file=sys.stderr)
        return 1
    text = markdown(groups)
    named = {g.name: g for g in groups}
    for pair in args.compare:
        missing = [name for name in pair if name not in named]
        if missing:
            print(f"error: --compare names {missing}, not among the groups {sorted(named)}", file=sys.stderr)
            return 2
        try:
            text += "\n" + agreement(named[pair[0]], named[pair[1]])
        except ValueError as error:
            print(f"error: --compare {' '.join(pair)}: {error}", file=sys.stderr)
            return 2
    if args.budget_at:
        fraction, name = args.budget_at
        if name not in named:
            print(f"error: --budget-at names {name!r}, not among the groups {sorted(named)}", file=sys.stderr)
            return 2
        try:
            text += "\n" + budget_at(named[name], float(fraction))
        except ValueError as error:
            print(f"error: --budget-at {fraction} {name}: {error}", file=sys.stderr)
            return 2
    text += "\n" + footer(list(sys.argv[1:] if argv is None else argv), args.note)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    plot(groups, args.out.with_suffix(".png"), args.ylabel or axis_label(groups))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
