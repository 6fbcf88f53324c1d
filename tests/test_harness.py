"""The benchmark harness, run for real on the toy dataset: local worker processes and Ray, a driver killed with
SIGKILL and resumed bit-for-bit, a worker killed mid-run, and a run that keeps failing while the others finish."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ANTMAZE_TINY_ID, PATIENCE_S

from benchmarks import runner, suites
from benchmarks.backends import LocalBackend
from benchmarks.run import expand, main, parse_params, resolve_task, run_grid, select_tasks
from benchmarks.store import TEST_DATA_MARKER, ResultsStore, load_results
from benchmarks.suites import PENDULUM_TOY, Protocol, RunSpec, plan
from iqlzoo import IQL
from iqlzoo.machine import torch_threads

REPO_ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["--suite", "smoke", "--eval-episodes", "2", "--reps", "50"]


def smoke_args(root: Path, *extra: str) -> list[str]:
    return [*SMOKE, "--out", str(root), "--leaderboard-out", str(root / "board" / "README.md"), *extra]


def smoke_specs(
    seeds: int, steps: int, eval_every: int, checkpoint_every: int, agents: tuple[str, ...] | None = ("IQL",)
) -> list[RunSpec]:
    """The smoke suite's runs (IQL only unless `agents` says otherwise; None: the suite's default agents)."""
    overrides = {"steps": steps, "eval_every": eval_every, "eval_episodes": 2, "checkpoint_every": checkpoint_every}
    grid = plan("smoke", agents=agents, seeds=seeds, overrides=overrides)
    return expand(grid, {PENDULUM_TOY: (PENDULUM_TOY, "toy")})


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def same_parameters(a: Path, b: Path) -> None:
    left, right = IQL.load(a, device="cpu").nets.state_dict(), IQL.load(b, device="cpu").nets.state_dict()
    assert left.keys() == right.keys()
    for name in left:
        assert torch.equal(left[name], right[name]), name


def test_killed_grid_resumes_bit_exact_and_skips_finished_runs(tmp_path: Path) -> None:
    """SIGKILL the whole CLI (driver and worker) after the second run's first checkpoint, then rerun the command."""
    root = tmp_path / "store"
    args = smoke_args(root, "--agents", "IQL", "--seeds", "2", "--workers", "1", "--steps", "400", "--eval-every",
                      "200", "--checkpoint-every", "100")
    store = ResultsStore(root)
    seed0, seed1 = (spec.run_id for spec in smoke_specs(2, 400, 200, 100))
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.run", *args, "--no-leaderboard"], cwd=REPO_ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any((store.run_dir(seed1) / "checkpoints").glob("step_*.zip")) or proc.poll() is not None,
                 PATIENCE_S, "the second run's first checkpoint")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    assert store.read_status(seed0).state == "finished"
    assert store.read_status(seed1).state == "running"  # killed: it could not record anything else
    # provenance names the command to rerun, not this checkout's absolute path to run.py (sys.argv[0] under -m)
    assert store.read_provenance(seed0)["command"] == shlex.join(["python", "-m", "benchmarks.run", *args,
                                                                   "--no-leaderboard"])
    finished_csv = (store.run_dir(seed0) / "evaluations.csv").read_bytes()
    killed_at = runner.completed_steps(store.run_dir(seed1))
    assert 100 <= killed_at < 400

    assert main(args) == 0
    assert (store.run_dir(seed0) / "evaluations.csv").read_bytes() == finished_csv
    assert store.read_status(seed0).attempts == 1
    status = store.read_status(seed1)
    assert (status.state, status.attempts) == ("finished", 2)
    attempts = store.read_provenance(seed1)["attempts"]
    assert [a["from_step"] for a in attempts] == [0, killed_at]
    records = load_results(root)
    assert sorted(records.groupby("run_id")["step"].apply(list).tolist()) == [[200, 400], [200, 400]]
    assert IQL.load(store.run_dir(seed1) / "checkpoints" / "latest.zip").num_timesteps == 400
    assert (root / TEST_DATA_MARKER).exists()
    board = (root / "board" / "README.md").read_text()
    assert "smoke-steps400-every200-episodes2" in board and "| IQL |" in board

    # The same run trained without interruption, in this process with one thread like a worker: same bits.
    straight = tmp_path / "straight"
    spec = smoke_specs(2, 400, 200, 100)[1]
    with torch_threads(1):
        assert runner.execute_run(spec, runner.RunContext(str(straight))).state == "finished"
    same_parameters(store.run_dir(seed1) / "checkpoints" / "latest.zip",
                    ResultsStore(straight).run_dir(seed1) / "checkpoints" / "latest.zip")
    columns = ["step", "return_mean", "return_std", "normalized_score"]
    pd.testing.assert_frame_equal(store.read_run(seed1)[columns], ResultsStore(straight).read_run(seed1)[columns])


