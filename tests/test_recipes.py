"""Dataset recipes: the maze planner, tiny HalfCheetah and AntMaze builds, their metadata, reuse, atomicity, the
official-id fallback and the datasets CLI. Behaviour policies are untrained SB3 SAC actors written to a temp folder."""

import functools
import json
import logging
import threading
import time
from pathlib import Path

import minari
import numpy as np
import pytest
import torch
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.storage.datasets_root_dir import get_dataset_path
from stable_baselines3 import SAC

from iqlzoo.data import DatasetNotFoundError
from iqlzoo.data.equivalents import regenerated_equivalent
from iqlzoo.data.minari import load_dataset, local_dataset_ids, resolve_dataset
from iqlzoo.recipes import antmaze, halfcheetah, registry
from iqlzoo.recipes.__main__ import main as datasets_main
from iqlzoo.recipes.behaviour import BehaviourPolicy, ant_goal
from iqlzoo.recipes.common import MissingBehaviourPolicyError
from iqlzoo.recipes.maze_planner import MazePlanner, UnreachableGoalError, WaypointController
from iqlzoo.recipes.registry import RECIPES
from iqlzoo.recipes.report import demonstrates_task
from iqlzoo.recipes.writer import read_recipe

# 6x6 hand-made maze: a corridor from (1, 1) round to (4, 1), and an unreachable pocket at (1, 5).
MAZE = [
    [1, 1, 1, 1, 1, 1],
    [1, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 1, 1],
    [1, 0, 0, 0, 0, 1],
    [1, 0, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1],
]


def test_planner_follows_the_corridor_and_names_the_next_cell():
    planner = MazePlanner(MAZE, cell_size=4.0)
    assert planner.path((1, 1), (4, 1)) == [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1), (4, 1)]
    assert planner.next_cell((3, 3), (1, 1)) == (2, 3)
    assert planner.next_cell((3, 4), (4, 1)) == (3, 3)
    assert planner.next_cell((4, 1), (4, 1)) == (4, 1)
    for cell in planner.open_cells:
        assert planner.cell_of(planner.cell_center(cell)) == cell
    ring = MazePlanner([[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 1, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]])
    assert len(ring.path((1, 1), (3, 3))) == 5  # a shortest way round the pillar


def test_planner_rejects_unreachable_goals_and_walls():
    planner = MazePlanner(MAZE)
    with pytest.raises(UnreachableGoalError, match="cannot be reached"):
        planner.next_cell((1, 1), (1, 5))
    with pytest.raises(UnreachableGoalError, match="wall"):
        planner.path((1, 1), (2, 1))
    with pytest.raises(UnreachableGoalError, match="wall"):
        planner.next_cell((0, 0), (1, 1))


def test_waypoint_controller_steers_a_point_through_the_maze_without_touching_walls():
    planner = MazePlanner(MAZE, cell_size=4.0)
    controller = WaypointController(planner, threshold=0.45, jitter=0.2, rng=np.random.default_rng(0))
    position = planner.cell_center((1, 1))
    goal = planner.cell_center((4, 1)) + np.array([0.7, -0.4])
    first = controller.waypoint(position, goal)
    assert np.all(np.abs(first - planner.cell_center((1, 2))) <= 0.2)  # jittered centre of the next cell
    for _ in range(2000):
        target = controller.waypoint(position, goal)
        step = target - position
        position = position + step * min(1.0, 0.3 / max(np.linalg.norm(step), 1e-9))
        assert planner.is_open(planner.cell_of(position))
        if np.linalg.norm(position - goal) <= 0.45:
            break
    assert np.linalg.norm(position - goal) <= 0.45
    assert np.array_equal(controller.waypoint(position, goal), goal)  # in the goal's cell: the goal itself


# --- HalfCheetah ---
def _untrained_policy(env) -> BehaviourPolicy:
    torch.set_num_threads(1)
    return BehaviourPolicy.from_sb3(SAC("MlpPolicy", env, buffer_size=1, seed=0, device="cpu"))


