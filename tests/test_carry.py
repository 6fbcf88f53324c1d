"""benchmarks.carry packs the newest checkpoint and records of unfinished runs, and puts them back without ever
replacing a run that went further."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from benchmarks.carry import main, pack, record, restore, unpack
from benchmarks.run import expand
from benchmarks.store import ResultsStore
from benchmarks.suites import RunSpec, plan


def make_run(root: Path, run_id: str, state: str, steps: tuple[int, ...]) -> Path:
    run = root / "runs" / run_id
    (run / "checkpoints").mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": state}))
    (run / "provenance.json").write_text(json.dumps({"run": {"seed": 0}}))
    (run / "evaluations.csv").write_text("step\n100\n")
    (run / "train_log.jsonl").write_text('{"step": 100}\n')
    (run / "events.out.tfevents.1").write_text("tb")
    for step in steps:
        (run / "checkpoints" / f"step_{step:07d}.zip").write_bytes(f"weights at {step}".encode())
    return run


def test_pack_keeps_the_newest_checkpoint_of_unfinished_matching_runs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_run(store, "IQL.umaze.seed0.antmaze-paper.a", "running", (50_000, 100_000))
    make_run(store, "IQL.umaze.seed1.antmaze-paper.b", "finished", (50_000, 100_000))
    make_run(store, "IQL.umaze.seed0.antmaze-quick.c", "running", (10_000,))
    out = tmp_path / "resume"
    (out / "runs" / "stale").mkdir(parents=True)  # what an earlier pack held is replaced
    assert pack(store, out, "antmaze-paper") == [("IQL.umaze.seed0.antmaze-paper.a", 100_000, "running")]
    packed = out / "runs" / "IQL.umaze.seed0.antmaze-paper.a"
    assert sorted(p.name for p in packed.rglob("*")) == sorted(
        ["checkpoints", "step_0100000.zip", "evaluations.csv", "provenance.json", "status.json", "train_log.jsonl"])
    assert not (out / "runs" / "stale").exists()
    assert "| `IQL.umaze.seed0.antmaze-paper.a` | 100,000 | running |" in (out / "README.md").read_text()

    fresh = tmp_path / "fresh"
    assert unpack(out, fresh) == [("IQL.umaze.seed0.antmaze-paper.a", "restored at step 100,000")]
    restored = fresh / "runs" / "IQL.umaze.seed0.antmaze-paper.a" / "checkpoints"
    assert (restored / "latest.zip").read_bytes() == b"weights at 100000"
    assert (restored.parent / "train_log.jsonl").read_text() == '{"step": 100}\n'

    # the run went on in the store: unpacking again must not put it back to the packed step
    (restored / "step_0150000.zip").write_bytes(b"weights at 150000")
    (restored.parent / "evaluations.csv").write_text("step\n100\n150\n")
    assert unpack(out, fresh)[0][1] == "kept: the store is at step 150,000, the pack at 100,000"
    assert (restored.parent / "evaluations.csv").read_text() == "step\n100\n150\n"


def test_pack_holds_a_seed_group_at_the_newest_step_all_its_unfinished_seeds_share(tmp_path: Path) -> None:
    """Packed mid-write (seed 2 not yet at 30k), a group resumed from its newest checkpoints would stand at two steps
    and train one seed after another; the pack takes the step all three hold."""
    store = tmp_path / "store"
    for seed, steps in ((0, (10_000, 20_000, 30_000)), (1, (10_000, 20_000, 30_000)), (2, (10_000, 20_000))):
        run = make_run(store, f"IQL.umaze.seed{seed}.antmaze-quick.{seed}", "running", steps)
        (run / "provenance.json").write_text(json.dumps({"run": {"agent": "IQL", "seed": seed, "run_id": run.name}}))
    other = make_run(store, "BC.umaze.seed0.antmaze-quick.b", "running", (30_000,))  # another group: its own newest
    (other / "provenance.json").write_text(json.dumps({"run": {"agent": "BC", "seed": 0, "run_id": other.name}}))
    alone = make_run(store, "D2RLIQL.umaze.seed0.antmaze-quick.d", "running", (20_000,))  # no step shared with seed 1
    (alone / "provenance.json").write_text(json.dumps({"run": {"agent": "D2RLIQL", "seed": 0}}))
    alone1 = make_run(store, "D2RLIQL.umaze.seed1.antmaze-quick.e", "running", (30_000,))
    (alone1 / "provenance.json").write_text(json.dumps({"run": {"agent": "D2RLIQL", "seed": 1}}))
    make_run(store, "IQL.umaze.seed3.antmaze-quick.f", "finished", (50_000,))  # finished: never held back
    (store / "runs" / "IQL.umaze.seed3.antmaze-quick.f" / "provenance.json").write_text(
        json.dumps({"run": {"agent": "IQL", "seed": 3}}))
    packed = dict((run_id, step) for run_id, step, _ in pack(store, tmp_path / "resume", finished=True))
    assert packed == {
        "BC.umaze.seed0.antmaze-quick.b": 30_000,
        "D2RLIQL.umaze.seed0.antmaze-quick.d": 20_000,
        "D2RLIQL.umaze.seed1.antmaze-quick.e": 30_000,
        "IQL.umaze.seed0.antmaze-quick.0": 20_000,
        "IQL.umaze.seed1.antmaze-quick.1": 20_000,
        "IQL.umaze.seed2.antmaze-quick.2": 20_000,
        "IQL.umaze.seed3.antmaze-quick.f": 50_000,
    }
    held = tmp_path / "resume" / "runs" / "IQL.umaze.seed0.antmaze-quick.0" / "checkpoints"
    assert [path.name for path in held.iterdir()] == ["step_0020000.zip"]


def test_pack_finished_keeps_final_weights_of_finished_runs_only(tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_run(store, "IQL.umaze.seed0.antmaze-paper.a", "running", (50_000,))
    make_run(store, "IQL.umaze.seed1.antmaze-paper.b", "finished", (950_000, 1_000_000))
    make_run(store, "IQL.umaze.seed2.antmaze-paper.c", "diverged", (50_000,))
    out = tmp_path / "resume"
    assert pack(store, out, "antmaze-paper", finished=True) == [
        ("IQL.umaze.seed0.antmaze-paper.a", 50_000, "running"),
        ("IQL.umaze.seed1.antmaze-paper.b", 1_000_000, "finished"),
    ]
    fresh = tmp_path / "fresh"
    unpack(out, fresh)
    final = fresh / "runs" / "IQL.umaze.seed1.antmaze-paper.b"
    assert (final / "checkpoints" / "latest.zip").read_bytes() == b"weights at 1000000"
    assert json.loads((final / "status.json").read_text())["state"] == "finished"


def test_cli_refuses_folders_that_are_not_stores_or_packs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["pack", "--results", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2 and "no runs/ folder there" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["unpack", str(tmp_path), "--results", str(tmp_path / "s")])
    assert exit_info.value.code == 2 and "written by `benchmarks.carry pack`" in capsys.readouterr().err


UMAZE = {"D4RL/antmaze/umaze-v1": ("iqlzoo/antmaze/umaze-v0", "regenerated")}


def todays_specs(suite: str, label: str) -> list[RunSpec]:
    """The three umaze runs today's suite files plan for `label` at the quick budget."""
    return expand(plan(suite, agents=[label], budget_name="quick", seeds=3, scoped=False), UMAZE)


