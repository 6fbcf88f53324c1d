"""``python -m benchmarks.carry`` — carry unfinished runs from one machine to another; record finished ones.

A 1M-step seed group trains for longer than a session lasts, and a fresh machine keeps no run checkpoint (they are
git-ignored; the groups still training at a session's end are packed into ``resume/`` and committed). ``pack``
copies what a run needs to resume — its newest checkpoint (with optimizer state) and its records (evaluations,
provenance, status, training log) — of every unfinished run of a store into a folder to commit or copy; ``unpack``
puts them back into a store, after which the same ``benchmarks.run`` command resumes each run from
that checkpoint. Older checkpoints, TensorBoard and W&B files are not carried::

    python -m benchmarks.carry pack --results /work/wt/results --match antmaze-paper --out resume/antmaze-paper
    python -m benchmarks.carry unpack resume/antmaze-paper --results /work/wt/results

``unpack`` never replaces a run that is further along in the target store (a newer checkpoint there wins), so
running it twice, or after the run went on, loses nothing. ``pack`` replaces the folder's previous content: a run
that finished since is dropped from it (its records belong in the results store, not here) — unless ``pack
--finished`` keeps finished runs too: their final checkpoint is what publishing their group needs
(``benchmarks.publish`` picks the median seed, so it waits until every seed of a group has finished).

``record`` moves a finished cell (an agent on a dataset in a suite) from a training store into the committed one:
the records of its runs (no checkpoints), and out of it every run of the same cell that the store does not hold — the
runs a rerun supersedes (an older budget or precision; git history keeps them). A cell is recorded only once every
one of its runs in the training store has ended, so the committed store never mixes a half-finished group with the
one it replaces, and only when today's suite files plan every one of its runs: a training store can keep the ended
runs of a superseded budget or precision, and ``--match`` (a substring of run ids) can select them by accident::

    python -m benchmarks.carry record --results /work/runs/am-quick-store --into results --dry-run

``restore`` is ``record`` backwards, for a fresh machine: it copies the records of the committed runs that ended at
the budget and settings their suite gives now into a training store, so the lanes skip them instead of training them
again. A run of a superseded budget or precision is not copied: its cell's rerun is what ``record`` replaces it with::

    python -m benchmarks.carry restore --from results --results /work/runs/am-quick-store --match antmaze-quick
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.run import expand
from benchmarks.runner import (
    CHECKPOINT_DIR,
    FINAL_STATES,
    TRAIN_LOG,
    checkpoint_step,
    completed_steps,
    seed_group_key_of_entry,
)
from benchmarks.store import (
    EVALUATIONS_FILE,
    PROVENANCE_FILE,
    STATUS_FILE,
    RunIdentity,
    atomic_write_text,
    copy_present,
)
from benchmarks.suites import BUDGETS, SUITES, budget_of_store_suite, plan, task_of
from iqlzoo.atomic import atomic_link

RECORDS: tuple[str, ...] = (EVALUATIONS_FILE, PROVENANCE_FILE, STATUS_FILE, TRAIN_LOG)
MANIFEST = "README.md"


def _state(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / STATUS_FILE).read_text(encoding="utf-8")).get("state")
    except (OSError, ValueError, AttributeError):
        return None


def _checkpoints(run_dir: Path) -> dict[int, Path]:
    """A run's ``step_*.zip`` checkpoints by step."""
    found = {checkpoint_step(path): path for path in (run_dir / CHECKPOINT_DIR).glob("step_*.zip")}
    return {step: path for step, path in found.items() if step is not None}


def _newest_checkpoint(run_dir: Path) -> Path | None:
    found = _checkpoints(run_dir)
    return found[max(found)] if found else None


def _group_key(run_dir: Path) -> str:
    """Equal for the runs of one seed group (their run entries differ only in seed and run id); a run whose
    provenance cannot be read is a group of its own."""
    run = _run_entry(run_dir)
    if run is None:
        return run_dir.name
    return seed_group_key_of_entry(run)


def _shared_checkpoints(run_dirs: Sequence[Path]) -> dict[Path, Path]:
    """The checkpoint to pack of each run: for the runs of one seed group, the newest step all of them hold.

    A pack taken while the group was writing its checkpoints, or after a kill between two members' writes, would
    hold them at different steps; runners before commit 1065ce1 (the pinned worktrees among them) then train the
    members one after another (~3x the wall time), later ones train the members behind alone until they catch up.
    A group without a step in common packs each run's newest checkpoint."""
    groups: dict[str, list[Path]] = {}
    for run_dir in run_dirs:
        groups.setdefault(_group_key(run_dir), []).append(run_dir)
    chosen: dict[Path, Path] = {}
    for members in groups.values():
        held = [_checkpoints(run_dir) for run_dir in members]
        shared = set.intersection(*(set(steps) for steps in held))
        for run_dir, steps in zip(members, held):
            chosen[run_dir] = steps[max(shared)] if shared else steps[max(steps)]
    return chosen