class Recorder:
    """Collects what run_grid reports, and SIGKILLs one run's worker once that run has its first checkpoint."""

    def __init__(self, store: ResultsStore, backend: LocalBackend, victim: str) -> None:
        self.outcomes: list[runner.Outcome] = []
        self.store = store
        self.backend = backend
        self.victim = victim
        self.killed = threading.Event()
        self.watcher = threading.Thread(target=self._kill_victim, daemon=True)

    def _kill_victim(self) -> None:
        wait_for(lambda: any((self.store.run_dir(self.victim) / "checkpoints").glob("step_*.zip")), PATIENCE_S,
                 "checkpoint")
        os.kill(self.backend.worker_pid(self.victim), signal.SIGKILL)
        self.killed.set()

    def started(self, spec: RunSpec, attempt: int, max_attempts: int) -> None:
        if spec.run_id == self.victim and attempt == 1:
            self.watcher.start()

    def progress(self, event: runner.Progress) -> None:
        pass

    def ended(self, outcome: runner.Outcome, retry: bool, attempt: int, max_attempts: int) -> None:
        self.outcomes.append(outcome)


def test_killed_worker_and_failing_run_are_retried_while_the_grid_goes_on(tmp_path: Path, antmaze_minari) -> None:
    resolve_task(PENDULUM_TOY, "auto")  # run_grid does not build datasets: alone, this test must (the CLI would)
    good = smoke_specs(1, 400, 200, 100)[0]
    bad = dataclasses.replace(good, label="IQL-bad", config={**good.config, "expectile": 1.5})
    maze = dataclasses.replace(good, dataset_id=ANTMAZE_TINY_ID, protocol=Protocol(40, 20, 2, 20))
    store = ResultsStore(tmp_path)
    backend = LocalBackend(runner.RunContext(str(tmp_path)), workers=2)
    recorder = Recorder(store, backend, good.run_id)
    outcomes = run_grid([good, bad, maze], backend, store, max_attempts=2, display=recorder)
    assert recorder.killed.is_set()
    assert [(o.run_id, o.state) for o in recorder.outcomes if o.run_id == good.run_id] == [
        (good.run_id, "killed"), (good.run_id, "finished")]
    assert "SIGKILL" in next(o.error for o in recorder.outcomes if o.state == "killed")
    assert outcomes[good.run_id].state == "finished" and store.read_status(good.run_id).attempts == 2
    assert store.read_provenance(good.run_id)["attempts"][1]["from_step"] >= 100
    assert store.read_run(good.run_id)["step"].tolist() == [200, 400]

    assert outcomes[bad.run_id].state == "failed" and "expectile" in outcomes[bad.run_id].error
    status = store.read_status(bad.run_id)
    assert (status.state, status.attempts) == ("failed", 2)
    assert "Traceback" in status.error and "expectile" in status.error
    assert store.read_run(bad.run_id).empty

    assert outcomes[maze.run_id].state == "finished"  # goal-reaching data: success rates are recorded
    maze_records = store.read_run(maze.run_id)
    assert maze_records["step"].tolist() == [20, 40] and maze_records["success_rate"].notna().all()


def test_smoke_suite_on_a_local_ray_cluster(tmp_path: Path) -> None:
    """The harness starts its own local Ray cluster (workers at nice 0), runs the grid on it and shuts it down."""
    ray = pytest.importorskip("ray")
    try:
        assert main(smoke_args(tmp_path, "--backend", "ray", "--seeds", "2", "--steps", "40", "--eval-every", "20",
                               "--checkpoint-every", "20")) == 0
        assert not ray.is_initialized()
    finally:
        ray.shutdown()
    store = ResultsStore(tmp_path)
    assert {store.read_provenance(run_id)["niceness"] for run_id in store.run_ids()} == {0}  # not Ray's default 15
    records = load_results(tmp_path)
    assert sorted(records.groupby("run_id")["step"].apply(list).tolist()) == [[20, 40]] * 4  # 2 agents x 2 seeds
    assert set(records["seed"]) == {0, 1} and set(records["agent"]) == {"IQL", "D2RLIQL"}
    assert all(store.read_status(run_id).state == "finished" for run_id in store.run_ids())
    assert "smoke-steps40-every20-episodes2" in (tmp_path / "board" / "README.md").read_text()