@pytest.fixture(scope="module")
def cheetah_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cheetah_weights")
    policy = _untrained_policy("HalfCheetah-v5")
    for level in ("simple", "medium", "expert"):
        policy.save(folder / f"halfcheetah-{level}", {"env_id": "HalfCheetah-v5", "training_steps": 0})
    return folder


@pytest.fixture(scope="module")
def cheetah_medium(cheetah_weights):
    return halfcheetah.build_halfcheetah_dataset("medium", 2000, weights_dir=cheetah_weights, reference_episodes=2)


def test_halfcheetah_build_shapes_metadata_and_env(cheetah_medium):
    data = cheetah_medium
    assert (data.total_episodes, data.total_steps) == (2, 2000)
    for episode in data.iterate_episodes():
        assert episode.observations.shape == (1001, 17) and episode.actions.shape == (1000, 6)
        assert not episode.terminations.any() and episode.truncations[-1] and not episode.truncations[:-1].any()
    record = read_recipe(halfcheetah.DATASET_IDS["medium"])
    meta = data.storage.metadata
    assert meta["ref_min_score"] == record["build"]["ref_min_score"]
    assert meta["ref_max_score"] == record["build"]["ref_max_score"]
    assert meta["num_episodes_average_score"] == 2 == record["recipe"]["reference"]["episodes"]
    assert record["hash"][:12] in meta["description"]
    assert meta["code_permalink"].endswith("iqlzoo/recipes/halfcheetah.py")
    assert record["recipe"]["actions"].startswith("stochastic")
    assert data.recover_environment(eval_env=True).spec.id == "HalfCheetah-v5"


def test_halfcheetah_rebuild_reuses_and_interrupted_rebuild_keeps_old(cheetah_medium, cheetah_weights, monkeypatch):
    dataset_id = halfcheetah.DATASET_IDS["medium"]
    data_dir = get_dataset_path(dataset_id) / "data"
    recipe_hash = read_recipe(dataset_id)["hash"]
    before = {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()}
    again = halfcheetah.build_halfcheetah_dataset("medium", 2000, weights_dir=cheetah_weights, reference_episodes=2)
    assert again.total_steps == 2000
    assert {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()} == before  # reused, not rewritten

    calls = {"n": 0}
    original = halfcheetah._policy_actor

    def failing_actor(policy, seed):
        act = original(policy, seed)

        def failing(obs):
            calls["n"] += 1
            if calls["n"] > 500:
                raise RuntimeError("interrupted")
            return act(obs)

        return failing

    monkeypatch.setattr(halfcheetah, "_policy_actor", failing_actor)
    with pytest.raises(RuntimeError, match="interrupted"):
        halfcheetah.build_halfcheetah_dataset("simple", 2000, weights_dir=cheetah_weights, reference_episodes=2)
    assert halfcheetah.DATASET_IDS["simple"] not in local_dataset_ids()
    calls["n"] = 0
    with pytest.raises(RuntimeError, match="interrupted"):
        halfcheetah.build_halfcheetah_dataset(
            "medium", 2000, weights_dir=cheetah_weights, reference_episodes=2, force=True
        )
    assert read_recipe(dataset_id)["hash"] == recipe_hash and load_dataset(dataset_id).total_steps == 2000
    assert {p.name: p.stat().st_mtime_ns for p in data_dir.iterdir()} == before
    assert not [p for p in get_dataset_path().iterdir() if p.name.startswith(".iqlzoo-build-")]


def test_halfcheetah_medium_expert_concatenates_and_missing_weights_say_how(cheetah_medium, cheetah_weights, tmp_path):
    mixed = halfcheetah.build_halfcheetah_dataset(
        "medium-expert", 2000, weights_dir=cheetah_weights, reference_episodes=2
    )
    assert (mixed.total_episodes, mixed.total_steps) == (4, 4000)
    assert mixed.storage.metadata["ref_max_score"] == cheetah_medium.storage.metadata["ref_max_score"]
    first = next(iter(mixed.iterate_episodes()))
    np.testing.assert_array_equal(first.actions, next(iter(cheetah_medium.iterate_episodes())).actions)
    with pytest.raises(MissingBehaviourPolicyError) as err:
        halfcheetah.build_halfcheetah_dataset("medium", 2000, weights_dir=tmp_path)
    assert "halfcheetah-expert" in str(err.value)
    assert "python -m iqlzoo.recipes.behaviour.train halfcheetah --run-dir" in str(err.value)


