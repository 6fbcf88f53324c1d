"""The training lanes (`resume/lanes.sh`) queue only what the suites plan, and the whole `quick` AntMaze grid.

A lane runs for a night unattended: a misspelt agent or dataset would fail its group after the previous one finished and
leave the core idle, a missing cell would leave the grid unfinished without anyone noticing. The script's dry run
(``LANES_DRY_RUN=1``) prints each step instead of doing it; these tests read that.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import benchmarks.reference_iql as reference
from benchmarks.run import select_tasks
from benchmarks.store import REPO_ROOT
from benchmarks.suites import BUDGETS, SUITES, Plan, plan, split_store_suite
from iqlzoo.recipes.registry import RECIPES

LANES = REPO_ROOT / "resume" / "lanes.sh"


def reference_main(argv: list[str]) -> None:
    """Parse a reference step's command line as ``python -m benchmarks.reference_iql`` would, without training."""
    parsed = []
    original = reference.train_seed
    reference.train_seed = lambda *args, **kwargs: parsed.append(args)
    try:
        assert reference.main(argv) == 0 and parsed
    finally:
        reference.train_seed = original


def dry_run(lane: int, work: Path) -> list[list[str]]:
    """The steps lane `lane` would take, each split into words."""
    done = subprocess.run(
        ["bash", str(LANES), str(lane)], env={**os.environ, "LANES_DRY_RUN": "1", "WORK": str(work)},
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    return [line.split() for line in done.stdout.splitlines()]


def planned(suite: str, budget: str, agent: str, data: str) -> tuple[Plan, list[str]]:
    """The plan and the suite datasets of `benchmarks.run --suite suite --budget budget --agents agent --datasets
    data`, chosen as that command chooses them (a ValueError, as the command gives, for an agent or dataset the suite
    does not have)."""
    grid = plan(suite, agents=[agent], budget_name=budget, scoped=False)
    return grid, select_tasks(grid.tasks, [data], grid.suite.names)


@pytest.mark.parametrize("lane", [1, 2])
def test_every_step_of_a_lane_is_one_its_suite_plans_inside_the_budgets_scope(lane, tmp_path):
    steps = dry_run(lane, tmp_path)
    worktrees = {words[1] for words in steps if words[0] == "worktree"}
    groups = [words[1:] for words in steps if words[0] == "group"]
    assert groups and {words[0] for words in steps} <= {"worktree", "restore", "group", "reference", "set_aside"}
    for directory, suite, budget, agent, data, *_ in groups:
        assert directory in worktrees, f"{agent} {data} trains in {directory}, a worktree the lane does not make"
        grid, tasks = planned(suite, budget, agent, data)
        assert len(tasks) == 1
        assert not grid.outside_scope(tasks)
    for directory, data, out, *options in (words[1:] for words in steps if words[0] == "reference"):
        assert directory in worktrees, f"the reference run on {data} is in {directory}, not a worktree the lane makes"
        assert data in RECIPES, f"{data} is not a dataset iqlzoo can build"
        assert not out.startswith(str(REPO_ROOT)), "reference runs write checkpoints: keep them out of the checkout"
        reference_main(["--dataset", data, "--out", out, *options])  # the options parse
    for maker, store, suite, budget, agent, data in (words[1:] for words in steps if words[0] == "set_aside"):
        assert maker in ("Intel", "AMD"), f"set_aside names the maker whose runs it moves, not {maker!r}"
        grid, tasks = planned(suite, budget, agent, data)
        assert len(tasks) == 1 and not grid.outside_scope(tasks)
        following = steps[steps.index(["set_aside", maker, store, suite, budget, agent, data]) + 1]
        assert following[:1] == ["group"] and following[2:6] == [suite, budget, agent, data], (
            "a group set aside must start over at once")
        assert following[6:8] == ["--out", store], "set aside in the store the group then trains into"
    for words in steps:
        if words[0] == "restore":
            for store_suite in words[2:]:
                suite, budget = split_store_suite(store_suite)
                assert suite in SUITES and budget in BUDGETS, store_suite


def test_the_lanes_queue_the_whole_quick_antmaze_grid(tmp_path):
    queued = {
        (agent, task)
        for lane in (1, 2)
        for words in dry_run(lane, tmp_path)
        if words[0] == "group" and words[2:4] == ["antmaze", "quick"]
        for agent, task in [(words[4], planned("antmaze", "quick", words[4], words[5])[1][0])]
    }
    grid = {(cell.label, task) for cell in plan("antmaze", budget_name="quick").cells for task in cell.datasets}
    assert grid and grid <= queued, f"not queued: {sorted(grid - queued)}"


def test_the_worktree_commits_are_on_main(tmp_path):
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True,
                             cwd=REPO_ROOT)
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("needs a full git clone")
    commits = {words[2] for lane in (1, 2) for words in dry_run(lane, tmp_path) if words[0] == "worktree"}
    for commit in commits:
        found = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=REPO_ROOT)
        assert found.returncode == 0, f"worktree commit {commit} is not an ancestor of HEAD"


