"""The zoo shipped in `zoo/`: what every committed repo promises its downloader, checked on the files themselves.

`tests/test_publish.py` tests the publishing pipeline on a smoke suite; this file tests its committed output, so a
hand edit, a half-finished republish or a repo from an older format cannot go unnoticed.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from benchmarks.publish import DEFAULT_OUT, reexport_repo, repo_folders
from benchmarks.zoo_card import check_card
from iqlzoo import IQL
from iqlzoo.evaluation import EVAL_THREADS
from iqlzoo.zoo import DEFAULT_ORG, REEVAL_SEED, RESULTS_FILE

#: The issue's size budget for the whole shipped zoo.
ZOO_BUDGET_BYTES = 40_000_000
REPOS = repo_folders(DEFAULT_OUT, DEFAULT_ORG)


def test_the_zoo_ships_repos_within_its_size_budget() -> None:
    assert len(REPOS) >= 1
    size = sum(f.stat().st_size for f in DEFAULT_OUT.rglob("*") if f.is_file())
    assert size <= ZOO_BUDGET_BYTES, f"zoo/ holds {size:,} bytes, over the {ZOO_BUDGET_BYTES:,}-byte budget"


@pytest.mark.parametrize("repo", REPOS, ids=lambda p: p.name)
def test_shipped_repo_card_results_and_weights_agree(repo: Path, tmp_path: Path) -> None:
    """The card parses (huggingface_hub) with the re-evaluation of results.json in its model-index; that
    re-evaluation is recorded with what reproducing it takes; the weights hold no optimizer or target state and
    load to predict; the card is what today's template renders from the repo's files."""
    results = json.loads((repo / RESULTS_FILE).read_text(encoding="utf-8"))
    assert results["repo_id"] == f"{DEFAULT_ORG}/{repo.name}" and results["test_data"] is False
    reeval = results["reevaluation"]
    assert reeval["first_seed"] == REEVAL_SEED and len(reeval["returns"]) == reeval["n_episodes"]
    assert reeval["torch_threads"] == EVAL_THREADS and reeval["cpu"]  # re-evaluated as `evaluate` runs today
    assert reeval["mean_return"] == pytest.approx(float(np.mean(reeval["returns"])))

    card = check_card((repo / "README.md").read_text(encoding="utf-8"))
    index = {r.metric_type: float(r.metric_value) for r in card.data.eval_results}
    if reeval["normalized_score"] is not None:
        assert math.isclose(index["normalized_score"], reeval["normalized_score"], abs_tol=1e-4)
    assert math.isclose(index["mean_reward"], reeval["mean_return"], abs_tol=1e-4)

    with safe_open(repo / "model.safetensors", framework="pt") as handle:
        networks = {name.split(".", 1)[0] for name in handle.keys()}
    assert "actor" in networks and not networks & {"critic_target", "optimizer", "optim", "rng"}
    model = IQL.load(repo, device="cpu")
    action, _ = model.predict(model.observation_space.sample(), deterministic=True)
    assert model.action_space.contains(np.asarray(action, dtype=model.action_space.dtype))

    copy = tmp_path / repo.name
    shutil.copytree(repo, copy)
    assert not reexport_repo(copy, log=lambda _: None), f"{repo.name}: its card or weights are not today's export; " \
        f"run python -m benchmarks.publish --reexport {repo}"
