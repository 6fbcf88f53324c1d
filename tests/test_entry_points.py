"""The README's main job and the datasets CLI, run for real with tiny budgets."""

import json
from types import SimpleNamespace

import pytest
import torch

import iqlzoo.recipes.__main__ as datasets_cli
from iqlzoo import IQL
from iqlzoo.quickstart import main as quickstart_main
from iqlzoo.recipes.__main__ import main as datasets_main


def test_quickstart_trains_evaluates_and_saves(tmp_path, capsys):
    summary = quickstart_main(["--steps", "30", "--eval-episodes", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "iqlzoo/toy/pendulum-mixed-v0" in out and "not a benchmark dataset" in out
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["steps"] == 30 and summary["eval_episodes"] == 2
    assert IQL.load(tmp_path / "iql_pendulum").num_timesteps == 30
    tail = out[out.index("\nNext:\n"):]  # it ends with what to try next, as commands that work
    assert f'evaluate(IQL.load("{tmp_path / "iql_pendulum"}"))' in tail and "--suite smoke" in tail
    assert "python -m iqlzoo.recipes build iqlzoo/antmaze/umaze-v0   (~9-12 min)" in tail
    assert "leaderboard/README.md" in tail and "updates/s (the mean over" in out


def test_datasets_cli_lists_builds_and_describes(capsys):
    datasets_main(["build", "iqlzoo/toy/pendulum-mixed-v0"])
    datasets_main(["list"])
    assert "iqlzoo/toy/pendulum-mixed-v0" in capsys.readouterr().out
    datasets_main(["info", "iqlzoo/toy/pendulum-mixed-v0"])
    info = json.loads(capsys.readouterr().out)
    assert info["episodes"] == 100 and info["transitions"] == 20000 and info["terminations"] == 0
    assert 0 < info["behaviour_normalized_score"] < 100


def test_datasets_build_runs_on_the_threads_asked_for_and_restores_them(monkeypatch):
    seen = []

    def fake_build(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return SimpleNamespace(spec=SimpleNamespace(dataset_id=args[0]), total_episodes=0, total_steps=0)

    monkeypatch.setattr(datasets_cli, "build", fake_build)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        datasets_main(["build", "iqlzoo/toy/pendulum-mixed-v0"])
        datasets_main(["build", "iqlzoo/toy/pendulum-mixed-v0", "--threads", "2"])
        assert seen == [1, 2] and torch.get_num_threads() == 2
        with pytest.raises(SystemExit):
            datasets_main(["build", "iqlzoo/toy/pendulum-mixed-v0", "--threads", "0"])
    finally:
        torch.set_num_threads(before)