def ended(store: Path, suite: str, budget: str, agent: str, data: str) -> bool:
    """What the lanes' `ended` step says of one group in `store` (the function alone, sourced from the script)."""
    script = f'source <(sed -n "/^runs_of()/,/^}}/p;/^ended()/,/^}}/p" "{LANES}"); ended "$@"'
    done = subprocess.run(["bash", "-c", script, "ended", str(store), suite, budget, agent, data], timeout=60)
    return done.returncode == 0


def test_a_group_is_skipped_only_when_every_seed_of_exactly_that_cell_has_ended(tmp_path):
    def write(run_id: str, state: str) -> None:
        (tmp_path / "runs" / run_id).mkdir(parents=True)
        (tmp_path / "runs" / run_id / "status.json").write_text(f'{{\n  "attempts": 1,\n  "state": "{state}"\n}}\n')

    for seed in range(3):
        write(f"IQL-expectile0.5.iqlzoo-antmaze-umaze-v0.seed{seed}.seed-findings-quick.0000000{seed}", "finished")
        write(f"IQL.iqlzoo-antmaze-medium-play-v0.seed{seed}.antmaze-quick.1000000{seed}", "finished")
    write("IQL.iqlzoo-antmaze-umaze-v0.seed0.antmaze-quick.20000000", "finished")
    write("IQL.iqlzoo-antmaze-umaze-v0.seed1.antmaze-quick.20000001", "diverged")
    write("IQL.iqlzoo-antmaze-umaze-v0.seed2.antmaze-quick.20000002", "running")
    assert ended(tmp_path, "seed-findings", "quick", "IQL-expectile0.5", "umaze")
    assert ended(tmp_path, "antmaze", "quick", "IQL", "medium-play")
    assert not ended(tmp_path, "antmaze", "quick", "IQL", "umaze"), "seed 2 is still running"
    assert not ended(tmp_path, "antmaze", "quick", "IQL", "medium"), "medium is not medium-play"
    assert not ended(tmp_path, "seed-findings", "quick", "IQL", "umaze"), "IQL is not IQL-expectile0.5"
    assert not ended(tmp_path, "antmaze", "paper", "IQL", "medium-play"), "another budget"
    (tmp_path / "runs" / "IQL.iqlzoo-antmaze-umaze-v0.seed2.antmaze-quick.20000002" / "status.json").write_text(
        '{"state":"finished"}')
    assert ended(tmp_path, "antmaze", "quick", "IQL", "umaze"), "finished and diverged both end a run"