def older(spec: RunSpec, **config: object) -> RunSpec:
    """`spec` as the bf16 100k-step era ran it: a run today's suites no longer plan."""
    return dataclasses.replace(spec, config={**spec.config, "bf16": True, **config},
                               protocol=dataclasses.replace(spec.protocol, steps=100_000))


def make_cell_run(root: Path, spec: RunSpec, state: str) -> Path:
    run = make_run(root, spec.run_id, state, (spec.protocol.steps,))
    (run / "provenance.json").write_text(json.dumps({"run": spec.to_json()}))
    return run


def test_record_replaces_a_cell_only_once_its_rerun_has_ended(tmp_path: Path) -> None:
    committed, store = tmp_path / "results", tmp_path / "store"
    iql, expectile = todays_specs("antmaze", "IQL"), todays_specs("seed-findings", "IQL-expectile0.5")
    old_iql, old_expectile = [older(spec) for spec in iql], [older(spec) for spec in expectile]
    for spec in old_iql + old_expectile:  # the bf16 100k-step runs of two cells
        make_cell_run(committed, spec, "finished")
    for run_dir in (committed / "runs").iterdir():
        shutil.rmtree(run_dir / "checkpoints")  # the committed store holds records only
    # the reruns: IQL has ended (one seed diverged), IQL-expectile0.5 still trains one seed
    for spec, state in zip(iql, ("finished", "diverged", "finished")):
        make_cell_run(store, spec, state)
    for spec, state in zip(expectile, ("finished", "running", "finished")):
        make_cell_run(store, spec, state)

    before = sorted(p.name for p in (committed / "runs").iterdir())
    planned = record(store, committed, dry_run=True)
    assert sorted(p.name for p in (committed / "runs").iterdir()) == before  # a dry run changes nothing

    done = record(store, committed)
    assert done == planned
    assert done["recorded"] == [spec.run_id for spec in iql]
    assert sorted(done["removed"]) == sorted(spec.run_id for spec in old_iql)
    assert len(done["waiting"]) == 3 and f"{expectile[1].run_id} (running)" in done["waiting"]
    kept = sorted(p.name for p in (committed / "runs").iterdir())
    assert kept == sorted([spec.run_id for spec in iql] + [spec.run_id for spec in old_expectile])
    recorded = committed / "runs" / iql[1].run_id
    assert sorted(p.name for p in recorded.iterdir()) == [
        "evaluations.csv", "provenance.json", "status.json", "train_log.jsonl"]  # no checkpoint, no TensorBoard
    assert json.loads((recorded / "status.json").read_text())["state"] == "diverged"

    # recording again is a no-op; --match limits the cells looked at
    assert record(store, committed, match="seed-findings")["recorded"] == []
    assert record(store, committed)["removed"] == []


