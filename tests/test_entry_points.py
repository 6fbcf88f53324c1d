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


def test_quickstart_shows_a_shipped_agent_beside_its_card(tmp_path, capsys, monkeypatch):
    from iqlzoo import evaluate
    from iqlzoo.recipes.toy import PENDULUM_ID, build_pendulum_dataset
    from iqlzoo.zoo import REEVAL_SEED, RESULTS_FILE, shipped_repos

    build_pendulum_dataset()
    model = IQL("MlpPolicy", PENDULUM_ID, seed=0, actor_hidden=[16], critic_hidden=[16], value_hidden=[16])
    model.learn(20)
    folder = tmp_path / "zoo" / "test" / "IQL-toy"
    model.save(folder)
    card = evaluate(model, n_episodes=3, seed=REEVAL_SEED)
    (folder / RESULTS_FILE).write_text(json.dumps({
        "dataset": {"id": PENDULUM_ID}, "budget": {"steps": 20},
        "reevaluation": {"returns": [float(r) for r in card.returns], "n_episodes": 3,
                         "normalized_score": float(card.normalized_score)}}))
    monkeypatch.setenv("IQLZOO_ZOO", str(tmp_path / "zoo"))
    summary = quickstart_main(["--zoo", "test/IQL-toy", "--steps", "10", "--eval-episodes", "1", "--out",
                               str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert summary["zoo"]["repo_id"] == "test/IQL-toy" and summary["zoo"]["episodes"] == 3
    assert summary["zoo"]["max_abs_difference"] < 1e-3  # the card's episodes, reproduced
    assert "test/IQL-toy" in shipped_repos()  # found through IQLZOO_ZOO, beside the checkout's zoo
    assert out.startswith("Zoo: test/IQL-toy") and "IQL.load_from_hub('test/IQL-toy')" in out
    assert quickstart_main(["--zoo", "none", "--steps", "10", "--eval-episodes", "1", "--out",
                            str(tmp_path / "out2")])["zoo"] is None
    with pytest.raises(FileNotFoundError, match="--zoo none skips it"):
        quickstart_main(["--zoo", "test/absent", "--steps", "10", "--out", str(tmp_path / "out3")])


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
