"""Render the leaderboard markdown and its plots from the records of a results store.

`build_leaderboard` returns the markdown and the PNG bytes; it reads nothing but the runs' status and training logs
(`benchmarks.findings.load_run_records`, unless given them) and the speed table beside the output. `write_leaderboard`
puts them on disk atomically. The output depends only on the records, `reps` and `seed`, and on where the files go
relative to the results store (links are relative), so regenerating from the same store gives byte-identical files.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import scales, stats
from benchmarks.store import (
    DEFAULT_LEADERBOARD,
    EVALUATIONS_FILE,
    REPO_ROOT,
    ResultsStore,
    atomic_write_bytes,
    atomic_write_text,
    build_label,
)
from benchmarks.suites import BUDGETS, SUITES, Budget, budget_of_store_suite, split_store_suite
from iqlzoo.agents.presets import DOMAIN_DEFAULTS, infer_domain
from iqlzoo.zoo import CHECKOUT_ZOO, DEFAULT_ORG, repo_name
from leaderboard import findings, paper, plots
from leaderboard.budgets import superseded, superseded_note
from leaderboard.independent import REFERENCES_DIR, load_reference_runs
from leaderboard.published import published_line, published_task
from leaderboard.report_claims import REPORT, SRANK_TABLE
from leaderboard.text import markdown_table, span, with_ci

DEFAULT_OUT = DEFAULT_LEADERBOARD
PLOTS_DIR = "plots"
_METRIC_LABELS = {"normalized_score": "Normalised score", "success_rate": "Success rate (%)"}
_METRIC_SLUGS = {"normalized_score": "score", "success_rate": "success"}
#: Run states whose evaluations the suite sections score. A running run's last evaluation is not its final one and a
#: diverged or failed run has none after its error; a run without status.json (`unknown`) is taken as it is.
SCORED_STATES: tuple[str, ...] = ("finished", findings.UNKNOWN_STATE)
#: Run states left out of the seed findings' scores too (the findings count diverged and failed runs on their own).
UNENDED_STATES: tuple[str, ...] = ("pending", "running")


@dataclass(frozen=True)
class Leaderboard:
    """The leaderboard's markdown, its plots (file name under `PLOTS_DIR` -> PNG bytes) and the ids of the runs it
    left out because they are still pending or running (sorted)."""

    markdown: str
    plots: dict[str, bytes] = field(default_factory=dict)
    unended: tuple[str, ...] = ()


def display_path(path: Path) -> str:
    """`path` relative to the repository root when inside it, else absolute, with forward slashes."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def _suite_link(suite: str) -> str:
    """A markdown link to the section of the store suite `suite`."""
    return f"[`{suite}`](#suite-{_slug(suite).lower()})"