def pack(results: Path, out: Path, match: str = "", finished: bool = False) -> list[tuple[str, int, str]]:
    """Copy the unfinished runs of the store `results` whose id contains `match` into `out` (replacing what it held):
    their records and newest checkpoint — for the unfinished runs of one seed group, the newest step they all hold
    (`_shared_checkpoints`). Unfinished includes `failed` runs, which the harness retries; `finished` adds the
    finished ones (never diverged ones). Returns (run id, checkpoint step, state) of every run packed."""
    packed: list[tuple[str, int, str]] = []
    staging = out.with_name(f".{out.name}.packing")
    shutil.rmtree(staging, ignore_errors=True)
    states: dict[Path, str | None] = {}
    for run_dir in sorted((results / "runs").iterdir()) if (results / "runs").is_dir() else []:
        state = _state(run_dir)
        wanted = state not in FINAL_STATES or (finished and state == "finished")
        if match in run_dir.name and wanted and _checkpoints(run_dir):
            states[run_dir] = state
    unfinished = _shared_checkpoints([run_dir for run_dir, state in states.items() if state not in FINAL_STATES])
    for run_dir, state in states.items():
        checkpoint = unfinished.get(run_dir) or _newest_checkpoint(run_dir)
        assert checkpoint is not None
        target = staging / "runs" / run_dir.name
        (target / CHECKPOINT_DIR).mkdir(parents=True)
        copy_present(run_dir, target, RECORDS)
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
        copy_present(packed, target, RECORDS)
        shutil.copy2(checkpoint, target / CHECKPOINT_DIR / checkpoint.name)
        atomic_link(target / CHECKPOINT_DIR / checkpoint.name, target / CHECKPOINT_DIR / "latest.zip")
        done.append((packed.name, f"restored at step {step:,}"))
    return done


Cell = tuple[str, str, str]


