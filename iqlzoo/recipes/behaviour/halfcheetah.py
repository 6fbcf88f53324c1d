"""HalfCheetah-v5 behaviour policies (simple / medium / expert levels) trained with SB3 SAC."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from iqlzoo.recipes.behaviour.tasks import ActFn, TaskSpec

ENV_ID = "HalfCheetah-v5"
D4RL_RANDOM_SCORE = -280.178953
D4RL_EXPERT_SCORE = 12135.0

# Shipped name -> (target evaluation return, accepted [low, high] band); ``None`` means "best reached".
# Expert: the best evaluated snapshot (seed 1, 980k steps: 8,694 over 20 deterministic episodes; SAC improved by
# ~+100 per 20k steps by then, so it stopped at 1M steps). Medium: 40% of the expert's return above random, as D4RL's
# medium relative to its expert ((4,770 + 280) / (12,135 + 280) = 41%), band 30-50% (the issue's own-refs range):
# 0.4 * (8,694 + 280) - 280 = 3,310. Simple: a policy that runs, but poorly (1,000-2,500; SAC jumps through that
# range within ~20k steps: seed 1 scored 1,263 at 40k and 3,031 at 60k).
LEVELS: dict[str, tuple[float, float, float] | None] = {
    "halfcheetah-simple": (1750.0, 1000.0, 2500.0),
    "halfcheetah-medium": (3310.0, 2412.0, 4207.0),
    "halfcheetah-expert": None,
}


def d4rl_normalized(episode_return: float) -> float:
    """D4RL-normalised score (x100) with the legacy HalfCheetah references (random -280.18, expert 12135)."""
    return 100.0 * (episode_return - D4RL_RANDOM_SCORE) / (D4RL_EXPERT_SCORE - D4RL_RANDOM_SCORE)


def make_env() -> gym.Env:
    """One ``HalfCheetah-v5`` environment with its default 1000-step limit."""
    return gym.make(ENV_ID)


def evaluate(act: ActFn, episodes: int, seed: int) -> dict[str, float]:
    """Mean/std undiscounted return of ``act`` over ``episodes`` full episodes seeded ``seed, seed+1, ...``."""
    env = make_env()
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    mean = float(np.mean(returns))
    return {
        "episodes": episodes,
        "return_mean": mean,
        "return_std": float(np.std(returns)),
        "d4rl_normalized": d4rl_normalized(mean),
    }


TASK = TaskSpec(
    name="halfcheetah",
    env_id=ENV_ID,
    make_env=make_env,
    sac_kwargs={},  # Stable-Baselines3 SAC defaults: 256x256 ReLU, lr 3e-4, batch 256, gamma 0.99, auto entropy.
    evaluate=evaluate,
    score_key="return_mean",
    levels=LEVELS,
    card_fields={"env_id": ENV_ID, "env_kwargs": {}, "observation": "HalfCheetah-v5 observation (17-d)"},
)