def test_record_never_replaces_a_cell_with_runs_of_fewer_steps(tmp_path: Path) -> None:
    """A training store that still holds the ended 100k-step runs of a cell must not replace its 500k-step reruns,
    even where today's suite files plan both (a budget that was cut back)."""
    committed, store = tmp_path / "results", tmp_path / "store"
    today = todays_specs("antmaze", "IQL")
    for spec in today:
        make_cell_run(committed, dataclasses.replace(spec, protocol=dataclasses.replace(spec.protocol,
                                                                                         steps=1_000_000)), "finished")
        make_cell_run(store, spec, "finished")
    before = sorted(p.name for p in (committed / "runs").iterdir())
    done = record(store, committed)
    assert done["recorded"] == [] and done["removed"] == [] and done["superseded"] == []
    assert done["older"] == [f"{spec.run_id} (500,000 steps; 1,000,000 recorded)" for spec in today]
    assert sorted(p.name for p in (committed / "runs").iterdir()) == before


def test_record_leaves_alone_a_cell_whose_runs_todays_suites_do_not_plan(tmp_path: Path) -> None:
    """`--match` is a substring of run ids (``IQL.iqlzoo-antmaze-umaze`` is also in ``D2RLIQL.iqlzoo-...``): the
    ended bf16 runs of a cell that left the committed store on purpose must not come back with it."""
    committed, store = tmp_path / "results", tmp_path / "store"
    (committed / "runs").mkdir(parents=True)
    stale = [older(spec) for spec in todays_specs("antmaze", "D2RLIQL")]
    for spec in stale:
        make_cell_run(store, spec, "finished")
    done = record(store, committed, match="IQL.iqlzoo-antmaze-umaze")
    assert done["superseded"] == [spec.run_id for spec in stale]
    assert done["recorded"] == [] and list((committed / "runs").iterdir()) == []


def test_record_cli_refuses_one_store_as_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["record", "--results", str(tmp_path), "--into", str(tmp_path)])
    assert exit_info.value.code == 2 and "the same store" in capsys.readouterr().err


def write_committed(root: Path, spec: RunSpec, state: str) -> None:
    run = root / "runs" / spec.run_id
    run.mkdir(parents=True)
    status = {"state": state, "attempts": 1, "error": None, "updated_at": "2026-12-03T00:00:00+00:00"}
    (run / "status.json").write_text(json.dumps(status))
    (run / "provenance.json").write_text(json.dumps({"run": spec.to_json()}))
    (run / "evaluations.csv").write_text("step\n500000\n")


def test_restore_gives_a_fresh_store_the_runs_that_ended_at_todays_budget(tmp_path: Path) -> None:
    committed, store = tmp_path / "results", tmp_path / "store"
    grid = plan("antmaze", agents=["IQL"], budget_name="quick", seeds=3)
    umaze = {"D4RL/antmaze/umaze-v1": ("iqlzoo/antmaze/umaze-v0", "regenerated")}
    today = expand(grid, umaze)
    assert len(today) == 3
    for spec, state in zip(today, ("finished", "diverged", "running")):
        write_committed(committed, spec, state)
    old = today[0]  # the same cell at the old budget, and in bf16: neither is what the suite trains now
    fewer_steps = RunSpec(old.suite, old.label, old.agent, old.config, old.dataset_id, old.data_source, old.seed,
                          dataclasses.replace(old.protocol, steps=100_000))
    bf16 = RunSpec(old.suite, old.label, old.agent, {**old.config, "bf16": True}, old.dataset_id, old.data_source,
                   old.seed, old.protocol)
    for spec in (fewer_steps, bf16):
        write_committed(committed, spec, "finished")

    assert restore(committed, store, dry_run=True)["restored"] == [today[0].run_id, today[1].run_id]
    assert not store.exists()  # a dry run changes nothing
    done = restore(committed, store)
    assert done["restored"] == [today[0].run_id, today[1].run_id]
    assert sorted(done["superseded"]) == sorted([fewer_steps.run_id, bf16.run_id])
    assert done["unfinished"] == [today[2].run_id]
    # what benchmarks.run reads to skip a run: the restored ones have ended, the running one trains again
    states = {spec.run_id: ResultsStore(store).read_status(spec.run_id) for spec in today}
    assert [states[spec.run_id].state for spec in today[:2]] == ["finished", "diverged"]
    assert states[today[2].run_id] is None
    assert restore(committed, store)["present"] == [today[0].run_id, today[1].run_id]  # again: nothing to do
