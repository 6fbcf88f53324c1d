"""The results store: one tidy table of evaluation records, kept as one folder per run.

Layout under a results root::

    runs/<run_id>/evaluations.csv   one row per evaluation of the run (columns: `COLUMNS`), sorted by step
    runs/<run_id>/provenance.json   what produced the run (`collect_provenance`)
    runs/<run_id>/status.json       pending | running | finished | failed | diverged, attempts, error text
    runs/<run_id>/train_log.jsonl   training statistics, one JSON object per log interval (`benchmarks.runner`)

Each run has its own files, so concurrent workers never write the same file as long as each run has one worker.
Every write goes to a temporary file in the destination folder and is moved into place with `os.replace`, so a
reader (or a crash) never sees a half-written file. Appending an evaluation rewrites the run's CSV that way.

Duplicates: a record whose (run_id, step) is already stored *replaces* the stored row (the latest evaluation of a
step wins), so a resumed run that re-evaluates a step never duplicates it, and re-appending the same record is a
no-op.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import numbers
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import pandas as pd

from iqlzoo.atomic import atomic_write as durable_write
from iqlzoo.machine import cpu_model

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The committed results store and the leaderboard generated from it: `benchmarks.run` writes the one, `python -m
#: leaderboard` the other; every default path of the harness and the generator comes from here.
DEFAULT_RESULTS = REPO_ROOT / "results"
DEFAULT_LEADERBOARD = REPO_ROOT / "leaderboard" / "README.md"

#: Columns that describe the run rather than one evaluation: equal on every row of a run.
RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "agent",
    "config_hash",
    "dataset_id",
    "dataset_hash",
    "data_source",
    "suite",
    "budget",
    "seed",
)
DATA_SOURCES: tuple[str, ...] = ("official", "regenerated", "toy")
RUN_STATES: tuple[str, ...] = ("pending", "running", "finished", "failed", "diverged")
#: States that must carry error text.
ERROR_STATES: tuple[str, ...] = ("failed", "diverged")
#: Distributions whose versions `collect_provenance` records.
PROVENANCE_PACKAGES: tuple[str, ...] = (
    "iqlzoo",
    "torch",
    "numpy",
    "gymnasium",
    "gymnasium_robotics",
    "mujoco",
    "minari",
    "stable_baselines3",
    "rliable",
)
EVALUATIONS_FILE = "evaluations.csv"
PROVENANCE_FILE = "provenance.json"
STATUS_FILE = "status.json"
TRAIN_LOG = "train_log.jsonl"
#: A results root holding a file of this name contains test data, never to be published as measurements.
TEST_DATA_MARKER = "TEST_DATA.md"
_RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_DTYPES: dict[str, str] = {"str": "object", "int": "int64", "float": "float64"}


def build_label(dataset_hash: str) -> str:
    """The short name of a dataset build: the first 8 hex digits of its content hash (`dataset_hash`)."""
    return dataset_hash[:8]


class ResultsFormatError(ValueError):
    """A file in the results store is malformed or is not a file this store wrote."""


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation of one run: the policy after `step` updates, rolled out for `n_episodes` episodes.

    `normalized_score` is on the D4RL x100 scale, 100 * (return - random) / (expert - random), and NaN when the
    dataset has no reference scores; `success_rate` is the fraction of episodes that reached the goal, and NaN for
    tasks without a goal. `budget` is the number of updates the run is meant to train for.
    """

    run_id: str
    agent: str
    config_hash: str
    dataset_id: str
    dataset_hash: str
    data_source: str
    suite: str
    budget: int
    seed: int
    step: int
    return_mean: float
    return_std: float
    normalized_score: float
    success_rate: float
    n_episodes: int
    wall_time_s: float

    def __post_init__(self) -> None:
        for name, kind in SCHEMA.items():
            value = getattr(self, name)
            if kind == "str" and (not isinstance(value, str) or not value):
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise ValueError(f"{name} must be an int, got {value!r}")
            if kind == "float" and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise ValueError(f"{name} must be a float, got {value!r}")
        check_run_id(self.run_id)
        if self.data_source not in DATA_SOURCES:
            raise ValueError(f"data_source must be one of {DATA_SOURCES}, got {self.data_source!r}")
        if self.budget <= 0 or self.seed < 0 or not 0 <= self.step <= self.budget:
            raise ValueError(f"need budget > 0, seed >= 0 and 0 <= step <= budget, got {self.budget=}, "
                             f"{self.seed=}, {self.step=}")
        if self.n_episodes < 1:
            raise ValueError(f"n_episodes must be >= 1, got {self.n_episodes}")
        if not (math.isfinite(self.return_mean) and math.isfinite(self.return_std) and self.return_std >= 0):
            raise ValueError(f"return_mean and return_std must be finite with return_std >= 0, got "
                             f"{self.return_mean=}, {self.return_std=}")
        if math.isinf(self.normalized_score):
            raise ValueError("normalized_score must be finite or NaN (no reference scores)")
        if not (math.isnan(self.success_rate) or 0.0 <= self.success_rate <= 1.0):
            raise ValueError(f"success_rate must be in [0, 1] or NaN (no goal), got {self.success_rate}")
        if not (math.isfinite(self.wall_time_s) and self.wall_time_s >= 0):
            raise ValueError(f"wall_time_s must be finite and >= 0, got {self.wall_time_s}")