# --- AntMaze ---
@pytest.fixture(scope="module")
def ant_weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ant_weights")
    _untrained_policy(ant_goal.make_env()).save(folder / "ant-goal", {"env_id": "Ant-v5"})
    return folder


@pytest.fixture(scope="module")
def umaze(ant_weights):
    return antmaze.build_antmaze_dataset("umaze", 1000, weights_dir=ant_weights, n_envs=2)


def test_antmaze_build_shapes_infos_and_environments(umaze, ant_weights):
    task = antmaze.TASKS["umaze"]
    assert umaze.total_steps == 1000
    for episode in umaze.iterate_episodes():
        steps = len(episode.rewards)
        assert steps <= task.horizon
        assert episode.observations["observation"].shape == (steps + 1, 27)
        assert episode.observations["achieved_goal"].shape == episode.observations["desired_goal"].shape == (
            steps + 1, 2)
        assert episode.infos["qpos"].shape == (steps + 1, 15) and episode.infos["qvel"].shape == (steps + 1, 14)
        np.testing.assert_array_equal(episode.infos["qpos"][:, :2], episode.observations["achieved_goal"])
        np.testing.assert_array_equal(episode.infos["goal"], episode.observations["desired_goal"])
        ends = episode.terminations | episode.truncations
        assert ends[-1] and not ends[:-1].any() and not (episode.terminations & episode.truncations).any()
    meta = umaze.storage.metadata
    assert (meta["ref_min_score"], meta["ref_max_score"]) == (0.0, 1.0)
    assert read_recipe(task.dataset_id)["hash"][:12] in meta["description"]
    env = umaze.recover_environment()
    assert env.spec.kwargs["continuing_task"] and not env.spec.kwargs["reset_target"]
    assert not env.spec.kwargs["include_cfrc_ext_in_observation"]
    eval_env = umaze.recover_environment(eval_env=True)
    assert eval_env.spec.kwargs["maze_map"] == task.eval_map() and not eval_env.spec.kwargs["continuing_task"]
    obs, _ = eval_env.reset(seed=0)
    assert obs["observation"].shape == (27,)
    assert np.linalg.norm(obs["desired_goal"] - MazePlanner(task.walls).cell_center(task.eval_goal)) <= 1.5
    assert antmaze.build_antmaze_dataset("umaze", 1000, weights_dir=ant_weights, n_envs=2).total_steps == 1000


def test_antmaze_success_terminates_and_sets_the_next_goal_in_place():
    attempt = antmaze._Attempts(antmaze.TASKS["medium-play"], eval_env=False, seed=0)
    attempt.base.goal = attempt.obs["achieved_goal"].copy()  # put the goal under the Ant
    success, truncated = attempt.step(np.zeros(8, dtype=np.float32))
    assert success and not truncated
    episode = attempt.finish(terminated=True)
    assert episode.terminations == [True] and episode.truncations == [False] and episode.rewards == [1.0]
    here = attempt.planner.cell_of(attempt.obs["achieved_goal"])
    attempt.next_goal()
    goal_cell = attempt.planner.cell_of(attempt.obs["desired_goal"])
    assert goal_cell != here and goal_cell in antmaze.TASKS["medium-play"].goal_cells()
    assert len(attempt.observations) == 1 and attempt.infos[0]["goal"].tolist() == attempt.base.goal.tolist()
    attempt.env.close()


