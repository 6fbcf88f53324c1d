"""Tests of the results store: records, atomic writes, duplicates, validation, status and provenance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import store
from benchmarks.run import expand
from benchmarks.store import (
    COLUMNS,
    EvalRecord,
    ResultsFormatError,
    ResultsStore,
    RunIdentity,
    atomic_write,
    collect_provenance,
    load_results,
)
from benchmarks.suites import plan

FIXTURE = Path(__file__).parent / "fixtures" / "results"


def make_record(step: int = 500, score: float = 42.0, **changes: object) -> EvalRecord:
    values: dict[str, object] = dict(
        run_id="IQL-umaze-s0",
        agent="IQL",
        config_hash="abc123",
        dataset_id="D4RL/antmaze/umaze-v1",
        dataset_hash="d41d8c",
        data_source="toy",
        suite="antmaze",
        budget=1000,
        seed=0,
        step=step,
        return_mean=0.42,
        return_std=0.1,
        normalized_score=score,
        success_rate=0.4,
        n_episodes=10,
        wall_time_s=12.5,
    )
    values.update(changes)
    return EvalRecord(**values)  # type: ignore[arg-type]


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def test_append_round_trips_values_and_dtypes(tmp_path: Path) -> None:
    results = ResultsStore(tmp_path)
    records = [make_record(500, 21.5), make_record(1000, 1 / 3, success_rate=math.nan)]
    for record in reversed(records):
        results.append(record)
    frame = results.read_run("IQL-umaze-s0")
    assert list(frame.columns) == list(COLUMNS)
    assert [EvalRecord(**row) for row in frame.to_dict("records")][0] == records[0]
    assert frame["normalized_score"].tolist()[1] == 1 / 3  # floats round-trip exactly
    assert frame["success_rate"].isna().tolist() == [False, True]
    expected = {"str": "object", "int": "int64", "float": "float64"}
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        name: expected[kind] for name, kind in store.SCHEMA.items()
    }


def test_reappending_a_step_replaces_it_without_duplicates(tmp_path: Path) -> None:
    results = ResultsStore(tmp_path)
    results.append(make_record(500, 10.0))
    results.append(make_record(1000, 20.0))
    path = results.run_dir("IQL-umaze-s0") / store.EVALUATIONS_FILE
    before = path.read_bytes()
    results.append(make_record(1000, 20.0))
    assert path.read_bytes() == before  # idempotent
    results.append(make_record(500, 11.0))  # a resumed run re-evaluating step 500
    frame = results.read_run("IQL-umaze-s0")
    assert frame["step"].tolist() == [500, 1000]
    assert frame["normalized_score"].tolist() == [11.0, 20.0]


def test_append_refuses_a_record_of_another_run_under_the_same_id(tmp_path: Path) -> None:
    results = ResultsStore(tmp_path)
    results.append(make_record())
    with pytest.raises(ValueError, match="seed"):
        results.append(make_record(1000, seed=1))


def test_truncate_drops_the_records_after_a_step_only(tmp_path: Path) -> None:
    results = ResultsStore(tmp_path)
    for step in (250, 500, 750):
        results.append(make_record(step, float(step)))
    path = results.run_dir("IQL-umaze-s0") / store.EVALUATIONS_FILE
    before = path.read_bytes()
    results.truncate("IQL-umaze-s0", 750)
    assert path.read_bytes() == before
    results.truncate("IQL-umaze-s0", 600)
    assert results.read_run("IQL-umaze-s0")["step"].tolist() == [250, 500]
    results.truncate("IQL-umaze-s0", 0)
    assert results.read_run("IQL-umaze-s0").empty and leftovers(path.parent) == []
    results.append(make_record(250, 1.0, dataset_hash="another-build"))  # a restart may be on other data
    results.truncate("IQL-never-stored", 0)
    assert not results.run_dir("IQL-never-stored").exists()


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_bytes(b"old complete content")

    def crash_midway(handle: object) -> None:
        handle.write(b"new partial")  # type: ignore[attr-defined]
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        atomic_write(target, crash_midway)
    assert target.read_bytes() == b"old complete content"
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "new.txt", crash_midway)
    assert not (tmp_path / "new.txt").exists()
    assert leftovers(tmp_path) == []


def test_append_crashing_midway_leaves_the_stored_run_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = ResultsStore(tmp_path)
    results.append(make_record(500))
    path = results.run_dir("IQL-umaze-s0") / store.EVALUATIONS_FILE
    before = path.read_bytes()

    def partial_to_csv(self: pd.DataFrame, handle: object, **kwargs: object) -> None:
        handle.write(b"run_id,agent,conf")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", partial_to_csv)
    with pytest.raises(OSError, match="disk full"):
        results.append(make_record(1000))
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []


def test_loader_names_the_file_and_the_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "foreign" / store.EVALUATIONS_FILE
    path.parent.mkdir(parents=True)
    path.write_text("run_id,agent,score\nforeign,IQL,3\n")
    with pytest.raises(ResultsFormatError) as error:
        load_results(tmp_path)
    message = str(error.value)
    assert str(path) in message and "'dataset_id'" in message and "'score'" in message


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda text: "", "empty file"),
        (lambda text: text.replace(",500,", ",five hundred,"), "column 'step' must hold int"),
        (lambda text: text.replace(",toy,", ",made-up,"), "line 2: data_source"),
        (lambda text: text.replace("IQL-umaze-s0", "another-run"), "is not its folder's name"),
        (lambda text: text + text.splitlines()[1] + "\n", "repeated steps"),
    ],
)
def test_loader_rejects_malformed_files(tmp_path: Path, edit: object, match: str) -> None:
    results = ResultsStore(tmp_path)
    results.append(make_record(500))
    path = results.run_dir("IQL-umaze-s0") / store.EVALUATIONS_FILE
    path.write_text(edit(path.read_text()))  # type: ignore[operator]
    with pytest.raises(ResultsFormatError, match=match) as error:
        results.load()
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"data_source": "mine"},
        {"success_rate": 1.5},
        {"step": 2000},
        {"n_episodes": 0},
        {"run_id": "../escape"},
        {"agent": ""},
        {"return_mean": math.nan},
        {"seed": 1.0},
    ],
)
def test_records_are_validated(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_record(**changes)


def test_load_concatenates_the_fixture_runs() -> None:
    frame = load_results(FIXTURE)
    assert frame["run_id"].nunique() == 24 and len(frame) == 48
    assert frame.equals(frame.sort_values(["run_id", "step"]).reset_index(drop=True))
    assert set(frame["data_source"]) == {"toy"}


def test_empty_store_loads_an_empty_typed_table(tmp_path: Path) -> None:
    frame = load_results(tmp_path / "absent")
    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert str(frame["step"].dtype) == "int64"


def test_status_counts_attempts_and_keeps_error_text(tmp_path: Path) -> None:
    results = ResultsStore(tmp_path)
    assert results.read_status("r1") is None
    results.set_status("r1", "pending")
    results.set_status("r1", "running")
    failed = results.set_status("r1", "failed", error="CUDA out of memory")
    assert (failed.attempts, failed.error) == (1, "CUDA out of memory")
    results.set_status("r1", "running")
    finished = results.set_status("r1", "finished")
    assert (finished.state, finished.attempts, finished.error) == ("finished", 2, None)
    assert results.read_status("r1") == finished
    with pytest.raises(ValueError, match="error text"):
        results.set_status("r1", "diverged")
    with pytest.raises(ValueError, match="state must be one of"):
        results.set_status("r1", "done")


def test_provenance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "PROVENANCE_PACKAGES", ("numpy", "surely-not-installed-pkg"))
    provenance = collect_provenance(argv=["benchmarks.run", "--suite", "antmaze x"], repo_dir=tmp_path)
    assert provenance["packages"]["surely-not-installed-pkg"] == "not installed"
    assert provenance["packages"]["numpy"] == np.__version__
    assert provenance["git_commit"] is None and provenance["git_dirty"] is None  # tmp_path is no git checkout
    assert provenance["command"] == "benchmarks.run --suite 'antmaze x'"
    assert provenance["cpu_count"] >= 1 and provenance["python"].count(".") == 2
    assert {"platform", "cpu_model", "torch_threads", "cuda_device", "cpus_available", "niceness"} <= set(provenance)
    results = ResultsStore(tmp_path)
    results.write_provenance("r1", provenance)
    assert results.read_provenance("r1") == provenance
    assert results.read_provenance("r2") is None


def test_run_identity_reads_what_a_run_spec_writes() -> None:
    tasks = {"D4RL/antmaze/umaze-v1": ("iqlzoo/antmaze/umaze-v0", "regenerated")}
    spec = expand(plan("antmaze", agents=["IQL"], budget_name="paper", seeds=1, scoped=False), tasks)[0]
    identity = RunIdentity.from_provenance({"run": spec.to_json(), "cpu_model": "x"})
    assert identity == RunIdentity(spec.label, spec.dataset_id, spec.suite, spec.seed, spec.protocol.steps,
                                   dict(spec.config))
    legacy = {key: value for key, value in spec.to_json().items() if key != "label"}
    assert RunIdentity.from_provenance({"run": legacy}).label == spec.agent  # written before labels were
    broken = {**spec.to_json(), "protocol": {}}
    for provenance in (None, {}, {"run": "IQL"}, {"run": broken}, {"run": {**spec.to_json(), "seed": "one"}}):
        assert RunIdentity.from_provenance(provenance) is None


def test_train_log_reads_the_json_objects_with_a_step_and_skips_the_rest(tmp_path: Path) -> None:
    log = tmp_path / store.TRAIN_LOG
    lines = ['{"step": 10, "a": 1.0}', "[1, 2]", '{"a": 2.0}', '{"step": "20"}', '{"step": 20, "a": 3.0}',
             '{"step": 30, "a']  # the last line cut short by a kill
    log.write_text("\n".join(lines), "utf-8")
    assert store.read_train_log(log) == [{"step": 10, "a": 1.0}, {"step": 20, "a": 3.0}]
