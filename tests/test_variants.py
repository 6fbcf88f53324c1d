"""The report's variants: their math on hand-computed cases, composition, persistence, learning and ablations."""

import numpy as np
import pytest
import torch
from combinations import COMBINATIONS
from stable_baselines3.common.logger import configure
from test_agent import assert_every_trainable_parameter_moves

from iqlzoo import AGENTS, D2RLIQL, IQL, BonusIQL, DistributionalIQL, TrainingDivergedError, evaluate
from iqlzoo.diagnostics import SrankCallback, network_sranks, srank
from iqlzoo.losses import quantile_huber_loss
from iqlzoo.penalties import CVAEBonus, RNDBonus

SMALL = {"policy_kwargs": {"net_arch": [32, 32]}, "batch_size": 64, "seed": 0, "device": "cpu"}


def test_quantile_huber_loss_by_hand():
    pred = torch.tensor([[[[0.0, 1.0]]]])  # one agent, one critic, one sample, quantiles at τ = 0.25 and 0.75
    taus = torch.tensor([[[0.25, 0.75]]])
    target = torch.tensor([[[0.5, 3.0]]])
    # δ_ij = T_j − θ_i: θ_0=0 → (0.5, 3.0); θ_1=1 → (−0.5, 2.0); κ = 1
    # ρ(0.5; .25) = .25·.125, ρ(3; .25) = .25·2.5, ρ(−.5; .75) = .25·.125, ρ(2; .75) = .75·1.5
    expected = (0.25 * 0.125 + 0.25 * 2.5) / 2 + (0.25 * 0.125 + 0.75 * 1.5) / 2
    assert quantile_huber_loss(pred, target, taus, kappa=1.0).tolist() == pytest.approx([expected])


