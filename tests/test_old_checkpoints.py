"""Checkpoints written by an earlier iqlzoo (``tests/fixtures/checkpoints``, see make_checkpoint_fixture.py) still
load with today's code, act exactly as they did, and resume exactly as they did."""

import json
from pathlib import Path

import numpy as np
import pytest

from iqlzoo import AGENTS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checkpoints"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["agents"]))
def test_old_checkpoint_loads_acts_and_resumes_as_before(name, pendulum_data):
    expected = EXPECTED["agents"][name]
    cls = AGENTS[expected["class"]]
    obs = pendulum_data.observations[:8]
    model = cls.load(FIXTURES / name, device="cpu")
    np.testing.assert_allclose(model.predict(obs)[0], expected["actions"], atol=1e-6)
    resumed = cls.load(FIXTURES / name, dataset=pendulum_data, device="cpu").learn(3, reset_num_timesteps=False)
    np.testing.assert_allclose(resumed.predict(obs)[0], expected["actions_after_resume"], atol=1e-6)
