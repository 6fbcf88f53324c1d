"""Shared pytest fixtures.

Every test session gets its own empty Minari store (``MINARI_DATASETS_PATH``) and builds the small datasets it
needs there itself, offline: the toy Pendulum dataset of :mod:`iqlzoo.recipes.toy` and a tiny AntMaze dataset of
random actions (dict observations, goal info) for the goal-conditioned code paths.
"""

import os
import tempfile
from collections.abc import Iterator

os.environ["MINARI_DATASETS_PATH"] = tempfile.mkdtemp(prefix="iqlzoo-test-minari-")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="iqlzoo-test-hf-")  # never touch the user's Hub cache
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402
from hub_server import LocalHub  # noqa: E402

ANTMAZE_TINY_ID = "iqlzoo-test/antmaze/umaze-random-v0"
# How long a test waits for a child process (or a file one writes) before calling it hung. A quiet machine needs
# seconds; a 2-core machine already running two training jobs needed over 60 s for a fresh process to import torch
# and reach its first checkpoint (2026-12-04). Waits end as soon as their condition holds, so this costs nothing.
PATIENCE_S = 600


@pytest.fixture(scope="session")
def pendulum_minari():
    """The toy Pendulum dataset (40 episodes of 200 steps) as a MinariDataset."""
    from iqlzoo.recipes.toy import build_pendulum_dataset

    # its own id: harness tests rebuild the recipe id iqlzoo/toy/pendulum-mixed-v0 with other parameters
    return build_pendulum_dataset(n_episodes=40, n_reference_episodes=10, dataset_id="iqlzoo-test/toy/pendulum-v0")


@pytest.fixture(scope="session")
def pendulum_data(pendulum_minari):
    """The toy Pendulum dataset as an iqlzoo TransitionDataset."""
    from iqlzoo.data import from_minari

    return from_minari(pendulum_minari)


@pytest.fixture(scope="session")
def antmaze_minari():
    """Three 60-step episodes of random actions in AntMaze_UMaze-v5 (27-d ant state + 2-d goals), as Minari data."""
    import gymnasium_robotics
    import minari

    from iqlzoo.recipes.toy import rollout_episode

    gym.register_envs(gymnasium_robotics)
    env = gym.make("AntMaze_UMaze-v5", include_cfrc_ext_in_observation=False, max_episode_steps=60)
    def random_policy(obs):
        return env.action_space.sample()

    env.action_space.seed(0)
    episodes = [rollout_episode(env, random_policy, seed=i, episode_id=i) for i in range(3)]
    dataset = minari.create_dataset_from_buffers(
        ANTMAZE_TINY_ID, buffer=episodes, env=env.spec, eval_env=env.spec, algorithm_name="random",
        author="iqlzoo tests", author_email="none", ref_min_score=0.0, ref_max_score=1.0,
    )
    env.close()
    return dataset


@pytest.fixture(scope="session")
def antmaze_data(antmaze_minari):
    from iqlzoo.data import from_minari

    return from_minari(antmaze_minari)


def small_iql(data, **kwargs):
    """An IQL with small networks for fast tests."""
    from iqlzoo import IQL

    kwargs.setdefault("policy_kwargs", {"net_arch": [32, 32]})
    kwargs.setdefault("batch_size", 64)
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("device", "cpu")
    return IQL("MlpPolicy", data, **kwargs)


# --- local Hugging Face Hub (tests/hub_server.py) ---
@pytest.fixture
def local_hub() -> Iterator[LocalHub]:
    """A running LocalHub; pass ``local_hub.endpoint`` as ``endpoint=``. Fails if a client hit a missing route."""
    with LocalHub() as hub:
        yield hub
        assert not hub.unhandled, f"LocalHub got requests it has no route for: {hub.unhandled}"


@pytest.fixture(scope="session")
def saved_iql_files(pendulum_data, tmp_path_factory) -> dict[str, bytes]:
    """The files of a small IQL checkpoint with its resume state (``small_iql`` on the Pendulum data), name → bytes."""
    folder = small_iql(pendulum_data).save(tmp_path_factory.mktemp("saved") / "agent")
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.fixture
def make_iql():
    """Factory for small, seeded, CPU IQL agents: ``make_iql(data, **hyperparameters)``."""
    return small_iql
