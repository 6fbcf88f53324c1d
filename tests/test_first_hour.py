"""The first hour on a fresh machine without internet: official ids resolve to their local regenerations, offline
lookups fail fast, loaded agents evaluate on what their checkpoint records, and the messages name commands that work."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import minari
import numpy as np
import pytest
from conftest import PATIENCE_S
from minari.data_collector.episode_buffer import EpisodeBuffer

from benchmarks import run, runner
from benchmarks.backends import task_specs
from benchmarks.suites import plan, short_name
from iqlzoo import IQL, evaluate
from iqlzoo.data.equivalents import ANTMAZE_NAMES
from iqlzoo.recipes.__main__ import main as datasets_main

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- 4. a loaded agent evaluates on what its checkpoint records ---
def test_loaded_agent_evaluates_on_the_dataset_its_checkpoint_records(pendulum_data, make_iql, tmp_path):
    model = make_iql(pendulum_data)
    model.learn(20)
    model.save(tmp_path / "agent")
    loaded = IQL.load(tmp_path / "agent", device="cpu")
    assert loaded.dataset is None and loaded.transform.dataset_id == pendulum_data.dataset_id
    result = evaluate(loaded, n_episodes=2, seed=3)
    np.testing.assert_allclose(result.returns, evaluate(model, pendulum_data, n_episodes=2, seed=3).returns)
    meta = minari.load_dataset(pendulum_data.dataset_id).storage.metadata  # the local build's reference scores
    expected = 100 * (result.returns - meta["ref_min_score"]) / (meta["ref_max_score"] - meta["ref_min_score"])
    np.testing.assert_allclose(result.normalized_scores, expected)
    assert result.env_id == "Pendulum-v1"


def test_loaded_agent_without_its_dataset_evaluates_on_the_recorded_env(pendulum_data, make_iql, tmp_path):
    elsewhere = dataclasses.replace(pendulum_data, dataset_id="elsewhere/pendulum-v0", metadata={})
    make_iql(elsewhere).save(tmp_path / "agent")
    result = evaluate(IQL.load(tmp_path / "agent", device="cpu"), n_episodes=2)
    assert result.env_id == "Pendulum-v1" and result.n_episodes == 2 and result.normalized_scores is None


def test_loaded_agent_whose_recorded_env_needs_its_dataset_gets_a_clear_error(antmaze_data, make_iql, tmp_path):
    elsewhere = dataclasses.replace(antmaze_data, dataset_id="elsewhere/antmaze-v0", metadata={})
    make_iql(elsewhere).save(tmp_path / "agent")
    with pytest.raises(ValueError, match=r"(?s)'elsewhere/antmaze-v0' is not in the local store.*AntMaze_UMaze-v5"):
        evaluate(IQL.load(tmp_path / "agent", device="cpu"), n_episodes=1)


# --- helpers: a machine without internet, and a regeneration in the local store ---
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once, as on a machine whose network is
    down (CI has no internet either)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> str:
    """The Hub endpoint (what Minari downloads from) points at a closed local port; no offline switch is set."""
    from huggingface_hub import constants

    url = closed_port_url()
    monkeypatch.setattr(constants, "ENDPOINT", url)
    for name in ("HF_HUB_OFFLINE", "MINARI_OFFLINE", "MINARI_REMOTE"):
        monkeypatch.delenv(name, raising=False)
    return url


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The addresses of every TCP connection this process opens from here on (the probe's, and any download's)."""
    opened: list[tuple[str, int]] = []
    connect = socket.create_connection

    def counting(address, *args, **kwargs):
        opened.append(address)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    return opened


@pytest.fixture
def own_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty Minari store of this test's own (the session store may hold tiny builds of regenerated ids)."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path / "minari"


def write_copy(source: minari.MinariDataset, dataset_id: str) -> None:
    """The episodes of `source` written to the local store as `dataset_id`."""
    episodes = [
        EpisodeBuffer(id=episode.id, observations=episode.observations, actions=episode.actions,
                      rewards=list(episode.rewards), terminations=list(episode.terminations),
                      truncations=list(episode.truncations))
        for episode in source.iterate_episodes()
    ]
    minari.create_dataset_from_buffers(
        dataset_id, buffer=episodes, env=source.env_spec, eval_env=source.env_spec, algorithm_name="random",
        author="iqlzoo tests", author_email="none", ref_min_score=0.0, ref_max_score=1.0,
    )


@pytest.fixture
def umaze_regeneration(antmaze_minari, own_store) -> str:
    """The tiny AntMaze episodes written to this test's store as `iqlzoo/antmaze/umaze-v0`."""
    write_copy(antmaze_minari, "iqlzoo/antmaze/umaze-v0")
    return "iqlzoo/antmaze/umaze-v0"


