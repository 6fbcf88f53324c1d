"""Minari episodes → transitions, observation flattening and dataset errors."""

import dataclasses
import os
import subprocess
import sys

import gymnasium as gym
import minari
import numpy as np
import pytest
from conftest import PATIENCE_S
from minari.data_collector.episode_buffer import EpisodeBuffer

from iqlzoo.data import DatasetNotFoundError, ObservationFlattener, TransitionDataset, from_minari, load_dataset


def test_pendulum_transitions_are_consecutive(pendulum_minari, pendulum_data):
    assert len(pendulum_data) == pendulum_minari.total_steps
    first = next(iter(pendulum_minari.iterate_episodes()))
    steps = len(first.rewards)
    np.testing.assert_array_equal(pendulum_data.observations[:steps], first.observations[:-1])
    np.testing.assert_array_equal(pendulum_data.next_observations[:steps], first.observations[1:])
    np.testing.assert_array_equal(pendulum_data.rewards[:steps], np.asarray(first.rewards, dtype=np.float32))
    # Pendulum only truncates: no transition may stop bootstrapping
    assert pendulum_data.terminations.sum() == 0
    assert pendulum_data.episode_returns.shape == (pendulum_minari.total_episodes,)
    assert pendulum_data.has_reference_scores


def _pendulum_episodes(bad_reward_at: tuple[int, int] | None = None) -> list[EpisodeBuffer]:
    """Two Pendulum-shaped episodes: one ends in a termination, one in a truncation."""
    rng = np.random.default_rng(0)
    episodes = []
    for i, (terminated, steps) in enumerate([(True, 5), (False, 4)]):
        rewards = list(rng.normal(size=steps))
        if bad_reward_at is not None and bad_reward_at[0] == i:
            rewards[bad_reward_at[1]] = float("nan")
        episodes.append(
            EpisodeBuffer(
                id=i,
                observations=rng.uniform(-1, 1, size=(steps + 1, 3)).astype(np.float32),
                actions=rng.uniform(-2, 2, size=(steps, 1)).astype(np.float32),
                rewards=rewards,
                terminations=[False] * (steps - 1) + [terminated],
                truncations=[False] * (steps - 1) + [not terminated],
            )
        )
    return episodes


def _write_terminating_dataset(dataset_id: str, bad_reward_at: tuple[int, int] | None = None):
    """A Pendulum dataset of :func:`_pendulum_episodes`."""
    return minari.create_dataset_from_buffers(
        dataset_id,
        buffer=_pendulum_episodes(bad_reward_at),
        env="Pendulum-v1",
        eval_env="Pendulum-v1",
        author="t",
        author_email="t",
    )


