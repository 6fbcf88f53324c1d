"""Behaviour policies: export/reload equivalence with SB3, clear load errors, resumable training."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import gymnasium_robotics
import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

from iqlzoo.recipes.behaviour import (
    BehaviourPolicy,
    BehaviourPolicyError,
    ant_goal,
    halfcheetah,
    load_behaviour_policy,
)
from iqlzoo.recipes.behaviour.ant_goal import GoalReachingAnt, heading, policy_input
from iqlzoo.recipes.behaviour.export import load_portable, save_portable
from iqlzoo.recipes.behaviour.train import RunDir, crossed, main, read_jsonl, select_snapshot


@pytest.fixture(scope="module")
def sac_model() -> SAC:
    """A SAC agent trained for 300 HalfCheetah steps (100 gradient updates)."""
    torch.set_num_threads(1)
    model = SAC("MlpPolicy", "HalfCheetah-v5", buffer_size=1000, learning_starts=200, seed=1, device="cpu")
    model.learn(300)
    return model


@pytest.fixture(scope="module")
def exported(sac_model: SAC, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "cheetah"
    return BehaviourPolicy.from_sb3(sac_model).save(path, {"env_id": "HalfCheetah-v5"})


def _observations(n: int = 64) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 17))


def test_reloaded_policy_matches_sb3_actor(sac_model: SAC, exported: Path) -> None:
    policy = load_behaviour_policy(exported)
    obs = _observations()
    expected, _ = sac_model.predict(obs, deterministic=True)
    np.testing.assert_allclose(policy(obs), expected, atol=1e-6)
    np.testing.assert_allclose(policy(obs[0]), expected[0], atol=1e-6)
    np.testing.assert_allclose(policy.predict(obs)[0], expected, atol=1e-6)
    assert policy.card["env_id"] == "HalfCheetah-v5" and policy.card["net_arch"] == [256, 256]


def test_stochastic_actions_follow_sb3_squashed_gaussian(sac_model: SAC, exported: Path) -> None:
    policy = load_behaviour_policy(exported.with_suffix(".json"))
    obs = torch.as_tensor(_observations(), dtype=torch.float32)
    torch.manual_seed(3)
    with torch.no_grad():
        expected = sac_model.actor(obs, deterministic=False)
    torch.manual_seed(3)
    np.testing.assert_allclose(policy(obs.numpy(), deterministic=False), expected.numpy(), atol=1e-6)


def test_missing_and_corrupt_files_raise_clear_errors(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(BehaviourPolicyError, match="not found"):
        load_behaviour_policy(tmp_path / "nothing.safetensors")
    with pytest.raises(BehaviourPolicyError, match="not found"):
        load_behaviour_policy("no-such-shipped-policy")
    broken = tmp_path / "broken"
    broken.with_suffix(".json").write_text(exported.with_suffix(".json").read_text())
    broken.with_suffix(".safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BehaviourPolicyError, match="corrupt policy weights"):
        load_behaviour_policy(broken)
    broken.with_suffix(".json").write_text("{not json")
    with pytest.raises(BehaviourPolicyError, match="corrupt policy card"):
        load_behaviour_policy(broken)
    card = json.loads(exported.with_suffix(".json").read_text())
    card["net_arch"] = [64]
    broken.with_suffix(".json").write_text(json.dumps(card))
    broken.with_suffix(".safetensors").write_bytes(exported.read_bytes())
    with pytest.raises(BehaviourPolicyError, match="do not match"):
        load_behaviour_policy(broken)


def test_portable_checkpoint_restores_training_state(sac_model: SAC, tmp_path: Path) -> None:
    path = save_portable(sac_model, tmp_path / "halfcheetah", {"task": "halfcheetah", "seed": 1, "wall_seconds": 1.0})
    fresh = SAC("MlpPolicy", "HalfCheetah-v5", buffer_size=1000, seed=2, device="cpu")
    meta = load_portable(fresh, path)
    assert fresh.num_timesteps == sac_model.num_timesteps == meta["num_timesteps"]
    for key, value in sac_model.policy.state_dict().items():
        torch.testing.assert_close(fresh.policy.state_dict()[key], value)
    torch.testing.assert_close(fresh.log_ent_coef, sac_model.log_ent_coef)
    for name in ("actor", "critic"):
        ours = getattr(fresh, name).optimizer.state_dict()["state"]
        theirs = getattr(sac_model, name).optimizer.state_dict()["state"]
        for index, slots in theirs.items():
            for slot, value in slots.items():
                torch.testing.assert_close(ours[index][slot], value)


def _train(run_dir: Path, portable: Path, total: int, *extra: str) -> None:
    main(
        [
            "halfcheetah",
            "--run-dir",
            str(run_dir),
            "--total-steps",
            str(total),
            "--seed",
            "0",
            "--eval-freq",
            "300",
            "--eval-episodes",
            "1",
            "--checkpoint-freq",
            "300",
            "--buffer-size",
            "2000",
            "--portable-dir",
            str(portable),
            *extra,
        ]
    )


def test_training_resumes_from_checkpoint_and_portable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(halfcheetah.TASK.sac_kwargs, "learning_starts", 10_000)  # no gradient updates: fast
    run_dir, portable = tmp_path / "run", tmp_path / "portable"
    _train(run_dir, portable, 300, "--portable-minutes", "0")
    assert RunDir(run_dir).latest_checkpoint() == 300
    _train(run_dir, portable, 600)
    run = RunDir(run_dir)
    assert run.latest_checkpoint() == 600
    assert SAC.load(run.checkpoint_paths(600)[0], device="cpu").num_timesteps == 600
    assert [e["steps"] for e in read_jsonl(run.eval_log)] == [300, 600]
    sessions = json.loads(run.run_json.read_text())["sessions"]
    assert [s["from_step"] for s in sessions] == [0, 300]
    snapshot = load_behaviour_policy(run.snapshots / "step_0000600")
    assert snapshot.card["training_steps"] == 600 and snapshot.card["evaluation"]["episodes"] == 1

    main(["promote", "halfcheetah", "--run-dir", str(run_dir), "--episodes", "1", "--out-dir", str(tmp_path / "w")])
    promoted = load_behaviour_policy(tmp_path / "w" / "halfcheetah-expert")  # best so far; no snapshot in the bands
    assert promoted.card["name"] == "halfcheetah-expert" and "d4rl_normalized" in promoted.card["evaluation"]
    assert promoted.card["training_eval"]["seed"] != promoted.card["evaluation"]["seed"]
    assert not (tmp_path / "w" / "halfcheetah-medium.json").exists()
    chosen = ["--episodes", "1", "--out-dir", str(tmp_path / "w2"), "--levels", "halfcheetah-medium"]
    main(["promote", "halfcheetah", "--run-dir", str(run_dir), *chosen, "--step", "300"])  # a checked snapshot
    assert load_behaviour_policy(tmp_path / "w2" / "halfcheetah-medium").card["training_steps"] == 300
    with pytest.raises(SystemExit, match="no evaluated snapshot at step 301"):
        main(["promote", "halfcheetah", "--run-dir", str(run_dir), *chosen, "--step", "301"])

    fresh_dir = tmp_path / "fresh_machine"  # no local checkpoint: continue from the portable one
    _train(fresh_dir, portable, 900, "--refill-steps", "200")  # the portable was refreshed at the end (600)
    fresh = RunDir(fresh_dir)
    assert fresh.latest_checkpoint() == 900
    assert json.loads(fresh.run_json.read_text())["sessions"][0]["from_step"] == 600


def test_goal_ant_observation_is_rebuildable_from_antmaze_quantities() -> None:
    env = GoalReachingAnt()
    obs, info = env.reset(seed=0)
    state = env.unwrapped._state
    np.testing.assert_array_equal(obs, policy_input(state[2:], info["goal"] - state[:2]))
    assert obs.shape == (29,) and np.linalg.norm(obs[27:]) <= 5.0 + 1e-6
    # A torso yawed by 90 degrees sees a goal straight ahead (world +y) at local +x.
    yawed = np.zeros(27)
    yawed[1], yawed[4] = np.cos(np.pi / 4), np.sin(np.pi / 4)
    assert heading(yawed) == pytest.approx(np.pi / 2)
    np.testing.assert_allclose(policy_input(yawed, np.array([0.0, 2.0]))[27:], [2.0, 0.0], atol=1e-6)
    _, reward, terminated, truncated, step_info = env.step(np.zeros(8))
    assert not truncated and np.isfinite(reward) and "progress" in step_info and not terminated
    env.close()


def test_goal_ant_matches_antmaze_dynamics_and_observation() -> None:
    gym.register_envs(gymnasium_robotics)
    maze = gym.make("AntMaze_UMaze-v5", include_cfrc_ext_in_observation=False).unwrapped
    maze_obs, _ = maze.reset(seed=0)
    env = GoalReachingAnt()
    env.reset(seed=0)
    env.ant.set_state(maze.ant_env.data.qpos.copy(), maze.ant_env.data.qvel.copy())
    env._state = env.ant._get_obs()
    rng = np.random.default_rng(0)
    for _ in range(5):  # a few steps in open space, away from the maze walls
        action = rng.uniform(-1.0, 1.0, size=8)
        maze_obs, *_ = maze.step(action)
        obs, *_ = env.step(action)
        expected = policy_input(maze_obs["observation"], env.goal - maze_obs["achieved_goal"])
        np.testing.assert_allclose(obs, expected, atol=1e-6)
    maze.close()
    env.close()


def test_select_snapshot_prefers_target_inside_band() -> None:
    entries = [{"steps": 1, "r": 1900.0}, {"steps": 2, "r": 2400.0}, {"steps": 3, "r": 2200.0}, {"steps": 4, "r": 9e3}]
    assert select_snapshot(entries, "r", (2250.0, 2000.0, 2500.0))["steps"] == 3
    assert select_snapshot(entries, "r", None)["steps"] == 4
    assert select_snapshot(entries, "r", (4500.0, 4000.0, 5000.0)) is None


def test_goal_ant_reward_is_scaled_goal_speed_plus_healthy_minus_control() -> None:
    env = GoalReachingAnt(velocity_scale=10.0)
    env.reset(seed=3)
    action = np.full(8, 0.5)
    _, reward, terminated, _, info = env.step(action)
    expected = 10.0 * info["progress"] / env.ant.dt + (0.0 if terminated else 1.0) - 0.5 * float(np.sum(action**2))
    assert reward == pytest.approx(expected)
    env.close()


def test_crossed_fires_once_per_multiple_for_any_stride() -> None:
    for stride in (1, 3, 8):
        steps = range(stride, 200 + stride, stride)
        fired = [step for step in steps if crossed(step, 50, stride)]
        assert len(fired) == 4 and all(0 <= step % 50 < stride for step in fired)


def test_vectorised_task_trains_and_refuses_other_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ant_goal.TASK.sac_kwargs, "learning_starts", 10_000)  # no gradient updates: fast
    assert ant_goal.TASK.n_envs == 8
    run_dir, portable = tmp_path / "run", tmp_path / "portable"
    common = ["--seed", "0", "--eval-episodes", "1", "--buffer-size", "2000", "--portable-dir", str(portable)]
    freqs = ["--eval-freq", "80", "--checkpoint-freq", "80"]
    main(["ant-goal", "--run-dir", str(run_dir), "--total-steps", "160", *freqs, *common])
    run = RunDir(run_dir)
    assert run.latest_checkpoint() == 160
    assert [e["steps"] for e in read_jsonl(run.eval_log)] == [80, 160]
    assert json.loads(portable.joinpath("ant-goal.json").read_text())["task_version"] == ant_goal.TASK.version
    snapshot = load_behaviour_policy(run.snapshots / "step_0000160")
    assert snapshot.card["n_envs"] == 8 and snapshot.card["task_version"] == ant_goal.TASK.version

    # A run dir of an older version of the task is never continued under the new reward.
    info = json.loads(run.run_json.read_text())
    run.run_json.write_text(json.dumps({**info, "task_version": ant_goal.TASK.version - 1}))
    with pytest.raises(SystemExit, match="version"):
        main(["ant-goal", "--run-dir", str(run_dir), "--total-steps", "240", *freqs, *common])
    # ... nor is a portable checkpoint of another version: a fresh run dir starts from scratch instead.
    card = json.loads(portable.joinpath("ant-goal.json").read_text())
    portable.joinpath("ant-goal.json").write_text(json.dumps({**card, "task_version": ant_goal.TASK.version - 1}))
    fresh = tmp_path / "fresh"
    main(["ant-goal", "--run-dir", str(fresh), "--total-steps", "80", *freqs, *common])
    assert json.loads((fresh / "run.json").read_text())["sessions"][0]["resumed_from"] == "fresh"
    # --init-from: a new run dir continues from a portable checkpoint (any version), and says so on every card
    started = tmp_path / "started"
    init = ["--init-from", str(portable / "ant-goal"), "--refill-steps", "10"]
    own = ["--portable-dir", str(tmp_path / "own")]  # a matching portable of its own would take precedence
    main(["ant-goal", "--run-dir", str(started), "--total-steps", "160", *init, *freqs, *common, *own])
    lineage = json.loads((started / "run.json").read_text())["initialised_from"]
    assert lineage["steps"] == 80 and lineage["task_version"] == ant_goal.TASK.version
    assert RunDir(started).latest_checkpoint() == 160
    assert load_behaviour_policy(started / "snapshots" / "step_0000160").card["initialised_from"] == lineage


def test_goal_ant_upside_down_ends_the_episode() -> None:
    for upright in (True, False):
        env = GoalReachingAnt(upright=upright)
        env.reset(seed=0)
        qpos, qvel = env.ant.data.qpos.copy(), env.ant.data.qvel.copy()
        qpos[2], qpos[3:7] = 0.5, [0.0, 1.0, 0.0, 0.0]  # torso rolled 180 degrees, at a healthy height
        env.ant.set_state(qpos, qvel * 0.0)
        _, reward, terminated, _, info = env.step(np.zeros(8))
        assert info["flipped"] and terminated == upright
        assert (reward == pytest.approx(10.0 * info["progress"] / env.ant.dt)) == upright  # no healthy bonus
        env.close()