def test_antmaze_attempt_keeps_a_tail_of_the_upside_down_ant_then_truncates():
    attempt = antmaze._Attempts(antmaze.TASKS["umaze"], eval_env=False, seed=0)
    zero = np.zeros(8, dtype=np.float32)
    assert attempt.step(zero) == (False, False)
    ant = attempt.base.ant_env
    qpos = ant.data.qpos.copy()
    qpos[2], qpos[3:7] = 0.5, [0.0, 1.0, 0.0, 0.0]  # torso rolled 180 degrees at a healthy height
    ant.set_state(qpos, ant.data.qvel * 0.0)
    assert attempt.step(zero) == (False, False)  # lands upside down: the attempt goes on
    assert attempt.flipped_at == 2
    assert [attempt.step(zero)[1] for _ in range(antmaze.FLIP_TAIL - 1)] == [False] * (antmaze.FLIP_TAIL - 1)
    success, truncated = attempt.step(zero)
    assert not success and truncated
    episode = attempt.finish(terminated=False)
    assert len(episode.rewards) == 2 + antmaze.FLIP_TAIL
    assert episode.truncations[-1] and not any(episode.truncations[:-1]) and not any(episode.terminations)
    upside_down = [ant_goal.torso_up(obs) < 0 for obs in episode.observations["observation"]]
    assert sum(upside_down) >= antmaze.FLIP_TAIL  # the stuck Ant's states are in the data, next states included
    attempt.env.close()


def test_antmaze_expert_check_reports_a_success_rate(ant_weights):
    result = antmaze.expert_check("umaze", 2, weights_dir=ant_weights, n_envs=2)
    assert result["episodes"] == 2 and 0.0 <= result["success_rate"] <= 1.0


