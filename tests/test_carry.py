"""benchmarks.carry packs the newest checkpoint and records of unfinished runs, and puts them back without ever
replacing a run that went further."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.carry import main, pack, unpack


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
