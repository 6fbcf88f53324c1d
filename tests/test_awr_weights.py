"""``benchmarks.awr_weights``: the advantage-weight statistics that explain an expectile's learning curve."""

import math

import pytest
import torch

from benchmarks.awr_weights import describe, main, weight_statistics
from iqlzoo import IQL
from tests.conftest import ANTMAZE_TINY_ID


def test_equal_weights_have_full_effective_sample_size():
    stats = weight_statistics(torch.tensor([0.0, 0.0, 0.0, 0.0]), torch.ones(4), max_weight=100.0)
    assert stats["ess_fraction"] == pytest.approx(1.0) and stats["advantage_positive"] == 0.0
    assert stats["capped"] == 0.0


def test_one_dominant_weight_shrinks_the_effective_sample_size():
    advantage = torch.tensor([math.log(100.0) / 10.0, -1.0, -1.0, -1.0])
    weights = torch.exp(10.0 * advantage).clamp(max=100.0)
    stats = weight_statistics(advantage, weights, max_weight=100.0)
    expected = float(weights.sum() ** 2 / (4 * (weights**2).sum()))
    assert stats["ess_fraction"] == pytest.approx(expected) and stats["ess_fraction"] < 0.26
    assert stats["advantage_positive"] == 0.25 and stats["capped"] == pytest.approx(0.25)
    assert stats["top1pct_weight_share"] == pytest.approx(float(weights.max() / weights.sum()))


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="equally many"):
        weight_statistics(torch.zeros(3), torch.ones(4), max_weight=100.0)


def test_describe_reads_a_saved_agent(antmaze_data, tmp_path, capsys):
    model = IQL("MlpPolicy", antmaze_data, seed=0, device="cpu", compile=False, expectile=0.5)
    model.save(tmp_path / "agent.zip")
    found = describe(model, n=256)
    assert found["expectile"] == 0.5 and 0.0 < found["ess_fraction"] <= 1.0
    assert main([str(tmp_path / "agent.zip"), "--dataset", ANTMAZE_TINY_ID, "--transitions", "64"]) == 0
    assert '"ess_fraction"' in capsys.readouterr().out
