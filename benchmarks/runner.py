"""One run of the benchmark harness: train, evaluate and checkpoint, resuming from the latest checkpoint.

A run's folder in the results store (``<root>/runs/<run_id>/``) holds::

    evaluations.csv, provenance.json, status.json    the store's files (see benchmarks.store)
    checkpoints/step_0010000.zip ...                 every checkpoint, kept (JSON + safetensors, with optimizer state)
    checkpoints/latest.zip                           the newest checkpoint (a hard link to it, or a copy)
    train_log.jsonl                                  training statistics (losses, Q/V means) every log interval,
                                                     and the sranks of policy and Q features at every checkpoint
    events.out.tfevents.*                            the same statistics and every evaluation for TensorBoard
                                                     (with the ``tensorboard`` tracker; see benchmarks.tracking)
    wandb/                                           the run's Weights & Biases files (with the ``wandb`` tracker)
    .lock                                            locked (flock) by the process training the run

At a step that is both an evaluation and a checkpoint step, the evaluation is stored first, so a checkpoint never
exists without the evaluations up to its step. A run killed at any point resumes from ``latest.zip`` (falling back to
older checkpoints if that one is unreadable) with ``learn(remaining, reset_num_timesteps=False)``, which continues
bit-for-bit on CPU; evaluations after the checkpoint are dropped when the attempt starts and recomputed (the same
numbers; a run whose checkpoints were lost starts over from step 0 with none, even on another build of its dataset).
Failures end in the store's status: ``diverged`` for `TrainingDivergedError`, ``failed`` with the traceback for any
other exception. Everything here runs inside a worker (a local process or a Ray task); `execute_run` is its entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger

from benchmarks import tracking
from benchmarks.store import TRAIN_LOG, EvalRecord, ResultsStore, atomic_write_text, collect_provenance
from benchmarks.suites import RunSpec, agent_class
from iqlzoo.agents.base import TrainingDivergedError
from iqlzoo.atomic import atomic_link, file_lock
from iqlzoo.checkpoint import CheckpointError
from iqlzoo.data.minari import from_minari
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.diagnostics import SrankCallback
from iqlzoo.evaluation import evaluate

#: States after which a run is never trained again by the harness.
FINAL_STATES: tuple[str, ...] = ("finished", "diverged")
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.zip"
LOCK_FILE = ".lock"
#: Evaluation episode i of a run with seed s is reset with seed EVAL_SEED_BASE + 1000 * s + i.
EVAL_SEED_BASE = 1_000_000
#: Seconds between two progress reports of a run.
REPORT_INTERVAL_S = 1.0
#: Characters of a traceback kept in status.json.
ERROR_CHARS = 4000
#: Seconds a worker waits for a run's lock before reporting the run as busy.
LOCK_WAIT_S = 15.0


@dataclass(frozen=True)
class Progress:
    """A run reached `step` of `total`; `score` is its latest evaluation (normalised score, else mean return)."""

    run_id: str
    step: int
    total: int
    score: float | None = None
    evaluated: bool = False


@dataclass(frozen=True)
class Outcome:
    """How a run attempt ended: finished | diverged | failed | killed (the worker died) | busy (another process
    holds the run's lock). `error` is a one-line summary (the store keeps the traceback)."""

    run_id: str
    state: str
    step: int
    error: str | None = None
    score: float | None = None
    elsewhere: bool = False
    """Another process trained this run (or holds it now): this attempt only found it finished or locked."""


@dataclass(frozen=True)
class RunContext:
    """Where and how workers run: the results store `root`, the torch `device`, the driver's command line, the
    Minari store the driver resolved the datasets in (None: the worker's own ``MINARI_DATASETS_PATH`` or default),
    the experiment trackers every run writes to (`benchmarks.tracking.TRACKERS`) and the W&B mode for ``wandb``."""

    root: str
    device: str = "cpu"
    command: tuple[str, ...] = field(default_factory=tuple)
    minari_root: str | None = None
    track: tuple[str, ...] = ()
    wandb_mode: str = "offline"


Reporter = Callable[[Progress], None]


def checkpoint_name(step: int) -> str:
    """``step_0001000.zip`` for step 1000 (7 digits: a million steps)."""
    return f"step_{step:07d}.zip"


def checkpoint_step(path: Path) -> int | None:
    """The step of a ``step_*.zip`` checkpoint, or None for other names."""
    stem = path.name.removesuffix(".zip")
    if path.suffix != ".zip" or not stem.startswith("step_") or not stem[5:].isdigit():
        return None
    return int(stem[5:])


def completed_steps(run_dir: Path) -> int:
    """The step of a run's newest checkpoint (0 without one), read from the file names only."""
    steps = [checkpoint_step(path) for path in (run_dir / CHECKPOINT_DIR).glob("step_*.zip")]
    return max((step for step in steps if step is not None), default=0)


def dataset_fingerprint(data: TransitionDataset) -> str:
    """16 hex digits of SHA-256 over a TransitionDataset's arrays (shape, dtype and bytes): equal data, equal hash."""
    digest = hashlib.sha256()
    for array in (data.observations, data.actions, data.rewards, data.next_observations, data.terminations):
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype}{contiguous.shape}".encode())
        digest.update(contiguous)
    return digest.hexdigest()[:16]