def elsewhere(store: Path, cpu: str, *group: str) -> str:
    """What the lanes' `elsewhere` step says of one group in `store` on a machine whose CPU model name is `cpu`."""
    functions = ";".join(f"/^{name}()/,/^}}/p" for name in ("runs_of", "cpu_vendor", "elsewhere"))
    script = f'source <(sed -n "{functions}" "{LANES}"); elsewhere "$@"'
    done = subprocess.run(["bash", "-c", script, "elsewhere", str(store), *group], capture_output=True, text=True,
                          env={**os.environ, "LANES_CPU": cpu}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_group_begun_on_another_makers_cpu_waits_for_one(tmp_path):
    intel, amd = "Intel(R) Xeon(R) Processor", "AMD EPYC"
    for seed in range(3):
        run = tmp_path / "runs" / f"BonusIQL.iqlzoo-antmaze-umaze-v0.seed{seed}.antmaze-quick.0000000{seed}"
        run.mkdir(parents=True)
        (run / "provenance.json").write_text(f'{{\n  "cpu_count": 2,\n  "cpu_model": "{intel}"\n}}\n')
    group = ("antmaze", "quick", "BonusIQL", "umaze")
    assert elsewhere(tmp_path, amd, *group) == "Intel"
    assert elsewhere(tmp_path, intel, *group) == ""
    assert elsewhere(tmp_path, amd, "antmaze", "quick", "IQL", "umaze") == "", "a group not begun starts anywhere"
    assert elsewhere(tmp_path, amd, "antmaze", "paper", "BonusIQL", "umaze") == "", "another budget's runs"


def set_aside(work: Path, cpu: str, maker: str, *group: str) -> str:
    """Run the lanes' `set_aside` step for `maker`'s runs of one group of the store `work`/runs/store on a machine
    whose CPU is `cpu`."""
    functions = ";".join(f"/^{name}()/,/^}}/p" for name in ("runs_of", "ended", "cpu_vendor", "elsewhere", "set_aside"))
    script = f'source <(sed -n "{functions}" "{LANES}"); DRY=0; LANE=1; set_aside "$@"'
    done = subprocess.run(["bash", "-c", script, "set_aside", maker, str(work / "runs" / "store"), *group],
                          capture_output=True, text=True, env={**os.environ, "LANES_CPU": cpu, "WORK": str(work)},
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_group_set_aside_moves_only_the_named_makers_unended_runs_of_that_group(tmp_path):
    intel, amd = "Intel(R) Xeon(R) Processor", "AMD EPYC"
    store = tmp_path / "runs" / "store" / "runs"

    def write(run_id: str, cpu: str, state: str) -> Path:
        run = store / run_id
        run.mkdir(parents=True)
        (run / "provenance.json").write_text(f'{{\n  "cpu_model": "{cpu}"\n}}\n')
        (run / "status.json").write_text(f'{{\n  "state": "{state}"\n}}\n')
        return run

    bonus = [write(f"BonusIQL.iqlzoo-antmaze-umaze-v0.seed{s}.antmaze-quick.0000000{s}", intel, "running")
             for s in range(3)]
    ended_on_intel = [write(f"D2RLIQL.iqlzoo-antmaze-umaze-v0.seed{s}.antmaze-quick.1000000{s}", intel, "finished")
                      for s in range(3)]
    here = [write(f"IQL.iqlzoo-antmaze-umaze-v0.seed{s}.antmaze-quick.2000000{s}", amd, "running") for s in range(3)]
    group = ("antmaze", "quick", "BonusIQL", "umaze")

    assert set_aside(tmp_path, intel, "Intel", *group) == "", "its own maker resumes it"
    assert set_aside(tmp_path, amd, "AMD", *group) == "", "runs of a maker it was not asked to move stay"
    assert all(run.is_dir() for run in bonus)
    assert set_aside(tmp_path, amd, "Intel", "antmaze", "quick", "D2RLIQL", "umaze") == "", "an ended group stays"
    assert set_aside(tmp_path, amd, "Intel", "antmaze", "quick", "IQL", "umaze") == "", "a group begun here stays"
    assert all(run.is_dir() for run in ended_on_intel + here)

    said = set_aside(tmp_path, amd, "Intel", *group)
    assert "BonusIQL umaze" in said and "Intel" in said
    assert not any(run.exists() for run in bonus)
    kept = tmp_path / "runs" / "set-aside" / "Intel"
    (first,) = kept.iterdir()
    assert str(first) in said, "the message says where the runs went"
    assert sorted(p.name for p in first.iterdir()) == sorted(run.name for run in bonus)
    assert all((first / run.name / "provenance.json").is_file() for run in bonus)
    assert all(run.is_dir() for run in ended_on_intel + here)

    # the same runs brought back (a pack unpacked again) and set aside again: the first copies stay as they were
    (first / bonus[0].name / "mark").write_text("first")
    again = [write(run.name, intel, "running") for run in bonus]
    assert "Intel" in set_aside(tmp_path, amd, "Intel", *group)
    assert not any(run.exists() for run in again)
    folders = sorted(kept.iterdir())
    assert len(folders) == 2 and first in folders
    assert (first / bonus[0].name / "mark").read_text() == "first"
    (second,) = (folder for folder in folders if folder != first)
    assert sorted(p.name for p in second.iterdir()) == sorted(run.name for run in bonus)


def test_two_lanes_asking_for_one_worktree_take_turns(tmp_path):
    """On a fresh machine both lanes start together and ask for the same worktree: while one holds the lock (here the
    test), the other waits instead of finding a half-made folder, then finds the finished one and leaves it."""
    import fcntl
    import time

    main_repo = tmp_path / "main"
    main_repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(main_repo)]
    subprocess.run(["git", "init", "-q", str(main_repo)], check=True)
    (main_repo / "file").write_text("x\n")
    subprocess.run([*git, "add", "file"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    script = f'source <(sed -n "/^worktree()/,/^}}/p" "{LANES}"); DRY=0; MAIN={main_repo}; worktree "$@"'
    tree = tmp_path / "wt"

    def start() -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", script, "worktree", str(tree), commit], stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "WORK": str(tmp_path)})

    with open(tmp_path / ".lanes-worktree.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        waiting = start()
        time.sleep(2)
        assert waiting.poll() is None and not tree.exists(), "it made the worktree while the other lane held the lock"
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert waiting.wait(timeout=60) == 0, waiting.stderr.read()
    assert (tree / "file").read_text() == "x\n"
    second = start()
    assert second.wait(timeout=60) == 0, second.stderr.read()
    assert "already exists" not in second.stderr.read()