# --- 1. an official id trains on its local regeneration, saying so in one line ---
def test_official_id_uses_its_built_regeneration_offline_with_one_line(umaze_regeneration, no_network, connections,
                                                                      caplog):
    with caplog.at_level(logging.INFO):
        model = IQL("MlpPolicy", "D4RL/antmaze/umaze-v1", policy_kwargs={"net_arch": [32, 32]}, batch_size=16)
    # at most the one probe: no download attempt, whose Hub retries (five, with back-off) took ~23 s before
    assert len(connections) <= 1, connections
    assert model.transform.dataset_id == umaze_regeneration and model.config.domain == "antmaze"
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert "using iqlzoo/antmaze/umaze-v0" in lines[0] and "D4RL/antmaze/umaze-v1" in lines[0]
    assert "not the official data" in lines[0] and "127.0.0.1" in lines[0]  # and why: the host cannot be reached
    model.learn(2)


# --- 2. offline lookups fail fast: one connection probe per process ---
def test_offline_lookups_fail_fast_after_one_probe_per_process(tmp_path):
    """The real path in a fresh process: HF_ENDPOINT at a closed port, two official ids that are nowhere local."""
    code = textwrap.dedent("""
        import socket, time
        probes = []
        connect = socket.create_connection
        def counting(address, *args, **kwargs):
            probes.append(address)
            return connect(address, *args, **kwargs)
        socket.create_connection = counting
        from iqlzoo.data import DatasetNotFoundError, load_dataset
        start = time.monotonic()
        for dataset_id in ("D4RL/antmaze/umaze-v1", "mujoco/halfcheetah/medium-v0"):
            try:
                load_dataset(dataset_id)
            except DatasetNotFoundError as error:
                print(error)
        print(f"seconds {time.monotonic() - start:.2f} probes {len(probes)}")
    """)
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "MINARI_OFFLINE")}
    env.update(HF_ENDPOINT=closed_port_url(), MINARI_DATASETS_PATH=str(tmp_path), PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=PATIENCE_S).stdout
    # one probe for both lookups: no download attempt, whose retries with back-off took ~23 s a lookup before
    # (the seconds are printed for a failure's message; a wall-clock bound would fail on a loaded machine)
    assert out.split()[-1] == "1", out
    assert out.count("cannot be downloaded (127.0.0.1:") == 2 and "Set HF_HUB_OFFLINE=1" in out
    assert "python -m iqlzoo.recipes build iqlzoo/halfcheetah/medium-v0` (~3-5 min)" in out


def test_offline_switch_skips_the_probe(no_network, monkeypatch):
    from iqlzoo.data import DatasetNotFoundError, load_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("probed although offline"))
    with pytest.raises(DatasetNotFoundError, match=r"downloads are off \(HF_HUB_OFFLINE is set\)"):
        load_dataset("D4RL/antmaze/umaze-v1")


# --- 3. the benchmark harness with nothing built: one summary with the commands, no leaderboard churn ---
def test_suite_with_nothing_built_ends_with_one_build_summary(no_network, connections, own_store, tmp_path, capsys):
    board = tmp_path / "board" / "README.md"
    code = run.main(["--suite", "antmaze", "--out", str(tmp_path / "store"), "--leaderboard-out", str(board)])
    out = capsys.readouterr().out
    # one probe for every dataset of the grid, no download attempts (6 x ~23 s of Hub retries before)
    assert code == 1 and len(connections) <= 1, (connections, out)
    assert not board.exists() and "leaderboard: not regenerated, no run record changed" in out
    # the default budget's scope (hyperparams/antmaze.yml) decides which mazes the default grid needs
    names = [short_name(task) for task in plan("antmaze").tasks]
    assert 0 < len(names) < len(ANTMAZE_NAMES) and set(names) <= set(ANTMAZE_NAMES)
    ids = " ".join(f"iqlzoo/antmaze/{name}-v0" for name in names)
    summary = out[out.index(f"{len(names)} datasets are not built"):]
    assert summary.startswith(f"{len(names)} datasets are not built (~9-12 min each); build them with\n")
    assert f"    python -m iqlzoo.recipes build {ids}\n" in summary
    assert summary.rstrip().endswith(f"--leaderboard-out {board} --build-missing")
    assert out.count("python -m iqlzoo.recipes build") == 1  # said once, not per dataset
    assert "resolve_dataset" not in out and "data='auto'" not in out and "minari download" not in out


class InlineBackend:
    """Runs each task in this process when it is submitted (the harness's logic without worker processes)."""

    name, capacity, retries_killed = "inline", 1, False

    def __init__(self, context: runner.RunContext) -> None:
        self.context, self.events = context, []

    def submit(self, task: object) -> None:
        self.events.extend(runner.execute_task(task_specs(task), self.context, self.events.append))

    def running(self) -> int:
        return 0

    def poll(self, timeout: float) -> list:
        events, self.events = self.events, []
        return events

    def close(self) -> None:
        pass


