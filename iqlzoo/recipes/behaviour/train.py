"""Resumable CPU training of the behaviour policies, and promotion of snapshots to shipped weights.

Train (resumes automatically from the newest checkpoint in ``--run-dir``)::

    python -m iqlzoo.recipes.behaviour.train halfcheetah --run-dir runs/behaviour/halfcheetah-s1 \\
        --total-steps 3000000 --seed 1
    python -m iqlzoo.recipes.behaviour.train ant-goal --run-dir runs/behaviour/ant_goal_v3 \\
        --total-steps 5000000 --seed 0

Run-dir layout: ``run.json`` (seed, original command, sessions), ``eval_log.jsonl`` (one line per evaluation),
``snapshots/step_XXXXXXX.{safetensors,json}`` (actor only, with card), ``checkpoints/`` (SB3 ``.zip`` + replay
buffer ``.pkl``; local resume files, newest kept). Every ``--portable-minutes`` a portable checkpoint without replay
buffer is written to ``--portable-dir/<task>.{safetensors,json}``; a run dir without checkpoints resumes from it
when its task and seed match, after refilling the replay buffer with ``--refill-steps`` steps of the current policy.
SIGTERM/SIGINT write a checkpoint before exiting.

Promote the snapshots whose evaluation best matches each level to ``iqlzoo/recipes/weights``::

    python -m iqlzoo.recipes.behaviour.train promote halfcheetah --run-dir runs/behaviour/halfcheetah-s1
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from iqlzoo.recipes.behaviour.export import load_portable, read_portable_meta, refill_replay_buffer, save_portable
from iqlzoo.recipes.behaviour.policy import WEIGHTS_DIR, BehaviourPolicy, load_behaviour_policy, write_json_atomic
from iqlzoo.recipes.behaviour.tasks import TaskSpec, get_task

EVAL_SEED = 10_000
PROMOTE_SEED = 20_000
PORTABLE_DIR = WEIGHTS_DIR / "resume"
TASK_NAMES = ("halfcheetah", "ant-goal")


def log(message: str) -> None:
    """Print a timestamped line (the training log is the process's stdout)."""
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}Z] {message}", flush=True)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All JSON lines of ``path`` (empty list when the file does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RunDir:
    """File layout of one training run (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.checkpoints = root / "checkpoints"
        self.snapshots = root / "snapshots"
        self.eval_log = root / "eval_log.jsonl"
        self.run_json = root / "run.json"
        for folder in (self.checkpoints, self.snapshots):
            folder.mkdir(parents=True, exist_ok=True)

    def checkpoint_paths(self, step: int) -> tuple[Path, Path, Path]:
        """``(model .zip, replay .pkl, meta .json)`` of the checkpoint at ``step``."""
        stem = self.checkpoints / f"ckpt_{step:09d}"
        return stem.with_suffix(".zip"), stem.with_suffix(".pkl"), stem.with_suffix(".json")

    def latest_checkpoint(self) -> int | None:
        """Step of the newest complete checkpoint, or ``None``."""
        steps = []
        for zip_path in self.checkpoints.glob("ckpt_*.zip"):
            step = int(zip_path.stem.split("_")[1])
            if all(p.exists() for p in self.checkpoint_paths(step)):
                steps.append(step)
        return max(steps, default=None)

    def save_checkpoint(self, model: SAC, wall_seconds: float) -> int:
        """Write model, replay buffer and meta for the current step atomically; delete older checkpoints."""
        step = int(model.num_timesteps)
        zip_path, pkl_path, meta_path = self.checkpoint_paths(step)
        tmp_pkl = self.checkpoints / "tmp_replay.pkl"
        model.save_replay_buffer(tmp_pkl)
        os.replace(tmp_pkl, pkl_path)
        write_json_atomic(meta_path, {"steps": step, "wall_seconds": wall_seconds})
        tmp_zip = self.checkpoints / "tmp_model.zip"
        model.save(tmp_zip)
        os.replace(tmp_zip, zip_path)
        for old in self.checkpoints.glob("ckpt_*"):
            if int(old.stem.split("_")[1]) < step:
                old.unlink()
        return step

    def discard_after(self, step: int) -> None:
        """Drop evaluations and snapshots newer than ``step`` (they belong to a trajectory that was not saved)."""
        entries = read_jsonl(self.eval_log)
        kept = [e for e in entries if e["steps"] <= step]
        if len(kept) != len(entries):
            tmp = self.eval_log.with_name(self.eval_log.name + ".tmp")
            tmp.write_text("".join(json.dumps(e) + "\n" for e in kept))
            tmp.replace(self.eval_log)
        for snapshot in self.snapshots.glob("step_*"):
            if int(snapshot.name.split(".")[0].split("_")[1]) > step:
                snapshot.unlink()


def training_env(task: TaskSpec, seed: int) -> gym.Env | VecEnv:
    """One environment of ``task``, or a ``DummyVecEnv`` of ``task.n_envs`` of them (seeded ``seed, seed+1, ...``)."""
    if task.n_envs == 1:
        return task.make_env()
    return make_vec_env(task.make_env, n_envs=task.n_envs, seed=seed)


def build_model(task: TaskSpec, seed: int, buffer_size: int) -> SAC:
    """A fresh SB3 SAC on ``task``'s training environment(s) with a replay buffer of ``buffer_size`` transitions."""
    kwargs = {**task.sac_kwargs, "buffer_size": buffer_size}
    return SAC("MlpPolicy", training_env(task, seed), seed=seed, device="cpu", verbose=0, **kwargs)


