"""iqlzoo.evaluate: returns, normalised scores, success rates, reproducibility."""

import numpy as np
import pytest
import torch

from iqlzoo import evaluate
from iqlzoo.evaluation import EVAL_THREADS


def test_evaluate_reports_returns_and_normalised_scores(pendulum_data, make_iql):
    model = make_iql(pendulum_data)
    result = evaluate(model, n_episodes=3, seed=5, n_envs=2)
    assert result.n_episodes == 3 and result.lengths.tolist() == [200, 200, 200]
    expected = 100 * (result.returns - pendulum_data.ref_min_score) / (
        pendulum_data.ref_max_score - pendulum_data.ref_min_score
    )
    np.testing.assert_allclose(result.normalized_scores, expected)
    assert result.success_rate is None
    again = evaluate(model, pendulum_data, n_episodes=3, seed=5, n_envs=3)
    np.testing.assert_allclose(again.returns, result.returns)  # episode i uses seed + i whatever the batching
    metrics = result.as_metrics()
    assert metrics["n_episodes"] == 3 and metrics["normalized_score"] == pytest.approx(result.normalized_score)


def test_the_policy_runs_on_a_fixed_thread_count_whatever_the_caller_set(pendulum_data, make_iql):
    """A matmul's last bits depend on how many threads split it, and a rollout grows them into another episode, so
    `evaluate` calls the policy on EVAL_THREADS threads (a published card's returns rest on it) and then gives the
    caller's count back."""
    model = make_iql(pendulum_data)
    seen: list[int] = []

    class Spy:
        def __getattr__(self, name):
            return getattr(model, name)

        def predict(self, obs, deterministic=True):
            seen.append(torch.get_num_threads())
            return model.predict(obs, deterministic=deterministic)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(EVAL_THREADS + 1)
        evaluate(Spy(), pendulum_data, n_episodes=2, seed=0)
        assert torch.get_num_threads() == EVAL_THREADS + 1  # restored
    finally:
        torch.set_num_threads(before)
    assert len(seen) == 200 and set(seen) == {EVAL_THREADS}


def test_goal_tasks_report_success_rate(antmaze_data, make_iql):
    result = evaluate(make_iql(antmaze_data), n_episodes=2, seed=0)
    assert result.success_rate is not None and 0.0 <= result.success_rate <= 1.0
    assert result.normalized_scores is not None


def test_evaluate_rejects_bad_arguments(pendulum_data, make_iql):
    model = make_iql(pendulum_data)
    with pytest.raises(ValueError, match="n_episodes must be >= 1"):
        evaluate(model, n_episodes=0)
    with pytest.raises(TypeError, match="cannot evaluate on a int"):
        evaluate(model, 3)


def test_a_dataset_without_the_goal_input_is_evaluated_on_the_goal_environment_without_it(antmaze_minari, make_iql):
    """D4RL's AntMaze task (``-evalgoal`` datasets): the data has no desired_goal, the evaluation environment does;
    the agent reads observations by the dataset's keys, so the goal it never saw is left out everywhere."""
    import minari
    from gymnasium import spaces

    from iqlzoo.data import from_minari
    from iqlzoo.recipes.antmaze_evalgoal import KEPT_KEYS, split_episode

    centre = np.asarray(antmaze_minari.recover_environment(eval_env=True).unwrapped.maze.cell_rowcol_to_xy(
        np.array([1, 1])))
    parts = [part for episode in antmaze_minari.iterate_episodes()
             for part in split_episode(episode.observations, np.asarray(episode.actions),
                                       {"qpos": np.zeros((len(episode.actions) + 1, 15)),
                                        "qvel": np.zeros((len(episode.actions) + 1, 14))}, centre)]
    space = spaces.Dict({key: antmaze_minari.observation_space[key] for key in KEPT_KEYS})
    dataset = minari.create_dataset_from_buffers(
        "iqlzoo-test/antmaze/umaze-random-evalgoal-v0", buffer=parts, env=antmaze_minari.spec.env_spec,
        eval_env=antmaze_minari.spec.env_spec, observation_space=space, action_space=antmaze_minari.action_space,
        algorithm_name="random", author="iqlzoo tests", author_email="none", ref_min_score=0.0, ref_max_score=1.0)
    data = from_minari(dataset)
    assert data.observations.shape[1] == 29
    model = make_iql(data)
    result = evaluate(model, n_episodes=1, seed=0)
    assert result.success_rate is not None and result.lengths[0] > 0
    env_obs, _ = dataset.recover_environment(eval_env=True).reset(seed=0)
    without_goal = {key: env_obs[key] for key in KEPT_KEYS}
    np.testing.assert_array_equal(model.predict(env_obs)[0], model.predict(without_goal)[0])
