"""IQL.push_to_hub → IQL.load_from_hub through the real huggingface_hub client and a local Hub server."""

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard

from iqlzoo import IQL, evaluate


def test_push_then_load_from_hub_predicts_identically(pendulum_data, make_iql, local_hub, tmp_path):
    model = make_iql(pendulum_data).learn(5)
    metrics = evaluate(model, n_episodes=2, seed=0).as_metrics()
    url = model.push_to_hub("tester/iql-pendulum", metrics=metrics, endpoint=local_hub.endpoint)
    assert "tester/iql-pendulum" in str(url)
    files = set(local_hub.list_files("tester/iql-pendulum")) - {".gitattributes"}
    assert files == {"README.md", "config.json", "model.safetensors"}

    cache = tmp_path / "cache"
    loaded = IQL.load_from_hub("tester/iql-pendulum", endpoint=local_hub.endpoint, cache_dir=cache, device="cpu")
    obs = pendulum_data.observations[:20]
    np.testing.assert_array_equal(model.predict(obs)[0], loaded.predict(obs)[0])
    for name, value in model.nets.state_dict().items():
        assert torch.equal(value, loaded.nets.state_dict()[name]), name

    card = ModelCard(local_hub.read_file("tester/iql-pendulum", "README.md").decode())
    assert card.data.library_name == "iqlzoo"
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    # the card rounds to 4 decimals
    assert results["mean_reward"] == pytest.approx(metrics["mean_reward"], abs=1e-3)
    assert results["normalized_score"] == pytest.approx(metrics["normalized_score"], abs=1e-3)
    assert '"expectile": 0.7' in card.text

    n_requests = len(local_hub.requests)
    offline = IQL.load_from_hub("tester/iql-pendulum", cache_dir=cache, local_files_only=True, device="cpu")
    np.testing.assert_array_equal(offline.predict(obs)[0], loaded.predict(obs)[0])
    assert len(local_hub.requests) == n_requests