def test_build_missing_builds_the_regeneration_then_trains(no_network, own_store, antmaze_minari, tmp_path,
                                                           monkeypatch, capsys):
    built = []

    def fake_build(dataset_id: str, **kwargs: object) -> None:
        built.append(dataset_id)
        write_copy(antmaze_minari, dataset_id)

    monkeypatch.setattr(run, "build", fake_build)
    monkeypatch.setattr(run, "make_backend", lambda args, context: InlineBackend(context))
    args = ["--suite", "antmaze", "--datasets", "umaze", "--agents", "IQL", "--seeds", "1", "--steps", "2",
            "--eval-every", "2", "--eval-episodes", "1", "--checkpoint-every", "2", "--out", str(tmp_path / "store"),
            "--params", "batch_size:60", "--no-leaderboard", "--build-missing"]  # 180 transitions in the tiny data
    assert run.main(args) == 0
    out = capsys.readouterr().out
    assert built == ["iqlzoo/antmaze/umaze-v0"]
    assert "dataset D4RL/antmaze/umaze-v1 -> iqlzoo/antmaze/umaze-v0 (regenerated)" in out
    assert "summary: 1 finished" in out and "not built" not in out

    # A machine that holds the ended run's records but not the dataset (a fresh one that restored committed records)
    # neither builds it again nor calls it missing
    shutil.rmtree(own_store / "iqlzoo" / "antmaze" / "umaze-v0")
    for rerun in (args, args[:-1]):  # with and without --build-missing
        assert run.main(rerun) == 0
        out = capsys.readouterr().out
        assert built == ["iqlzoo/antmaze/umaze-v0"], out
        assert "-> iqlzoo/antmaze/umaze-v0: not built here, and not needed: every run on it has ended" in out
        assert "1 already finished or diverged, 0 to run" in out and "datasets are not built" not in out


def test_harness_rejects_a_non_integer_budget_cleanly(capsys):
    with pytest.raises(SystemExit):
        run.main(["--suite", "smoke", "--steps", "abc"])
    err = capsys.readouterr().err
    assert "argument --steps: expected a positive integer, got 'abc'" in err and "_positive" not in err


# --- 5. hints that name what works ---
def test_datasets_info_on_an_unbuilt_id_prints_the_build_command(capsys, own_store):
    # own_store: test_recipes builds a tiny umaze-diverse in the session's store, and under pytest-xdist that file
    # may run first in this process
    with pytest.raises(SystemExit) as exit_info:
        datasets_main(["info", "iqlzoo/antmaze/umaze-diverse-v0"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err and "minari download" not in err
    assert "`python -m iqlzoo.recipes build iqlzoo/antmaze/umaze-diverse-v0` (~9-12 min)" in err


def test_load_from_hub_offline_hint_names_iql_load(tmp_path):
    from iqlzoo.hub import HubOfflineError

    with pytest.raises(HubOfflineError, match=r"IQL\.load\(path\)"):
        IQL.load_from_hub("tester/none", cache_dir=tmp_path, local_files_only=True)


# --- 6. third-party notices that are not the user's business stay off the console ---
def test_adroit_and_settotalmass_notices_are_filtered(tmp_path):
    code = "import iqlzoo, gymnasium as gym, gymnasium_robotics\ngym.make('HalfCheetah-v5').reset(seed=0)\n"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=PATIENCE_S)
    assert done.returncode == 0, done.stderr
    assert "AdroitHand" not in done.stderr and "settotalmass" not in done.stderr, done.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_other_mujoco_warnings_still_print(capsys):
    from iqlzoo.quiet import mujoco_warning

    mujoco_warning("Nan, Inf or huge value in QACC at DOF 0. The simulation is unstable.")
    mujoco_warning("compiler attribute 'settotalmass' is deprecated and will be removed in a future release")
    assert capsys.readouterr().err == "WARNING: Nan, Inf or huge value in QACC at DOF 0. The simulation is unstable.\n"


# --- 7. the main job: a bar and a summary that agree (its next step: tests/test_entry_points.py) ---
def test_progress_bar_shows_the_mean_rate_of_the_call_not_the_last_30_seconds():
    from rich.progress import Progress

    from iqlzoo.agents.progress import MeanRateColumn

    clock = [0.0]
    with Progress(MeanRateColumn(), get_time=lambda: clock[0], auto_refresh=False, disable=True) as progress:
        task_id = progress.add_task("train", total=5000)
        for _ in range(100):  # 1000 steps at 10/s, then 4000 steps at 100/s
            clock[0] += 1.0
            progress.advance(task_id, 10)
        for _ in range(400):
            clock[0] += 0.1
            progress.advance(task_id, 10)
        task = progress.tasks[0]
        assert task.speed == pytest.approx(100, rel=0.05)  # rich's estimate: the last 30 s
        assert str(MeanRateColumn().render(task)) == "36 it/s"  # 5000 steps / 140 s, as a summary would say


def test_learn_uses_the_mean_rate_bar_over_the_steps_of_the_call(pendulum_data, make_iql):
    from iqlzoo.agents.base import _GradientStepProgressBar
    from iqlzoo.agents.progress import MeanRateColumn

    model = make_iql(pendulum_data)
    model.learn(3)
    bar = _GradientStepProgressBar()
    model.learn(4, callback=bar, reset_num_timesteps=False)
    assert bar.pbar.total == 4 and bar.pbar.n == 4
    assert any(isinstance(column, MeanRateColumn) for column in bar.pbar._prog.columns)

