"""Publishing the zoo end to end: a finished smoke store -> Hub repos (median seed, inference export, card, results,
replay, curves) -> the local Hub server and the served zoo -> load_from_hub, bit-equal and reproducing the card."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ANTMAZE_TINY_ID, PATIENCE_S
from hub_server import LocalHub
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError
from safetensors import safe_open

from benchmarks import publish, runner
from benchmarks.run import main as run_main
from benchmarks.store import EvalRecord, ResultsStore
from benchmarks.suites import PENDULUM_TOY, Protocol, RunSpec, budget_of_store_suite
from benchmarks.zoo_card import TAGS, RepoFile, check_card, render_zoo_card
from iqlzoo import BC, IQL, evaluate
from iqlzoo.checkpoint import CheckpointError, export_checkpoint, load_checkpoint, save_checkpoint
from iqlzoo.evaluation import EVAL_THREADS
from iqlzoo.hub import HubConnectionError, HubOfflineError
from iqlzoo.hub_server import ZooServer
from iqlzoo.machine import cpu_model
from iqlzoo.replay import RenderUnavailableError, record_replay

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "iqlzoo/IQL-toy-pendulum-mixed-v0"
#: Final normalised scores written over the smoke runs' own: seed 0 is the best, seed 2 the median.
FINAL_SCORES = {0: 80.0, 1: 20.0, 2: 50.0}
STEPS = 40
HAS_PYGAME = importlib.util.find_spec("pygame") is not None


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished smoke store: IQL x 3 seeds on the toy Pendulum data, 40 steps, whose final scores are then set to
    `FINAL_SCORES` (so the median seed is not the best)."""
    root = tmp_path_factory.mktemp("store")
    args = ["--suite", "smoke", "--agents", "IQL", "--seeds", "3", "--steps", str(STEPS), "--eval-every", "20",
            "--checkpoint-every", "20", "--eval-episodes", "2", "--workers", "1", "--group-seeds", "on",
            "--no-leaderboard", "--out", str(root)]
    assert run_main(args) == 0
    store = ResultsStore(root)
    for run_id in store.run_ids():
        final = store.read_run(run_id).iloc[-1].to_dict()
        assert final["step"] == STEPS
        final["normalized_score"] = FINAL_SCORES[int(final["seed"])]
        store.append(EvalRecord(**final))
    return root