#: Column name -> kind ("str", "int" or "float") of an evaluation record, in file order: `EvalRecord`'s fields.
SCHEMA: dict[str, str] = {field.name: str(field.type) for field in dataclasses.fields(EvalRecord)}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands. `attempts` counts how many times the run was set running (started or resumed)."""

    state: str
    attempts: int = 0
    error: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class RunIdentity:
    """Who a stored run is, as the "run" entry of its provenance (`RunSpec.to_json()`) records it: `label` trained
    on `dataset_id` with `seed` for `steps` steps, in the store suite `suite`, with the agent configuration
    `config`."""

    label: str
    dataset_id: str
    suite: str
    seed: int
    steps: int
    config: Mapping[str, Any]

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any] | None) -> RunIdentity | None:
        """The identity in `provenance` (a run's provenance.json); None when it has no readable "run" entry.
        Provenance from before labels were recorded names the agent class instead."""
        run = (provenance or {}).get("run")
        if not isinstance(run, Mapping):
            return None
        try:
            config = run.get("config") or {}
            return cls(label=str(run.get("label") or run["agent"]), dataset_id=str(run["dataset_id"]),
                       suite=str(run["suite"]), seed=int(run["seed"]), steps=int(run["protocol"]["steps"]),
                       config=config if isinstance(config, Mapping) else {})
        except (KeyError, TypeError, ValueError):
            return None


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is usable as a folder name (letters, digits, `._+-`, not starting with a dot)."""
    if not isinstance(run_id, str) or not _RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(f"run_id must match {_RUN_ID_PATTERN.pattern!r}, got {run_id!r}")
    return run_id


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write `path` through `write(file)` so that it either keeps its old content or holds the complete new one.

    The bytes go to a temporary file in the same folder, which is flushed and fsynced, moved over `path` with
    `os.replace`, and the folder fsynced (`iqlzoo.atomic.atomic_write`); if `write` raises, the temporary file is
    removed and `path` is untouched, and temporary files of writers that were killed are removed on the next write.
    """
    durable_write(path, write, mode=0o644)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data` (see `atomic_write`)."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically replace `path` with `text` encoded as UTF-8 (see `atomic_write`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def copy_present(source: Path, target: Path, names: Sequence[str]) -> None:
    """Copy those of the files `names` that `source` holds into `target` (made if missing), byte for byte (not their
    permissions: a read-only source still gives writable copies)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a run's training log (`TRAIN_LOG`) in file order: its lines that are JSON objects with an integer
    "step"; other lines (one cut short by a kill) are skipped."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            entries.append(entry)
    return entries


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultsFormatError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(payload, dict):
        raise ResultsFormatError(f"{path}: expected a JSON object, got {type(payload).__name__}")
    return payload


def empty_frame() -> pd.DataFrame:
    """An evaluation table with no rows and the store's columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=_DTYPES[kind]) for name, kind in SCHEMA.items()})


def read_evaluations(path: Path) -> pd.DataFrame:
    """Read and validate one run's `evaluations.csv`.

    Raises `ResultsFormatError` naming the file when it is empty, lacks columns of `COLUMNS` or has others,
    holds a value of the wrong type, a row that breaks `EvalRecord`'s rules, a repeated step, or a run_id that is
    not the name of its folder.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError as error:
        raise ResultsFormatError(f"{path}: empty file, expected a CSV with columns {list(COLUMNS)}") from error
    missing = [name for name in COLUMNS if name not in raw.columns]
    unexpected = [name for name in raw.columns if name not in SCHEMA]
    if missing or unexpected:
        raise ResultsFormatError(
            f"{path}: not an evaluations file of this store: missing columns {missing}, unexpected columns "
            f"{unexpected}; expected {list(COLUMNS)}"
        )
    frame = raw[list(COLUMNS)].copy()
    for name, kind in SCHEMA.items():
        if kind == "str":
            continue
        try:
            frame[name] = frame[name].astype(_DTYPES[kind])
        except (TypeError, ValueError) as error:
            raise ResultsFormatError(f"{path}: column {name!r} must hold {kind} values ({error})") from error
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        try:
            EvalRecord(*row)
        except ValueError as error:
            raise ResultsFormatError(f"{path}, line {line}: {error}") from error
    if frame["step"].duplicated().any():
        raise ResultsFormatError(f"{path}: repeated steps {sorted(set(frame['step'][frame['step'].duplicated()]))}")
    for name in RUN_COLUMNS:
        if frame[name].nunique() > 1:
            raise ResultsFormatError(f"{path}: column {name!r} differs between rows of one run")
    if len(frame) and frame["run_id"].iloc[0] != path.parent.name:
        raise ResultsFormatError(f"{path}: run_id {frame['run_id'].iloc[0]!r} is not its folder's name")
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


class ResultsStore:
    """A results root holding `runs/<run_id>/` folders (see the module docstring for the layout and rules)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def run_dir(self, run_id: str) -> Path:
        """The folder of `run_id` (not created)."""
        return self.root / "runs" / check_run_id(run_id)

    def run_ids(self) -> list[str]:
        """Ids of all runs with a folder in the store, sorted."""
        runs = self.root / "runs"
        if not runs.is_dir():
            return []
        return sorted(
            entry.name for entry in runs.iterdir() if entry.is_dir() and _RUN_ID_PATTERN.fullmatch(entry.name)
        )

    def read_run(self, run_id: str) -> pd.DataFrame:
        """The validated evaluation records of one run, sorted by step (no rows when none are stored)."""
        path = self.run_dir(run_id) / EVALUATIONS_FILE
        return read_evaluations(path) if path.exists() else empty_frame()

    def append(self, record: EvalRecord) -> None:
        """Store `record`, replacing a stored record of the same step, by rewriting the run's CSV atomically.

        Raises `ValueError` if the record's run columns (agent, dataset, seed, ...) differ from the stored ones.
        """
        stored = self.read_run(record.run_id)
        new_row = pd.DataFrame([dataclasses.asdict(record)], columns=list(COLUMNS)).astype(
            {name: _DTYPES[kind] for name, kind in SCHEMA.items()}
        )
        if len(stored):
            first = stored.iloc[0]
            changed = [name for name in RUN_COLUMNS if first[name] != getattr(record, name)]
            if changed:
                raise ValueError(f"run {record.run_id}: record differs from the stored run in {changed}")
            stored = stored[stored["step"] != record.step]
            frame = pd.concat([stored, new_row], ignore_index=True)
        else:
            frame = new_row
        self._write_run(record.run_id, frame.sort_values("step", kind="stable"))

    def truncate(self, run_id: str, step: int) -> None:
        """Drop the run's records of steps after `step` (an attempt restarting from there recomputes them, possibly
        on another build of the dataset, whose records `append` would refuse beside these)."""
        stored = self.read_run(run_id)
        if (stored["step"] > step).any():
            self._write_run(run_id, stored[stored["step"] <= step])

    def _write_run(self, run_id: str, frame: pd.DataFrame) -> None:
        """Replace the run's evaluations with `frame` (sorted by step), atomically."""
        atomic_write(
            self.run_dir(run_id) / EVALUATIONS_FILE,
            lambda handle: frame.to_csv(handle, index=False, lineterminator="\n", na_rep="nan"),
        )

    def load(self) -> pd.DataFrame:
        """All evaluation records of the store as one validated table, sorted by run_id and step."""
        frames = [self.read_run(run_id) for run_id in self.run_ids()]
        frames = [frame for frame in frames if len(frame)]
        if not frames:
            return empty_frame()
        return pd.concat(frames, ignore_index=True)

    def write_provenance(self, run_id: str, provenance: Mapping[str, Any]) -> None:
        """Store `provenance` (a JSON-serialisable mapping, usually `collect_provenance()`) for a run."""
        _write_json(self.run_dir(run_id) / PROVENANCE_FILE, provenance)

    def read_provenance(self, run_id: str) -> dict[str, Any] | None:
        """The stored provenance of a run, or None when none was written."""
        path = self.run_dir(run_id) / PROVENANCE_FILE
        return _read_json(path) if path.exists() else None

    def set_status(self, run_id: str, state: str, error: str | None = None) -> RunStatus:
        """Record that `run_id` is now in `state`; setting "running" counts one more attempt.

        `error` is required for "failed" and "diverged" and refused for the other states.
        """
        if state not in RUN_STATES:
            raise ValueError(f"state must be one of {RUN_STATES}, got {state!r}")
        if (state in ERROR_STATES) != bool(error):
            raise ValueError(f"error text is required for states {ERROR_STATES} and only for them ({state=})")
        previous = self.read_status(run_id)
        attempts = (previous.attempts if previous else 0) + (state == "running")
        status = RunStatus(state, attempts, error, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        _write_json(self.run_dir(run_id) / STATUS_FILE, dataclasses.asdict(status))
        return status

    def read_status(self, run_id: str) -> RunStatus | None:
        """The stored status of a run, or None when none was written."""
        path = self.run_dir(run_id) / STATUS_FILE
        if not path.exists():
            return None
        payload = _read_json(path)
        fields = {field.name for field in dataclasses.fields(RunStatus)}
        if set(payload) != fields or payload["state"] not in RUN_STATES:
            raise ResultsFormatError(f"{path}: expected keys {sorted(fields)} with state in {RUN_STATES}")
        return RunStatus(**payload)


def load_results(root: str | os.PathLike[str]) -> pd.DataFrame:
    """All evaluation records under the results root `root` (see `ResultsStore.load`)."""
    return ResultsStore(root).load()


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(repo_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=repo_dir, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def collect_provenance(argv: Sequence[str] | None = None, repo_dir: Path | None = None) -> dict[str, Any]:
    """Describe what is producing a run: versions, code commit, machine and command line.

    Keys: `packages` (version of each of `PROVENANCE_PACKAGES`, "not installed" when missing), `git_commit` and
    `git_dirty` (tracked files modified; both None outside a git checkout or before the first commit), `python`,
    `platform`, `cpu_model`, `cpu_count`, `cpus_available` (this process's affinity), `niceness` (its scheduling
    priority: a run at 15, Ray's default for workers, gets a few percent of a core beside other work), `torch_threads`
    and `cuda_device` (None without torch or CUDA), `command` (shell-quoted `argv`, default `sys.argv`), `created_at`
    (UTC). `repo_dir` is the checkout to describe, by default the one holding this package.
    """
    repo_dir = Path(__file__).resolve().parents[1] if repo_dir is None else Path(repo_dir)
    commit = _git(repo_dir, "rev-parse", "HEAD")
    dirty = _git(repo_dir, "status", "--porcelain", "--untracked-files=no") if commit else None
    try:
        import torch
    except ImportError:
        torch_threads, cuda_device = None, None
    else:
        torch_threads = torch.get_num_threads()
        cuda_device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "packages": {name: _package_version(name) for name in PROVENANCE_PACKAGES},
        "git_commit": commit,
        "git_dirty": None if dirty is None else bool(dirty),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "niceness": os.nice(0) if hasattr(os, "nice") else None,
        "torch_threads": torch_threads,
        "cuda_device": cuda_device,
        "command": shlex.join(sys.argv if argv is None else argv),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