def test_terminations_not_truncations_stop_bootstrapping():
    data = from_minari(_write_terminating_dataset("iqlzoo-test/term/mixed-v0"))
    np.testing.assert_array_equal(data.terminations, [0, 0, 0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(data.episode_starts, [0, 5])


def test_nan_in_dataset_names_field_episode_and_step():
    dataset = _write_terminating_dataset("iqlzoo-test/term/nan-v0", bad_reward_at=(1, 2))
    with pytest.raises(ValueError, match=r"'rewards'.*transition 7 \(episode 1, step 2\)"):
        from_minari(dataset)


def test_antmaze_dict_observations_flatten_to_position_state_goal(antmaze_minari, antmaze_data):
    assert antmaze_data.obs_keys == ("achieved_goal", "observation", "desired_goal")
    assert antmaze_data.obs_dim == 2 + 27 + 2
    episode = next(iter(antmaze_minari.iterate_episodes()))
    first = {k: np.asarray(v[0], dtype=np.float32) for k, v in episode.observations.items()}
    np.testing.assert_array_equal(antmaze_data.observations[0, :2], first["achieved_goal"])
    np.testing.assert_array_equal(antmaze_data.observations[0, 2:29], first["observation"])
    np.testing.assert_array_equal(antmaze_data.observations[0, 29:], first["desired_goal"])


def test_flattener_single_batch_and_errors(antmaze_minari):
    flat = ObservationFlattener(antmaze_minari.observation_space)
    obs = antmaze_minari.observation_space.sample()
    single, batched = flat.flatten(obs)
    assert single.shape == (1, 31) and not batched
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    many, batched = flat.flatten(batch)
    assert many.shape == (2, 31) and batched
    with pytest.raises(ValueError, match="lacks keys"):
        flat.flatten({"observation": obs["observation"], "desired_goal": obs["desired_goal"]})
    with pytest.raises(ValueError, match="Unexpected observation\\['observation'\\] shape"):
        flat.flatten({**obs, "observation": np.zeros(5)})
    with pytest.raises(ValueError, match="dtype"):
        flat.flatten({**obs, "observation": np.array(["a"] * 27)})


def test_unknown_dataset_id_gives_clear_error(pendulum_minari, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("D4RL/antmaze/umaze-v1")
    message = str(info.value)
    assert "D4RL/antmaze/umaze-v1" in message
    assert pendulum_minari.spec.dataset_id in message  # lists the local datasets
    assert "python -m iqlzoo.recipes" in message



def test_failed_download_gives_clear_error_without_hanging():
    """The real download path, offline: huggingface_hub reads HF_HUB_OFFLINE at import, so use a fresh process."""
    code = (
        "from iqlzoo.data import DatasetNotFoundError, load_dataset\n"
        "try:\n    load_dataset('iqlzoo-test/none/missing-v0', download=True)\n"
        "except DatasetNotFoundError as err:\n    print(err)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=PATIENCE_S)
    assert "'iqlzoo-test/none/missing-v0' is not available" in out.stdout, out.stderr
    assert "download failed" in out.stdout


def test_transition_dataset_validates_shapes_and_actions(pendulum_data):
    fields = dict(
        observations=pendulum_data.observations[:10],
        actions=pendulum_data.actions[:10],
        rewards=pendulum_data.rewards[:10],
        next_observations=pendulum_data.next_observations[:10],
        terminations=pendulum_data.terminations[:10],
        observation_space=pendulum_data.observation_space,
        action_space=pendulum_data.action_space,
    )
    TransitionDataset(**fields)
    with pytest.raises(ValueError, match="'actions' has shape"):
        TransitionDataset(**{**fields, "actions": np.zeros((10, 3))})
    with pytest.raises(ValueError, match="outside the action space"):
        TransitionDataset(**{**fields, "actions": np.full((10, 1), 5.0)})
    with pytest.raises(ValueError, match="'observations' holds NaN or inf at transition 3"):
        bad = fields["observations"].copy()
        bad[3, 1] = np.inf
        TransitionDataset(**{**fields, "observations": bad})


def test_environments_are_recovered_through_minari(monkeypatch):
    """make_env asks Minari (recover_environment) for the evaluation environment, never its private attributes."""
    eval_spec = dataclasses.replace(gym.spec("Pendulum-v1"), max_episode_steps=50)
    dataset = minari.create_dataset_from_buffers(
        "iqlzoo-test/recover/pendulum-v0",
        buffer=_pendulum_episodes(),
        env="Pendulum-v1",
        eval_env=eval_spec,
        author="t",
        author_email="t",
    )
    calls = []
    recover = type(dataset).recover_environment

    def spy(self, eval_env=False, **kwargs):
        calls.append((eval_env, kwargs))
        return recover(self, eval_env=eval_env, **kwargs)

    monkeypatch.setattr(type(dataset), "recover_environment", spy)
    data = from_minari(dataset)
    env = data.make_env(g=5.0)
    assert env.spec.max_episode_steps == 50 and env.unwrapped.g == 5.0
    assert data.make_env(eval_env=False).spec.max_episode_steps == 200
    assert calls == [(True, {"g": 5.0}), (False, {})]
    spaces_only = minari.create_dataset_from_buffers(
        "iqlzoo-test/recover/no-env-v0",
        buffer=_pendulum_episodes(),
        observation_space=dataset.observation_space,
        action_space=dataset.action_space,
        author="t",
        author_email="t",
    )
    with pytest.raises(ValueError, match="no-env-v0: Minari cannot recreate its evaluation environment .*records no "
                                         "environment.*pass env= explicitly"):
        from_minari(spaces_only).make_env()


def test_normalized_scores_come_from_minari(pendulum_minari, pendulum_data, monkeypatch):
    calls = []
    original = minari.get_normalized_score

    def spy(dataset, returns):
        calls.append(dataset)
        return original(dataset, returns)

    monkeypatch.setattr(minari, "get_normalized_score", spy)
    returns = np.array([pendulum_data.ref_min_score, pendulum_data.ref_max_score, -500.0])
    scores = pendulum_data.normalized_score(returns)
    assert calls == [pendulum_minari]
    np.testing.assert_allclose(scores, 100 * original(pendulum_minari, returns))
    np.testing.assert_allclose(scores[:2], [0.0, 100.0])
    no_refs = from_minari(_write_terminating_dataset("iqlzoo-test/term/no-refs-v0"))
    with pytest.raises(ValueError, match="no-refs-v0 has no reference scores"):
        no_refs.normalized_score(returns)
