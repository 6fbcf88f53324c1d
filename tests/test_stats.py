"""Tests of the rliable aggregation: data arrangement, agreement with rliable called directly, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rliable import library, metrics

from benchmarks import stats
from benchmarks.store import load_results

FIXTURE = Path(__file__).parent / "fixtures" / "results"
REPS = 200
SEED = 7


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_results(FIXTURE)


@pytest.fixture(scope="module")
def antmaze(frame: pd.DataFrame) -> stats.ScoreMatrices:
    return stats.score_matrices(frame, "antmaze")


UMAZE = "D4RL/antmaze/umaze-v1"


def test_score_matrices_hold_final_scores_as_seeds_x_datasets(
    frame: pd.DataFrame, antmaze: stats.ScoreMatrices
) -> None:
    assert antmaze.tasks == ("D4RL/antmaze/medium-play-v1", "D4RL/antmaze/umaze-v1")
    assert list(antmaze.scores) == ["IQL", "D2RLIQL", "DistributionalIQL"]
    assert antmaze.notes == ()
    final = frame[frame["step"] == 1000].set_index(["agent", "seed", "dataset_id"])["normalized_score"]
    for agent, scores in antmaze.scores.items():
        assert scores.shape == (3, 2) and antmaze.seeds[agent] == (0, 1, 2)
        for i, seed in enumerate(antmaze.seeds[agent]):
            for j, task in enumerate(antmaze.tasks):
                assert scores[i, j] == final[(agent, seed, task)]


def test_success_rate_is_scaled_to_percent_and_missing_metrics_are_reported(frame: pd.DataFrame) -> None:
    success = stats.score_matrices(frame, "antmaze", "success_rate")
    final = frame[(frame["step"] == 1000) & (frame["agent"] == "IQL") & (frame["seed"] == 0)]
    expected = final.set_index("dataset_id").loc[list(success.tasks), "success_rate"].to_numpy() * 100
    np.testing.assert_array_equal(success.scores["IQL"][0], expected)
    mujoco = stats.score_matrices(frame, "mujoco", "success_rate")
    assert mujoco.scores == {} and mujoco.notes == ("6 of 6 runs have no success_rate and are left out.",)


def test_unequal_seeds_and_missing_datasets_are_left_out_and_said(frame: pd.DataFrame) -> None:
    gone = (
        (frame["agent"] == "D2RLIQL") & (frame["seed"] == 2) & (frame["dataset_id"] == "D4RL/antmaze/umaze-v1")
    ) | ((frame["agent"] == "DistributionalIQL") & (frame["dataset_id"] == "D4RL/antmaze/umaze-v1"))
    matrices = stats.score_matrices(frame[~gone], "antmaze")
    # 2 agents x 2 datasets beat 3 agents x 1: DistributionalIQL, which skipped umaze, is left out, not umaze
    assert matrices.tasks == ("D4RL/antmaze/medium-play-v1", "D4RL/antmaze/umaze-v1")
    assert set(matrices.scores) == {"IQL", "D2RLIQL"}
    assert ("DistributionalIQL: ran 1 of these 2 datasets and is left out of the aggregates until it runs them all."
            in matrices.notes)
    assert matrices.seeds["D2RLIQL"] == (0, 1)  # its seed 2 skipped umaze
    umaze_only_for_iql = frame[~gone & ~((frame["agent"] == "D2RLIQL") & (frame["dataset_id"] == UMAZE))]
    matrices = stats.score_matrices(umaze_only_for_iql, "antmaze")  # 3 agents x 1 dataset beat 1 agent x 2
    assert matrices.tasks == ("D4RL/antmaze/medium-play-v1",)
    assert "IQL: datasets ['D4RL/antmaze/umaze-v1'] are not run by every agent and are left out." in matrices.notes
    only_seed_gap = frame[~gone | (frame["agent"] == "DistributionalIQL")]
    matrices = stats.score_matrices(only_seed_gap, "antmaze")
    assert matrices.seeds == {"IQL": (0, 1, 2), "D2RLIQL": (0, 1), "DistributionalIQL": (0, 1, 2)}
    assert matrices.scores["D2RLIQL"].shape == (2, 2)
    assert any("D2RLIQL: unequal seeds" in note and "leaving out seeds [2]" in note for note in matrices.notes)


def test_ambiguous_runs_and_unknown_suites_are_errors(frame: pd.DataFrame) -> None:
    twin = frame[frame["run_id"] == "IQL-antmaze-umaze-v1-s0"].assign(run_id="IQL-umaze-other-config")
    with pytest.raises(ValueError, match="several runs share"):
        stats.score_matrices(pd.concat([frame, twin]), "antmaze")
    with pytest.raises(ValueError, match="no evaluation records"):
        stats.score_matrices(frame, "atari")
    with pytest.raises(ValueError, match="metric must be one of"):
        stats.score_matrices(frame, "antmaze", "return_mean")


def direct_aggregates(scores: np.ndarray) -> np.ndarray:
    return np.array(
        [
            metrics.aggregate_iqm(scores),
            metrics.aggregate_median(scores),
            metrics.aggregate_mean(scores),
            metrics.aggregate_optimality_gap(scores, gamma=100),
        ]
    )


def test_aggregate_equals_rliable_called_directly(antmaze: stats.ScoreMatrices) -> None:
    state = np.random.get_state()
    result = stats.aggregate(antmaze.scores, reps=REPS, seed=SEED)
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])  # the caller's global state is restored
    for agent, scores in antmaze.scores.items():
        np.random.seed(SEED)
        points, intervals = library.get_interval_estimates({agent: scores}, direct_aggregates, reps=REPS)
        np.testing.assert_array_equal(result.point[agent], points[agent])
        np.testing.assert_array_equal(result.interval[agent], intervals[agent])
        lower, upper = result.interval[agent]
        assert np.all(lower <= result.point[agent]) and np.all(result.point[agent] <= upper)


def test_estimates_are_deterministic_and_independent_of_other_agents(antmaze: stats.ScoreMatrices) -> None:
    first = stats.aggregate(antmaze.scores, reps=REPS, seed=SEED)
    alone = stats.aggregate({"D2RLIQL": antmaze.scores["D2RLIQL"]}, reps=REPS, seed=SEED)
    np.testing.assert_array_equal(first.interval["D2RLIQL"], alone.interval["D2RLIQL"])
    other_seed = stats.aggregate(antmaze.scores, reps=REPS, seed=SEED + 1)
    assert not np.array_equal(first.interval["IQL"], other_seed.interval["IQL"])


def test_probability_of_improvement_equals_rliable_on_pairs(antmaze: stats.ScoreMatrices) -> None:
    result = stats.probability_of_improvement(antmaze.scores, reps=REPS, seed=SEED)
    assert list(result.point) == ["D2RLIQL,IQL", "DistributionalIQL,IQL"]
    for agent in ("D2RLIQL", "DistributionalIQL"):
        pair = (antmaze.scores[agent], antmaze.scores["IQL"])
        np.random.seed(SEED)
        points, intervals = library.get_interval_estimates(
            {"pair": pair}, metrics.probability_of_improvement, reps=REPS
        )
        assert result.point[f"{agent},IQL"][0] == points["pair"]
        np.testing.assert_array_equal(result.interval[f"{agent},IQL"], intervals["pair"])
    with pytest.raises(ValueError, match="baseline"):
        stats.probability_of_improvement({"A": antmaze.scores["IQL"]}, reps=REPS)


def test_performance_profiles_equal_rliable(antmaze: stats.ScoreMatrices) -> None:
    taus = stats.default_taus(antmaze.scores)
    assert taus[0] == 0.0 and taus[-1] == 100.0
    result = stats.performance_profiles(antmaze.scores, taus, reps=REPS, seed=SEED)
    np.random.seed(SEED)
    profiles, cis = library.create_performance_profile({"IQL": antmaze.scores["IQL"]}, taus, reps=REPS)
    np.testing.assert_array_equal(result.point["IQL"], profiles["IQL"])
    np.testing.assert_array_equal(result.interval["IQL"], cis["IQL"])


def test_sample_efficiency_is_iqm_per_step(frame: pd.DataFrame, antmaze: stats.ScoreMatrices) -> None:
    steps, curves = stats.sample_efficiency(frame, antmaze, reps=REPS, seed=SEED)
    np.testing.assert_array_equal(steps, [500, 1000])
    for agent, scores in antmaze.scores.items():
        assert curves.point[agent].shape == (2,) and curves.interval[agent].shape == (2, 2)
        assert curves.point[agent][-1] == metrics.aggregate_iqm(scores)
        early = frame[(frame["agent"] == agent) & (frame["step"] == 500) & frame["suite"].eq("antmaze")]
        assert curves.point[agent][0] == metrics.aggregate_iqm(early["normalized_score"].to_numpy())


def test_mean_over_seeds() -> None:
    result = stats.mean_over_seeds({"one": np.array([40.0]), "three": np.array([10.0, 20.0, 60.0])}, reps=REPS)
    np.testing.assert_array_equal(result.interval["one"], [[40.0], [40.0]])
    assert result.point["three"][0] == 30.0
    assert 10.0 <= result.interval["three"][0, 0] < 30.0 < result.interval["three"][1, 0] <= 60.0


def test_still_rising_needs_a_gain_beyond_its_standard_error() -> None:
    import pandas as pd

    def frame(curves: dict[str, list[float]]) -> pd.DataFrame:
        rows = [{"run_id": run, "step": 25 * (i + 1), "normalized_score": v}
                for run, values in curves.items() for i, v in enumerate(values)]
        return pd.DataFrame(rows)

    rising = frame({"a": [10, 20], "b": [12, 25], "c": [8, 18]})
    assert stats.still_rising(rising, ["a", "b", "c"]) is True
    flat = frame({"a": [30, 30], "b": [40, 40], "c": [0, 0]})
    assert stats.still_rising(flat, ["a", "b", "c"]) is False
    noisy = frame({"a": [10, 40], "b": [40, 10], "c": [20, 21]})  # mean gain 0.33, far below its standard error
    assert stats.still_rising(noisy, ["a", "b", "c"]) is False
    assert stats.still_rising(frame({"a": [5]}), ["a"]) is None


def test_still_rising_averages_the_last_tenth_of_a_densely_evaluated_curve() -> None:
    """Forty evaluations of a flat curve with noise: each seed happens to gain from its 39th to its 40th evaluation
    (the one-step test would flag it), but the last tenth of training does not score above the tenth before."""
    import pandas as pd

    rng = np.random.default_rng(0)
    flat = {run: list(50 + rng.normal(0, 1, 40)) for run in "abc"}
    for values in flat.values():
        values[-2], values[-1] = 48.0, 52.0
        values[-8:-4] = [51.0, 51.0, 51.0, 51.0]  # the tenth before: a little above the last tenth's mean
    rows = [{"run_id": run, "step": 5 * (i + 1), "normalized_score": v}
            for run, values in flat.items() for i, v in enumerate(values)]
    assert stats.still_rising(pd.DataFrame(rows), list("abc")) is False
    climbing = [{"run_id": run, "step": 5 * (i + 1), "normalized_score": i + offset}
                for offset, run in enumerate("abc") for i in range(40)]
    assert stats.still_rising(pd.DataFrame(climbing), list("abc")) is True
