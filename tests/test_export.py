"""ONNX export of the deterministic policy: onnxruntime gives predict's actions, for Box and dict observations."""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest


def run_onnx(path, observations: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (action,) = session.run(["action"], {"observation": np.asarray(observations, dtype=np.float32)})
    return action


def test_exported_box_policy_acts_like_predict(pendulum_data, make_iql, tmp_path):
    model = make_iql(pendulum_data, normalize_observations=True).learn(5)
    path = model.export_policy(tmp_path / "policy" / "pendulum.onnx")
    assert path.is_file() and not list(path.parent.glob("*.data"))  # one self-contained file
    obs = pendulum_data.observations[:64]
    expected, _ = model.predict(obs)
    actions = run_onnx(path, obs)
    assert actions.shape == (64, 1) and actions.dtype == np.float32
    # Pendulum's bounds are [-2, 2]: the map from [-1, 1] and the observation standardisation are in the graph
    np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(run_onnx(path, obs[:1]), expected[:1], rtol=0, atol=1e-5)  # any batch size
    assert model.nets.training  # exporting leaves the agent's modules as they were


def test_exported_goal_policy_takes_the_dataset_flat_observation(antmaze_minari, antmaze_data, make_iql, tmp_path):
    model = make_iql(antmaze_data, normalize_observations=True)
    path = model.export_policy(tmp_path / "antmaze.onnx")
    episode = next(iter(antmaze_minari.iterate_episodes()))
    dict_obs = {key: np.asarray(value[:32]) for key, value in episode.observations.items()}
    expected, _ = model.predict(dict_obs)
    actions = run_onnx(path, antmaze_data.observations[:32])  # the dataset's rows: [achieved_goal, obs, goal]
    assert actions.shape == (32, 8)
    np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    layout = json.loads(props["iqlzoo.observation_layout"])
    assert [(e["key"], e["start"], e["stop"]) for e in layout] == [
        ("achieved_goal", 0, 2),
        ("observation", 2, 29),
        ("desired_goal", 29, 31),
    ]
    assert props["iqlzoo.agent_class"] == "IQL"


def test_export_without_onnx_says_which_extra_to_install(pendulum_data, make_iql, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r"needs the optional packages onnx.*pip install 'iqlzoo\[export\]'"):
        make_iql(pendulum_data).export_policy(tmp_path / "policy.onnx")
    assert not (tmp_path / "policy.onnx").exists()