@pytest.fixture(scope="module")
def zoo(store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke store published with 3 re-evaluation episodes."""
    out = tmp_path_factory.mktemp("zoo")
    args = ["--suite", "smoke", "--results", str(store_root), "--out", str(out), "--eval-episodes", "3",
            "--reps", "200"]
    assert publish.main(args) == 0
    return out


def run_of_seed(store_root: Path, seed: int) -> str:
    return next(run_id for run_id in ResultsStore(store_root).run_ids() if f".seed{seed}." in run_id)


def results_of(zoo: Path) -> dict:
    return json.loads((zoo / REPO_ID / "results.json").read_text())


def card_code(card_text: str) -> str:
    """The card's usage snippet (the first python code block)."""
    match = re.search(r"```python\n(.*?)```", card_text, re.S)
    assert match is not None
    return match.group(1)


# ------------------------------------------------------------------ selection and naming


def test_median_not_best_seed_is_chosen_by_final_score() -> None:
    finals = pd.DataFrame({"seed": [0, 1, 2, 3], "run_id": list("abcd"), "normalized_score": [9.0, 1.0, 5.0, 5.0],
                           "return_mean": [0.0] * 4})
    assert publish.choose_median(finals)["seed"] == 2  # even count: the lower middle one; the tie goes to seed 2
    assert publish.choose_median(finals.iloc[:3])["seed"] == 2  # 1 < 5 < 9
    no_reference = finals.assign(normalized_score=np.nan, return_mean=[3.0, 2.0, 1.0, 4.0])
    assert publish.score_column(no_reference) == "return_mean"
    assert publish.choose_median(no_reference)["seed"] == 1  # 1 < 2 < 3 < 4: lower middle is 2.0 (seed 1)


def test_repo_names_and_dataset_filters() -> None:
    assert publish.repo_name("IQL", "iqlzoo/antmaze/umaze-v0") == "IQL-antmaze-umaze-v0"
    assert publish.repo_name("IQL-expectile0.7", "D4RL/antmaze/umaze-v1") == "IQL-expectile0.7-antmaze-umaze-v1"
    assert publish.repo_name("D2RLIQL", "mujoco/halfcheetah/medium-v0") == "D2RLIQL-halfcheetah-medium-v0"
    regenerated = "iqlzoo/antmaze/umaze-v0"
    for name in ("umaze", regenerated, "D4RL/antmaze/umaze-v1", "antmaze-umaze-v0"):
        assert publish.dataset_matches(regenerated, [name]), name
    assert not publish.dataset_matches(regenerated, ["umaze-diverse"])
    frame = pd.DataFrame({"suite": ["antmaze-quick", "antmaze-paper", "smoke-steps40-every20-episodes2"]})
    assert publish.store_suite(frame, "smoke") == "smoke-steps40-every20-episodes2"
    assert publish.store_suite(frame, "antmaze-paper") == "antmaze-paper"
    with pytest.raises(ValueError, match="several budgets"):
        publish.store_suite(frame, "antmaze")
    assert budget_of_store_suite("seed-findings-quick") == "quick"


def test_published_weights_are_the_median_seeds_final_checkpoint(store_root: Path, zoo: Path) -> None:
    results = results_of(zoo)
    median_run = run_of_seed(store_root, 2)
    assert results["selection"]["seed"] == 2 and results["selection"]["run_id"] == median_run
    assert results["selection"]["final_score"] == FINAL_SCORES[2] != max(FINAL_SCORES.values())
    final = ResultsStore(store_root).run_dir(median_run) / "checkpoints" / f"step_{STEPS:07d}.zip"
    published, trained = IQL.load(zoo / REPO_ID, device="cpu"), IQL.load(final, device="cpu")
    assert published.num_timesteps == STEPS
    mine, theirs = published.nets.state_dict(), trained.nets.state_dict()
    for name, value in theirs.items():
        if not name.startswith("critic_target."):
            assert torch.equal(mine[name], value), name
    for name, value in published.nets.critic.state_dict().items():  # rebuilt as a copy of the critic
        assert torch.equal(published.nets.critic_target.state_dict()[name], value)
    obs = np.stack([published.observation_space.sample() for _ in range(16)])
    np.testing.assert_array_equal(published.predict(obs)[0], trained.predict(obs)[0])


# ------------------------------------------------------------------ repo contents


def test_repo_holds_an_inference_export_within_its_size_budget(store_root: Path, zoo: Path) -> None:
    folder = zoo / REPO_ID
    expected = {"README.md", "config.json", "model.safetensors", "results.json", "learning_curve.png"}
    assert {p.name for p in folder.iterdir()} == expected | ({"replay.gif"} if HAS_PYGAME else set())
    assert not [p for p in zoo.rglob("*") if p.name.startswith(".")]  # no staging folders left
    with safe_open(folder / "model.safetensors", "pt") as weights:
        names = list(weights.keys())
        n_bytes = sum(weights.get_tensor(n).numel() * weights.get_tensor(n).element_size() for n in names)
    assert names and not [n for n in names if n.startswith(("critic_target.", "optimizer", "rng"))]
    assert {n.split(".")[0] for n in names} >= {"actor", "critic", "value"}
    size = (folder / "model.safetensors").stat().st_size
    assert n_bytes < size < n_bytes + 8_000  # the tensors plus the safetensors header, nothing else
    config = json.loads((folder / "config.json").read_text())
    assert config["derived_tensors"] == {"critic_target.": "critic."} and config["format_version"] == 2
    run_dir = ResultsStore(store_root).run_dir(run_of_seed(store_root, 2))
    training = load_checkpoint(run_dir / "checkpoints" / "latest.zip")
    trained_bytes = sum(t.numel() * t.element_size() for t in [*training.tensors.values(),
                                                               *training.optimizer_tensors.values()])
    assert size < 0.4 * trained_bytes  # the training checkpoint also holds the target critic and Adam's moments


def test_default_network_export_sizes(antmaze_data, tmp_path: Path) -> None:
    """The paper's 256x256 networks on AntMaze's 29-d states: ~0.3 MB of policy, ~1.2 MB with critics and value."""
    model = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu")
    model.save(tmp_path / "train", include_optimizer=True)
    export = export_checkpoint(load_checkpoint(tmp_path / "train"), publish.DERIVED_ON_LOAD)
    save_checkpoint(tmp_path / "export", export)
    groups, text = publish.weights_summary(export.tensors)
    assert 0.25e6 < groups["actor"] < 0.35e6
    assert 1.0e6 < (tmp_path / "export" / "model.safetensors").stat().st_size < 1.3e6
    assert not (tmp_path / "export" / "optimizer.safetensors").exists()
    assert "target critic" in text and "policy alone" in text
    loaded = IQL.load(tmp_path / "export", device="cpu")
    obs = loaded.observation_space.sample()
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])


