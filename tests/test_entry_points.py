"""The README's main job and the datasets CLI, run for real with tiny budgets."""

import json

from iqlzoo import IQL
from iqlzoo.datasets.__main__ import main as datasets_main
from iqlzoo.quickstart import main as quickstart_main


def test_quickstart_trains_evaluates_and_saves(tmp_path, capsys):
    summary = quickstart_main(["--steps", "30", "--eval-episodes", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "iqlzoo/toy/pendulum-mixed-v0" in out and "not a benchmark dataset" in out
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["steps"] == 30 and summary["eval_episodes"] == 2
    assert IQL.load(tmp_path / "iql_pendulum").num_timesteps == 30


def test_datasets_cli_lists_builds_and_describes(capsys):
    datasets_main(["build", "iqlzoo/toy/pendulum-mixed-v0"])
    datasets_main(["list"])
    assert "iqlzoo/toy/pendulum-mixed-v0" in capsys.readouterr().out
    datasets_main(["info", "iqlzoo/toy/pendulum-mixed-v0"])
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 100 and info["transitions"] == 20000 and info["terminations"] == 0
    assert 0 < info["behaviour_normalized_score"] < 100
