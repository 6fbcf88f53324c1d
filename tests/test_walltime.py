"""benchmarks.walltime: a cell's wall and core time from its runs' logged update rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import walltime


def _run(store: Path, run_id: str, seed: int, lines: list[object], agent: str = "IQL") -> None:
    run_dir = store / "runs" / run_id
    run_dir.mkdir(parents=True)
    spec = {"label": agent, "dataset_id": "iqlzoo/toy/pendulum-mixed-v0", "suite": "toy-paper", "seed": seed,
            "protocol": {"steps": 3000}}
    (run_dir / "provenance.json").write_text(json.dumps({"run": spec, "cpu_model": "Test CPU"}), encoding="utf-8")
    (run_dir / "train_log.jsonl").write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n", encoding="utf-8")


def test_wall_and_core_time_sum_each_logged_interval_over_its_rate(tmp_path: Path) -> None:
    # seeds 0 and 1 trained as one model (K = 2) at 10 then 5 group-updates/s; seed 2 alone at 20, then a line
    # logged twice (the last one counts), a line cut short by a kill, and one without a rate
    group = [{"step": 1000, walltime.RATE: 10.0, walltime.GROUP_SIZE: 2},
             {"step": 3000, walltime.RATE: 5.0, walltime.GROUP_SIZE: 2}]
    _run(tmp_path, "IQL.toy.seed0.toy-paper.a", 0, group)
    _run(tmp_path, "IQL.toy.seed1.toy-paper.b", 1, group)
    _run(tmp_path, "IQL.toy.seed2.toy-paper.c", 2, [
        {"step": 2000, walltime.RATE: 1.0, walltime.GROUP_SIZE: 1},
        {"step": 2000, walltime.RATE: 20.0, walltime.GROUP_SIZE: 1},
        '{"step": 3000, "time/upda',
        {"step": 3000, walltime.RATE: 20.0},
        {"step": 3500, "train/value_loss": 0.1},
    ])
    cells = walltime.cell_costs(tmp_path)
    assert list(cells) == [("IQL", "iqlzoo/toy/pendulum-mixed-v0", "toy-paper", 3000)]
    cell = cells[("IQL", "iqlzoo/toy/pendulum-mixed-v0", "toy-paper", 3000)]
    group_wall = 1000 / 10 + 2000 / 5  # 500 s, shared by two seeds
    assert cell.runs[0].wall_s == pytest.approx(group_wall)
    assert cell.runs[0].core_s == pytest.approx(group_wall / 2)
    assert cell.runs[2].wall_s == pytest.approx(3000 / 20)
    assert cell.runs[2].last_step == 3000
    assert cell.wall_h == pytest.approx(group_wall / 3600)  # the slowest seed
    assert cell.core_h == pytest.approx((group_wall + 3000 / 20) / 3600)  # one core for the group, one for seed 2
    assert cell.rate_quantiles() == (10.0, 5.0)  # over the lines 10, 5, 10, 5, 20, 20
    table = walltime.markdown(cells)
    row = "| IQL | `iqlzoo/toy/pendulum-mixed-v0` | toy-paper | 3,000 | 3 | 3,000 | 0.14 | 0.18 | 10.0 (5.0) | Test CPU"
    assert row in table


def test_match_selects_runs_and_an_empty_selection_is_a_clear_error(tmp_path: Path, capsys) -> None:
    _run(tmp_path, "IQL.toy.seed0.toy-paper.a", 0, [{"step": 1000, walltime.RATE: 10.0}])
    _run(tmp_path, "BC.toy.seed0.toy-paper.d", 0, [{"step": 1000, walltime.RATE: 40.0}], agent="BC")
    (tmp_path / "runs" / "IQL.toy.seed1.toy-paper.e").mkdir()  # no provenance, no log: left out
    table = walltime.main(["--results", str(tmp_path), "--match", "BC."])
    assert "| BC |" in table and "| IQL |" not in table
    with pytest.raises(SystemExit):
        walltime.main(["--results", str(tmp_path), "--match", "DistributionalIQL"])
    assert "no run in" in capsys.readouterr().err