def test_export_format_round_trip_and_errors(antmaze_data, make_iql, tmp_path: Path) -> None:
    model = make_iql(antmaze_data).learn(3)
    model.save(tmp_path / "full")
    assert json.loads((tmp_path / "full" / "config.json").read_text())["format_version"] == 1  # unchanged
    export = export_checkpoint(load_checkpoint(tmp_path / "full"), {"critic_target.": "critic."})
    save_checkpoint(tmp_path / "export", export)
    restored = load_checkpoint(tmp_path / "export")
    assert not restored.optimizer_tensors and not restored.state
    for name, value in restored.tensors.items():
        if name.startswith("critic_target."):
            assert torch.equal(value, restored.tensors["critic." + name[len("critic_target."):]])
    with pytest.raises(ValueError, match="cannot derive"):
        export_checkpoint(load_checkpoint(tmp_path / "full"), {"nothing.": "critic."})
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    for derived, message in [
        ({"critic_target.": "missing."}, "cannot rebuild 'critic_target.'"),
        ({"critic_target.": ""}, "must map at most 8"),  # an empty prefix would copy every tensor
        ({f"copy{i}.": "critic." for i in range(6)}, "more tensor bytes than the file stores"),
    ]:
        config["derived_tensors"] = derived
        (tmp_path / "export" / "config.json").write_text(json.dumps(config))
        with pytest.raises(CheckpointError, match=re.escape(message)):
            load_checkpoint(tmp_path / "export")


def test_bc_ships_its_policy_only_and_loads_to_predict(antmaze_data, tmp_path: Path) -> None:
    """BC never trains its critics or value: its repo leaves them out (and says so); loading builds them afresh and
    the policy predicts as the trained agent's."""
    model = BC("MlpPolicy", antmaze_data, seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]},
               batch_size=64).learn(5)
    model.save(tmp_path / "train")
    export, untrained = publish.inference_export(load_checkpoint(tmp_path / "train"))
    assert untrained == ("critic.", "critic_target.", "value.")
    assert {name.split(".")[0] for name in export.tensors} == {"actor", "obs_mean", "obs_std"}
    save_checkpoint(tmp_path / "export", export)
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["untrained_tensors"] == list(untrained) and config["format_version"] == 3
    assert "derived_tensors" not in config  # the target critic is not derived from a critic that is not stored
    loaded = IQL.load(tmp_path / "export", device="cpu")
    assert type(loaded) is BC and loaded.untrained_on_load == untrained
    assert publish._same_weights(loaded, model, untrained)
    obs = loaded.observation_space.sample()
    np.testing.assert_array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    _, text = publish.weights_summary(export.tensors, untrained, "BC")
    assert "policy only" in text and "`critic`, `critic_target`, `value`" in text and "Do not read Q" in text
    # an IQL keeps its critics and value; an export cannot leave out what the file does not have
    IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]}).save(tmp_path / "iql")
    iql_export, none = publish.inference_export(load_checkpoint(tmp_path / "iql"))
    assert none == () and {name.split(".")[0] for name in iql_export.tensors} >= {"actor", "critic", "value"}
    with pytest.raises(ValueError, match="cannot leave out 'nothing.'"):
        export_checkpoint(load_checkpoint(tmp_path / "train"), {}, ["nothing."])
    for untrained_field, message in [
        (["actor."], "but the file stores"),  # the policy is stored: it cannot be listed as left out
        (["critic"], "distinct tensor-name prefixes"),
        ("critic.", "distinct tensor-name prefixes"),
    ]:
        broken = dict(config, untrained_tensors=untrained_field)
        (tmp_path / "export" / "config.json").write_text(json.dumps(broken))
        with pytest.raises(CheckpointError, match=re.escape(message)):
            IQL.load(tmp_path / "export", device="cpu")
    (tmp_path / "export" / "config.json").write_text(json.dumps(dict(config, untrained_tensors=["nothing."])))
    with pytest.raises(CheckpointError, match="no network of this agent|lacks the network's tensors"):
        IQL.load(tmp_path / "export", device="cpu")