def crossed(step: int, every: int, stride: int) -> bool:
    """Whether the last ``stride`` environment steps (one vectorised step) reached or crossed a multiple of ``every``.

    True iff some multiple of ``every`` lies in ``(step - stride, step]``.
    """
    return step // every > (step - stride) // every


class TrainingCallback(BaseCallback):
    """Evaluates and snapshots, checkpoints, writes portable checkpoints, and stops cleanly on a signal."""

    def __init__(self, trainer: Trainer, progress_every: int = 5000) -> None:
        super().__init__()
        self.trainer = trainer
        self.stop_requested = False
        self.progress_every = progress_every
        self._last_progress = (0, time.time())

    def _on_step(self) -> bool:
        step = self.num_timesteps
        trainer = self.trainer
        stride = self.training_env.num_envs
        if crossed(step, self.progress_every, stride):
            last_step, last_time = self._last_progress
            if last_step:
                recent = [ep["r"] for ep in self.model.ep_info_buffer]
                mean = f"{np.mean(recent):.1f}" if recent else "n/a"
                log(f"step {step}: {(step - last_step) / (time.time() - last_time):.1f} steps/s, train return {mean}")
            self._last_progress = (step, time.time())
        if crossed(step, trainer.eval_freq, stride):
            trainer.evaluate_and_snapshot(self.model)
        if crossed(step, trainer.checkpoint_freq, stride) or self.stop_requested:
            trainer.checkpoint(self.model, force_portable=self.stop_requested)
        return not self.stop_requested