def _run_entry(run_dir: Path) -> dict | None:
    """The ``run`` entry of a run's provenance; None when that cannot be read."""
    try:
        run = json.loads((run_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run if isinstance(run, dict) else None


def _identity(run_dir: Path) -> RunIdentity | None:
    """The run's identity (`RunIdentity`) from its provenance; None when that cannot be read."""
    run = _run_entry(run_dir)
    return None if run is None else RunIdentity.from_provenance({"run": run})


def _cell(run_dir: Path) -> Cell | None:
    """(label, dataset id, suite) of a run, from its provenance; None when that cannot be read."""
    identity = _identity(run_dir)
    return None if identity is None else (identity.label, identity.dataset_id, identity.suite)


def _cells(results: Path) -> dict[Cell, list[Path]]:
    cells: dict[Cell, list[Path]] = {}
    for run_dir in sorted((results / "runs").iterdir()) if (results / "runs").is_dir() else []:
        cell = _cell(run_dir)
        if cell is not None:
            cells.setdefault(cell, []).append(run_dir)
    return cells


def _steps(run_dir: Path) -> int:
    """The steps a run was budgeted (its provenance's protocol); 0 when that cannot be read."""
    identity = _identity(run_dir)
    return 0 if identity is None else identity.steps


def _planned(run_dir: Path) -> bool:
    """Whether today's suite files plan the run in `run_dir` (:func:`planned_today`); False when its provenance
    cannot be read."""
    run = _run_entry(run_dir)
    try:
        return run is not None and planned_today(run)
    except (KeyError, TypeError, ValueError):
        return False


def record(results: Path, into: Path, match: str = "", dry_run: bool = False) -> dict[str, list[str]]:
    """Copy the records of every ended cell of the store `results` (with a run whose id contains `match`) into the
    store `into`, and remove from `into` the runs of those cells that `results` does not hold. Left alone: a cell
    with a run today's suite files do not plan (:func:`planned_today`: a superseded budget, precision or setting),
    and a cell whose runs were budgeted fewer steps than the ones `into` holds (a training store can keep the ended
    runs of a superseded budget; they must not replace their reruns). Returns the run ids ``recorded``,
    ``removed``, ``waiting`` (runs of cells not ended yet, with their state), ``superseded`` and ``older`` (of the
    cells left alone); `dry_run` changes nothing."""
    done: dict[str, list[str]] = {"recorded": [], "removed": [], "waiting": [], "superseded": [], "older": []}
    committed = _cells(into)
    for cell, runs in _cells(results).items():
        if not any(match in run_dir.name for run_dir in runs):
            continue
        if not all(_planned(run_dir) for run_dir in runs):
            done["superseded"] += [run_dir.name for run_dir in runs]
            continue
        states = {run_dir.name: _state(run_dir) for run_dir in runs}
        if any(state not in FINAL_STATES for state in states.values()):
            done["waiting"] += [f"{run_id} ({state})" for run_id, state in states.items()]
            continue
        steps = {run_dir: _steps(run_dir) for run_dir in runs}
        held = max((_steps(old) for old in committed.get(cell, [])), default=0)
        if max(steps.values()) < held:
            done["older"] += [f"{run_dir.name} ({steps[run_dir]:,} steps; {held:,} recorded)" for run_dir in runs]
            continue
        for run_dir in runs:
            done["recorded"].append(run_dir.name)
            if not dry_run:
                target = into / "runs" / run_dir.name
                target.mkdir(parents=True, exist_ok=True)
                copy_present(run_dir, target, RECORDS)
        for old in committed.get(cell, []):
            if old.name not in states:
                done["removed"].append(old.name)
                if not dry_run:
                    shutil.rmtree(old)
    return done


@functools.cache
def _planned_ids(budget_name: str, dataset_id: str, data_source: str, seed: int) -> frozenset[str]:
    """The run ids that today's suite files give `seed` on `dataset_id` under budget `budget_name`, over every suite
    (unscoped), as ``benchmarks.run`` expands them: a seed-findings cell that reuses a main suite's run yields that
    run's id."""
    task = task_of(dataset_id)
    return frozenset(spec.run_id for name in SUITES
                     for spec in expand(plan(name, budget_name=budget_name, chosen_seeds=[seed], scoped=False),
                                        {task: (dataset_id, data_source)}))


def planned_today(run: dict) -> bool:
    """Whether today's suite files plan the run described by `run` (a provenance ``run`` entry): expanding its budget's
    grid on its dataset and seed gives its run id. A run of a superseded budget, precision or setting does not."""
    budget_name = budget_of_store_suite(run["suite"])
    if budget_name not in BUDGETS:
        return False
    return run["run_id"] in _planned_ids(budget_name, run["dataset_id"], str(run.get("data_source", "")),
                                         int(run["seed"]))


def restore(source: Path, results: Path, match: str = "", dry_run: bool = False) -> dict[str, list[str]]:
    """Copy the records of the ended runs of the committed store `source` (id containing `match`) into the training
    store `results`, so that rerunning their groups skips them. Only runs that today's suites plan (`planned_today`)
    are copied (a superseded run would keep ``record`` from removing it once its cell is rerun); a run the target
    already holds is left alone. Returns the run ids ``restored``, ``present``, ``superseded`` and ``unfinished``."""
    done: dict[str, list[str]] = {"restored": [], "present": [], "superseded": [], "unfinished": []}
    for run_dir in sorted((source / "runs").iterdir()) if (source / "runs").is_dir() else []:
        if match not in run_dir.name:
            continue
        if _state(run_dir) not in FINAL_STATES:
            done["unfinished"].append(run_dir.name)
            continue
        if not _planned(run_dir):
            done["superseded"].append(run_dir.name)
            continue
        target = results / "runs" / run_dir.name
        if target.exists():
            done["present"].append(run_dir.name)
            continue
        done["restored"].append(run_dir.name)
        if not dry_run:
            target.mkdir(parents=True, exist_ok=True)  # both lanes may restore into one store at once
            copy_present(run_dir, target, RECORDS)
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
    record_parser = commands.add_parser(
        "record", help="copy the records of ended cells into the committed store, removing the runs they supersede")
    record_parser.add_argument("--results", type=Path, required=True, help="the results store the runs trained in")
    record_parser.add_argument("--into", type=Path, required=True, help="the committed store (e.g. results)")
    record_parser.add_argument("--match", default="", help="only cells with a run whose id contains this text")
    record_parser.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    restore_parser = commands.add_parser(
        "restore", help="copy the records of committed runs that ended at today's budget into a training store")
    restore_parser.add_argument("--from", dest="source", type=Path, required=True,
                                help="the committed store (e.g. results)")
    restore_parser.add_argument("--results", type=Path, required=True, help="the training store to copy them into")
    restore_parser.add_argument("--match", default="", help="only runs whose id contains this text")
    restore_parser.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    args = parser.parse_args(argv)
    if args.command == "restore":
        if not (args.source / "runs").is_dir():
            parser.error(f"--from {args.source}: no runs/ folder there; pass the committed store (e.g. results)")
        if args.source.resolve() == args.results.resolve():
            parser.error("--from and --results are the same store; --results is the training store to fill")
        done = restore(args.source, args.results, args.match, args.dry_run)
        for run_id in done["restored"]:
            print(f"restored: {run_id}")
        print(f"{len(done['restored'])} runs restored, {len(done['present'])} already there, "
              f"{len(done['superseded'])} of a superseded budget and {len(done['unfinished'])} unfinished left out"
              + (" — dry run: nothing was changed" if args.dry_run else ""))
        return 0
    if args.command == "record":
        for store in (args.results, args.into):
            if not (store / "runs").is_dir():
                parser.error(f"{store}: no runs/ folder there; pass results stores (folders holding runs/)")
        if args.results.resolve() == args.into.resolve():
            parser.error("--results and --into are the same store; --into is the committed one (e.g. results)")
        done = record(args.results, args.into, args.match, args.dry_run)
        for what in ("recorded", "removed", "waiting", "superseded", "older"):
            for run_id in done[what]:
                print(f"{what}: {run_id}")
        print(f"{len(done['recorded'])} runs recorded, {len(done['removed'])} removed, {len(done['waiting'])} "
              f"waiting (their cell has not ended), {len(done['superseded'])} left out (a cell with a run today's "
              f"suites do not plan), {len(done['older'])} left out (budgeted fewer steps than the runs recorded for "
              "their cell)" + (" — dry run: nothing was changed" if args.dry_run else ""))
        return 0
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