def test_srank_of_matrices_with_known_singular_values():
    u, _ = torch.linalg.qr(torch.randn(50, 50, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(20, 20, dtype=torch.float64))
    sigma = torch.tensor([10.0] * 5 + [1e-6] * 15, dtype=torch.float64)
    matrix = u[:, :20] @ torch.diag(sigma) @ v.T
    assert srank(matrix, delta=0.01) == 5
    flat = u[:, :20] @ v.T  # 20 equal singular values: need ceil(0.99·20) = 20
    assert srank(flat, delta=0.01) == 20
    assert srank(flat, delta=0.1) == 18
    assert srank(torch.zeros(4, 4)) == 0


def _bonus_gap(bonus_model, steps: int = 400) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 2, generator=g)
    obs = torch.randn(4096, 4, generator=g)
    act = torch.tanh(obs @ w)  # the data: one action per state
    opt = torch.optim.Adam([p for p in bonus_model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(steps):
        index = torch.randint(4096, (1, 256), generator=g)
        noise = torch.randn(1, 256, bonus_model.noise_dim, generator=g) if bonus_model.noise_dim else None
        loss = bonus_model.loss(obs[index], act[index], noise).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    test_obs = torch.randn(1024, 4, generator=g)
    with torch.no_grad():
        on = bonus_model.bonus(test_obs[None], torch.tanh(test_obs @ w)[None]).mean().item()
        off = bonus_model.bonus(test_obs[None], torch.rand(1, 1024, 2, generator=g) * 2 - 1).mean().item()
    return on, off


@pytest.mark.parametrize("bonus_class", [RNDBonus, CVAEBonus])
def test_bonus_is_larger_off_the_data_than_on_it(bonus_class):
    torch.manual_seed(0)
    on, off = _bonus_gap(bonus_class(4, 2, [64, 64]))
    assert off > 3 * on, (on, off)


def test_presets_are_configurations_of_one_agent(pendulum_data):
    assert DistributionalIQL("MlpPolicy", pendulum_data, **SMALL).config.critic_head == "quantile"
    d2rl = D2RLIQL("MlpPolicy", pendulum_data, **SMALL).config
    assert (d2rl.actor_body, d2rl.critic_body, d2rl.value_body) == ("d2rl", "d2rl", "d2rl")
    assert BonusIQL("MlpPolicy", pendulum_data, **SMALL).config.penalty == "rnd"
    assert BonusIQL("MlpPolicy", pendulum_data, bonus="cvae", **SMALL).config.penalty == "cvae"
    assert D2RLIQL("MlpPolicy", pendulum_data, critic_body="mlp", **SMALL).config.critic_body == "mlp"
    assert set(AGENTS) == {"IQL", "DistributionalIQL", "D2RLIQL", "BonusIQL", "BC"}
    with pytest.raises(ValueError, match="critic_head='gaussian': must be one of"):
        IQL("MlpPolicy", pendulum_data, critic_head="gaussian", **SMALL)
    with pytest.raises(ValueError, match="disagree"):
        BonusIQL("MlpPolicy", pendulum_data, bonus="cvae", penalty="rnd", **SMALL)


VARIANTS = [(cls, {}) for cls in (DistributionalIQL, D2RLIQL, BonusIQL)] + [
    (BonusIQL, {"bonus": "cvae"}),
    (DistributionalIQL, {"distributional_loss": "quantile_huber"}),
] + [(IQL, combo) for combo in COMBINATIONS.values()]


@pytest.mark.parametrize("cls,kwargs", VARIANTS, ids=lambda x: getattr(x, "__name__", None) or str(x))
def test_every_variant_trains_all_its_parameters_and_round_trips(cls, kwargs, pendulum_data, tmp_path):
    model = cls("MlpPolicy", pendulum_data, **SMALL, **kwargs)
    assert_every_trainable_parameter_moves(model)
    model.learn(3, reset_num_timesteps=False)
    path = model.save(tmp_path / "agent")
    loaded = IQL.load(path, device="cpu")
    assert type(loaded) is cls and loaded.config == model.config
    obs = pendulum_data.observations[:10]
    np.testing.assert_array_equal(model.predict(obs)[0], loaded.predict(obs)[0])
    for name, value in model.nets.state_dict().items():
        assert torch.equal(value, loaded.nets.state_dict()[name]), name


def test_variant_hub_round_trip(pendulum_data, local_hub, tmp_path):
    model = IQL("MlpPolicy", pendulum_data, **SMALL, **COMBINATIONS["d2rl+rnd+quantile"]).learn(2)
    model.push_to_hub("tester/combo", endpoint=local_hub.endpoint)
    loaded = IQL.load_from_hub("tester/combo", endpoint=local_hub.endpoint, cache_dir=tmp_path, device="cpu")
    assert loaded.config == model.config
    obs = pendulum_data.observations[:10]
    np.testing.assert_array_equal(model.predict(obs)[0], loaded.predict(obs)[0])


def test_bonus_statistics_are_logged(pendulum_data, tmp_path):
    import pandas as pd

    model = BonusIQL("MlpPolicy", pendulum_data, **SMALL)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(20, log_interval=10)
    log = pd.read_csv(tmp_path / "progress.csv")
    assert (log["train/bonus_mean"] > 0).all() and (log["train/bonus_scale"] > 0).all()
    assert np.isfinite(log["train/penalty_loss"]).all()


def test_single_critic_divergence_is_detected_not_crashing(pendulum_data):
    # a tight bound (0.05% of max|r|/(1−γ)) stands in for an exploding Q, so the detection path runs in seconds
    model = IQL("MlpPolicy", pendulum_data, n_critics=1, divergence_factor=0.0005, **SMALL)
    with pytest.raises(TrainingDivergedError, match="diverged at gradient step") as info:
        model.learn(2000, log_interval=50)
    assert 0 < info.value.step < 2000
    IQL("MlpPolicy", pendulum_data, n_critics=1, **SMALL).learn(5)  # the ablation itself runs


def test_return_bounds_hold_every_discounted_return():
    from iqlzoo.agents.config import return_bounds

    assert return_bounds(-1.0, 0.0, 0.99) == pytest.approx((-100.0, 0.0))  # AntMaze's r - 1
    assert return_bounds(0.5, 2.0, 0.9) == pytest.approx((0.0, 20.0))  # an episode may end early: 0 is reachable
    assert return_bounds(-1.0, 0.0, 0.99, penalized=True) == (-float("inf"), pytest.approx(0.0))
    with pytest.raises(ValueError, match="gamma"):
        return_bounds(-1.0, 0.0, 1.0)


def test_values_outside_every_return_warn_once_per_agent(pendulum_data):
    """A mean Q no return of the training rewards can have warns (the guard stops training only at 10x the bound),
    once per agent, naming the agent; a small excursion (the twin minimum's bias at a floor) does not."""
    import warnings

    model = IQL("MlpPolicy", pendulum_data, n_seeds=2, **SMALL)
    model.learn(2)
    rewards = model.buffer.split(model.buffer.data)[2]
    gamma = model.config.gamma
    expected = (min(float(rewards.min()), 0.0) / (1 - gamma), max(float(rewards.max()), 0.0) / (1 - gamma))
    assert model.return_bounds == pytest.approx(expected)
    low, high = model.return_bounds
    bound = float(rewards.abs().max()) / (1 - gamma)
    means = torch.zeros(2, len(model.stat_names))
    q = model.stat_names.index("q_mean")
    means[0, q], means[1, q] = low - 0.05 * bound, high + 0.5 * bound  # agent 0 within the slack, agent 1 far out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model._dump_logs(means, 1.0)
        model._dump_logs(means, 1.0)  # once per agent, not at every log line
    texts = [str(w.message) for w in caught if "lies outside" in str(w.message)]
    assert len(texts) == 1 and "IQL (agent 1 of 2): mean Q" in texts[0] and f"[{low:g}, {high:g}]" in texts[0]


def test_srank_callback_logs_both_forms(pendulum_data):
    model = D2RLIQL("MlpPolicy", pendulum_data, **SMALL)
    callback = SrankCallback(every=5, batch_size=128)
    model.learn(10, callback=callback)
    assert [h["step"] for h in callback.history] == [5, 10]
    assert set(callback.history[0]) >= {"srank/policy_features", "srank/q_features", "srank/q_weights"}
    obs = torch.as_tensor(pendulum_data.observations[:128])
    act = torch.as_tensor(pendulum_data.actions[:128]) / 2.0
    ranks = network_sranks(model, obs, act)
    assert 1 <= ranks["srank/q_features"] <= 32 and 1 <= ranks["srank/policy_weights"] <= 32


# Each preset is a configuration of IQL and nothing else (test_presets_are_configurations_of_one_agent), and the first
# combination is the three presets' configurations at once, so training it trains every preset's code; the second
# holds the options no preset sets (the CVAE bonus, the quantile-Huber loss). Plain IQL is left out:
# tests/test_learning.py trains the very same model (seed 0, 128x128, 3000 steps) to a stricter bar. A preset alone
# learned as well (each passed this bar when it had its own case, until 2026-12-05), and 3000 steps is near the least
# that passes: at 2000 and 2500 steps DistributionalIQL scored -10 / -8 / -8 and 20 / 24 / 21 (seeds 0 / 1 / 2).
@pytest.mark.parametrize("name", list(COMBINATIONS))
def test_every_preset_and_combination_learns(name, pendulum_data):
    kwargs = COMBINATIONS[name]
    torch.set_num_threads(1)
    if kwargs.get("critic_head") == "quantile":
        kwargs = {**kwargs, "n_quantiles": 4, "n_cos": 16}  # smaller quantile heads keep the test quick
    if kwargs.get("penalty", "none") != "none":
        kwargs = {**kwargs, "penalty_hidden": (64, 64)}
    model = IQL("MlpPolicy", pendulum_data, seed=0, device="cpu", policy_kwargs={"net_arch": [128, 128]}, **kwargs)
    model.learn(3000)
    score = evaluate(model, n_episodes=5, seed=321).normalized_score
    assert score > 30, score  # 0 = random policy, behaviour ≈ 40
