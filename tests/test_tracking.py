"""Experiment tracking of harness runs: TensorBoard event files and offline Weights & Biases runs, read back."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from wandb.proto import wandb_internal_pb2

from benchmarks import runner, tracking
from benchmarks.run import expand, main, resolve_task
from benchmarks.store import ResultsStore
from benchmarks.suites import PENDULUM_TOY, RunSpec, plan
from iqlzoo.machine import torch_threads

STEPS, EVAL_EVERY = 40, 20  # the runs log their statistics every 20 steps, with each evaluation


@pytest.fixture(scope="module", autouse=True)
def toy_dataset() -> None:
    """The smoke suite's toy dataset, built when the store lacks it, as the CLI does."""
    resolve_task(PENDULUM_TOY, "auto")


def toy_runs(seeds: int) -> list[RunSpec]:
    """IQL on the toy Pendulum dataset, 40 steps, one evaluation episode every 20 steps."""
    overrides = {"steps": STEPS, "eval_every": EVAL_EVERY, "eval_episodes": 1, "checkpoint_every": STEPS}
    grid = plan("smoke", agents=("IQL",), seeds=seeds, overrides=overrides)
    return expand(grid, {PENDULUM_TOY: (PENDULUM_TOY, "toy")})


def train_log(run_dir: Path, key: str) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / runner.TRAIN_LOG).read_text().splitlines()]
    return {row["step"]: row[key] for row in rows if key in row}


def scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


def assert_tensorboard_matches_the_run(store: ResultsStore, spec: RunSpec) -> None:
    run_dir = store.run_dir(spec.run_id)
    assert list(run_dir.glob("events.out.tfevents.*")), "no event file beside train_log.jsonl"
    board = scalars(run_dir)
    for key in ("train/critic_loss", "train/value_loss", "train/actor_loss", "train/q_mean"):
        logged = train_log(run_dir, key)
        assert sorted(logged) == [20, 40], key
        assert board[key] == pytest.approx(logged, rel=1e-6), key
    evaluations = store.read_run(spec.run_id).set_index("step")
    for key, column in (("eval/normalized_score", "normalized_score"), ("eval/return_mean", "return_mean")):
        assert board[key] == pytest.approx(evaluations[column].to_dict(), rel=1e-6), key


def test_runs_write_tensorboard_events_with_losses_and_evaluations(tmp_path: Path) -> None:
    (spec,) = toy_runs(1)
    context = runner.RunContext(str(tmp_path), track=("tensorboard",))
    assert runner.execute_run(spec, context).state == "finished"
    assert_tensorboard_matches_the_run(ResultsStore(tmp_path), spec)


def test_each_member_of_a_seed_group_gets_its_own_tensorboard_events(tmp_path: Path) -> None:
    specs = toy_runs(2)
    with torch_threads(1):
        outcomes = runner.execute_group(specs, runner.RunContext(str(tmp_path), track=("tensorboard",)))
    assert [outcome.state for outcome in outcomes] == ["finished", "finished"]
    store = ResultsStore(tmp_path)
    for spec in specs:
        assert_tensorboard_matches_the_run(store, spec)
        assert '"seed_group_size": 2' in (store.run_dir(spec.run_id) / runner.TRAIN_LOG).read_text()
    first, second = (train_log(store.run_dir(spec.run_id), "train/critic_loss") for spec in specs)
    assert first != second  # each member's own statistics, not the group mean


def read_wandb_records(path: Path) -> list[Any]:
    """The records of an offline ``run-<id>.wandb`` file: a LevelDB-style log (32 KiB blocks of chunks with a 7-byte
    header: CRC, length, type FULL/FIRST/MIDDLE/LAST) after a 7-byte ``:W&B`` file header, holding protobuf Records."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, records, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_run_is_recorded_offline_with_config_losses_and_evaluations(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    for variable in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert tracking.wandb_mode() == "offline"  # no network needed unless the user asks for it
    (spec,) = toy_runs(1)
    context = runner.RunContext(str(tmp_path / "store"), track=("wandb",), wandb_mode=tracking.wandb_mode())
    assert runner.execute_run(spec, context).state == "finished"
    store = ResultsStore(tmp_path / "store")
    (run_file,) = (store.run_dir(spec.run_id) / "wandb").glob(f"offline-run-*/run-{spec.run_id}.wandb")
    records = read_wandb_records(run_file)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.run_id, run.display_name, run.project) == (spec.run_id, spec.run_id, "iqlzoo")
    assert run.run_group == runner.seed_group_name(spec) and ".seed0." not in run.run_group
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update({item.key: json.loads(item.value_json) for item in r.config.update})
    assert config["run"]["run_id"] == spec.run_id and config["run"]["seed"] == 0
    assert config["agent_config"]["expectile"] == 0.7 and config["dataset"]["id"] == PENDULUM_TOY
    history: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
            history.setdefault(row["_step"], {}).update(row)
    assert sorted(history) == [20, 40]
    evaluations = store.read_run(spec.run_id).set_index("step")
    losses = train_log(store.run_dir(spec.run_id), "train/critic_loss")
    for step in (20, 40):
        assert history[step]["eval/normalized_score"] == pytest.approx(evaluations.loc[step, "normalized_score"])
        assert history[step]["eval/return_mean"] == pytest.approx(evaluations.loc[step, "return_mean"])
        assert history[step]["train/critic_loss"] == pytest.approx(losses[step])


def test_track_option_defaults_checks_packages_and_wandb_mode(monkeypatch, capsys) -> None:
    assert tracking.resolve_trackers(None) == ("tensorboard",)  # installed here: on by default
    assert tracking.resolve_trackers(["wandb", "tensorboard", "wandb"]) == ("wandb", "tensorboard")
    assert tracking.resolve_trackers(["none"]) == ()
    with pytest.raises(ValueError, match="cannot be combined"):
        tracking.resolve_trackers(["none", "wandb"])
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.wandb_mode() == "disabled"  # the user's setting wins
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if wandb were not installed
    with pytest.raises(ValueError, match=r"--track wandb needs the package\(s\) wandb: pip install 'iqlzoo\[track\]'"):
        tracking.resolve_trackers(["wandb"])
    assert main(["--suite", "smoke", "--out", "unused", "--track", "wandb"]) == 2  # refused before anything runs
    assert "pip install 'iqlzoo[track]'" in capsys.readouterr().out
