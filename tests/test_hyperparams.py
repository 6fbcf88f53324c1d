"""The suites' hyperparameter files (`hyperparams/*.yml`) are the single source of what the harness trains."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from benchmarks import suites
from benchmarks.hyperparams import HYPERPARAMS_DIR, HyperparamsError
from benchmarks.run import expand, main
from iqlzoo import AGENTS
from iqlzoo.agents.config import IQLConfig


def _resolved(suite: suites.Suite) -> dict[str, tuple[str, str]]:
    return {task: (task, "official") for task in suite.datasets}


def test_every_file_trains_exactly_what_it_says() -> None:
    assert set(suites.SUITES) == {path.stem for path in HYPERPARAMS_DIR.glob("*.yml")}
    fields = {f.name for f in dataclasses.fields(IQLConfig)}
    for suite in suites.SUITES.values():
        specs = expand(suites.plan(suite.name, seeds=1), _resolved(suite))
        assert specs, suite.name
        for spec in specs:
            cell = next(c for c in suite.cells if c.label == spec.label)
            written = cell.config(spec.dataset_id)
            assert dict(spec.config) == written  # the run's identity is the file's settings, nothing added
            config = AGENTS[spec.agent].resolve_config(spec.dataset_id, dict(spec.config)).to_json()
            assert set(written) <= fields
            assert {key: config[key] for key in written} == written, (suite.name, spec.label, spec.dataset_id)
    umaze = suites.SUITES["antmaze"].cells[0].config(suites.ANTMAZE["umaze"])
    assert (umaze["expectile"], umaze["temperature"], umaze["bf16"]) == (0.9, 10.0, False)
    cheetah = suites.SUITES["halfcheetah"].cells[0].config(suites.HALFCHEETAH["medium"])
    assert (cheetah["expectile"], cheetah["temperature"], cheetah["reward_transform"]) == (0.7, 3.0, "return_scale")


def test_a_finding_that_is_a_main_suite_run_is_trained_once() -> None:
    # at the `paper` budget, which has no scope: every cell on every dataset
    findings = expand(suites.plan("seed-findings", seeds=1, budget_name="paper"),
                      _resolved(suites.SUITES["seed-findings"]))
    main_runs = {spec.run_id for name in suites.MAIN_SUITES
                 for spec in expand(suites.plan(name, seeds=1, budget_name="paper"), _resolved(suites.SUITES[name]))}
    shared = {(spec.label, spec.dataset_id.split("/")[-1]) for spec in findings if spec.run_id in main_runs}
    assert ("IQL", "umaze-v1") in shared and ("D2RLIQL", "large-play-v1") in shared
    assert not any(label.startswith("IQL-") for label, _ in shared)  # the ablations are the finding's own runs


def test_editing_a_file_changes_the_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(HYPERPARAMS_DIR / "antmaze.yml", tmp_path / "antmaze.yml")
    before = expand(suites.plan("antmaze", agents=["IQL"], seeds=1), {suites.ANTMAZE["umaze"]: (
        suites.ANTMAZE["umaze"], "official")})
    text = (tmp_path / "antmaze.yml").read_text()
    (tmp_path / "antmaze.yml").write_text(text.replace("expectile: 0.9", "expectile: 0.8"))
    monkeypatch.setitem(suites.SUITES, "antmaze", suites.load_suite("antmaze", tmp_path))
    after = expand(suites.plan("antmaze", agents=["IQL"], seeds=1), {suites.ANTMAZE["umaze"]: (
        suites.ANTMAZE["umaze"], "official")})
    assert after[0].config["expectile"] == 0.8 and after[0].run_id != before[0].run_id


@pytest.mark.parametrize(("edit", "message"), [
    (("expectile: 0.9", "expectle: 0.9"),
     r"antmaze.yml: cells.IQL on umaze: unknown IQL hyperparameters \['expectle'\]"),
    (("actor_lr: 3.0e-4", "actor_lr: 3e-4"), r"actor_lr='3e-4' is invalid: must be float.*write 3.0e-4"),
    (("expectile: 0.9", "expectile: 1.5"), r"cells.IQL on umaze: IQL hyperparameter expectile=1.5 is invalid"),
    (("  IQL: {}", "  IQL: {datasets: [umaze, mars]}"), r"cells.IQL.datasets names 'mars'"),
    (("  IQL: {}", "  IQL: {agent: SAC}"), r"cells.IQL: unknown agent 'SAC'"),
    (("  IQL: {}", "  IQL: {seeds: 3}"), r"cells.IQL: unknown keys \['seeds'\]"),
    (("budget: quick", "budget: huge"), r"budget 'huge' is not one of"),
    (("budget: quick", "budget: !!python/object/apply:os.system [echo]"), r"is not valid YAML"),
    (("cells:", "cellz:"), r"missing \['cells'\]"),
    (("BonusIQL: [umaze]", "BonusIQL: [umaze, mars]"), r"scope.quick.cells.BonusIQL names \['mars'\], which the cell"),
    (("BonusIQL: [umaze]", "SAC: [umaze]"), r"scope.quick.cells names 'SAC', which is not a cell"),
    (("  quick:\n    why:", "  huge:\n    why:"), r"scope.huge is not a budget"),
    (("    why: >-", "    reason: >-"), r"scope.quick: missing \['why'\]"),
    (("cells:", "# " + "x" * (1 << 20) + "\ncells:"), r"over 1,048,576 bytes: not a hyperparameter file"),
])
def test_a_bad_file_is_a_clear_error_before_anything_runs(tmp_path: Path, edit: tuple[str, str],
                                                           message: str) -> None:
    text = (HYPERPARAMS_DIR / "antmaze.yml").read_text()
    assert edit[0] in text
    (tmp_path / "antmaze.yml").write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(HyperparamsError, match=message):
        suites.load_suite("antmaze", tmp_path)


def test_a_file_that_is_not_utf8_text_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "antmaze.yml").write_bytes((HYPERPARAMS_DIR / "antmaze.yml").read_bytes() + b"# \xff\n")
    with pytest.raises(HyperparamsError, match=r"antmaze.yml is not UTF-8 text"):
        suites.load_suite("antmaze", tmp_path)


def test_one_chosen_seed_beside_the_others(capsys: pytest.CaptureFixture[str]) -> None:
    grid = suites.plan("smoke", chosen_seeds=[3])
    specs = expand(grid, {suites.PENDULUM_TOY: (suites.PENDULUM_TOY, "toy")})
    assert grid.seeds == (3,) and {spec.seed for spec in specs} == {3}
    three = expand(suites.plan("smoke", seeds=4), {suites.PENDULUM_TOY: (suites.PENDULUM_TOY, "toy")})
    assert {spec.run_id for spec in specs} <= {spec.run_id for spec in three}  # the same runs as in --seeds 4
    with pytest.raises(SystemExit):
        main(["--suite", "smoke", "--seeds", "2", "--seed", "3"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--suite", "smoke", "--seed", "-1"])
    assert "expected a seed (an integer >= 0), got -1" in capsys.readouterr().err


def test_a_budget_scope_narrows_the_default_grid_and_naming_datasets_lifts_it() -> None:
    antmaze = suites.SUITES["antmaze"]
    scope = antmaze.scopes["quick"]
    quick = suites.plan("antmaze", seeds=1)
    pairs = {(cell.label, task) for cell in quick.cells for task in cell.datasets}
    assert pairs == {(label, task) for label, tasks in scope.pairs.items() for task in tasks}
    assert len(expand(quick, _resolved(antmaze))) == len(pairs) == 8
    assert ("BonusIQL", suites.ANTMAZE["umaze"]) in pairs and ("BonusIQL", suites.ANTMAZE["medium-play"]) not in pairs
    everything = suites.plan("antmaze", seeds=1, budget_name="paper")  # no scope at 1M: the whole grid
    assert sum(len(cell.datasets) for cell in everything.cells) == len(antmaze.cells) * len(antmaze.datasets)
    named = suites.plan("antmaze", agents=["BonusIQL"], seeds=1, scoped=False)  # --datasets given
    assert named.outside_scope([suites.ANTMAZE["medium-play"]]) == [("BonusIQL", suites.ANTMAZE["medium-play"])]
    assert named.outside_scope([suites.ANTMAZE["umaze"]]) == []
    text = antmaze.scope_text("quick")
    assert text.startswith("At the `quick` budget the `antmaze` suite trains only IQL, D2RLIQL, BC on umaze, "
                           "medium-play; DistributionalIQL, BonusIQL on umaze: the whole grid")
    assert antmaze.scope_text("paper") == "" and suites.SUITES["seed-findings"].scope_text("paper") == ""
    # the seed findings leave large-play to the 1M runs at `quick` too
    findings = suites.plan("seed-findings", seeds=1)
    assert not [cell.label for cell in findings.cells if suites.ANTMAZE["large-play"] in cell.datasets]


def test_naming_a_dataset_outside_the_scope_trains_it_and_says_so(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # the test session's Minari store has no regenerated medium-play, so nothing trains: only the plan is printed
    main(["--suite", "antmaze", "--agents", "BonusIQL", "--datasets", "medium-play", "--data", "regenerated",
          "--offline", "--out", str(tmp_path / "store"), "--no-leaderboard"])
    out = capsys.readouterr().out
    assert "At the `quick` budget the `antmaze` suite trains only" in out
    assert "--datasets asks for runs outside the `quick` scope (BonusIQL on D4RL/antmaze/medium-play-v1)" in out
    assert "iqlzoo/antmaze/medium-play-v0 is not built" in out