def _link_latest(source: Path, latest: Path) -> None:
    """Point `latest` at `source` atomically and durably: a hard link (a copy where links are unsupported) flushed to
    disk and moved into place (:func:`iqlzoo.atomic.atomic_link`)."""
    atomic_link(source, latest)


@contextlib.contextmanager
def _exclusive(run_dir: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[bool]:
    """Hold the run's lock file while the block runs; yields False when another process still holds it after
    `wait_s` seconds (a worker of a killed driver stops within about a second; another driver keeps it).

    The operating system releases the lock when its holder dies, even by SIGKILL, so a lock never goes stale.
    """
    with file_lock(run_dir / LOCK_FILE, wait_s=wait_s) as owned:
        yield owned


class _TrainLog(KVWriter):
    """An SB3 logger output that appends each dump to `path` as one JSON line {"step": ..., "<key>": value}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        row = {"step": step, **{k: v for k, v in key_values.items() if isinstance(v, (int, float))}}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def close(self) -> None:
        """Nothing stays open between writes."""


def _truncate_train_log(path: Path, step: int) -> None:
    """Keep the lines of steps <= `step` (the resumed checkpoint), dropping what the killed attempt logged after."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line + "\n")
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by the kill
    atomic_write_text(path, "".join(kept))


class _Run:
    """The state of one attempt at a run inside its worker."""

    def __init__(self, spec: RunSpec, store: ResultsStore, context: RunContext, report: Reporter) -> None:
        self.spec = spec
        self.store = store
        self.context = context
        self.report = report
        self.run_dir = store.run_dir(spec.run_id)
        self.ckpt_dir = self.run_dir / CHECKPOINT_DIR
        self.step = 0
        self.score: float | None = None
        self.wall_offset = 0.0
        self.started = time.perf_counter()
        self.last_report = -math.inf
        self.model: Any = None
        self.data: Any = None
        self.dataset_hash = ""
        #: run ids trained together with this one as one multi-seed model (empty when trained alone)
        self.seed_group: tuple[str, ...] = ()
        #: logger outputs of the context's experiment trackers, open while the run trains
        self.trackers: list[KVWriter] = []

    def prepare(self, data: TransitionDataset | None = None, dataset_hash: str | None = None) -> Any:
        """Load the data (unless given), resume or create the agent, record provenance; returns the agent."""
        self.load(data, dataset_hash)
        return self.begin()

    def load(self, data: TransitionDataset | None = None, dataset_hash: str | None = None) -> Any:
        """`prepare`'s first half, which writes nothing: the data (unless given) and the resumed or new agent."""
        spec = self.spec
        self.data = data if data is not None else from_minari(spec.dataset_id, download=False)
        self.dataset_hash = dataset_hash or dataset_fingerprint(self.data)
        self.model = self._resume() or agent_class(spec.agent)(
            "MlpPolicy", self.data, seed=spec.seed, device=self.context.device, **dict(spec.config)
        )
        self.step = self.model.num_timesteps
        return self.model

    def begin(self) -> Any:
        """`prepare`'s second half, once the agent is loaded: record the attempt, cut the records back to its step."""
        spec = self.spec
        self._record_provenance()
        _truncate_train_log(self.run_dir / TRAIN_LOG, self.step)
        self.store.truncate(spec.run_id, self.step)
        self.report(Progress(spec.run_id, self.step, spec.protocol.steps))
        return self.model

    def execute(self, until: int | None = None) -> None:
        """Train to the budget, or only to step `until` (below the budget: no final evaluation)."""
        spec, protocol = self.spec, self.spec.protocol
        end = protocol.steps if until is None else min(until, protocol.steps)
        self.prepare()
        self.open_trackers()
        try:
            self.model.set_logger(Logger(None, self.log_outputs()))
            if self.step < end:
                sranks = SrankCallback(every=protocol.checkpoint_every, seed=spec.seed)
                self.model.learn(  # to the budget, stopped at `end`: schedules (the actor's cosine) span the budget
                    protocol.steps - self.step,
                    callback=[_RunCallback(self), sranks, _StopAt(end)],
                    log_interval=min(1000, protocol.eval_every),
                    reset_num_timesteps=False,
                )
            elif end == protocol.steps and protocol.steps not in set(self.store.read_run(spec.run_id)["step"]):
                self.evaluate(self.step)
        finally:
            self.close_trackers()

    def log_outputs(self) -> list[KVWriter]:
        """Where the run's training statistics go: its train log and its trackers."""
        return [_TrainLog(self.run_dir / TRAIN_LOG), *self.trackers]

    def open_trackers(self) -> None:
        """Open the context's trackers for this run (after `prepare`: W&B's config is the run's provenance)."""
        provenance = self.store.read_provenance(self.spec.run_id) or {}
        config = {key: value for key, value in provenance.items() if key != "attempts"}
        self.trackers = tracking.open_trackers(
            self.context.track, self.run_dir, self.spec.run_id, seed_group_name(self.spec), config,
            self.context.wandb_mode,
        )

    def close_trackers(self) -> None:
        for writer in self.trackers:
            writer.close()
        self.trackers = []

    def _resume(self) -> Any:
        """The agent of the newest readable checkpoint, with the wall time already spent; None without one."""
        candidates = [self.ckpt_dir / LATEST]
        candidates += sorted(self.ckpt_dir.glob("step_*.zip"), key=lambda p: checkpoint_step(p) or -1, reverse=True)
        for path in candidates:
            if not path.is_file():
                continue
            try:
                model = agent_class(self.spec.agent).load(path, device=self.context.device, dataset=self.data)
            except CheckpointError as error:
                print(f"{self.spec.run_id}: skipping unreadable checkpoint {path.name}: {error}", file=sys.stderr)
                continue
            records = self.store.read_run(self.spec.run_id)
            done = records[records["step"] <= model.num_timesteps]
            self.wall_offset = float(done["wall_time_s"].max()) if len(done) else 0.0
            return model
        return None

    def _record_provenance(self) -> None:
        """Write provenance on the first attempt; on later ones check the data is unchanged and log the attempt."""
        attempt = {
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "from_step": self.step,
            "host": socket.gethostname(),
            "device": self.context.device,
        }
        if self.seed_group:
            attempt["seed_group"] = list(self.seed_group)
        provenance = self.store.read_provenance(self.spec.run_id)
        if provenance is None or self.step == 0:
            earlier = [] if provenance is None else provenance.get("attempts", [])
            provenance = {
                **collect_provenance(self.context.command or None),
                "run": self.spec.to_json(),
                "dataset": {
                    "id": self.spec.dataset_id,
                    "source": self.spec.data_source,
                    "hash": self.dataset_hash,
                    "transitions": len(self.data),
                },
                "agent_config": self.model.config.to_json(),
                "attempts": earlier,
            }
        elif provenance.get("dataset", {}).get("hash") != self.dataset_hash:
            raise RuntimeError(
                f"run {self.spec.run_id} was trained on {self.spec.dataset_id} with hash "
                f"{provenance.get('dataset', {}).get('hash')}, but that dataset now has hash {self.dataset_hash}: "
                f"it changed (rebuilt?) since the run started. Restore the data or delete {self.run_dir} to retrain."
            )
        provenance["attempts"] = [*provenance.get("attempts", []), attempt]
        self.store.write_provenance(self.spec.run_id, provenance)

    def on_step(self, step: int) -> None:
        """Evaluate, checkpoint and report at the protocol's steps (called after every gradient step)."""
        self.step = step
        protocol = self.spec.protocol
        if protocol.evaluates_at(step):
            self.evaluate(step)
        if protocol.checkpoints_at(step):
            path = self.model.save(self.ckpt_dir / checkpoint_name(step))
            _link_latest(path, self.ckpt_dir / LATEST)
        if time.perf_counter() - self.last_report >= REPORT_INTERVAL_S:
            self.last_report = time.perf_counter()
            self.report(Progress(self.spec.run_id, step, protocol.steps, self.score))

    def evaluate(self, step: int) -> None:
        """Roll out the policy and append the evaluation record of `step` to the store."""
        self.model.check_divergence()  # learn() checks only every log interval: never score a diverged policy
        spec = self.spec
        result = evaluate(
            self.model, self.data, n_episodes=spec.protocol.eval_episodes, seed=EVAL_SEED_BASE + 1000 * spec.seed
        )
        score, success = result.normalized_score, result.success_rate
        self.store.append(
            EvalRecord(
                run_id=spec.run_id,
                agent=spec.label,
                config_hash=spec.config_hash,
                dataset_id=spec.dataset_id,
                dataset_hash=self.dataset_hash,
                data_source=spec.data_source,
                suite=spec.suite,
                budget=spec.protocol.steps,
                seed=spec.seed,
                step=step,
                return_mean=result.mean_return,
                return_std=result.std_return,
                normalized_score=math.nan if score is None else score,
                success_rate=math.nan if success is None else success,
                n_episodes=result.n_episodes,
                wall_time_s=self.wall_offset + time.perf_counter() - self.started,
            )
        )
        self.score = result.mean_return if score is None else score
        metrics = {"eval/return_mean": result.mean_return, "eval/return_std": result.std_return,
                   "eval/normalized_score": score, "eval/success_rate": success}
        tracking.write_values(self.trackers, {k: v for k, v in metrics.items() if v is not None}, step)
        self.report(Progress(spec.run_id, step, spec.protocol.steps, self.score, evaluated=True))


class _RunCallback(BaseCallback):
    """Hands every gradient step to `_Run.on_step`."""

    def __init__(self, run: _Run) -> None:
        super().__init__()
        self.run = run

    def _on_step(self) -> bool:
        self.run.on_step(self.num_timesteps)
        return True


class _StopAt(BaseCallback):
    """Stops training once step `step` is done."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        return self.num_timesteps < self.step


def execute_run(spec: RunSpec, context: RunContext, report: Reporter = lambda progress: None) -> Outcome:
    """Train `spec` to its budget in this process, resuming from its latest checkpoint; never raises for a failed
    run (the `Outcome` and the store's status say what happened), only for interrupts (KeyboardInterrupt)."""
    if context.minari_root is not None:
        os.environ["MINARI_DATASETS_PATH"] = context.minari_root
    store = ResultsStore(context.root)
    with _exclusive(store.run_dir(spec.run_id)) as owned:
        if not owned:
            return Outcome(spec.run_id, "busy", 0, "another process is training this run", elsewhere=True)
        return _execute_locked(spec, store, context, report)


def ended_outcome(run_id: str, store: ResultsStore) -> Outcome | None:
    """The outcome of a run that has ended (finished or diverged) in `store`, else None: the one rule for "this run
    needs no more training", which a rerun skips, a busy lock settles on and a missing dataset is excused by."""
    status = store.read_status(run_id)
    if status is not None and status.state in FINAL_STATES:
        return Outcome(run_id, status.state, completed_steps(store.run_dir(run_id)), status.error, elsewhere=True)
    return None


def _execute_locked(
    spec: RunSpec, store: ResultsStore, context: RunContext, report: Reporter, until: int | None = None
) -> Outcome:
    """`execute_run` once the run's lock is held; with `until` below the budget, train only to that step and leave
    the run ``running`` (a ``running`` outcome) unless it diverged or failed."""
    final = ended_outcome(spec.run_id, store)
    if final is not None:
        return final
    store.set_status(spec.run_id, "running")
    run = _Run(spec, store, context, report)
    try:
        run.execute(until)
        if until is not None and until < spec.protocol.steps:
            return Outcome(spec.run_id, "running", run.model.num_timesteps, None, run.score)
    except TrainingDivergedError as error:
        store.set_status(spec.run_id, "diverged", str(error))
        return Outcome(spec.run_id, "diverged", error.step, str(error), run.score)
    except Exception as error:
        store.set_status(spec.run_id, "failed", traceback.format_exc()[-ERROR_CHARS:])
        return Outcome(spec.run_id, "failed", run.step, f"{type(error).__name__}: {error}", run.score)
    store.set_status(spec.run_id, "finished")
    return Outcome(spec.run_id, "finished", spec.protocol.steps, None, run.score)


def seed_group_key(spec: RunSpec) -> str:
    """Runs with equal keys differ only in their seed, so they can train as one multi-seed model."""
    return seed_group_key_of_entry(spec.to_json())


def seed_group_key_of_entry(run: dict[str, Any]) -> str:
    """`seed_group_key` of a run entry as provenance stores it (``RunSpec.to_json``)."""
    return json.dumps({**run, "seed": None, "run_id": None}, sort_keys=True, default=str)


def seed_group_name(spec: RunSpec) -> str:
    """A readable name shared by the runs that differ only in their seed (their W&B group): the run id without its
    seed, ending in 8 hex digits of `seed_group_key` instead of the run's own digest."""
    readable = spec.run_id.rsplit(".", 1)[0].replace(f".seed{spec.seed}.", ".", 1)
    return f"{readable}.{hashlib.sha256(seed_group_key(spec).encode()).hexdigest()[:8]}"


def execute_task(
    specs: Sequence[RunSpec], context: RunContext, report: Reporter = lambda progress: None
) -> list[Outcome]:
    """A worker's unit of work: one run (`execute_run`) or a seed group (`execute_group`); one outcome per run."""
    if len(specs) == 1:
        return [execute_run(specs[0], context, report)]
    return execute_group(specs, context, report)


class _GroupTrainLog(KVWriter):
    """Every member's own row of the multi-seed model's statistics, written to that member's outputs (its train log
    and trackers): the model logs agent k's means as ``agent<k>/train/<stat>`` (see `IQL._dump_logs`), which replace
    the group means for member k; shared values (learning rate, updates/s) are written to every member."""

    _AGENT_KEY = re.compile(r"agent(\d+)/(.+)")

    def __init__(self, members: Sequence[Sequence[KVWriter]]) -> None:
        self.members = [list(outputs) for outputs in members]

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        shared: dict[str, Any] = {}
        own: dict[int, dict[str, Any]] = {k: {} for k in range(len(self.members))}
        for key, value in key_values.items():
            if not isinstance(value, (int, float)):
                continue
            match = self._AGENT_KEY.fullmatch(key)
            if match is None:
                shared[key] = value
            elif int(match.group(1)) in own:
                own[int(match.group(1))][match.group(2)] = value
        for k, outputs in enumerate(self.members):
            tracking.write_values(outputs, {**shared, **own[k], "seed_group_size": len(self.members)}, step)

    def close(self) -> None:
        """The members' outputs are closed by their runs."""


class _GroupCallback(BaseCallback):
    """Hands every gradient step of a multi-seed model to its members: agent k is evaluated, checkpointed (as an
    ordinary single agent) and srank-measured exactly when a run trained alone would be."""

    def __init__(self, runs: Sequence[_Run]) -> None:
        super().__init__()
        self.runs = list(runs)
        self.sranks = [SrankCallback(every=run.spec.protocol.checkpoint_every, seed=run.spec.seed) for run in runs]

    def _on_step(self) -> bool:
        step = self.num_timesteps
        protocol = self.runs[0].spec.protocol
        due = protocol.evaluates_at(step) or protocol.checkpoints_at(step)
        if due:
            self.model.check_divergence()  # one diverged agent sends every member back to training alone
        for k, (run, sranks) in enumerate(zip(self.runs, self.sranks)):
            if due:
                run.model = self.model.agent(k)  # a fresh single-agent copy for the member's evaluation/checkpoint
            if step % sranks.every == 0:
                tracking.write_values(run.log_outputs(), sranks.measure(run.model), step)
            run.on_step(step)
        return True


def execute_group(
    specs: Sequence[RunSpec], context: RunContext, report: Reporter = lambda progress: None
) -> list[Outcome]:
    """Train runs that differ only in their seed as one multi-seed model (`IQL.stack` of each run's resumed or
    fresh agent); every member keeps its own records, checkpoints and status, identical in form to a run trained
    alone (and equal in value up to float reassociation in batched matmuls).

    Members whose lock another process holds are reported busy; finished ones are skipped. Members that stand at
    different steps (one that joined late, or a kill between two members' checkpoint writes) first bring the ones
    behind to the step of the one ahead, each alone, then train together from there. The group falls back to
    training its members one after another when any agent diverges — so a divergence is recorded against the seed
    that diverged. Any other exception fails every member (the driver retries them alone).
    """
    if len({seed_group_key(spec) for spec in specs}) != 1 or len({spec.seed for spec in specs}) != len(specs):
        raise ValueError("a seed group holds runs that differ only in their (distinct) seeds")
    if context.minari_root is not None:
        os.environ["MINARI_DATASETS_PATH"] = context.minari_root
    store = ResultsStore(context.root)
    outcomes: dict[str, Outcome] = {}
    with contextlib.ExitStack() as locks:
        members = []
        for spec in specs:
            if not locks.enter_context(_exclusive(store.run_dir(spec.run_id))):
                outcomes[spec.run_id] = Outcome(spec.run_id, "busy", 0, "another process is training this run",
                                                elsewhere=True)
            elif (final := ended_outcome(spec.run_id, store)) is not None:
                outcomes[spec.run_id] = final
            else:
                members.append(spec)
        if len(members) == 1:
            outcomes[members[0].run_id] = _execute_locked(members[0], store, context, report)
        elif members:
            outcomes.update(_train_group(members, store, context, report))
    return [outcomes[spec.run_id] for spec in specs]


def _train_group(
    specs: Sequence[RunSpec], store: ResultsStore, context: RunContext, report: Reporter, caught_up: bool = False
) -> dict[str, Outcome]:
    """`execute_group` for members whose locks are held and which are not finished (`caught_up`: the members behind
    were just brought to the step of the one ahead; never catch up twice)."""
    alone = {spec.run_id: spec for spec in specs}
    runs = [_Run(spec, store, context, report) for spec in specs]
    for run in runs:
        store.set_status(run.spec.run_id, "running")
        run.seed_group = tuple(spec.run_id for spec in specs)
    try:
        data = from_minari(specs[0].dataset_id, download=False)
        fingerprint = dataset_fingerprint(data)
        agents = [run.load(data, fingerprint) for run in runs]
        protocol = specs[0].protocol
        steps = [agent.num_timesteps for agent in agents]
        step = max(steps)
        if min(steps) < step < protocol.steps and not caught_up:
            agents.clear()
            for run in runs:
                run.model = None  # free the members loaded at the old steps while the ones behind train
            for spec, at in zip(specs, steps):
                if at < step and _execute_locked(spec, store, context, report, until=step).state != "running":
                    break  # diverged or failed alone: every member trains alone below
            else:
                return _train_group(specs, store, context, report, caught_up=True)
        if min(steps) != step or step >= protocol.steps:
            return {spec.run_id: _execute_locked(spec, store, context, report) for spec in alone.values()}
        for run in runs:
            run.begin()
        multi = type(agents[0]).stack(agents)
        try:
            for run in runs:
                run.open_trackers()
            multi.set_logger(Logger(None, [_GroupTrainLog([run.log_outputs() for run in runs])]))
            multi.learn(
                protocol.steps - step,
                callback=[_GroupCallback(runs)],
                log_interval=min(1000, protocol.eval_every),
                reset_num_timesteps=False,
            )
        finally:  # before any member trains alone (below), which opens its trackers anew
            for run in runs:
                run.close_trackers()
    except TrainingDivergedError:
        return {spec.run_id: _execute_locked(spec, store, context, report) for spec in alone.values()}
    except Exception as error:
        text = traceback.format_exc()[-ERROR_CHARS:]
        outcomes = {}
        for run in runs:
            store.set_status(run.spec.run_id, "failed", text)
            summary = f"{type(error).__name__}: {error}"
            outcomes[run.spec.run_id] = Outcome(run.spec.run_id, "failed", run.step, summary, run.score)
        return outcomes
    outcomes = {}
    for run in runs:
        store.set_status(run.spec.run_id, "finished")
        outcomes[run.spec.run_id] = Outcome(run.spec.run_id, "finished", protocol.steps, None, run.score)
    return outcomes
