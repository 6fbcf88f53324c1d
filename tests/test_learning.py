"""IQL learns: trained on the small local Pendulum dataset, it clearly beats a random policy and the behaviour data."""

import numpy as np
import torch

from iqlzoo import IQL, evaluate


def test_iql_beats_random_and_behaviour_on_toy_pendulum(pendulum_data):
    torch.set_num_threads(1)
    model = IQL("MlpPolicy", pendulum_data, seed=0, device="cpu", policy_kwargs={"net_arch": [128, 128]})
    model.learn(3000)
    result = evaluate(model, n_episodes=10, seed=123)
    behaviour = float(np.mean(pendulum_data.normalized_score(pendulum_data.episode_returns)))
    # normalised score: 0 = random policy, 100 = the noiseless controller; the data's behaviour sits near 40
    # seeds 0/1/2 measured 82/65/69 against a behaviour score of 39 (torch 2.13 CPU)
    assert result.normalized_score > behaviour + 15, (result.normalized_score, behaviour)