class Trainer:
    """Resumable SAC training of one task in one run dir."""

    def __init__(self, args: argparse.Namespace, command: str) -> None:
        self.task = get_task(args.command)
        self.run = RunDir(Path(args.run_dir))
        self.total_steps: int = args.total_steps
        self.seed: int = args.seed
        self.eval_freq: int = args.eval_freq
        self.eval_episodes: int = args.eval_episodes
        self.checkpoint_freq: int = args.checkpoint_freq
        self.portable_path = Path(args.portable_dir) / f"{self.task.name}" if args.portable_dir else None
        self.portable_seconds = 60.0 * args.portable_minutes
        self.refill_steps: int = args.refill_steps
        self.init_from = Path(args.init_from) if args.init_from else None
        self.buffer_size: int = args.buffer_size
        self.command = command
        self.wall_offset = 0.0
        self.session_start = time.time()
        self.last_portable = time.time()

    def wall_seconds(self) -> float:
        """Training wall time over all sessions so far."""
        return self.wall_offset + time.time() - self.session_start

    def _record_session(self, from_step: int, source: str) -> dict[str, Any]:
        info = json.loads(self.run.run_json.read_text()) if self.run.run_json.exists() else None
        version = self.task.version
        if info is None:
            info = {
                "task": self.task.name,
                "task_version": version,
                "seed": self.seed,
                "command": self.command,
                "sessions": [],
            }
        elif (info["task"], info.get("task_version", 1), info["seed"]) != (self.task.name, version, self.seed):
            raise SystemExit(
                f"{self.run.root} holds a {info['task']} (version {info.get('task_version', 1)}) run with seed "
                f"{info['seed']}; refusing to continue it as {self.task.name} (version {version}) with seed "
                f"{self.seed} (use another --run-dir)"
            )
        info["sessions"].append(
            {
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": self.command,
                "from_step": from_step,
                "resumed_from": source,
            }
        )
        write_json_atomic(self.run.run_json, info)
        return info

    def _portable_matches(self) -> bool:
        if self.portable_path is None or not self.portable_path.with_suffix(".json").exists():
            return False
        meta = read_portable_meta(self.portable_path)
        found = (meta.get("task"), meta.get("task_version", 1), meta.get("seed"))
        if found == (self.task.name, self.task.version, self.seed):
            return True
        log(f"ignoring {self.portable_path}: task/version/seed {found} differ")
        return False

    def _from_portable(self, path: Path) -> tuple[SAC, dict[str, Any]]:
        """A fresh model carrying the portable state at ``path`` (its wall time too), replay buffer refilled."""
        model = build_model(self.task, self.seed, self.buffer_size)
        meta = load_portable(model, path)
        self.wall_offset = float(meta["wall_seconds"])
        self.run.discard_after(model.num_timesteps)
        log(f"{path} at step {model.num_timesteps}: refilling the replay buffer ({self.refill_steps})")
        refill_replay_buffer(model, self.refill_steps)
        return model, meta

    def _lineage(self) -> dict[str, Any]:
        """``{"initialised_from": ...}`` for a run started with ``--init-from``, else empty."""
        return {"initialised_from": self.info["initialised_from"]} if "initialised_from" in self.info else {}

    def load_or_create(self) -> SAC:
        """Resume from the run dir's newest checkpoint, else from a matching portable checkpoint, else start."""
        step = self.run.latest_checkpoint()
        lineage = None
        if step is not None:
            zip_path, pkl_path, meta_path = self.run.checkpoint_paths(step)
            model = SAC.load(zip_path, env=training_env(self.task, self.seed + step), device="cpu")
            model.load_replay_buffer(pkl_path)
            self.wall_offset = float(json.loads(meta_path.read_text())["wall_seconds"])
            self.run.discard_after(step)
            source = str(zip_path)
        elif self._portable_matches():
            assert self.portable_path is not None
            model, meta = self._from_portable(self.portable_path)
            source = str(self.portable_path.with_suffix(".safetensors"))
            lineage = meta.get("initialised_from")
        elif self.init_from is not None:
            model, meta = self._from_portable(self.init_from)
            lineage = {
                "path": str(self.init_from),
                "task_version": meta.get("task_version", 1),
                "steps": int(model.num_timesteps),
                "wall_seconds": self.wall_offset,
                "command": meta.get("command"),
            }
            source = f"init-from {self.init_from}"
        else:
            model = build_model(self.task, self.seed, self.buffer_size)
            source = "fresh"
        self.info = self._record_session(int(model.num_timesteps), source)
        if lineage is not None and "initialised_from" not in self.info:
            self.info["initialised_from"] = lineage
            write_json_atomic(self.run.run_json, self.info)
        if model.num_timesteps > 0:
            model.set_random_seed(self.seed + int(model.num_timesteps))
            model._last_obs = None  # start a fresh episode: the saved observation belongs to a discarded env
        log(f"{self.task.name}: step {model.num_timesteps} / {self.total_steps} (from {source})")
        return model

    def card(self, model: SAC) -> dict[str, Any]:
        """Provenance fields written on every snapshot card."""
        return {
            **self.task.card_fields,
            "task": self.task.name,
            "task_version": self.task.version,
            "algorithm": f"SAC (stable-baselines3 {stable_baselines3.__version__}), defaults + {self.task.sac_kwargs}",
            "n_envs": self.task.n_envs,
            "training_steps": int(model.num_timesteps),
            "wall_time_s": round(self.wall_seconds(), 1),
            "seed": self.seed,
            "command": self.info["command"],
            **self._lineage(),
        }

    def evaluate_and_snapshot(self, model: SAC) -> dict[str, Any]:
        """Evaluate the deterministic actor, save it as a snapshot with card, append to the eval log."""
        policy = BehaviourPolicy.from_sb3(model)
        metrics = self.task.evaluate(policy, self.eval_episodes, EVAL_SEED)
        step = int(model.num_timesteps)
        card = {**self.card(model), "evaluation": {**metrics, "deterministic": True, "seed": EVAL_SEED}}
        policy.save(self.run.snapshots / f"step_{step:07d}", card)
        recent = [ep["r"] for ep in model.ep_info_buffer] if model.ep_info_buffer else []
        entry = {
            "steps": step,
            "wall_s": round(self.wall_seconds(), 1),
            **metrics,
            "train_return_recent": float(np.mean(recent)) if recent else None,
        }
        with self.run.eval_log.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
        log("eval " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()))
        return entry

    def write_portable(self, model: SAC) -> str:
        """Write the portable checkpoint (if enabled); returns a note for the log."""
        if self.portable_path is None:
            return ""
        meta = {
            "task": self.task.name,
            "task_version": self.task.version,
            "seed": self.seed,
            "wall_seconds": self.wall_seconds(),
            "command": self.info["command"],
            **self._lineage(),
        }
        save_portable(model, self.portable_path, meta)
        self.last_portable = time.time()
        return f", portable -> {self.portable_path.with_suffix('.safetensors')}"

    def checkpoint(self, model: SAC, force_portable: bool = False) -> None:
        """Local checkpoint; also a portable one when due (or forced)."""
        started = time.time()
        step = self.run.save_checkpoint(model, self.wall_seconds())
        message = f"checkpoint {step} ({time.time() - started:.1f} s)"
        if force_portable or time.time() - self.last_portable >= self.portable_seconds:
            message += self.write_portable(model)
        log(message)

    def train(self) -> SAC:
        """Train until ``total_steps``; returns the model (also after a SIGTERM/SIGINT-triggered stop)."""
        torch.set_num_threads(1)
        model = self.load_or_create()
        callback = TrainingCallback(self)

        def request_stop(signum: int, _frame: Any) -> None:
            log(f"signal {signum}: checkpointing at the next step, then exiting")
            callback.stop_requested = True

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            remaining = self.total_steps - int(model.num_timesteps)
            if remaining > 0:
                model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=False)
            if not callback.stop_requested:
                if self.run.latest_checkpoint() != model.num_timesteps:
                    if not crossed(int(model.num_timesteps), self.eval_freq, self.task.n_envs):
                        self.evaluate_and_snapshot(model)
                    self.checkpoint(model, force_portable=True)
                else:
                    self.write_portable(model)
                log(f"done: {model.num_timesteps} steps, {self.wall_seconds():.0f} s")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return model