def _mixed_builds_note(runs: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """A warning, when the runs on one dataset id (`runs`, their final evaluations) were trained on more than one
    build of it (content hash); it also names the reference returns each build normalises with where they differ
    (`scales.differing_refs`, from those runs' evaluations in `frame`)."""
    builds = sorted(runs["dataset_hash"].unique())
    if len(builds) < 2:
        return []
    named = ", ".join(f"`{build_label(data_hash)}`" for data_hash in builds)
    refs = scales.differing_refs(frame[frame["run_id"].isin(runs["run_id"])])
    scale = "" if not refs else (
        " Their scores are normalised with different reference returns too, measured when each build was made "
        f"({scales.named_refs(refs)}): one return scores up to {scales.largest_gap(refs):.1f}% apart on them.")
    return [
        f"These runs were trained on {len(builds)} different builds of this dataset ({named}; column Data build). "
        "A regeneration is rebuilt from the same recipe and seed but is not bit-identical across CPUs, so agents "
        f"on different builds differ in their data as well as in their algorithm.{scale}",
        "",
    ]


def _records_cell(records: Sequence[Sequence[str]], link: Callable[[str, str], str]) -> str:
    """The text "group: [label](path), ...; group: ..." from (group, label, path) triples, grouped by group."""
    groups: dict[str, list[str]] = {}
    for group, label, path in records:
        groups.setdefault(group, []).append(link(label, path))
    return "; ".join(f"{group}: {', '.join(links)}" for group, links in groups.items())


def render_findings(
    claims: Sequence[Mapping[str, object]],
    source: str | None = None,
    link: Callable[[str, str], str] | None = None,
) -> str:
    """A markdown table of claims from the source report beside our measurements.

    Each claim is a mapping with `claim` (what the report says), `report` (its number) and optionally `measured`
    (ours); a missing or None `measured` reads "not measured yet". With `link` (label, path relative to the results
    store -> markdown link), claims' `records` ((group, label, path) triples, see `benchmarks.findings`) fill a
    Records column. `source`, when given, is cited under the table.
    """
    with_records = link is not None and any(claim.get("records") for claim in claims)
    rows = []
    for claim in claims:
        measured = claim.get("measured")
        row = [claim["claim"], claim["report"], "not measured yet" if measured is None else measured]
        if link is not None and with_records:
            row.append(_records_cell(claim.get("records") or (), link))
        rows.append(row)
    lines = markdown_table(["Claim (source report)", "Report", "Ours", *(["Records"] if with_records else [])], rows)
    if source:
        lines += ["", f"Source: {source}."]
    return "\n".join(lines) + "\n"


def _relative(target: Path, out_dir: Path) -> str:
    """`target` as a POSIX path relative to `out_dir`, the folder the markdown goes to (what its links need)."""
    return Path(os.path.relpath(target, out_dir)).as_posix()


def _store_link(results_root: Path, out_dir: Path, label: str, path: str | Path) -> str:
    """A markdown link to `path` (a file of the results store: relative to its root, or absolute), relative to the
    folder the markdown goes to."""
    return f"[{label}]({_relative(Path(results_root) / path, out_dir)})"


FINDINGS_TITLE = "Seed findings: the source report beside our measurements"


def findings_section(
    frame: pd.DataFrame, records: findings.RunRecords, results_root: Path, out_dir: Path, reps: int, seed: int
) -> list[str]:
    """The source report's claims beside our measurements: one table per `seed-findings` store suite, or one table
    of unmeasured claims when the store holds none; then how each measurement is computed."""
    lines = [f"## {FINDINGS_TITLE}", ""]
    suites = findings.findings_suites(records)
    if not suites:
        claims = findings.seed_findings(frame, records, None, reps, seed)
        lines += [findings.unmeasured_summary(), "", render_findings(claims)]
    link = functools.partial(_store_link, results_root, out_dir)
    for suite in suites:
        claims = findings.seed_findings(frame, records, suite, reps, seed)
        lines += [f"### Measured in `{suite}`", "", findings.suite_summary(records, suite), ""]
        lines += [render_findings(claims, link=link)]
    lines += [*findings.method_notes(reps, seed), ""]
    lines += [f"Source: {REPORT}: Parts II-IV (statements quoted); the srank numbers from {SRANK_TABLE}.", ""]
    return lines


def scope_lines(suite: str) -> list[str]:
    """The scope of store suite `suite` (``antmaze-quick``): which cells its suite trains at that budget and why
    (`benchmarks.suites.Suite.scope_text`, from the suite file's ``scope``), or nothing when it trains them all."""
    name, budget = split_store_suite(suite)
    text = SUITES[name].scope_text(budget) if name in SUITES else ""
    return [f"**Scope:** {text}.", ""] if text else []


def superseded_budget_lines(suite: str, final: pd.DataFrame) -> list[str]:
    """A warning, per domain, when finished runs of store suite `suite` (``<suite>-<budget>``) trained for another
    number of steps than the budget now gives that domain (`leaderboard.budgets.superseded`): their rows describe a
    budget the suite no longer runs."""
    old = final[superseded(final.assign(suite=suite))]
    if old.empty:
        return []
    budget = BUDGETS[budget_of_store_suite(suite)]
    domains = old["dataset_id"].map(lambda d: Budget.domain_key(infer_domain(d)))
    lines = []
    for domain in sorted(domains.unique()):
        rows = old[domains == domain]
        used = " / ".join(f"{int(b):,}" for b in sorted(rows["budget"].unique()))
        lines += [f"**Superseded budget:** {rows['run_id'].nunique()} of these {domain} runs trained for {used} "
                  f"steps; the `{budget.name}` budget now gives {domain} {budget.protocol(domain).steps:,} steps "
                  "(`benchmarks/suites.py`). Their rows stand until runs at the new budget replace them; the "
                  "aggregates and comparisons below leave them out, as runs of different budgets are not "
                  "compared.", ""]
    return lines


def _mapping(value: object) -> Mapping[str, Any]:
    """`value` when it is an object (a mapping), else {}: provenance is JSON that a hand-edit may have reshaped."""
    return value if isinstance(value, Mapping) else {}


class _Renderer:
    """Builds the sections of one leaderboard; collects the plots it draws."""

    def __init__(
        self,
        frame: pd.DataFrame,
        results_root: Path,
        out_dir: Path,
        reps: int,
        seed: int,
        unscored: pd.DataFrame,
        zoo_root: Path = CHECKOUT_ZOO,
    ) -> None:
        self.frame = frame
        self.zoo_root = Path(zoo_root)
        self.unscored = unscored
        self.results_root = Path(results_root)
        self.out_dir = Path(out_dir)
        self.reps = reps
        self.seed = seed
        self.plots: dict[str, bytes] = {}
        self.colors = plots.agent_colors(stats.order_agents(frame["agent"]))

    @functools.cache  # noqa: B019 - one renderer per leaderboard; read each run's provenance once
    def provenance(self, run_id: str) -> dict[str, Any]:
        """The run's stored provenance ({} when none was written)."""
        return ResultsStore(self.results_root).read_provenance(run_id) or {}

    def agent_config(self, run_id: str) -> Mapping[str, Any]:
        """The run's agent configuration from its provenance: ``agent_config``, else (older records) ``run.config``;
        {} when neither is an object."""
        provenance = self.provenance(run_id)
        return _mapping(provenance.get("agent_config")) or _mapping(_mapping(provenance.get("run")).get("config"))

    def protocol(self, run_id: str) -> Mapping[str, Any]:
        """The run's protocol (steps, evaluation interval and episodes, checkpoint interval) from its provenance;
        {} when it recorded none."""
        return _mapping(_mapping(self.provenance(run_id).get("run")).get("protocol"))

    def precision(self, run_id: str) -> str:
        """``bf16`` or ``float32``: the precision the run's agent trained in, from its provenance."""
        return "bf16" if self.agent_config(run_id).get("bf16") else "float32"

    def mixed_precision_note(self, rows: pd.DataFrame) -> list[str]:
        """A warning naming the agents whose seeds on one dataset trained in different precisions (their row
        pools them, which it should not: a rerun in another precision replaces the old runs in the store)."""
        mixed = [agent for agent in stats.order_agents(rows["agent"])
                 if len({self.precision(run_id) for run_id in rows.loc[rows["agent"] == agent, "run_id"]}) > 1]
        if not mixed:
            return []
        return [f"**Mixed precision:** the seeds of {', '.join(mixed)} here trained in different precisions (column "
                "Precision) and are pooled in one row; remove the superseded runs from the store.", ""]

    def run_link(self, run_id: str, label: str) -> str:
        return _store_link(self.results_root, self.out_dir, label, f"runs/{run_id}/{EVALUATIONS_FILE}")

    def store_link(self, label: str, path: Path) -> str:
        """A markdown link to `path` (a file in the store), relative to the folder the markdown goes to."""
        return _store_link(self.results_root, self.out_dir, label, path)

    def card_link(self, agent: str, dataset_id: str, run_ids: Sequence[str], budget: int | None = None) -> str:
        """A link to the published zoo repo's model card of `agent` on `dataset_id` (``zoo/iqlzoo/{Agent}-{dataset}``)
        when one exists and was published from one of `run_ids` (its ``results.json`` names the run), or from runs of
        a longer budget than these runs' `budget` steps (the zoo ships the better-trained agent; the link says so);
        else "—"."""
        folder = self.zoo_root / DEFAULT_ORG / repo_name(agent, dataset_id)
        try:
            results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
            selection = results.get("selection") or {}
            steps = (results.get("budget") or {}).get("steps")
        except (OSError, ValueError, AttributeError):
            return "—"
        if not (folder / "README.md").is_file():
            return "—"
        link = f"[card]({_relative(folder / 'README.md', self.out_dir)})"
        if selection.get("run_id") in set(run_ids):
            return link
        if isinstance(steps, int) and budget is not None and steps > budget:
            return f"{link} (from {steps:,}-step runs)"
        return "—"

    def add_plot(self, name: str, png: bytes, alt: str) -> str:
        self.plots[name] = png
        return f"![{alt}]({PLOTS_DIR}/{name})"

    def dataset_table(self, final: pd.DataFrame, dataset_id: str) -> list[str]:
        """Per-agent mean [95% CI] over seeds of the final normalised score (and success rate) on one dataset."""
        rows = final[final["dataset_id"] == dataset_id].sort_values(["agent", "seed"])
        goal = bool(rows["success_rate"].notna().any())
        agents = stats.order_agents(rows["agent"])
        columns = ["normalized_score", "success_rate"] if goal else ["normalized_score"]
        estimates = {}
        for metric in columns:
            scale = stats.SCORE_SCALES[metric]
            values = {agent: rows.loc[rows["agent"] == agent, metric].dropna().to_numpy() * scale for agent in agents}
            present = {agent: scores for agent, scores in values.items() if scores.size}
            estimates[metric] = stats.mean_over_seeds(present, reps=self.reps, seed=self.seed)
        best = self.frame.groupby("run_id")[columns[0]].max() * stats.SCORE_SCALES[columns[0]]
        table_rows = []
        for agent in agents:
            runs = rows[rows["agent"] == agent]
            cells: list[object] = [agent]
            for metric in columns:
                found = estimates[metric]
                cells.append(
                    with_ci(found.point[agent][0], *found.interval[agent][:, 0]) if agent in found.point else "n/a"
                )
            rising = stats.still_rising(self.frame, list(runs["run_id"]), columns[0])
            cells.append(f"{best.loc[list(runs['run_id'])].mean():.1f}")
            cells += [
                len(runs),
                span(runs["step"]),
                "yes" if rising else ("n/a" if rising is None else "no"),
                ", ".join(sorted({self.precision(run_id) for run_id in runs["run_id"]})),
                " / ".join(f"{budget:,}" for budget in sorted(runs["budget"].unique())),
                ", ".join(sorted(runs["data_source"].unique())),
                ", ".join(f"`{build_label(data_hash)}`" for data_hash in sorted(runs["dataset_hash"].unique())),
                ", ".join(self.run_link(run.run_id, f"s{run.seed}") for run in runs.itertuples()),
                self.card_link(agent, dataset_id, list(runs["run_id"]), int(runs["budget"].max())),
            ]
            table_rows.append(cells)
        header = ["Agent", *(f"{_METRIC_LABELS[metric]}, mean [95% CI]" for metric in columns),
                  f"Best evaluation ({_METRIC_LABELS[columns[0]].lower()}), mean"]
        header += ["Seeds", "Steps", "Still rising", "Precision", "Budget", "Data source", "Data build", "Runs",
                   "Zoo"]
        published = published_line(published_task(dataset_id))
        return [f"#### `{dataset_id}`", "", *_mixed_builds_note(rows, self.frame), *self.mixed_precision_note(rows),
                *markdown_table(header, table_rows), "",
                *([published, ""] if published else [])]

    def aggregate_section(self, suite: str, metric: str) -> list[str]:
        """Aggregate metrics, performance profiles, probability of improvement and sample efficiency."""
        label = _METRIC_LABELS[metric]
        lines = [f"### Aggregate: {label.lower()}", ""]
        left_out = superseded_note(stats.final_evaluations(self.frame[self.frame["suite"] == suite]))
        current = current_runs(self.frame, suite)
        if current.empty:
            return [*lines, "No run at the suite's current budget has been evaluated yet, so there is nothing to "
                    "aggregate.", "", *([f"- {left_out}", ""] if left_out else [])]
        matrices = stats.score_matrices(current, suite, metric)
        found = [*([left_out] if left_out else []), *matrices.notes]
        notes = [*(f"- {note}" for note in found), ""] if found else []
        if not matrices.scores:
            return [*lines, "No dataset has this score for every agent, so there is nothing to aggregate.", "", *notes]
        runs = ", ".join(f"{agent} {len(seeds)}" for agent, seeds in matrices.seeds.items())
        lines += [
            f"Datasets ({len(matrices.tasks)}): " + ", ".join(f"`{task}`" for task in matrices.tasks) + ".",
            f"Seeds per agent: {runs}.",
            "",
            *notes,
        ]
        prefix = f"{_slug(suite)}-{_METRIC_SLUGS[metric]}"
        colors = {agent: self.colors[agent] for agent in matrices.scores}

        summary = stats.aggregate(matrices.scores, reps=self.reps, seed=self.seed)
        lines += markdown_table(
            ["Agent", *(f"{name} [95% CI]" for name in stats.METRIC_NAMES)],
            [
                [agent, *(with_ci(point[i], *summary.interval[agent][:, i]) for i in range(len(point)))]
                for agent, point in summary.point.items()
            ],
        )
        png = plots.interval_estimates_png(summary, stats.METRIC_NAMES, colors, label)
        lines += ["", self.add_plot(f"{prefix}-aggregates.png", png, f"{suite}: aggregate {label.lower()}"), ""]

        taus = stats.default_taus(matrices.scores)
        profiles = stats.performance_profiles(matrices.scores, taus, reps=self.reps, seed=self.seed)
        png = plots.performance_profiles_png(taus, profiles, colors, label + r" ($\tau$)")
        lines += [self.add_plot(f"{prefix}-profiles.png", png, f"{suite}: performance profiles"), ""]
        return [*lines, *self.improvement_lines(suite, prefix, matrices, colors),
                *self.sample_efficiency_lines(suite, prefix, matrices, colors, label)]

    def improvement_lines(
        self, suite: str, prefix: str, matrices: stats.ScoreMatrices, colors: Mapping[str, plots.Color]
    ) -> list[str]:
        """Probability of improvement of every agent over the baseline: table and plot."""
        lines = [f"#### Probability of improvement over {stats.BASELINE}", ""]
        if stats.BASELINE in matrices.scores and len(matrices.scores) > 1:
            improvement = stats.probability_of_improvement(matrices.scores, reps=self.reps, seed=self.seed)
            lines += markdown_table(
                ["Agent X", f"P(X > {stats.BASELINE}) [95% CI]"],
                [
                    [pair.split(stats.PAIR_SEPARATOR)[0], with_ci(value[0], *improvement.interval[pair][:, 0], 2)]
                    for pair, value in improvement.point.items()
                ],
            )
            png = plots.probability_of_improvement_png(improvement, colors)
            lines += ["", self.add_plot(f"{prefix}-improvement.png", png, f"{suite}: probability of improvement")]
        else:
            lines.append(f"Needs {stats.BASELINE} and at least one other agent on the same datasets.")
        return [*lines, ""]

    def sample_efficiency_lines(
        self, suite: str, prefix: str, matrices: stats.ScoreMatrices, colors: Mapping[str, plots.Color], label: str
    ) -> list[str]:
        """IQM against evaluation step: the plot, when the runs share at least two steps."""
        lines = ["#### Sample efficiency (IQM over evaluation steps)", ""]
        steps, curves = stats.sample_efficiency(self.frame, matrices, reps=self.reps, seed=self.seed)
        if len(steps) >= 2:
            png = plots.sample_efficiency_png(steps, curves, colors, "Training step", f"IQM {label.lower()}")
            lines.append(self.add_plot(f"{prefix}-sample-efficiency.png", png, f"{suite}: sample efficiency"))
        else:
            lines.append("Needs at least two evaluation steps shared by all runs.")
        return [*lines, ""]

    def unscored_lines(self, suite: str) -> list[str]:
        """The runs of `suite` that the section leaves out because they diverged or failed, per dataset and agent."""
        runs = self.unscored[self.unscored["suite"] == suite]
        if runs.empty:
            return []
        lines = [f"Scored below: finished runs only. Left out ({findings.count_label(len(runs), 'run')}):", ""]
        for dataset_id, on_dataset in runs.groupby("dataset_id", sort=True):
            parts = [
                f"{agent} {state} ({', '.join(f's{seed}' for seed in sorted(group['seed']))})"
                for (agent, state), group in on_dataset.groupby(["agent", "state"], sort=True)
            ]
            lines.append(f"- `{dataset_id}`: " + "; ".join(parts))
        return [*lines, ""]

    def suite_section(self, suite: str) -> list[str]:
        """Per-dataset tables, then the aggregates of the normalised score (and of the success rate, if any); first
        the suite's runs that are left out because they diverged or failed."""
        suite_frame = self.frame[self.frame["suite"] == suite]
        lines = [f"## Suite `{suite}`", "", *self.unscored_lines(suite)]
        if suite_frame.empty:
            return [*lines, "No run of this suite has finished yet.", ""]
        final = stats.final_evaluations(suite_frame)
        lines += [*scope_lines(suite), *superseded_budget_lines(suite, final)]
        lines += ["### Per dataset (final evaluation of each run)", ""]
        for dataset_id in sorted(final["dataset_id"].unique()):
            lines += self.dataset_table(final, dataset_id)
        lines += self.aggregate_section(suite, "normalized_score")
        if final["success_rate"].notna().any():
            if success_repeats_score(suite_frame, suite):
                lines += [
                    f"### Aggregate: {_METRIC_LABELS['success_rate'].lower()}",
                    "",
                    "The runs aggregated above have a normalised score equal to 100 x their success rate at every "
                    "evaluation (a sparse goal reward normalised with reference returns 0 and 1), so the "
                    "success-rate aggregates are the normalised-score aggregates above and are not repeated.",
                    "",
                ]
            else:
                lines += self.aggregate_section(suite, "success_rate")
        return lines


def current_runs(frame: pd.DataFrame, suite: str) -> pd.DataFrame:
    """The evaluation records of store suite `suite` whose runs trained for the steps its budget gives today
    (`leaderboard.budgets.superseded`): what the aggregates compare. The suite's other runs keep their rows in the
    per-dataset tables."""
    rows = frame[frame["suite"] == suite]
    return rows[~superseded(rows)]


def success_repeats_score(frame: pd.DataFrame, suite: str) -> bool:
    """Whether the success-rate aggregates of `suite` would repeat its normalised-score ones: both metrics keep the
    same runs on the same datasets, and each of those runs' evaluations has a normalised score equal to 100 x its
    success rate (to 1e-6), as on AntMaze (reward 1 at the goal, reference returns 0 and 1). Runs without a success
    rate (locomotion in a mixed suite) only matter when they change which runs the score aggregates keep."""
    frame = current_runs(frame, suite)
    if frame.empty:
        return False
    score = stats.score_matrices(frame, suite, "normalized_score")
    success = stats.score_matrices(frame, suite, "success_rate")
    if (score.tasks, score.run_ids) != (success.tasks, success.run_ids) or not score.tasks:
        return False
    used = frame[frame["run_id"].isin({run for runs in score.run_ids.values() for run in runs})]
    scaled = used["success_rate"] * stats.SCORE_SCALES["success_rate"]
    return bool(((used["normalized_score"] - scaled).abs() <= 1e-6).all())


def _header(results_root: Path, reps: int, seed: int) -> list[str]:
    results = display_path(results_root)
    return [
        "<!-- Generated by `python -m leaderboard`; do not edit by hand, regenerate instead. -->",
        "# iqlzoo leaderboard",
        "",
        f"This file is generated from the results store `{results}` by "
        f"`python -m leaderboard --results {results} --reps {reps} --seed {seed}`. "
        "Every number in it is computed from the records stored there (evaluations; for the seed findings also "
        "the runs' status and the sranks in their training logs; for the independent checks, the "
        f"reference IQL's curves in `{REFERENCES_DIR}/`).",
        "",
    ]


def _empty_body() -> list[str]:
    return [
        "## No results yet",
        "",
        "No results have been recorded yet. Produce them by running a benchmark suite, for example "
        "`python -m benchmarks.run --suite antmaze`, then regenerate this file with `python -m leaderboard`.",
    ]


def _legend(reps: int, seed: int, out_dir: Path) -> list[str]:
    return [
        "Scores are D4RL normalised scores x100 (0 = random policy, 100 = expert reference) of each finished run's "
        "final evaluation (runs still pending or running are left out; diverged or failed runs are listed "
        "above their suite's tables, not scored); success rates are the percentage of evaluation episodes that "
        "reached the goal. Brackets hold "
        f"95% confidence intervals from rliable's percentile bootstrap ({reps} resamples, seed {seed}): over seeds "
        "for one dataset, stratified over seeds within datasets for aggregates. IQM is the mean of the middle 50% "
        "of all run x dataset scores; median and mean are taken over datasets of each dataset's mean over seeds; "
        "optimality gap is 100 minus the mean of min(score, 100) (lower is better). "
        f"P(X > {stats.BASELINE}) is the probability that a run of X scores above a run of {stats.BASELINE} on a "
        "dataset, averaged over datasets. \"Still rising\" flags a cell whose seeds gained over the last tenth of "
        "training (their mean evaluation there minus that of the tenth before; with sparser evaluations, their final "
        "one minus the previous one) more than the standard error of that gain (a budget too short to show where "
        "the agent converges); \"Precision\" is the arithmetic the agent trained in (bf16: bfloat16 "
        "autocast, which until 2026-12-02 also covered the value networks); \"Zoo\" links the model card of the "
        "agent published from one of the row's runs (`python -m benchmarks.publish`).",
        "",
        _observations_sentence(out_dir),
        "",
        _data_sentence(out_dir),
        "",
    ]


def _observations_sentence(out_dir: Path) -> str:
    """Which observations each domain's agents train on by default (`iqlzoo.agents.presets`), and why (linking the
    measurement from `out_dir`)."""
    evidence = _relative(REPO_ROOT / "docs" / "antmaze" / "README.md", out_dir)

    def kind(domain: str) -> str:
        return "standardised" if DOMAIN_DEFAULTS[domain]["normalize_observations"] else "raw"

    return (f"Observations: AntMaze agents train on {kind('antmaze')} observations (the dataset's mean and std) by "
            "default since 2026-12-02, because on umaze that measured no worse than raw ones and learned sooner "
            f"([docs/antmaze]({evidence}), section 3); every AntMaze run recorded before then (the bf16 "
            f"ones) trained on raw observations. Locomotion agents train on {kind('locomotion')} observations, as "
            "the IQL paper's code does.")


def _data_sentence(out_dir: Path) -> str:
    """What a *regenerated* dataset is, and why its scores are not comparable to published ones (linking the
    measurements from `out_dir`)."""

    def link(*parts: str) -> str:
        return _relative(REPO_ROOT.joinpath(*parts), out_dir)

    return ("Data: a *regenerated* dataset is iqlzoo's local rebuild of the D4RL/Minari dataset of the same name "
            f"([docs/datasets]({link('docs', 'datasets', 'README.md')})), with its own behaviour policy. It is not "
            "the official data, and how good its behaviour is moves every method's score, and can change their order: "
            "on regenerated umaze plain behaviour cloning scores far above its published D4RL score, and IQL with "
            "expectile 0.5 above the paper's 0.9, in iqlzoo and in an independent IQL alike "
            f"([docs/antmaze]({link('docs', 'antmaze', 'README.md')}), section 5). Compare regenerated scores with "
            "published ones as a check of the implementation on similar data, not as a ranking.")


SPEED_FILE = "speed.md"


def build_leaderboard(
    frame: pd.DataFrame,
    results_root: Path,
    out_dir: Path,
    reps: int,
    seed: int,
    records: findings.RunRecords | None = None,
    zoo_root: Path = CHECKOUT_ZOO,
) -> Leaderboard:
    """The leaderboard of the records in `frame` (from the store at `results_root`), to be written in `out_dir`.

    First the source report's claims beside our measurements (`findings_section`, from `frame` and `records`: the
    runs' states and sranks, read from `results_root` when None), listed even before anything is measured; runs
    that are still pending or running are left out of them. Then one section per suite, which scores only the
    finished runs (`SCORED_STATES`) and lists the diverged and failed ones: a table per dataset, then for the
    normalised score (and, for goal-reaching suites, the success rate, unless `success_repeats_score`) the aggregate
    metrics, performance profiles, probability of improvement over `stats.BASELINE` and sample-efficiency curves,
    with their plots. A row links the model card of its published zoo repo under `zoo_root` when that repo was
    published from one of the row's runs.
    """
    references = load_reference_runs(results_root)  # first: a malformed one stops the build before any work
    lines = _header(results_root, reps, seed)
    speed = _speed_section(out_dir)
    records = findings.load_run_records(results_root, frame) if records is None else records
    # pending and running runs go unmentioned everywhere below: their records are not final, and a store committed
    # with only the runs that ended then regenerates the same file wherever it is checked out
    unended = tuple(records.runs.loc[records.runs["state"].isin(UNENDED_STATES), "run_id"])
    records = records.without(unended)
    frame = frame[~frame["run_id"].isin(unended)]
    states = dict(zip(records.runs["run_id"], records.runs["state"]))
    state = frame["run_id"].map(states).fillna(findings.UNKNOWN_STATE)
    claims = findings_section(frame, records, results_root, out_dir, reps, seed)
    unscored = records.runs[~records.runs["state"].isin(SCORED_STATES)]
    if frame.empty and unscored.empty:
        lines += [*_empty_body(), "", *claims]
        while lines[-1] == "":
            lines.pop()
        return Leaderboard("\n".join([*lines, *speed]) + "\n", unended=unended)
    frame = frame[state.isin(SCORED_STATES)]
    renderer = _Renderer(frame, results_root, out_dir, reps, seed, unscored, zoo_root)
    suites = sorted(set(frame["suite"]) | set(unscored["suite"]))
    lines += _legend(reps, seed, out_dir)
    contents = [_suite_link(suite) for suite in suites]
    if not paper.paper_frame(frame).empty:
        contents.insert(0, f"[paper protocol](#{paper.ANCHOR})")
    lines += ["Suites: " + ", ".join(contents), ""]
    lines += claims
    lines += paper.paper_section(frame, renderer, _suite_link, references)
    for suite in suites:
        lines += renderer.suite_section(suite)
    while lines[-1] == "":
        lines.pop()
    lines += speed
    return Leaderboard("\n".join(lines) + "\n", renderer.plots, unended)


def _speed_section(out_dir: Path) -> list[str]:
    """The training-speed table that ``python -m benchmarks.speed`` wrote beside the leaderboard, if any."""
    path = Path(out_dir) / SPEED_FILE
    if not path.is_file():
        return []
    return ["", "## Training speed", "", f"From [`{SPEED_FILE}`]({SPEED_FILE}) (`python -m benchmarks.speed`):", "",
            path.read_text().rstrip("\n")]


def write_leaderboard(board: Leaderboard, out_path: Path) -> None:
    """Write the plots to `<out dir>/plots/`, remove PNGs there that `board` no longer has, then write the markdown;
    every file is written atomically."""
    out_path = Path(out_path)
    plot_dir = out_path.parent / PLOTS_DIR
    for name, png in sorted(board.plots.items()):
        atomic_write_bytes(plot_dir / name, png)
    if plot_dir.is_dir():
        for stale in sorted(plot_dir.glob("*.png")):
            if stale.name not in board.plots:
                stale.unlink()
    atomic_write_text(out_path, board.markdown)
