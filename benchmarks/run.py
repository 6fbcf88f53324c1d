"""``python -m benchmarks.run`` - train and evaluate a suite's grid of agents x datasets x seeds, durably.

    python -m benchmarks.run --suite {antmaze,halfcheetah,seed-findings,smoke} [--agents NAME ...] [--seeds N]
        [--budget {paper,quick,tiny}] [--steps N] [--eval-every N] [--eval-episodes N] [--checkpoint-every N]
        [--data {auto,official,regenerated}] [--offline] [--build-missing] [--backend {local,ray}]
        [--ray-address ADDR] [--workers N]
        [--device {cpu,cuda,auto}] [--gpus-per-run G] [--max-attempts N] [--out DIR]
        [--no-leaderboard] [--leaderboard-out FILE] [--reps N] [--track {tensorboard,wandb,none} ...]

Every run (agent configuration, dataset, seed, budget) owns a folder under ``--out``/runs (see
:mod:`benchmarks.runner`). Rerunning the same command skips finished (and diverged) runs, resumes unfinished ones
from their latest checkpoint, and retries failed ones; within one invocation a failing run is retried up to
``--max-attempts`` times while the rest of the grid goes on. Datasets that are not built are skipped and named in one
summary at the end, with the command that builds them (``--build-missing`` builds them first, then trains); a
dataset none of whose runs is left to train is neither built nor named.
Afterwards, if a run record changed, the leaderboard is regenerated from the store. The ``smoke`` suite writes test
data: by default into ``results-smoke/``, marked so it is never published.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from minari.storage.datasets_root_dir import get_dataset_path
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from benchmarks import runner, tracking
from benchmarks.backends import Backend, LocalBackend, RayBackend, Task, task_specs
from benchmarks.store import DEFAULT_LEADERBOARD as DEFAULT_OUT
from benchmarks.store import (
    DEFAULT_RESULTS,
    REPO_ROOT,
    TEST_DATA_MARKER,
    ResultsStore,
    atomic_write_text,
    build_label,
)
from benchmarks.suites import BUDGETS, SUITES, Plan, RunSpec, plan, short_name
from iqlzoo.agents.config import IQLConfig
from iqlzoo.agents.presets import infer_domain
from iqlzoo.arguments import cli_non_negative_float, cli_positive_int, cli_seed, resolve_device
from iqlzoo.data.equivalents import build_time, regenerated_equivalent
from iqlzoo.data.minari import DatasetNotFoundError, from_minari, is_local, resolve_dataset
from iqlzoo.machine import torch_threads
from iqlzoo.recipes.registry import RECIPES, build

#: The results store and leaderboard file of `leaderboard.render` (not imported up front: matplotlib and rliable
#: take seconds to import, and the driver starts its workers first).
DEFAULT_TEST_RESULTS = REPO_ROOT / "results-smoke"
DATA_MODES = ("auto", "official", "regenerated")
#: Seconds the driver waits for backend events per loop.
POLL_S = 0.5
_TEST_DATA_TEXT = (
    "This results store holds test data written by `python -m benchmarks.run --suite smoke`: tiny budgets on a toy "
    "dataset that check the harness and measure nothing. Never publish it as results.\n"
)


class DatasetUnavailableError(RuntimeError):
    """A suite's dataset that is not available with the chosen ``--data`` mode. `build_id` is the iqlzoo dataset
    whose build would make it available (the task itself or its regeneration), or None when no build would."""

    def __init__(self, message: str, build_id: str | None = None) -> None:
        super().__init__(message)
        self.build_id = build_id


def _unavailable(task: str, data: str, error: DatasetNotFoundError) -> DatasetUnavailableError:
    """The command line's account of `task` that `resolve_dataset` could not load: what is missing, in its words."""
    if build_time(task) is not None:
        return DatasetUnavailableError(f"{task} is not built", build_id=task)
    equivalent = regenerated_equivalent(task)
    if data == "official" or equivalent is None:
        return DatasetUnavailableError(f"{task} (--data {data}): the official dataset is {error.reason}")
    if data == "regenerated":
        return DatasetUnavailableError(f"{task} (--data regenerated): its regeneration {equivalent} is not built",
                                       build_id=equivalent)
    return DatasetUnavailableError(
        f"{task}: the official dataset is {error.reason}, and its regeneration {equivalent} is not built",
        build_id=equivalent,
    )


