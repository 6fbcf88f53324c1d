"""iqlzoo.hub against LocalHub, a Hub-compatible server on 127.0.0.1 (tests/hub_server.py)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import PATIENCE_S
from hub_server import LocalHub
from huggingface_hub import HfApi, ModelCard, metadata_load
from safetensors.torch import load_file, save_file

from iqlzoo.hub import (
    HubConnectionError,
    HubOfflineError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    NotACheckpointError,
    download_folder,
    push_folder,
    render_model_card,
    write_model_card,
)

ROOT = Path(__file__).resolve().parents[1]
REPO = "tester/iql-halfcheetah"
CONFIG = {"format": "iqlzoo-checkpoint", "agent_class": "IQL", "expectile": 0.7, "hidden": [256, 256]}


def make_checkpoint(folder: Path, *, fill: float = 1.0) -> Path:
    """A checkpoint folder: config.json + model.safetensors whose weights are all ``fill``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))
    save_file({"actor.weight": torch.full((4, 3), fill), "actor.bias": torch.zeros(4)}, folder / "model.safetensors")
    return folder


def snapshot_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def free_port_url() -> str:
    """The URL of a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_push_then_download_gives_identical_bytes(local_hub: LocalHub, tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "ckpt")
    card = render_model_card(
        repo_id=REPO, agent_class="IQL", config=CONFIG, dataset_id=None, env_id=None, num_timesteps=10
    )
    write_model_card(folder, card)
    (folder / "replay.pkl").write_bytes(b"\x80\x04pickle")  # must never leave the machine
    (folder / "agent.zip").write_bytes(b"PK\x03\x04")

    commit = push_folder(folder, REPO, token="hf_test", endpoint=local_hub.endpoint)

    assert commit.oid == local_hub.commit_ids(REPO)[0]
    assert commit.endswith(f"/{REPO}/commit/{commit.oid}")
    assert local_hub.list_files(REPO) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    assert all(r.headers.get("authorization") == "Bearer hf_test" for r in local_hub.requests)

    snapshot = download_folder(REPO, cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)

    expected = snapshot_files(folder)
    del expected["replay.pkl"], expected["agent.zip"]
    assert snapshot_files(snapshot) == expected
    assert torch.equal(load_file(snapshot / "model.safetensors")["actor.weight"], torch.ones(4, 3))


def test_second_push_updates_repo_and_old_revision_keeps_old_bytes(local_hub: LocalHub, tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "ckpt", fill=1.0)
    first = push_folder(folder, REPO, endpoint=local_hub.endpoint)
    old_weights = (folder / "model.safetensors").read_bytes()
    make_checkpoint(folder, fill=2.0)
    second = push_folder(folder, REPO, endpoint=local_hub.endpoint, commit_message="step 2")
    unchanged = push_folder(folder, REPO, endpoint=local_hub.endpoint)

    assert first.oid != second.oid
    assert unchanged.oid == second.oid  # nothing changed: no empty commit
    assert local_hub.commit_ids(REPO)[:2] == [second.oid, first.oid]
    assert len(local_hub.commit_ids(REPO)) == 3  # the repo's initial commit, then ours
    cache = tmp_path / "cache"
    latest = download_folder(REPO, cache_dir=cache, endpoint=local_hub.endpoint)
    older = download_folder(REPO, revision=first.oid, cache_dir=cache, endpoint=local_hub.endpoint)
    assert (latest / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert (older / "model.safetensors").read_bytes() == old_weights != (folder / "model.safetensors").read_bytes()


def test_push_to_a_branch_leaves_main_alone(local_hub: LocalHub, tmp_path: Path) -> None:
    push_folder(make_checkpoint(tmp_path / "a", fill=1.0), REPO, endpoint=local_hub.endpoint)
    push_folder(make_checkpoint(tmp_path / "b", fill=3.0), REPO, revision="step-500k", endpoint=local_hub.endpoint)

    branch = download_folder(REPO, revision="step-500k", cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)
    assert torch.equal(load_file(branch / "model.safetensors")["actor.weight"], torch.full((4, 3), 3.0))
    assert local_hub.read_file(REPO, "model.safetensors") == (tmp_path / "a" / "model.safetensors").read_bytes()


def test_local_files_only_reads_the_cache_without_network(local_hub: LocalHub, tmp_path: Path) -> None:
    push_folder(make_checkpoint(tmp_path / "ckpt"), REPO, endpoint=local_hub.endpoint)
    online = download_folder(REPO, cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)
    n_requests = len(local_hub.requests)

    offline = download_folder(REPO, cache_dir=tmp_path / "cache", local_files_only=True, endpoint=local_hub.endpoint)

    assert offline == online
    assert len(local_hub.requests) == n_requests
    with pytest.raises(HubOfflineError, match=r"(?s)'tester/other'.*local_files_only=True.*local checkpoint folder"):
        download_folder("tester/other", cache_dir=tmp_path / "cache", local_files_only=True)


def test_unreachable_endpoint_falls_back_to_cache_or_names_the_endpoint(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with LocalHub() as hub:
        push_folder(make_checkpoint(tmp_path / "ckpt"), REPO, endpoint=hub.endpoint)
        online = download_folder(REPO, cache_dir=cache, endpoint=hub.endpoint)
        endpoint = hub.endpoint
        assert not hub.unhandled
    assert download_folder(REPO, cache_dir=cache, endpoint=endpoint) == online  # server gone: cached copy

    with pytest.raises(HubConnectionError, match=rf"(?s)'tester/never-cached'.*{re.escape(endpoint)}.*ConnectError"):
        download_folder("tester/never-cached", cache_dir=cache, endpoint=endpoint)
    dead = free_port_url()
    with pytest.raises(HubConnectionError, match=re.escape(dead)):
        push_folder(tmp_path / "ckpt", REPO, endpoint=dead)


def test_unknown_repo_and_revision_give_clear_errors(local_hub: LocalHub, tmp_path: Path) -> None:
    with pytest.raises(HubRepoNotFoundError, match=r"(?s)'tester/does-not-exist'.*token"):
        download_folder("tester/does-not-exist", cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)

    push_folder(make_checkpoint(tmp_path / "ckpt"), REPO, endpoint=local_hub.endpoint)
    with pytest.raises(HubRevisionNotFoundError, match=r"(?s)'tester/iql-halfcheetah'.*'v9'"):
        download_folder(REPO, revision="v9", cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)


def test_repo_without_config_is_not_a_checkpoint(local_hub: LocalHub, tmp_path: Path) -> None:
    local_hub.add_commit("tester/some-model", {"model.safetensors": b"not ours", "notes.txt": b"hi"})
    with pytest.raises(NotACheckpointError, match=r"(?s)'tester/some-model'.*config\.json.*model\.safetensors"):
        download_folder("tester/some-model", cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)

    (tmp_path / "empty").mkdir()
    n_requests = len(local_hub.requests)
    with pytest.raises(NotACheckpointError, match="config.json"):
        push_folder(tmp_path / "empty", REPO, endpoint=local_hub.endpoint)
    assert len(local_hub.requests) == n_requests  # refused before any network call


def test_pickles_in_a_repo_are_never_downloaded(local_hub: LocalHub, tmp_path: Path) -> None:
    ckpt = snapshot_files(make_checkpoint(tmp_path / "ckpt"))
    unsafe = {"policy.pkl": b"\x80\x04", "pytorch_model.bin": b"\x80\x02", "agent.zip": b"PK\x03\x04"}
    local_hub.add_commit(REPO, {**ckpt, **unsafe, "sub/extra.json": b"{}"})

    snapshot = download_folder(REPO, cache_dir=tmp_path / "cache", endpoint=local_hub.endpoint)

    assert sorted(snapshot_files(snapshot)) == ["config.json", "model.safetensors", "sub/extra.json"]
    fetched = {r.path.split("/resolve/")[1].split("/", 1)[1] for r in local_hub.requests if "/resolve/" in r.path}
    assert fetched == {"config.json", "model.safetensors", "sub/extra.json"}
    assert not list((tmp_path / "cache").rglob("*.pkl"))


def test_private_repo_needs_the_token(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "ckpt")
    with LocalHub(token="hf_owner") as hub:
        push_folder(folder, REPO, token="hf_owner", private=True, endpoint=hub.endpoint)
        assert hub.is_private(REPO)

        with pytest.raises(HubRepoNotFoundError, match=r"(?s)'tester/iql-halfcheetah'.*token"):
            download_folder(REPO, cache_dir=tmp_path / "c1", token="hf_stranger", endpoint=hub.endpoint)
        with pytest.raises(
            HubRepoNotFoundError, match=r"(?s)Cannot push to 'tester/iql-halfcheetah'.*token.*write access"
        ):
            push_folder(folder, REPO, token="hf_stranger", endpoint=hub.endpoint)
        snapshot = download_folder(REPO, cache_dir=tmp_path / "c2", token="hf_owner", endpoint=hub.endpoint)
        assert (snapshot / "config.json").read_bytes() == (folder / "config.json").read_bytes()
        assert not hub.unhandled


def test_model_card_metadata_and_config_round_trip(tmp_path: Path) -> None:
    metrics = {
        "normalized_score": 47.4,
        "normalized_score_ci": [45.1, 49.8],
        "mean_reward": 5601.25,
        "std_reward": 120.5,
        "n_episodes": 10,
    }
    card = render_model_card(
        repo_id=REPO,
        agent_class="IQL",
        config=CONFIG,
        dataset_id="mujoco/halfcheetah/medium-v0",
        env_id="HalfCheetah-v5",
        num_timesteps=1_000_000,
        metrics=metrics,
    )
    (tmp_path / "README.md").write_text("old card")
    path = write_model_card(tmp_path, card)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # no temporary file left
    meta = metadata_load(path)
    assert meta["library_name"] == "iqlzoo"
    assert {"reinforcement-learning", "offline-reinforcement-learning", "iql", "minari", "iqlzoo", "IQL"} <= set(
        meta["tags"]
    )
    assert "mujoco/halfcheetah/medium-v0" in meta["tags"] and meta["datasets"] == ["mujoco/halfcheetah/medium-v0"]
    results = {r.metric_type: r for r in ModelCard.load(path).data.eval_results}
    assert results["normalized_score"].metric_value == 47.4
    assert results["normalized_score"].metric_args == {"n_episodes": 10, "confidence_interval": [45.1, 49.8]}
    assert results["mean_reward"].metric_value == 5601.25 and results["std_reward"].metric_value == 120.5
    assert {r.dataset_type for r in results.values()} == {"mujoco/halfcheetah/medium-v0"}

    text = path.read_text()
    config_block = re.search(r"```json\n(.*?)\n```", text, re.S)
    assert config_block is not None and json.loads(config_block.group(1)) == CONFIG
    assert f'IQL.load_from_hub("{REPO}")' in text
    assert "10 episodes" in text and "45.1 to 49.8" in text


def test_model_card_without_evaluation_says_so() -> None:
    card = render_model_card(
        repo_id=REPO, agent_class="IQL", config=CONFIG, dataset_id=None, env_id="Ant-v5", num_timesteps=5
    )
    assert "No evaluation is known" in card.text
    assert card.data.eval_results is None and "model-index" not in card.data.to_dict()

    with pytest.raises(ValueError, match="unknown metrics"):
        render_model_card(
            repo_id=REPO,
            agent_class="IQL",
            config={},
            dataset_id=None,
            env_id="Ant-v5",
            num_timesteps=5,
            metrics={"score": 1.0},
        )


def test_local_hub_lists_trees_like_the_hub(local_hub: LocalHub) -> None:
    local_hub.add_commit(REPO, {"config.json": b"{}", "extra/a/deep.json": b"[]"})
    api = HfApi(endpoint=local_hub.endpoint)

    top = {(type(e).__name__, e.path) for e in api.list_repo_tree(REPO)}
    assert top == {("RepoFile", ".gitattributes"), ("RepoFile", "config.json"), ("RepoFolder", "extra")}
    assert api.list_repo_files(REPO) == [".gitattributes", "config.json", "extra/a/deep.json"]
    sizes = {s.rfilename: s.size for s in api.model_info(REPO, files_metadata=True).siblings}
    assert sizes["extra/a/deep.json"] == 2


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
    )


def test_env_vars_endpoint_and_offline_mode(local_hub: LocalHub, tmp_path: Path) -> None:
    """HF_ENDPOINT and HF_HUB_OFFLINE are read when huggingface_hub is imported: use fresh interpreters."""
    folder = make_checkpoint(tmp_path / "ckpt")
    push_folder(folder, REPO, endpoint=local_hub.endpoint)
    home = str(tmp_path / "hf_home")
    code = f"""
        from iqlzoo.hub import HubError, download_folder
        print((download_folder({REPO!r}) / "model.safetensors").read_bytes().hex())
        try:
            download_folder("tester/never-cached")
        except HubError as err:
            print(type(err).__name__, err)
    """

    online = _run(code, HF_ENDPOINT=local_hub.endpoint, HF_HOME=home)
    assert online.returncode == 0, online.stderr
    weights = (folder / "model.safetensors").read_bytes().hex()
    lines = online.stdout.splitlines()
    assert lines[0] == weights
    assert lines[1].startswith("HubRepoNotFoundError") and local_hub.endpoint in lines[1]
    n_requests = len(local_hub.requests)

    offline = _run(code, HF_HUB_OFFLINE="1", HF_HOME=home)
    assert offline.returncode == 0, offline.stderr
    lines = offline.stdout.splitlines()
    assert lines[0] == weights
    assert lines[1].startswith("HubOfflineError") and "HF_HUB_OFFLINE is set" in lines[1]
    assert "'tester/never-cached'" in lines[1]
    assert len(local_hub.requests) == n_requests
