"""iqlzoo.evaluate: returns, normalised scores, success rates, reproducibility."""

import numpy as np
import pytest

from iqlzoo import evaluate


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
