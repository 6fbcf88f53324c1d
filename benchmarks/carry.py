"""``python -m benchmarks.carry`` — carry unfinished runs from one machine to the next through git.

A 1M-step seed group trains for longer than a session lasts, and a fresh machine keeps no run checkpoint (they are
git-ignored). ``pack`` copies what a run needs to resume — its newest checkpoint (with optimizer state) and its
records (evaluations, provenance, status, training log) — of every unfinished run of a store into a folder to
commit; ``unpack`` puts them back into a store, after which the same ``benchmarks.run`` command resumes each run from
that checkpoint. Older checkpoints, TensorBoard and W&B files are not carried::

    python -m benchmarks.carry pack --results /work/wt/results --match antmaze-paper --out resume/antmaze-paper
    python -m benchmarks.carry unpack resume/antmaze-paper --results /work/wt/results

``unpack`` never replaces a run that is further along in the target store (a newer checkpoint there wins), so
running it twice, or after the run went on, loses nothing. ``pack`` replaces the folder's previous content: a run
that finished since is dropped from it (its records belong in the results store, not here) — unless ``pack
--finished`` keeps finished runs too: their final checkpoint is what publishing their group needs
(``benchmarks.publish`` picks the median seed, so it waits until every seed of a group has finished).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.runner import CHECKPOINT_DIR, FINAL_STATES, TRAIN_LOG, checkpoint_step, completed_steps
from benchmarks.store import EVALUATIONS_FILE, PROVENANCE_FILE, STATUS_FILE, atomic_write_text
from iqlzoo.atomic import atomic_link

RECORDS: tuple[str, ...] = (EVALUATIONS_FILE, PROVENANCE_FILE, STATUS_FILE, TRAIN_LOG)
MANIFEST = "README.md"


def _state(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / STATUS_FILE).read_text(encoding="utf-8")).get("state")
    except (OSError, ValueError, AttributeError):
        return None


def _newest_checkpoint(run_dir: Path) -> Path | None:
    found = [(checkpoint_step(path), path) for path in (run_dir / CHECKPOINT_DIR).glob("step_*.zip")]
    found = [(step, path) for step, path in found if step is not None]
    return max(found)[1] if found else None


def pack(results: Path, out: Path, match: str = "", finished: bool = False) -> list[tuple[str, int, str]]:
    """Copy the unfinished runs of the store `results` whose id contains `match` into `out` (replacing what it held):
    their records and newest checkpoint. Unfinished includes `failed` runs, which the harness retries; `finished`
    adds the finished ones (never diverged ones). Returns (run id, checkpoint step, state) of every run packed."""
    packed: list[tuple[str, int, str]] = []
    staging = out.with_name(f".{out.name}.packing")
    shutil.rmtree(staging, ignore_errors=True)
    for run_dir in sorted((results / "runs").iterdir()) if (results / "runs").is_dir() else []:
        checkpoint, state = _newest_checkpoint(run_dir), _state(run_dir)
        wanted = state not in FINAL_STATES or (finished and state == "finished")
        if match not in run_dir.name or checkpoint is None or not wanted:
            continue
        target = staging / "runs" / run_dir.name
        (target / CHECKPOINT_DIR).mkdir(parents=True)
        for name in RECORDS:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, target / name)
        shutil.copy2(checkpoint, target / CHECKPOINT_DIR / checkpoint.name)
        packed.append((run_dir.name, checkpoint_step(checkpoint) or 0, str(state)))
    staging.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Resume state of benchmark runs",
        "",
        "Written by `python -m benchmarks.carry pack`: each run's newest checkpoint (with optimizer state) and its "
        "records, so that a later machine resumes the run instead of starting over (or, for a finished run, still "
        "has its final weights to publish). Put them back into the store "
        "the run trains in, then rerun the run's `benchmarks.run` command (its provenance.json holds it):",
        "",
        f"    python -m benchmarks.carry unpack {out.as_posix()} --results <results store>",
        "",
        "| run | checkpoint step | state |",
        "|---|---|---|",
        *(f"| `{run_id}` | {step:,} | {state} |" for run_id, step, state in packed),
    ]
    atomic_write_text(staging / MANIFEST, "\n".join(lines) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return packed


def unpack(folder: Path, results: Path) -> list[tuple[str, str]]:
    """Put the runs packed in `folder` into the store `results`. A run whose target already has a checkpoint at or
    beyond the packed one is left alone. Returns (run id, what was done) per packed run."""
    done: list[tuple[str, str]] = []
    for packed in sorted((folder / "runs").iterdir()) if (folder / "runs").is_dir() else []:
        checkpoint = _newest_checkpoint(packed)
        if checkpoint is None:
            continue
        target = results / "runs" / packed.name
        have = completed_steps(target) if target.is_dir() else 0
        step = checkpoint_step(checkpoint) or 0
        if have >= step:
            done.append((packed.name, f"kept: the store is at step {have:,}, the pack at {step:,}"))
            continue
        (target / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            if (packed / name).is_file():
                shutil.copy2(packed / name, target / name)
        shutil.copy2(checkpoint, target / CHECKPOINT_DIR / checkpoint.name)
        atomic_link(target / CHECKPOINT_DIR / checkpoint.name, target / CHECKPOINT_DIR / "latest.zip")
        done.append((packed.name, f"restored at step {step:,}"))
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.carry", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pack_parser = commands.add_parser("pack", help="copy the unfinished runs of a store into a folder to commit")
    pack_parser.add_argument("--results", type=Path, required=True, help="the results store the runs train in")
    pack_parser.add_argument("--out", type=Path, required=True, help="the folder to write (its content is replaced)")
    pack_parser.add_argument("--match", default="", help="only runs whose id contains this text")
    pack_parser.add_argument("--finished", action="store_true",
                             help="keep finished runs too (final checkpoint and records), for publishing later")
    unpack_parser = commands.add_parser("unpack", help="put packed runs back into a store")
    unpack_parser.add_argument("folder", type=Path, help="a folder written by pack")
    unpack_parser.add_argument("--results", type=Path, required=True, help="the results store to resume them in")
    args = parser.parse_args(argv)
    if args.command == "pack":
        if not (args.results / "runs").is_dir():
            parser.error(f"--results {args.results}: no runs/ folder there; pass the store the runs train in")
        packed = pack(args.results, args.out, args.match, args.finished)
        for run_id, step, state in packed:
            print(f"packed {run_id} at step {step:,} ({state})")
        print(f"{len(packed)} runs in {args.out}")
        return 0
    if not (args.folder / "runs").is_dir():
        parser.error(f"{args.folder}: no runs/ folder there; pass a folder written by `benchmarks.carry pack`")
    for run_id, what in unpack(args.folder, args.results):
        print(f"{run_id}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