def test_datasets_cli_builds_with_steps_and_reports_maze_statistics(ant_weights, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(
        antmaze, "build_antmaze_dataset", functools.partial(antmaze.build_antmaze_dataset, weights_dir=ant_weights)
    )
    datasets_main(["build", "iqlzoo/antmaze/umaze-diverse-v0", "--steps", "800", "--quiet"])
    assert "800 steps" in capsys.readouterr().out
    plot, card = tmp_path / "positions.png", tmp_path / "card.md"
    datasets_main(["info", "iqlzoo/antmaze/umaze-diverse-v0", "--plot", str(plot), "--card", str(card)])
    report = json.loads(capsys.readouterr().out)
    assert report["transitions"] == 800 and 0.0 <= report["share_steps_within_0.45_of_goal"] <= 1.0
    assert 0.0 <= report["share_episodes_reaching_goal"] <= 1.0 and report["build"]["seconds"] > 0
    demos = report["episodes_demonstrating_evaluation_task"]
    assert 0 <= demos <= report["episodes"]
    assert report["share_episodes_demonstrating_evaluation_task"] == pytest.approx(demos / report["episodes"])
    # what D4RL's labelling (the evaluation goal's) would reward, beside the episodes aimed at that goal's cell
    assert 0 <= report["transitions_into_0.45_of_evaluation_goal"] <= report["transitions_into_0.5_of_evaluation_goal"]
    assert 0 <= report["episodes_passing_evaluation_goal"] <= report["episodes"]
    assert 0 <= report["episodes_aimed_at_evaluation_goal_cell"] <= report["episodes"]
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    text = card.read_text()
    assert "# iqlzoo/antmaze/umaze-diverse-v0" in text and "build time" in text and "positions.png" in text
    datasets_main(["expert-check", "umaze", "--episodes", "2", "--weights-dir", str(ant_weights)])
    checked = json.loads(capsys.readouterr().out)
    assert checked["umaze"]["episodes"] == 2 and 0.0 <= checked["umaze"]["success_rate"] <= 1.0


def test_cell_centres_match_gymnasium_robotics_and_demonstrations_need_start_then_goal():
    import gymnasium as gym

    env = gym.make("AntMaze_Medium-v5")
    maze = env.unwrapped.maze
    for cell in [(1, 1), (6, 6), (3, 4)]:
        expected = maze.cell_rowcol_to_xy(np.array(cell))
        np.testing.assert_allclose(MazePlanner(maze.maze_map, maze.maze_size_scaling).cell_center(cell), expected)
    env.close()
    start, goal = np.array([-10.0, 10.0]), np.array([10.0, -10.0])
    line = np.linspace(start, goal, 50)
    assert demonstrates_task(line, start, goal, 4.0)
    assert not demonstrates_task(line[::-1], start, goal, 4.0)               # goal first, then start: not the task
    assert not demonstrates_task(line[:40], start, goal, 4.0)                # never reaches the goal cell
    assert not demonstrates_task(line[10:], start, goal, 4.0)                # never in the start cell
    assert demonstrates_task(np.array([[-8.1, 11.9], [0, 0], [11.9, -8.1]]), start, goal, 4.0)  # cell edges count
    assert not demonstrates_task(np.array([[-7.9, 10.0], [10.0, -10.0]]), start, goal, 4.0)


# --- official ids and their regenerations ---
def test_official_ids_map_to_registered_regenerations():
    assert regenerated_equivalent("D4RL/antmaze/umaze-v1") == "iqlzoo/antmaze/umaze-v0"
    assert regenerated_equivalent("D4RL/antmaze/large-diverse-v1") == "iqlzoo/antmaze/large-diverse-v0"
    assert regenerated_equivalent("mujoco/halfcheetah/medium-expert-v0") == "iqlzoo/halfcheetah/medium-expert-v0"
    assert regenerated_equivalent("D4RL/door/human-v2") is None
    for dataset_id, recipe in RECIPES.items():
        if recipe.official_id is not None:
            assert regenerated_equivalent(recipe.official_id) == dataset_id


def test_resolve_dataset_falls_back_to_the_regeneration(cheetah_medium, tmp_path, caplog):
    official = "mujoco/halfcheetah/medium-v0"
    with pytest.raises(DatasetNotFoundError) as err:
        resolve_dataset(official, data="official", download=False)
    assert "iqlzoo/halfcheetah/medium-v0" in str(err.value)
    assert "python -m iqlzoo.recipes build iqlzoo/halfcheetah/medium-v0" in str(err.value)
    with caplog.at_level(logging.WARNING, logger="iqlzoo"):
        data, source = resolve_dataset(official, download=False)
    assert [record.getMessage().split(",")[0] for record in caplog.records] == [
        "Data: using iqlzoo/halfcheetah/medium-v0"]
    assert source == "regenerated" and data.spec.dataset_id == "iqlzoo/halfcheetah/medium-v0"
    assert resolve_dataset(official, data="regenerated")[1] == "regenerated"
    with pytest.raises(DatasetNotFoundError, match="iqlzoo/antmaze/large-play-v0"):
        resolve_dataset("D4RL/antmaze/large-play-v1", download=False)
    with pytest.raises(ValueError, match="no iqlzoo regeneration"):
        resolve_dataset("D4RL/door/human-v2", data="regenerated")

    episode = next(iter(cheetah_medium.iterate_episodes()))
    minari.create_dataset_from_buffers(
        "mujoco/halfcheetah/simple-v0",
        buffer=[EpisodeBuffer(id=0, observations=episode.observations, actions=episode.actions,
                              rewards=list(episode.rewards), terminations=list(episode.terminations),
                              truncations=list(episode.truncations))],
        env="HalfCheetah-v5",
    )
    data, source = resolve_dataset("mujoco/halfcheetah/simple-v0", download=False)
    assert source == "official" and data.spec.dataset_id == "mujoco/halfcheetah/simple-v0"


def test_a_dataset_asked_for_twice_at_once_is_built_once(tmp_path, monkeypatch):
    """Two lanes that both lack a dataset: the second waits on the first's build lock instead of building alongside."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dataset_id = "iqlzoo/toy/pendulum-mixed-v0"
    calls: list[str] = []

    def fake_build(force: bool = False, steps: int | None = None, progress: bool = False) -> str:
        calls.append(dataset_id)
        return "built"

    monkeypatch.setitem(registry.RECIPES, dataset_id, registry.Recipe("fake", fake_build))
    results: list[str] = []
    with registry.build_lock(dataset_id):  # another process is building it
        waiter = threading.Thread(target=lambda: results.append(registry.build(dataset_id)))
        waiter.start()
        time.sleep(0.5)
        assert calls == [] and waiter.is_alive()  # waits for the lock rather than building beside it
    waiter.join(timeout=10)
    assert calls == [dataset_id] and results == ["built"]
    assert (tmp_path / ".iqlzoo-lock-iqlzoo--toy--pendulum-mixed-v0.lock").exists()


# --- AntMaze labelled for the evaluation goal (D4RL's task) ---
def test_evalgoal_split_labels_every_entry_into_the_goal_and_keeps_the_transitions():
    from iqlzoo.recipes.antmaze_evalgoal import split_episode

    centre = np.array([10.0, -10.0])
    # x walks 0 .. 14 along y = -10: the goal disc (radius 0.45 around x = 10) holds x = 10 only; the Ant walks in,
    # out and back in (x: ..., 9, 10, 11, 10, 9, ...)
    xs = np.array([0, 3, 6, 9, 10, 11, 10, 9, 8, 12, 14], dtype=float)
    steps = len(xs) - 1
    observations = {"achieved_goal": np.stack([xs, np.full_like(xs, -10.0)], axis=1),
                    "observation": np.arange((steps + 1) * 27, dtype=float).reshape(steps + 1, 27),
                    "desired_goal": np.zeros((steps + 1, 2))}
    infos = {"qpos": np.zeros((steps + 1, 15)), "qvel": np.zeros((steps + 1, 14)), "goal": np.zeros((steps + 1, 2)),
             "success": np.zeros(steps + 1, dtype=bool)}
    actions = np.arange(steps * 8, dtype=np.float32).reshape(steps, 8)
    parts = split_episode(observations, actions, infos, centre)
    assert [len(part.rewards) for part in parts] == [4, 2, 4]  # cut after the steps into x = 10 (t = 3 and t = 5)
    assert [part.rewards for part in parts] == [[0, 0, 0, 1], [0, 1], [0, 0, 0, 0]]
    assert [(part.terminations[-1], part.truncations[-1]) for part in parts] == [(True, False), (True, False),
                                                                                  (False, True)]
    assert all(not any(part.terminations[:-1]) and not any(part.truncations[:-1]) for part in parts)
    assert all(set(part.observations) == {"achieved_goal", "observation"} for part in parts)  # no goal input
    # the transitions are the source's: each part starts where the previous ended, actions in order
    for before, after in zip(parts, parts[1:]):
        np.testing.assert_array_equal(before.observations["observation"][-1], after.observations["observation"][0])
    np.testing.assert_array_equal(np.concatenate([part.actions for part in parts]), actions)
    np.testing.assert_array_equal(parts[0].infos["goal"][0], centre)


def test_evalgoal_build_keeps_the_source_transitions_without_the_goal(umaze, ant_weights):
    from iqlzoo.data import from_minari
    from iqlzoo.data.equivalents import EVALGOAL_MAZES
    from iqlzoo.recipes.antmaze_evalgoal import DATASET_IDS, build_evalgoal_dataset, dataset_id

    assert {EVALGOAL_MAZES[dataset_id(name)] for name in DATASET_IDS} == {
        antmaze.TASKS[name].official_id for name in DATASET_IDS}  # the one map and the recipe agree on the ids
    built = build_evalgoal_dataset("umaze", 1000, weights_dir=ant_weights, n_envs=2)
    assert built.spec.dataset_id == dataset_id("umaze") == "iqlzoo/antmaze/umaze-evalgoal-v0"
    assert set(built.observation_space.spaces) == {"achieved_goal", "observation"}
    ours, source = from_minari(built), from_minari(umaze)
    assert ours.observations.shape == (1000, 29)
    np.testing.assert_array_equal(ours.observations, source.observations[:, :29])  # [achieved_goal, observation]
    np.testing.assert_array_equal(ours.next_observations, source.next_observations[:, :29])
    np.testing.assert_array_equal(ours.actions, source.actions)
    eval_env = built.recover_environment(eval_env=True)
    assert eval_env.spec.kwargs["maze_map"] == antmaze.TASKS["umaze"].eval_map()
    assert build_evalgoal_dataset("umaze", 1000, weights_dir=ant_weights, n_envs=2).total_steps == 1000  # reused