def resolve_task(task: str, data: str, download: bool | None = None) -> tuple[str, str]:
    """(dataset id, data source) for a suite's dataset `task`.

    Toy datasets (local recipes that stand in for no official dataset) are built here, in seconds. A dataset built
    from iqlzoo's regenerations (the AntMaze ``-evalgoal`` relabellings) is its own task and source ``regenerated``;
    when it is not built the error carries its id, as for a regeneration. Any other id
    goes through `iqlzoo.data.minari.resolve_dataset`, which loads the official dataset (downloading it unless
    `download` is False, ``HF_HUB_OFFLINE`` is set or the download host cannot be reached) or, as `data` allows, its
    local regeneration. Regenerations are not built here (~9-12 min per AntMaze dataset): the error carries the id to
    build (`main` builds it with ``--build-missing``).
    """
    recipe = RECIPES.get(task)
    if recipe is not None and recipe.official_id is None and recipe.source == "toy":
        build(task)
        return task, "toy"
    if recipe is not None and recipe.official_id is None:  # a dataset built from regenerations (AntMaze evalgoal)
        if data == "official":
            raise DatasetUnavailableError(f"{task} (--data official): it is built locally from iqlzoo's regenerations "
                                          "and has no official version; pass --data regenerated or auto")
        if not is_local(task):
            raise DatasetUnavailableError(f"{task} is not built", build_id=task)
        return task, recipe.source
    try:
        dataset, source = resolve_dataset(task, data=data, download=download, announce=False)
    except DatasetNotFoundError as error:
        raise _unavailable(task, data, error) from None
    except ValueError as error:
        raise DatasetUnavailableError(f"{task} (--data {data}): {error}") from None
    return dataset.spec.dataset_id, source


def build_dataset(dataset_id: str, console: Console) -> bool:
    """Build an iqlzoo dataset for ``--build-missing`` as ``python -m iqlzoo.recipes build`` does (one torch
    thread, a progress bar on a terminal); False, with the reason printed, when the build fails."""
    console.print(f"building {dataset_id} ({build_time(dataset_id)})")
    started = time.monotonic()
    try:
        with torch_threads(1):
            build(dataset_id, progress=console.is_terminal)
    except Exception as error:  # a missing behaviour policy, a full disk: report it and go on with the rest
        console.print(f"[red]building {dataset_id} failed[/]: {escape(f'{type(error).__name__}: {error}')}")
        return False
    console.print(f"built  {dataset_id} ({(time.monotonic() - started) / 60:.1f} min)")
    return True


def missing_summary(missing: Sequence[str], command: Sequence[str]) -> str:
    """One paragraph naming the datasets to build, the command that builds them with its duration, and the command
    (`command` plus ``--build-missing``) that builds them and trains in one go."""
    times = {build_time(dataset_id) for dataset_id in missing}
    one = len(missing) == 1
    if len(times) == 1:
        duration = f"{times.pop()}{'' if one else ' each'}"
    else:
        duration = "; ".join(f"{dataset_id}: {build_time(dataset_id)}" for dataset_id in missing)
    return (
        f"{len(missing)} dataset{'' if one else 's'} {'is' if one else 'are'} not built ({duration}); build "
        f"{'it' if one else 'them'} with\n    python -m iqlzoo.recipes build {' '.join(missing)}\n"
        f"or build and train in one go with\n    {shlex.join([*command, '--build-missing'])}"
    )