def test_reexport_drops_untrained_networks_from_a_published_repo(antmaze_data, zoo: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A BC repo published with its untrained critics (as before 2026-12-03) is rewritten without them; its results,
    replay and curve stay, its card is re-rendered, and its predictions are unchanged."""
    repo = tmp_path / "iqlzoo" / "BC-old"
    shutil.copytree(zoo / REPO_ID, repo)
    model = BC("MlpPolicy", antmaze_data, seed=1, device="cpu", policy_kwargs={"net_arch": [32, 32]},
               batch_size=64).learn(3)
    model.save(tmp_path / "train")
    for name in ("config.json", "model.safetensors"):
        (repo / name).unlink()
    save_checkpoint(tmp_path / "old", export_checkpoint(load_checkpoint(tmp_path / "train"), publish.DERIVED_ON_LOAD))
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tmp_path / "old" / name, repo / name)
    results = (repo / "results.json").read_bytes()
    assert publish.main(["--reexport", str(repo)]) == 0
    assert "re-exported without critic., critic_target., value." in capsys.readouterr().out
    with safe_open(repo / "model.safetensors", framework="pt") as handle:
        assert {name.split(".")[0] for name in handle.keys()} == {"actor", "obs_mean", "obs_std"}
    assert (repo / "results.json").read_bytes() == results and "policy only" in (repo / "README.md").read_text()
    obs = model.observation_space.sample()
    np.testing.assert_array_equal(IQL.load(repo, device="cpu").predict(obs)[0], model.predict(obs)[0])
    assert publish.main(["--reexport", str(repo), str(zoo / REPO_ID)]) == 0  # nothing left to drop in either
    assert capsys.readouterr().out.count("already today's export; card unchanged") == 2
    # a card of an older template is re-rendered, and the weights keep their bytes
    weights, card = (repo / "model.safetensors").read_bytes(), (repo / "README.md").read_text()
    (repo / "README.md").write_text(card.replace("side by side", "in a batch"))
    assert publish.main(["--reexport", str(repo)]) == 0
    assert "card re-rendered" in capsys.readouterr().out
    assert (repo / "README.md").read_text() == card and (repo / "model.safetensors").read_bytes() == weights


def test_results_json_holds_every_seeds_records_and_provenance(store_root: Path, zoo: Path) -> None:
    results = results_of(zoo)
    store = ResultsStore(store_root)
    assert sorted(run["run_id"] for run in results["runs"]) == store.run_ids()
    for run in results["runs"]:
        stored = store.read_run(run["run_id"])
        assert [r["step"] for r in run["evaluations"]] == stored["step"].tolist() == [20, 40]
        assert [r["normalized_score"] for r in run["evaluations"]] == pytest.approx(stored["normalized_score"])
        assert run["final"]["normalized_score"] == FINAL_SCORES[run["seed"]]
        assert run["provenance"]["packages"]["iqlzoo"] and run["provenance"]["command"].startswith("python -m")
    data_hash = store.read_run(results["selection"]["run_id"])["dataset_hash"].iloc[0]
    assert results["dataset"] == {
        "id": PENDULUM_TOY, "source": "toy", "official_id": PENDULUM_TOY, "hash": data_hash, "build": data_hash[:8],
        "evaluation_hash": data_hash, "env_id": "Pendulum-v1", "domain": "generic",
        "build_command": f"python -m iqlzoo.recipes build {PENDULUM_TOY}"}
    assert results["budget"] == {"name": "steps40-every20-episodes2", "steps": 40, "eval_every": 20,
                                 "eval_episodes": 2, "checkpoint_every": 20}
    assert results["precision"] == "float32" and results["test_data"] is True
    assert {"iqlzoo", "torch", "minari"} <= set(results["versions"]["training"])
    assert {"iqlzoo", "torch"} <= set(results["versions"]["publish"])
    training = results["training"]["normalized_score"]
    assert training["mean"] == pytest.approx(50.0) and 20.0 <= training["ci95"][0] < 50.0 < training["ci95"][1] <= 80
    assert results["training"]["success_rate"] is None  # Pendulum has no goal
    reeval = results["reevaluation"]
    assert reeval["n_episodes"] == 3 and reeval["first_seed"] == publish.REEVAL_SEED
    assert reeval["mean_return"] == pytest.approx(np.mean(reeval["returns"]))
    # what reproducing it to the bit takes: the batch, the thread count and the kind of CPU
    assert reeval["n_envs"] == 3 and reeval["torch_threads"] == EVAL_THREADS and reeval["cpu"] == cpu_model()


def test_reevaluate_rewrites_a_repos_evaluation_and_card_only(zoo: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`--reevaluate` on a repo whose re-evaluation predates the recorded thread count (or came from another CPU)
    evaluates its weights again as publishing does today: the same episodes as a fresh publish, the weights and
    training records untouched, the card re-rendered to say how to reproduce it."""
    repo = tmp_path / "iqlzoo" / "IQL-old"
    shutil.copytree(zoo / REPO_ID, repo)
    fresh = results_of(zoo)
    old = json.loads((repo / "results.json").read_text())
    for key in ("n_envs", "torch_threads", "cpu"):
        del old["reevaluation"][key]
    old["reevaluation"]["returns"] = [0.0] * 3
    (repo / "results.json").write_text(json.dumps(old))
    weights = (repo / "model.safetensors").read_bytes()
    assert publish.main(["--reevaluate", str(repo), "--no-replay"]) == 0
    assert "IQL-old: re-evaluated" in capsys.readouterr().out
    now = json.loads((repo / "results.json").read_text())
    assert now["reevaluation"] == fresh["reevaluation"]
    assert now["runs"] == fresh["runs"] and now["training"] == fresh["training"] and now["replay"] == fresh["replay"]
    assert (repo / "model.safetensors").read_bytes() == weights
    card = (repo / "README.md").read_text()
    assert f"{EVAL_THREADS} torch thread" in card and f"`{cpu_model()}`" in card
    assert publish.main(["--reevaluate", str(tmp_path / "absent")]) == 1


# ------------------------------------------------------------------ the card


def test_card_parses_with_model_index_and_states_the_facts(zoo: Path) -> None:
    results = results_of(zoo)
    text = (zoo / REPO_ID / "README.md").read_text()
    card = ModelCard.load(zoo / REPO_ID / "README.md")
    check_card(text)
    assert card.data.library_name == "iqlzoo" and set(TAGS) <= set(card.data.tags)
    index = {r.metric_type: r for r in card.data.eval_results}
    assert set(index) == {"normalized_score", "mean_reward", "std_reward"}  # no success rate without a goal
    assert index["normalized_score"].metric_value == round(results["reevaluation"]["normalized_score"], 4)
    assert index["normalized_score"].dataset_name == PENDULUM_TOY
    assert index["normalized_score"].metric_args["n_episodes"] == 3
    assert card.data.to_dict()["model-index"][0]["name"] == REPO_ID
    training = results["training"]["normalized_score"]
    low, high = training["ci95"]
    assert f"| {training['mean']:.1f} [{low:.1f}, {high:.1f}] |" in text
    assert f"| {results['reevaluation']['normalized_score']:.1f} |" in text
    for fact in ("median seed", results["dataset"]["hash"], "a toy dataset (test data", "40 gradient steps",
                 "| Precision | float32 |", "Test data", publish.LEADERBOARD_URL, "The target critic",
                 "python -m iqlzoo.serve_zoo zoo/", f"build it with `python -m iqlzoo.recipes build {PENDULUM_TOY}`"):
        assert fact in text, fact
    # the reference returns the re-evaluation normalised with are recorded, and named beside D4RL's caveat
    reeval = results["reevaluation"]
    low_ref, high_ref = reeval["reference_returns"]
    assert reeval["normalized_score"] == pytest.approx(100 * (reeval["mean_return"] - low_ref) / (high_ref - low_ref))
    assert f"with the dataset's reference returns, random {low_ref:,.1f} and expert {high_ref:,.1f}." in text
    assert "not the ones D4RL's published tables" not in text  # toy data: said of regenerated data only
    code = card_code(text)
    assert code.strip().splitlines() == [
        "from iqlzoo import IQL, evaluate",
        f'model = IQL.load_from_hub("{REPO_ID}")',
        f'print(evaluate(model, "{PENDULUM_TOY}", n_episodes=3, seed={publish.REEVAL_SEED}).as_metrics())',
    ]


def test_card_names_official_or_regenerated_data_and_bf16(zoo: Path) -> None:
    results = results_of(zoo)
    files = [RepoFile("model.safetensors", "weights", 1_213_748)]
    regenerated = {**results, "precision": "bf16", "dataset": {
        **results["dataset"], "id": "iqlzoo/antmaze/umaze-v0", "source": "regenerated",
        "official_id": "D4RL/antmaze/umaze-v1", "build_command": "python -m iqlzoo.recipes build (id)"}}
    text = str(render_zoo_card(regenerated, files, "", {}, "https://board", "https://code", "https://repo"))
    assert ("`iqlzoo/antmaze/umaze-v0`, regenerated by iqlzoo in place of the official `D4RL/antmaze/umaze-v1` "
            "([dataset card](https://code/docs/datasets/antmaze-umaze-v0.md))") in text
    assert "bfloat16 autocast" in text and "| `model.safetensors` | weights | 1.21 MB |" in text
    low_ref, high_ref = results["reevaluation"]["reference_returns"]
    assert (f"reference returns, random {low_ref:,.1f} and expert {high_ref:,.1f}. These are this data's own, not the "
            "ones D4RL's published tables normalise with") in text
    official = {**results, "dataset": {**results["dataset"], "id": "D4RL/antmaze/umaze-v1", "source": "official",
                                       "build_command": None}}
    text = str(render_zoo_card(official, files, "", {}, "https://board", "https://code", "https://repo"))
    assert "`D4RL/antmaze/umaze-v1` (official Minari dataset)" in text and "downloads it on first use" in text
    assert f"random {low_ref:,.1f} and expert {high_ref:,.1f}." in text and "not the ones D4RL's" not in text
    check_card(text)


def test_without_rendering_the_repo_has_no_replay_and_says_why(zoo: Path) -> None:
    if HAS_PYGAME:
        pytest.skip("pygame is installed here, so Pendulum renders; test_mujoco_cell_... covers the replay")
    results = results_of(zoo)
    assert results["replay"]["file"] is None and "pygame" in results["replay"]["reason"]
    assert not (zoo / REPO_ID / "replay.gif").exists()
    assert "No replay: cannot render Pendulum-v1 on this machine" in (zoo / REPO_ID / "README.md").read_text()


def test_mujoco_replay_matches_an_evaluation_episode(antmaze_data, make_iql, tmp_path: Path) -> None:
    model = make_iql(antmaze_data)
    try:
        replay = record_replay(model, antmaze_data, tmp_path / "replay.gif", seed=7, max_frames=20)
    except RenderUnavailableError as error:
        pytest.skip(f"MuJoCo cannot render here: {error}")
    frames = iio.imread(tmp_path / "replay.gif", index=None)
    # the GIF writer merges identical consecutive frames (an untrained ant barely moves)
    assert frames.shape[1:] == (240, 320, 3) and 2 <= frames.shape[0] <= replay.n_frames <= 20
    assert frames.std() > 0  # not a blank image
    episode = evaluate(model, antmaze_data, n_episodes=1, seed=7)
    assert replay.length == episode.lengths[0] == 60
    assert replay.episode_return == pytest.approx(episode.returns[0], abs=1e-9)


def test_mujoco_cell_publishes_success_rate_and_replay(antmaze_minari, tmp_path: Path) -> None:
    """A goal-reaching (MuJoCo AntMaze) cell: the model-index carries the success rate, the repo a replay GIF."""
    spec = RunSpec(suite="smoke-steps20-every20-episodes2", label="IQL", agent="IQL",
                   config={"actor_hidden": [32, 32], "critic_hidden": [32, 32], "value_hidden": [32, 32],
                           "batch_size": 32}, dataset_id=ANTMAZE_TINY_ID, data_source="toy", seed=0,
                   protocol=Protocol(20, 20, 2, 20))
    assert runner.execute_run(spec, runner.RunContext(str(tmp_path / "store"))).state == "finished"
    store = ResultsStore(tmp_path / "store")
    cells, notes = publish.find_cells(store, store.load(), spec.suite, None, None)
    assert not notes and len(cells) == 1
    repo = publish.publish_cell(cells[0], store, tmp_path / "zoo", "tester", eval_episodes=2, reps=50,
                                replay_frames=8, log=lambda message: None)
    assert repo.repo_id == "tester/IQL-antmaze-umaze-random-v0"
    index = {r.metric_type: r.metric_value for r in ModelCard.load(repo.folder / "README.md").data.eval_results}
    assert index["success_rate"] == round(repo.results["reevaluation"]["success_rate"], 4)
    if repo.results["replay"]["file"] is None:
        pytest.skip(f"MuJoCo cannot render here: {repo.results['replay']['reason']}")
    assert (repo.folder / "replay.gif").stat().st_size > 0
    assert "![One deterministic evaluation episode](replay.gif)" in (repo.folder / "README.md").read_text()


# ------------------------------------------------------------------ push, serve, load


def test_push_to_the_local_hub_and_load_back_bit_equal(zoo: Path, local_hub, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    args = ["--push-only", "--out", str(zoo), "--endpoint", local_hub.endpoint]
    assert publish.main(args) == 0
    assert set(local_hub.list_files(REPO_ID)) == {".gitattributes", *(p.name for p in (zoo / REPO_ID).iterdir())}
    loaded = IQL.load_from_hub(REPO_ID, endpoint=local_hub.endpoint, cache_dir=tmp_path / "cache", device="cpu")
    local = IQL.load(zoo / REPO_ID, device="cpu")
    for name, value in local.nets.state_dict().items():
        assert torch.equal(loaded.nets.state_dict()[name], value), name
    assert local_hub.read_file(REPO_ID, "model.safetensors") == (zoo / REPO_ID / "model.safetensors").read_bytes()


def test_push_without_token_or_network_stops_with_how(
    store_root: Path, monkeypatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    out = tmp_path / "zoo"
    args = ["--suite", "smoke", "--results", str(store_root), "--out", str(out), "--eval-episodes", "1", "--reps",
            "50", "--no-replay", "--push"]
    assert publish.main(args) == 1
    error = capsys.readouterr().err
    assert "no Hugging Face token" in error and "hf auth login" in error and "HF_TOKEN" in error
    assert f"python -m benchmarks.publish --push-only --out {out} --org iqlzoo" in error
    assert {"README.md", "config.json", "model.safetensors", "results.json"} <= {
        p.name for p in (out / REPO_ID).iterdir()}  # everything was written first

    monkeypatch.setenv("HF_TOKEN", "hf_stranger")
    with LocalHub(token="hf_owner") as hub:  # a Hub that refuses this token, then one that is gone
        endpoint = hub.endpoint
        assert publish.main(["--push-only", "--out", str(out), "--endpoint", endpoint]) == 1
        error = capsys.readouterr().err
        assert "may not create or write" in error and "--push-only" in error
    assert publish.main(["--push-only", "--out", str(out), "--endpoint", endpoint]) == 1
    error = capsys.readouterr().err
    assert "cannot be reached" in error and endpoint in error and "--push-only" in error


def test_served_zoo_reproduces_the_cards_evaluation_from_fresh_processes(zoo: Path, tmp_path: Path) -> None:
    """`python -m iqlzoo.serve_zoo` in one process; the card's three lines, verbatim, in another with HF_ENDPOINT."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env = {**clean, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "iqlzoo.serve_zoo", str(zoo), "--port", "0"], cwd=REPO_ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = server.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:"), server.stderr.read() if server.poll() is not None else ""
        code = card_code((zoo / REPO_ID / "README.md").read_text())
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              timeout=PATIENCE_S, env={**env, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf")})
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    reeval = results_of(zoo)["reevaluation"]
    assert metrics["n_episodes"] == reeval["n_episodes"]
    assert metrics["mean_reward"] == reeval["mean_return"] and metrics["normalized_score"] == reeval["normalized_score"]


def test_zoo_server_is_read_only_and_needs_repos(zoo: Path, tmp_path: Path) -> None:
    with ZooServer(zoo) as server:
        api = HfApi(endpoint=server.endpoint)
        assert set(api.list_repo_files(REPO_ID)) == {p.name for p in (zoo / REPO_ID).iterdir()}
        with pytest.raises(HfHubHTTPError) as refused:
            api.create_repo("someone/new")
        assert refused.value.response.status_code == 405
        assert not server.unhandled
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no repos"):
        ZooServer(tmp_path / "empty")


def test_offline_load_from_hub_names_the_local_copy(zoo: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IQLZOO_ZOO", str(zoo))
    with pytest.raises(HubOfflineError) as offline:
        IQL.load_from_hub(REPO_ID, local_files_only=True, cache_dir=tmp_path / "cache")
    message = str(offline.value)
    assert str(zoo / REPO_ID) in message and f"python -m iqlzoo.serve_zoo {zoo} --port 8765" in message
    assert "HF_ENDPOINT=http://127.0.0.1:8765" in message
    with pytest.raises(HubConnectionError, match=re.escape(str(zoo / REPO_ID))):
        IQL.load_from_hub(REPO_ID, endpoint="http://127.0.0.1:9", cache_dir=tmp_path / "cache")
    with pytest.raises(HubOfflineError) as unknown:
        IQL.load_from_hub("iqlzoo/IQL-not-published", local_files_only=True, cache_dir=tmp_path / "cache")
    assert "serve_zoo" not in str(unknown.value)
    assert IQL.load(zoo / REPO_ID, device="cpu").num_timesteps == STEPS


def test_test_data_is_never_published_into_the_default_zoo(store_root: Path, capsys) -> None:
    assert publish.main(["--suite", "smoke", "--results", str(store_root)]) == 2
    assert "holds test data" in capsys.readouterr().err
    assert not (publish.DEFAULT_OUT / "iqlzoo" / "IQL-toy-pendulum-mixed-v0").exists()


def test_cells_without_finished_runs_or_checkpoints_are_reported(store_root: Path, tmp_path: Path) -> None:
    store = ResultsStore(store_root)
    frame = store.load()
    suite = publish.store_suite(frame, "smoke")
    running = dataclasses.replace(store.read_status(run_of_seed(store_root, 1)), state="running")
    status_file = store.run_dir(run_of_seed(store_root, 1)) / "status.json"
    saved = status_file.read_text()
    try:
        status_file.write_text(json.dumps(dataclasses.asdict(running)))
        cells, notes = publish.find_cells(store, frame, suite, ["IQL"], ["pendulum-mixed"])
    finally:
        status_file.write_text(saved)
    assert sorted(cells[0].finals["seed"]) == [0, 2] and "not finished" in notes[0]
    with pytest.raises(publish.PublishError, match="has no checkpoint of its final step 999"):
        publish.final_checkpoint(store, run_of_seed(store_root, 0), 999)
    with pytest.raises(ValueError, match="no runs of agents"):
        publish.find_cells(store, frame, suite, ["BonusIQL"], None)


def test_a_repo_from_a_longer_budget_is_kept_unless_replace_longer(store_root: Path, zoo: Path, tmp_path: Path,
                                                                    capsys) -> None:
    out = tmp_path / "zoo"
    folder = out / REPO_ID
    folder.parent.mkdir(parents=True)
    shutil.copytree(zoo / REPO_ID, folder)
    results = results_of(zoo)
    results["budget"]["steps"] = STEPS * 25  # as if published from a paper-budget run
    (folder / "results.json").write_text(json.dumps(results))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    args = ["--suite", "smoke", "--results", str(store_root), "--out", str(out), "--eval-episodes", "1", "--reps",
            "50", "--no-replay"]
    assert publish.main(args) == 1
    assert "published from runs of 1,000 steps; these runs have 40" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert publish.main([*args, "--replace-longer"]) == 0
    assert results_of(out)["budget"]["steps"] == STEPS