def test_default_paths_match_the_leaderboard_generator() -> None:
    from benchmarks import run, store
    from leaderboard import __main__ as generator
    from leaderboard import render

    assert (run.DEFAULT_RESULTS, run.DEFAULT_OUT) == (store.DEFAULT_RESULTS, render.DEFAULT_OUT)
    assert generator.DEFAULT_RESULTS == store.DEFAULT_RESULTS


def _toy_suite(directory: Path, name: str, cells: str, budget: str = "tiny") -> suites.Suite:
    """A suite read from a hyperparameter file with the given `cells:` block, on the toy dataset."""
    (directory / f"{name}.yml").write_text(
        f"summary: test\nbudget: {budget}\ndatasets: {{pendulum: {PENDULUM_TOY}}}\n"
        f"settings: {{actor_hidden: [64, 64]}}\ncells:\n{cells}")
    return suites.load_suite(name, directory)


def test_plan_refuses_unknown_agents_and_run_ids_follow_identity(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown agent 'FutureIQL'; iqlzoo's agents: \['BC', 'BonusIQL'"):
        _toy_suite(tmp_path, "future", "  IQL: {}\n  Future: {agent: FutureIQL, settings: {expectile: 0.8}}\n")
    with pytest.raises(ValueError, match="unknown agent 'Bogus'"):
        plan("smoke", agents=["Bogus"])
    monkeypatch.setitem(suites.SUITES, "mixed", _toy_suite(
        tmp_path, "mixed", "  IQL: {}\n  IQL-e0.8: {agent: IQL, settings: {expectile: 0.8}}\n"))
    grid = plan("mixed", seeds=2)
    assert [cell.label for cell in grid.cells] == ["IQL", "IQL-e0.8"]
    assert grid.store_suite == "mixed-tiny"
    with pytest.raises(ValueError, match="no cells for"):
        plan("mixed", agents=["SAC"])

    specs = smoke_specs(2, 400, 200, 100)
    assert len({spec.run_id for spec in specs}) == 2 and specs[0].suite == "smoke-steps400-every200-episodes2"
    moved = dataclasses.replace(specs[0], protocol=Protocol(400, 200, 2, 50))
    assert moved.run_id == specs[0].run_id  # the checkpoint interval is not part of a run's identity
    tuned = dataclasses.replace(specs[0], config={**specs[0].config, "expectile": 0.8})
    assert tuned.run_id != specs[0].run_id and tuned.config_hash != specs[0].config_hash


def test_budget_agent_settings_reach_every_run_and_a_cell_overrides_them(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setitem(suites.BUDGETS, "tiny-bf16", dataclasses.replace(
        suites.BUDGETS["tiny"], name="tiny-bf16", agent_config={"bf16": True, "expectile": 0.6}))
    monkeypatch.setitem(suites.SUITES, "mixed", _toy_suite(
        tmp_path, "mixed", "  IQL: {}\n  IQL-e0.8: {agent: IQL, settings: {expectile: 0.8}}\n", budget="tiny-bf16"))
    specs = expand(plan("mixed", seeds=1), {PENDULUM_TOY: (PENDULUM_TOY, "toy")})
    assert [dict(spec.config) for spec in specs] == [{"bf16": True, "expectile": 0.6, "actor_hidden": [64, 64]},
                                                     {"bf16": True, "expectile": 0.8, "actor_hidden": [64, 64]}]
    plain = expand(plan("mixed", seeds=1, budget_name="tiny"), {PENDULUM_TOY: (PENDULUM_TOY, "toy")})
    assert plain[0].config_hash != specs[0].config_hash  # the budget's settings are part of the run's identity
    assert suites.BUDGETS["quick"].agent_config == {}  # float32: bf16 has not been shown to score the same


def test_params_override_every_run_and_enter_its_identity() -> None:
    params = parse_params(["expectile:0.8", "normalize_observations:true", "critic_body:d2rl", "actor_hidden:[64,64]"])
    assert params == {"expectile": 0.8, "normalize_observations": True, "critic_body": "d2rl", "actor_hidden": [64, 64]}
    base = expand(plan("smoke", seeds=1), {PENDULUM_TOY: (PENDULUM_TOY, "toy")})
    tuned = expand(plan("smoke", seeds=1), {PENDULUM_TOY: (PENDULUM_TOY, "toy")}, {"expectile": 0.8})
    assert all(spec.config["expectile"] == 0.8 and spec.label.endswith("+expectile=0.8") for spec in tuned)
    assert {s.run_id for s in base}.isdisjoint(s.run_id for s in tuned)
    for bad, message in ((["expectile"], "key:value"), (["bogus:1"], "not an agent setting"),
                         (["expectile:1.5"], "expectile"), (["expectile:abc"], "expectile")):
        with pytest.raises(ValueError, match=message):
            parse_params(bad)


def test_datasets_option_selects_by_id_or_short_name(tmp_path: Path) -> None:
    tasks = list(suites.SUITES["antmaze"].datasets)
    assert select_tasks(tasks, None) == tasks
    assert select_tasks(tasks, ["umaze"]) == ["D4RL/antmaze/umaze-v1"]
    assert select_tasks(tasks, ["large-play", "D4RL/antmaze/umaze-diverse-v1"]) == [
        "D4RL/antmaze/umaze-diverse-v1", "D4RL/antmaze/large-play-v1"]
    with pytest.raises(ValueError, match=r"no datasets \['large'\].*'large-diverse'"):
        select_tasks(tasks, ["large"])
    assert main(["--suite", "smoke", "--datasets", "hopper", "--out", str(tmp_path / "store")]) == 2
    assert not (tmp_path / "store").exists()


def _close_parameters(a: Path, b: Path, atol: float = 1e-5) -> None:
    left, right = IQL.load(a, device="cpu").nets.state_dict(), IQL.load(b, device="cpu").nets.state_dict()
    assert left.keys() == right.keys()
    for name in left:
        torch.testing.assert_close(left[name], right[name], atol=atol, rtol=0, msg=name)


def _truncate_to_checkpoint(store: ResultsStore, run_id: str, step: int) -> None:
    """Make a finished run look killed right after its checkpoint at `step`."""
    run_dir = store.run_dir(run_id)
    for path in (run_dir / "checkpoints").glob("*.zip"):
        if path.name != runner.checkpoint_name(step):
            path.unlink()
    (run_dir / "checkpoints" / runner.checkpoint_name(step)).rename(run_dir / "checkpoints" / runner.LATEST)
    store.set_status(run_id, "running")


def _train_rows(path: Path) -> dict[int, dict]:
    """The loss lines of a train log by step."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["step"]: row for row in rows if "train/critic_loss" in row}


def test_seed_group_trains_resumes_and_falls_back_like_runs_alone(tmp_path: Path) -> None:
    resolve_task(PENDULUM_TOY, "auto")  # builds the toy dataset when the store lacks it, as the CLI does
    specs = smoke_specs(3, 200, 100, 100)
    group = [spec for spec in specs if spec.label == specs[0].label]
    assert len(group) == 3 and len({runner.seed_group_key(spec) for spec in group}) == 1
    with torch_threads(1):
        alone = ResultsStore(tmp_path / "alone")
        for spec in group:
            assert runner.execute_run(spec, runner.RunContext(str(alone.root))).state == "finished"
        together = ResultsStore(tmp_path / "together")
        outcomes = runner.execute_group(group, runner.RunContext(str(together.root)))
        assert [o.state for o in outcomes] == ["finished"] * 3
        # interrupted at step 100: all members resume as one model; one member behind catches up alone first
        resumed, uneven = ResultsStore(tmp_path / "resumed"), ResultsStore(tmp_path / "uneven")
        for store in (resumed, uneven):
            for spec in group:
                runner.execute_run(spec, runner.RunContext(str(store.root)))
                _truncate_to_checkpoint(store, spec.run_id, 100)
        shutil.rmtree(uneven.run_dir(group[2].run_id))
        assert [o.state for o in runner.execute_group(group, runner.RunContext(str(resumed.root)))] == ["finished"] * 3
        assert [o.state for o in runner.execute_group(group, runner.RunContext(str(uneven.root)))] == ["finished"] * 3
        assert [o.state for o in runner.execute_group(group, runner.RunContext(str(resumed.root)))] == ["finished"] * 3
    columns = ["step", "return_mean", "normalized_score"]
    for spec in group:
        reference = alone.read_run(spec.run_id)[columns]
        for store in (together, resumed, uneven):
            _close_parameters(alone.run_dir(spec.run_id) / "checkpoints" / "latest.zip",
                              store.run_dir(spec.run_id) / "checkpoints" / "latest.zip")
            pd.testing.assert_frame_equal(store.read_run(spec.run_id)[columns], reference, rtol=1e-3)
        attempts = together.read_provenance(spec.run_id)["attempts"]
        assert attempts[-1]["seed_group"] == [s.run_id for s in group]
        log = (together.run_dir(spec.run_id) / runner.TRAIN_LOG).read_text()
        assert '"seed_group_size": 3' in log and "srank" in log and "agent0/" not in log
        # each member's train log holds its own agent's statistics, as the run alone logged them
        own, solo = (_train_rows(store.run_dir(spec.run_id) / runner.TRAIN_LOG) for store in (together, alone))
        assert own.keys() == solo.keys() and own
        for step, row in own.items():
            for key in ("train/critic_loss", "train/q_mean", "train/value_loss"):
                assert row[key] == pytest.approx(solo[step][key], rel=1e-3, abs=1e-4), (spec.seed, step, key)
    assert [a["from_step"] for a in resumed.read_provenance(group[0].run_id)["attempts"]] == [0, 100]
    # the member that stood behind caught up alone (0 -> 100), then the three trained on as one model
    behind = uneven.read_provenance(group[2].run_id)["attempts"]
    assert [(a["from_step"], "seed_group" in a) for a in behind] == [(0, False), (100, True)]
    assert uneven.read_provenance(group[0].run_id)["attempts"][-1]["seed_group"] == [s.run_id for s in group]
    # first run, the faked kill (set "running"), the group's resume; the third call found every member finished
    assert resumed.read_status(group[0].run_id).attempts == 3


def test_grid_with_seed_groups_on_local_workers(tmp_path: Path) -> None:
    args = smoke_args(tmp_path / "store", "--seeds", "2", "--workers", "2", "--steps", "100", "--eval-every", "100",
                      "--checkpoint-every", "100", "--group-seeds", "on", "--no-leaderboard")
    assert main(args) == 0
    records = load_results(tmp_path / "store")
    assert records["run_id"].nunique() == len(smoke_specs(2, 100, 100, 100, agents=None)) == 4
    assert set(records["step"]) == {100} and set(records["agent"]) == {"IQL", "D2RLIQL"}


def test_rerun_warns_about_finished_runs_on_another_build_of_the_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    tiny = ["--agents", "IQL", "--steps", "20", "--eval-every", "20", "--checkpoint-every", "20", "--no-leaderboard"]
    assert main(smoke_args(root, *tiny, "--seeds", "1")) == 0
    assert main(smoke_args(root, *tiny, "--seeds", "2")) == 0  # same build: nothing to say
    assert "another build" not in capsys.readouterr().out
    store = ResultsStore(root)
    (seed0,) = [spec.run_id for spec in smoke_specs(1, 20, 20, 20)]
    provenance = store.read_provenance(seed0)
    provenance["dataset"]["hash"] = "0123456789abcdef"
    store.write_provenance(seed0, provenance)
    assert main(smoke_args(root, *tiny, "--seeds", "3")) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"1 finished run(s) on {PENDULUM_TOY} were trained on another build of it (01234567)" in out
    assert seed0 in out and "delete their folders to retrain" in out
    assert main(smoke_args(root, *tiny, "--seeds", "3")) == 0  # nothing left to train: no comparison to warn about
    assert "another build" not in capsys.readouterr().out


def test_run_that_lost_its_checkpoints_starts_over_on_the_local_build(tmp_path: Path) -> None:
    root = tmp_path / "store"
    tiny = ["--agents", "IQL", "--seeds", "1", "--steps", "20", "--eval-every", "10", "--checkpoint-every", "10",
            "--no-leaderboard"]
    assert main(smoke_args(root, *tiny)) == 0
    store = ResultsStore(root)
    (run_id,) = store.run_ids()
    local_hash = store.read_run(run_id)["dataset_hash"].iloc[0]
    # what a session cut off on another machine leaves behind: evaluations of a build that is not here, no checkpoints
    shutil.rmtree(store.run_dir(run_id) / "checkpoints")
    csv = store.run_dir(run_id) / "evaluations.csv"
    csv.write_text(csv.read_text().replace(f",{local_hash},", ",0123456789abcdef,"))
    store.set_status(run_id, "running")
    assert main(smoke_args(root, *tiny)) == 0
    assert store.read_status(run_id).state == "finished"
    records = store.read_run(run_id)
    assert list(records["step"]) == [10, 20] and set(records["dataset_hash"]) == {local_hash}
    assert store.read_provenance(run_id)["dataset"]["hash"] == local_hash


def test_runs_another_process_trained_are_reported_as_such_not_as_done_here(tmp_path: Path) -> None:
    """Two harnesses on one store: the one that finds a run finished (or locked) by the other says so, and a run
    the other finished while this one waited counts as done, not as a failure of this grid."""
    from benchmarks.run import settle_elsewhere

    spec = smoke_specs(1, 20, 10, 2)[0]
    store = ResultsStore(tmp_path)
    store.set_status(spec.run_id, "finished")
    outcome = runner.execute_run(spec, runner.RunContext(str(tmp_path)))
    assert outcome.state == "finished" and outcome.elsewhere
    busy = {spec.run_id: runner.Outcome(spec.run_id, "busy", 0, "another process is training this run", elsewhere=True)}
    settled = settle_elsewhere(busy, store)[spec.run_id]
    assert settled.state == "finished" and settled.elsewhere
    store.set_status(spec.run_id, "running")
    assert settle_elsewhere(busy, store)[spec.run_id].state == "busy"  # still training elsewhere: not settled


def test_an_unwritable_store_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["--suite", "smoke", "--out", str(blocker / "store"), "--no-leaderboard"]) == 2
    out = capsys.readouterr().out
    assert "cannot write the results store" in out and "--out" in out and "Traceback" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--agents", "Bogus"], "unknown agent 'Bogus'"),
    pytest.param(["--device", "cuda"], "no CUDA GPU is visible", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="checks the no-GPU message")),
])
def test_a_grid_that_cannot_run_is_one_error_and_exit_2_before_any_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["--suite", "smoke", "--out", str(tmp_path / "store"), "--no-leaderboard", *argv]) == 2
    out = capsys.readouterr().out
    assert message in out and "Traceback" not in out
    assert not list((tmp_path / "store").glob("runs/*"))


def test_the_antmaze_suite_trains_the_evalgoal_mazes_at_the_paper_budget_as_regenerated_data(monkeypatch) -> None:
    """The play mazes relabelled for the evaluation goal (D4RL's task) are datasets of their own in the `antmaze`
    suite: planned at the `paper` budget (no scope), outside the `quick` scope, resolved as regenerated data, and
    built on demand like a regeneration (the error carries the id `--build-missing` builds)."""
    import benchmarks.run as run
    from benchmarks.run import DatasetUnavailableError
    from leaderboard.paper import labelled_for_own_goals
    from leaderboard.published import published_task

    evalgoal = "iqlzoo/antmaze/medium-play-evalgoal-v0"
    paper = suites.plan("antmaze", agents=["IQL"], budget_name="paper", seeds=3)
    assert select_tasks(paper.tasks, ["medium-play-evalgoal"], paper.suite.names) == [evalgoal]
    quick = suites.plan("antmaze", budget_name="quick")
    assert evalgoal not in {task for cell in quick.cells for task in cell.datasets}
    monkeypatch.setattr(run, "is_local", lambda dataset_id: False)
    with pytest.raises(DatasetUnavailableError, match="is not built") as missing:
        resolve_task(evalgoal, "regenerated")
    assert missing.value.build_id == evalgoal
    with pytest.raises(DatasetUnavailableError, match="no official version; pass --data regenerated"):
        resolve_task(evalgoal, "official")
    monkeypatch.setattr(run, "is_local", lambda dataset_id: dataset_id == evalgoal)
    assert resolve_task(evalgoal, "auto") == (evalgoal, "regenerated")
    spec, = expand(suites.plan("antmaze", agents=["IQL"], budget_name="paper", seeds=1), {evalgoal: (evalgoal,
                                                                                                     "regenerated")})
    assert spec.dataset_id == evalgoal and spec.config["expectile"] == 0.9 and spec.protocol.steps == 1_000_000
    # the leaderboard shows it beside D4RL's published medium-play numbers, and not as a different task
    assert published_task(evalgoal) == "D4RL/antmaze/medium-play-v1"
    assert not labelled_for_own_goals(evalgoal, "regenerated")