def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """Agent settings from ``--params key:value ...`` (rl_zoo3's form), checked against `IQLConfig` before anything
    runs. A value is read as JSON (``0.8``, ``true``, ``[64, 64]``) or else taken as a string (``d2rl``)."""
    fields = {f.name: f for f in dataclasses.fields(IQLConfig)}
    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition(":")
        if not sep or not key:
            raise ValueError(f"--params takes key:value pairs, got {item!r} (e.g. --params expectile:0.8)")
        if key not in fields:
            raise ValueError(f"--params {item!r}: {key!r} is not an agent setting; known: {sorted(fields)}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        params[key] = value
    try:  # validate() checks every field's type, finiteness and range, naming the field
        IQLConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}).validate()
    except (TypeError, ValueError) as error:
        raise ValueError(f"--params: {error}") from None
    return params


def params_label(label: str, params: Mapping[str, Any] | None) -> str:
    """The label of a cell run with ``--params``: the cell's label with the overrides appended, e.g.
    ``IQL+normalize_observations=true``, so the leaderboard never shows such runs as the default configuration."""
    return label + "".join(f"+{key}={json.dumps(value)}" for key, value in sorted((params or {}).items()))


def expand(grid: Plan, datasets: dict[str, tuple[str, str]], params: Mapping[str, Any] | None = None) -> list[RunSpec]:
    """The runs of `grid` on the resolved `datasets` (task -> (dataset id, source)), in cell, dataset, seed order;
    a run listed twice (two tasks resolving to one dataset) appears once. `params` (``--params``) override every
    cell's settings and so enter each run's configuration and run id."""
    specs: dict[str, RunSpec] = {}
    for cell in grid.cells:
        for task in cell.datasets:
            if task not in datasets:
                continue
            dataset_id, source = datasets[task]
            protocol = grid.protocol(infer_domain(dataset_id))
            for seed in grid.seeds:
                config = {**grid.budget.agent_config, **cell.config(task), **(params or {})}
                spec = RunSpec(grid.run_suite(cell, task), params_label(cell.label, params), cell.agent, config,
                               dataset_id, source, seed, protocol)
                specs.setdefault(spec.run_id, spec)
    return list(specs.values())


def ended_runs(specs: Sequence[RunSpec], store: ResultsStore) -> set[str]:
    """The ids of the runs among `specs` that have ended (finished or diverged) in `store`: rerunning skips them."""
    return {spec.run_id for spec in specs if runner.ended_outcome(spec.run_id, store) is not None}


def all_ended(grid: Plan, task: str, dataset_id: str, params: Mapping[str, Any] | None, store: ResultsStore) -> bool:
    """True when `grid` plans runs on `task` and each of them, on `dataset_id`, has ended (finished or diverged) in
    `store`. Such a task needs no dataset: a fresh machine that restored a group's records does not spend ~11 min
    building (or report as missing) a dataset only to skip every run on it. Run ids do not depend on the data source,
    so the check needs no dataset."""
    specs = expand(grid, {task: (dataset_id, "")}, params)
    return bool(specs) and ended_runs(specs, store) == {spec.run_id for spec in specs}


def check_store(root: Path, test_data: bool) -> None:
    """Keep test data and real results apart: a smoke store is marked, and a marked store takes only smoke runs."""
    marked = (root / TEST_DATA_MARKER).exists()
    if test_data and not marked and ResultsStore(root).run_ids():
        raise SystemExit(
            f"{root} already holds runs of real suites; the smoke suite writes test data and needs its own store "
            f"(default {DEFAULT_TEST_RESULTS})"
        )
    if not test_data and marked:
        raise SystemExit(f"{root} holds test data ({TEST_DATA_MARKER}); write real results to another --out")
    if test_data and not marked:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / TEST_DATA_MARKER, _TEST_DATA_TEXT)


def _short(spec: RunSpec) -> str:
    return f"{spec.label} {spec.dataset_id.split('/')[-1]} s{spec.seed}"


def _score(value: float | None) -> str:
    return "" if value is None else f"score {value:.1f}"


class GridEvents(Protocol):
    """What `run_grid` tells its observer (`GridDisplay` shows it)."""

    def started(self, spec: RunSpec, attempt: int, max_attempts: int) -> None:
        """An attempt at `spec` was submitted."""

    def progress(self, event: runner.Progress) -> None:
        """A running attempt reported progress."""

    def ended(self, outcome: runner.Outcome, retry: bool, attempt: int, max_attempts: int) -> None:
        """An attempt ended; `retry` says whether the run goes back into the queue."""