def select_snapshot(entries: list[dict[str, Any]], key: str, band: tuple[float, float, float] | None) -> dict | None:
    """The eval-log entry closest to ``band``'s target inside its ``[low, high]``, or the best one if no band."""
    if not entries:
        return None
    if band is None:
        return max(entries, key=lambda e: e[key])
    target, low, high = band
    inside = [e for e in entries if low <= e[key] <= high]
    return min(inside, key=lambda e: abs(e[key] - target)) if inside else None


def promote(
    task: TaskSpec, run_dir: Path, names: list[str], episodes: int, out_dir: Path, step: int | None = None
) -> list[Path]:
    """Copy the best-matching snapshot for each level (or the snapshot of ``step``) to
    ``out_dir/<name>.{safetensors,json}`` after re-evaluation."""
    run = RunDir(run_dir)
    entries = [e for e in read_jsonl(run.eval_log) if (run.snapshots / f"step_{e['steps']:07d}.safetensors").exists()]
    if step is not None:
        entries = [e for e in entries if e["steps"] == step]
        if not entries:
            raise SystemExit(f"{run_dir} has no evaluated snapshot at step {step}")
    written = []
    for name in names:
        if name not in task.levels:
            raise SystemExit(f"unknown level {name!r} for {task.name}; known: {sorted(task.levels)}")
        chosen = entries[0] if step is not None else select_snapshot(entries, task.score_key, task.levels[name])
        if chosen is None:
            log(f"{name}: no snapshot in band {task.levels[name]} of {task.score_key} yet")
            continue
        policy = load_behaviour_policy(run.snapshots / f"step_{chosen['steps']:07d}")
        metrics = task.evaluate(policy, episodes, PROMOTE_SEED)
        derived = {"sha256", "evaluation", *policy.architecture()}
        provenance = {key: value for key, value in policy.card.items() if key not in derived}
        card = {
            "name": name,
            **provenance,
            "evaluation": {**metrics, "deterministic": True, "seed": PROMOTE_SEED},
            "training_eval": policy.card["evaluation"],
        }
        written.append(policy.save(out_dir / name, card))
        log(f"{name}: step {chosen['steps']} {task.score_key}={metrics[task.score_key]:.4g} -> {written[-1]}")
    return written


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line interface (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m iqlzoo.recipes.behaviour.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in TASK_NAMES:
        sub = commands.add_parser(name, help=f"train (or resume) the {name} behaviour policy")
        sub.add_argument("--run-dir", required=True, help="run directory (checkpoints, snapshots, eval log)")
        sub.add_argument("--total-steps", type=int, required=True, help="environment steps to train in total")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--eval-freq", type=int, default=20_000, help="steps between evaluations/snapshots")
        sub.add_argument("--eval-episodes", type=int, default=10)
        sub.add_argument("--checkpoint-freq", type=int, default=25_000, help="steps between local checkpoints")
        sub.add_argument(
            "--portable-dir",
            default=str(PORTABLE_DIR),
            help="where the portable (git-committable) checkpoint goes; '' disables it",
        )
        sub.add_argument("--portable-minutes", type=float, default=30.0, help="minimum minutes between portables")
        sub.add_argument(
            "--refill-steps",
            type=int,
            default=20_000,
            help="replay-buffer refill when resuming from a portable checkpoint",
        )
        sub.add_argument("--buffer-size", type=int, default=1_000_000, help="replay buffer size (SB3 default)")
        sub.add_argument(
            "--init-from",
            help="a fresh run dir starts from this portable checkpoint (e.g. of an earlier task version) instead of "
            "from scratch: weights, optimisers and step count carry over, the replay buffer is refilled; the "
            "lineage goes on run.json and every card",
        )
    sub = commands.add_parser("promote", help="copy the snapshots matching each level to the shipped weights")
    sub.add_argument("task", choices=TASK_NAMES)
    sub.add_argument("--run-dir", required=True)
    sub.add_argument("--levels", nargs="*", help="shipped names to promote (default: all levels of the task)")
    sub.add_argument("--episodes", type=int, default=10, help="evaluation episodes of the promoted policy")
    sub.add_argument("--out-dir", default=str(WEIGHTS_DIR))
    sub.add_argument("--step", type=int, help="promote the snapshot of this step (checked beforehand) to every level")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m iqlzoo.recipes.behaviour.train``."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "promote":
        torch.set_num_threads(1)
        task = get_task(args.task)
        names = args.levels or list(task.levels)
        promote(task, Path(args.run_dir), names, args.episodes, Path(args.out_dir), args.step)
        return
    command = "python -m iqlzoo.recipes.behaviour.train " + shlex.join(argv)
    Trainer(args, command).train()


if __name__ == "__main__":
    main()