class GridDisplay:
    """Rich progress bars (one per running run and one for the grid, each with an ETA) and one line per event."""

    def __init__(self, console: Console, specs: Sequence[RunSpec], root: Path) -> None:
        self.console = console
        self.root = root
        self.specs = {spec.run_id: spec for spec in specs}
        self.steps = {spec.run_id: runner.completed_steps(ResultsStore(root).run_dir(spec.run_id)) for spec in specs}
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[score]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        total = sum(spec.protocol.steps for spec in specs)
        self.grid = self.bars.add_task(f"grid ({len(specs)} runs)", total=total, completed=self._done(), score="")
        self.tasks: dict[str, TaskID] = {}
        self.started_at: dict[str, float] = {}

    def _done(self) -> int:
        return sum(self.steps.values())

    def __enter__(self) -> GridDisplay:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def started(self, spec: RunSpec, attempt: int, max_attempts: int) -> None:
        step = runner.completed_steps(ResultsStore(self.root).run_dir(spec.run_id))
        self.steps[spec.run_id] = step
        self.started_at[spec.run_id] = time.monotonic()
        resume = f", resuming from step {step:,}" if step else ""
        self.console.print(f"start  {spec.run_id} (attempt {attempt}/{max_attempts}{resume})")
        self.tasks[spec.run_id] = self.bars.add_task(
            _short(spec), total=spec.protocol.steps, completed=step, score=""
        )
        self.bars.update(self.grid, completed=self._done())

    def progress(self, event: runner.Progress) -> None:
        if event.run_id not in self.tasks:
            return
        self.steps[event.run_id] = event.step
        self.bars.update(self.tasks[event.run_id], completed=event.step, score=_score(event.score))
        self.bars.update(self.grid, completed=self._done())
        if event.evaluated and not self.console.is_terminal:
            self.console.print(f"eval   {_short(self.specs[event.run_id])} step {event.step:,}: {_score(event.score)}")

    def ended(self, outcome: runner.Outcome, retry: bool, attempt: int, max_attempts: int) -> None:
        spec = self.specs[outcome.run_id]
        if outcome.run_id in self.tasks:
            self.bars.remove_task(self.tasks.pop(outcome.run_id))
        minutes = (time.monotonic() - self.started_at.get(outcome.run_id, time.monotonic())) / 60
        if outcome.elsewhere and outcome.state in runner.FINAL_STATES:
            self.steps[outcome.run_id] = outcome.step
            self.console.print(f"skip   {spec.run_id}: {outcome.state} by another process")
        elif outcome.state == "busy":
            self.console.print(f"busy   {spec.run_id}: another process is training it; this one leaves it alone")
        elif outcome.state == "finished":
            self.steps[outcome.run_id] = spec.protocol.steps
            self.console.print(f"done   {spec.run_id}: {_score(outcome.score)} ({minutes:.1f} min)")
        elif outcome.state == "diverged":
            self.console.print(f"[yellow]diverged[/] {spec.run_id}: {escape(str(outcome.error))}")
        else:
            then = f"retrying (attempt {attempt + 1}/{max_attempts})" if retry else "giving up for now"
            self.console.print(f"[red]{outcome.state}[/] {spec.run_id}: {escape(str(outcome.error))}; {then}")
        self.bars.update(self.grid, completed=self._done())


def settle_elsewhere(outcomes: dict[str, runner.Outcome], store: ResultsStore) -> dict[str, runner.Outcome]:
    """`outcomes` with every ``busy`` run (another process held its lock) replaced by what the store says now: when
    that process has finished or diverged it, the run is done, by another process — not a failure of this grid."""
    settled = dict(outcomes)
    for run_id, outcome in outcomes.items():
        if outcome.state != "busy":
            continue
        if (ended := runner.ended_outcome(run_id, store)) is not None:
            settled[run_id] = ended
    return settled


def seed_groups(specs: Sequence[RunSpec]) -> list[Task]:
    """`specs` as tasks: runs that differ only in their seed form one seed group (a tuple), in first-seen order."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(runner.seed_group_key(spec), []).append(spec)
    return [group[0] if len(group) == 1 else tuple(group) for group in groups.values()]


def run_grid(
    specs: Sequence[RunSpec],
    backend: Backend,
    store: ResultsStore,
    max_attempts: int = 3,
    display: GridEvents | None = None,
    group_seeds: bool = False,
) -> dict[str, runner.Outcome]:
    """Run `specs` on `backend` until each has an outcome; return the last outcome of every run.

    With `group_seeds`, the runs that differ only in their seed are submitted together and train as one multi-seed
    model (`benchmarks.runner.execute_group`); retries always run alone. A ``failed`` or ``killed`` attempt goes back
    to the end of the queue until the run has had `max_attempts` attempts in this call (a killed one only if the
    backend did not retry it already); other runs keep going meanwhile. A killed worker cannot write its status, so
    the driver records it (state ``failed`` with the reason). The backend is closed on the way out, even on Ctrl-C.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    by_id = {spec.run_id: spec for spec in specs}
    waiting: deque[Task] = deque(seed_groups(specs) if group_seeds else specs)
    attempts: Counter[str] = Counter()
    outcomes: dict[str, runner.Outcome] = {}
    try:
        while waiting or backend.running():
            while waiting and backend.running() < backend.capacity:
                task = waiting.popleft()
                for spec in task_specs(task):
                    attempts[spec.run_id] += 1
                    if display is not None:
                        display.started(spec, attempts[spec.run_id], max_attempts)
                backend.submit(task)
            for event in backend.poll(POLL_S):
                if isinstance(event, runner.Progress):
                    if display is not None:
                        display.progress(event)
                    continue
                if event.state == "killed":
                    store.set_status(event.run_id, "failed", event.error)
                retryable = event.state == "failed" or (event.state == "killed" and not backend.retries_killed)
                retry = retryable and attempts[event.run_id] < max_attempts
                if display is not None:
                    display.ended(event, retry, attempts[event.run_id], max_attempts)
                if retry:
                    waiting.append(by_id[event.run_id])
                else:
                    outcomes[event.run_id] = event
    finally:
        backend.close()
    return outcomes


def driver_command(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The command that reruns this grid from the repository root, as provenance records it: `python -m
    benchmarks.run` and the arguments (`argv`, or `sys.argv[1:]` when None), whether the driver was started with
    `-m`, as a script path, or by calling `main`; an absolute path to run.py would name only this machine's checkout."""
    return ("python", "-m", "benchmarks.run", *(sys.argv[1:] if argv is None else argv))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    budgets = "; ".join(f"{name}: {budget.summary}" for name, budget in BUDGETS.items())
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Train and evaluate a benchmark suite durably (resumable, retried, recorded in a results store).",
        epilog=f"Budgets - {budgets}.",
    )
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("--agents", nargs="+", help="agent names (or seed-findings labels); default: the suite's")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="only these of the suite's datasets: full ids or short names (umaze, medium-play, ...); "
                        "naming them also runs the cells that the budget's scope (the suite file's `scope`) leaves "
                        "out there")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=cli_positive_int, help="seeds 0..N-1 (default: the budget's)")
    seeds.add_argument("--seed", type=cli_seed, nargs="+", metavar="N",
                       help="only these seeds, e.g. --seed 3 (a run's id names its seed, so seed 3 joins 0..2)")
    parser.add_argument("--budget", choices=sorted(BUDGETS), help="default: quick (tiny for smoke)")
    parser.add_argument("--steps", type=cli_positive_int, help="override the budget's gradient steps per run")
    parser.add_argument("--eval-every", type=cli_positive_int, help="override the evaluation interval (steps)")
    parser.add_argument("--eval-episodes", type=cli_positive_int, help="override the episodes per evaluation")
    parser.add_argument("--checkpoint-every", type=cli_positive_int, help="override the checkpoint interval (steps)")
    parser.add_argument("--params", nargs="+", metavar="KEY:VALUE",
                        help="agent settings for every run, e.g. --params expectile:0.8 normalize_observations:true "
                             "(part of each run's configuration and run id)")
    parser.add_argument("--data", choices=DATA_MODES, default="auto", help="official, regenerated, or auto (default)")
    parser.add_argument("--offline", action="store_true",
                        help="never download official datasets, and skip the check that the download host can be "
                             "reached (same as HF_HUB_OFFLINE=1)")
    parser.add_argument("--build-missing", action="store_true",
                        help="build the regenerated datasets that are not built yet (~9-12 min per AntMaze dataset, "
                             "~3-5 min per HalfCheetah level), then train")
    parser.add_argument("--backend", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", help="address of a running Ray cluster (default: start a local one)")
    parser.add_argument("--workers", type=cli_positive_int,
                        help="runs at once (default: CPU count locally, CPUs on Ray)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="torch device of a run")
    parser.add_argument("--gpus-per-run", type=cli_non_negative_float,
                        help="Ray GPUs per run (default: 1 with --device cuda, else 0)")
    parser.add_argument("--group-seeds", choices=("auto", "on", "off"), default="auto",
                        help="train the seeds of an agent x dataset as one multi-seed model (n_seeds=K): 'auto' does "
                             "on CUDA, where it multiplies throughput; on one CPU core it gains little (see "
                             "leaderboard/speed.md)")
    parser.add_argument("--max-attempts", type=cli_positive_int, default=3, help="attempts per run and invocation (3)")
    parser.add_argument("--track", nargs="+", choices=(*tracking.TRACKERS, "none"),
                        help="experiment trackers each run logs losses and evaluations to: tensorboard (event files in "
                             "the run's folder; the default when tensorboard is installed), wandb (Weights & Biases, "
                             "offline unless WANDB_MODE is set), none")
    parser.add_argument("--out", type=Path, help=f"results store (default {DEFAULT_RESULTS}; smoke: "
                                                 f"{DEFAULT_TEST_RESULTS})")
    parser.add_argument("--no-leaderboard", action="store_true",
                        help="do not regenerate the leaderboard (it is regenerated only when a run record changed)")
    parser.add_argument("--leaderboard-out", type=Path, help=f"leaderboard file (default {DEFAULT_OUT}; for a "
                                                             "test-data store, <out>/leaderboard/README.md)")
    parser.add_argument("--reps", type=cli_positive_int, default=2000, help="bootstrap resamples of the leaderboard")
    return parser.parse_args(argv)


def other_builds(store: ResultsStore, finished: Sequence[RunSpec], todo: Sequence[RunSpec]) -> list[str]:
    """Warnings for the `finished` runs that were trained on another build of their dataset (content hash in their
    provenance) than the local one, on the datasets where `todo` trains new runs: those would then be compared with
    runs on other data. Regenerated datasets are bit-identical on one machine but not across CPUs."""
    training = {spec.dataset_id for spec in todo}
    by_dataset: dict[str, list[str]] = {}
    for spec in finished:
        if spec.dataset_id in training:
            by_dataset.setdefault(spec.dataset_id, []).append(spec.run_id)
    warnings = []
    for dataset_id, run_ids in sorted(by_dataset.items()):
        local = runner.dataset_fingerprint(from_minari(dataset_id, download=False))
        recorded = {run_id: (store.read_provenance(run_id) or {}).get("dataset", {}).get("hash") for run_id in run_ids}
        other = sorted(run_id for run_id, data_hash in recorded.items() if data_hash != local)
        if other:
            builds = ", ".join(sorted({build_label(str(recorded[run_id])) for run_id in other}))
            warnings.append(
                f"{len(other)} finished run(s) on {dataset_id} were trained on another build of it ({builds}) than "
                f"the local one ({build_label(local)}), which the new runs use: {', '.join(other)}. They are kept, "
                "and the leaderboard marks the mixed builds; delete their folders to retrain them on this build."
            )
    return warnings


def select_tasks(tasks: Sequence[str], names: Sequence[str] | None,
                 aliases: Mapping[str, str] | None = None) -> list[str]:
    """The suite datasets `tasks` that `names` ask for (all when None), in suite order. A name is a full dataset id,
    a short name of the suite's file (`aliases`: name -> id, e.g. "halfcheetah-medium"), or the id's last component
    without its version ("umaze" is `D4RL/antmaze/umaze-v1`, not `umaze-diverse-v1`). Names that match nothing raise
    ValueError listing the suite's names."""
    if names is None:
        return list(tasks)
    short = {task: {short_name(task)} for task in tasks}
    for alias, task in (aliases or {}).items():
        short.setdefault(task, set()).add(alias)
    unknown = [name for name in names if not any(name == task or name in short[task] for task in tasks)]
    if unknown:
        known = sorted({name for task in tasks for name in short[task]})
        raise ValueError(f"the suite has no datasets {unknown}; its datasets: {known}")
    return [task for task in tasks if task in names or short[task] & set(names)]


def make_backend(args: argparse.Namespace, context: runner.RunContext) -> Backend:
    """The backend the command line asks for."""
    if args.backend == "local":
        workers = args.workers or len(os.sched_getaffinity(0))
        return LocalBackend(context, workers)
    gpus = args.gpus_per_run if args.gpus_per_run is not None else (1.0 if args.device == "cuda" else 0.0)
    return RayBackend(context, address=args.ray_address, workers=args.workers, gpus_per_run=gpus,
                      max_retries=max(0, args.max_attempts - 1))


def regenerate_leaderboard(root: Path, out: Path, reps: int, console: Console) -> bool:
    """Rebuild the leaderboard from every record in the store `root` with ``python -m leaderboard``, in its own
    process (the generator sits above the harness and is never imported by it); False (with the reason) on failure."""
    if (root / TEST_DATA_MARKER).exists() and out.resolve() == DEFAULT_OUT.resolve():
        console.print(f"[red]leaderboard not regenerated[/]: {root} holds test data; it must not be published to "
                      f"{DEFAULT_OUT}")
        return False
    command = [sys.executable, "-m", "leaderboard", "--results", str(root), "--out", str(out), "--reps", str(reps)]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        console.print(f"[red]leaderboard not regenerated[/]: {escape(reason)}")
        return False
    console.print(f"leaderboard: {escape(proc.stdout.strip())}")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Plan, resolve datasets, run what is not finished, summarise, regenerate the leaderboard; 0 when all is well."""
    args = parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    overrides = {"steps": args.steps, "eval_every": args.eval_every, "eval_episodes": args.eval_episodes,
                 "checkpoint_every": args.checkpoint_every}
    try:
        grid = plan(args.suite, args.agents, args.seeds, args.budget, overrides, chosen_seeds=args.seed,
                    scoped=args.datasets is None)
        params = parse_params(args.params)
        track = tracking.resolve_trackers(args.track)
        tasks = select_tasks(grid.tasks, args.datasets, grid.suite.names)
        if args.backend == "local":
            resolve_device(args.device)  # --device cuda without a GPU: one error here, not one per run
    except ValueError as error:
        console.print(f"[red]error[/]: {escape(str(error))}")
        return 2
    root = args.out or (DEFAULT_TEST_RESULTS if grid.suite.test_data else DEFAULT_RESULTS)
    try:
        (root / "runs").mkdir(parents=True, exist_ok=True)
        probe = root / ".write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        console.print(f"[red]error[/]: cannot write the results store {root} ({error.strerror or error}); choose a "
                      "writable folder with --out")
        return 2
    check_store(root, grid.suite.test_data)
    console.print(f"suite {grid.suite.name}: {grid.suite.summary}")
    console.print(f"budget {grid.budget.name}: {grid.budget.summary}"
                  + (f"; overridden: {dict(grid.protocol_overrides)}" if grid.protocol_overrides else ""), markup=False)
    scope = grid.suite.scope_text(grid.budget.name)
    if scope:
        console.print(scope, markup=False)
    outside = grid.outside_scope(tasks)
    if outside:
        pairs = ", ".join(f"{label} on {task}" for label, task in outside)
        console.print(f"[yellow]note[/]: --datasets asks for runs outside the `{grid.budget.name}` scope "
                      f"({escape(pairs)}); they train as asked, beside the default grid's runs")
    console.print(f"tracking: train_log.jsonl{''.join(f', {name}' for name in track)}")
    datasets: dict[str, tuple[str, str]] = {}
    unavailable: list[DatasetUnavailableError] = []
    download = False if args.offline else None
    store = ResultsStore(root)
    for task in tasks:
        try:
            try:
                datasets[task] = resolve_task(task, args.data, download=download)
            except DatasetUnavailableError as error:
                if error.build_id and all_ended(grid, task, error.build_id, params, store):
                    source = RECIPES[error.build_id].source if error.build_id in RECIPES else "regenerated"
                    datasets[task] = (error.build_id, source)
                    console.print(f"dataset {task} -> {error.build_id}: not built here, and not needed: every run "
                                  "on it has ended")
                    continue
                if not (args.build_missing and error.build_id and build_dataset(error.build_id, console)):
                    raise
                datasets[task] = resolve_task(task, args.data, download=download)
        except DatasetUnavailableError as error:
            unavailable.append(error)
            console.print(f"[red]dataset unavailable, its runs are skipped[/]: {escape(str(error))}")
            continue
        dataset_id, source = datasets[task]
        console.print(f"dataset {task} -> {dataset_id} ({source})")
    specs = expand(grid, datasets, params)
    final = ended_runs(specs, store)
    todo = [spec for spec in specs if spec.run_id not in final]
    console.print(f"{len(specs)} runs in {root}: {len(final)} already finished or diverged, {len(todo)} to run "
                  f"on the {args.backend} backend")
    for warning in other_builds(store, [spec for spec in specs if spec.run_id in final], todo):
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    outcomes: dict[str, runner.Outcome] = {}
    if todo:
        device = args.device
        if args.backend == "ray" and (args.gpus_per_run or 0) > 0:
            device = "cuda"
        command = driver_command(argv)
        context = runner.RunContext(str(root), device, command, str(get_dataset_path()), track, tracking.wandb_mode())
        backend = make_backend(args, context)
        try:
            with GridDisplay(console, todo, root) as display:
                on_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
                group = args.group_seeds == "on" or (args.group_seeds == "auto" and on_cuda)
                outcomes = run_grid(todo, backend, store, args.max_attempts, display, group_seeds=group)
        except KeyboardInterrupt:
            console.print("interrupted: unfinished runs keep their checkpoints; rerun the same command to resume")
            return 130
    outcomes = settle_elsewhere(outcomes, store)
    counts = Counter(outcome.state + (" by another process" if outcome.elsewhere else "")
                     for outcome in outcomes.values())
    console.print("summary: " + (", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing run")
                  + f"; {len(final)} skipped as already done")
    bad = [outcome for outcome in outcomes.values() if outcome.state not in runner.FINAL_STATES]
    for outcome in bad:
        if outcome.state == "busy":
            console.print(f"  still being trained by another process: {outcome.run_id}; rerun this command once it "
                          "is done to collect it")
            continue
        console.print(f"  {outcome.state}: {outcome.run_id}: {escape(str(outcome.error))} (details: "
                      f"{store.run_dir(outcome.run_id) / 'status.json'})")
    healthy = not bad and not unavailable
    if not args.no_leaderboard and any(not outcome.elsewhere for outcome in outcomes.values()):
        out = args.leaderboard_out or (root / "leaderboard" / "README.md" if grid.suite.test_data else DEFAULT_OUT)
        healthy = regenerate_leaderboard(root, out, args.reps, console) and healthy
    elif not args.no_leaderboard:
        console.print("leaderboard: not regenerated, no run record changed (`python -m leaderboard` regenerates it)")
    missing = list(dict.fromkeys(error.build_id for error in unavailable if error.build_id))
    if missing and not args.build_missing:
        console.print(missing_summary(missing, driver_command(argv)), markup=False)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
