"""benchmarks.curves selects runs by label, dataset, suite and settings, and reads reference-implementation CSVs."""

import json

import pytest

from benchmarks.curves import main, markdown, parse_group


def _run(root, name, seed, config, successes):
    folder = root / "runs" / name
    folder.mkdir(parents=True)
    spec = {"label": "IQL", "dataset_id": "d/x-v0", "suite": "s-steps50", "seed": seed, "config": config,
            "protocol": {"steps": 50}}
    (folder / "provenance.json").write_text(json.dumps({"run": spec}))
    rows = "\n".join(f"{25 * (i + 1)},{s},{100 * s}" for i, s in enumerate(successes))
    (folder / "evaluations.csv").write_text("step,success_rate,normalized_score\n" + rows + "\n")


def test_groups_select_runs_and_table_lists_seed_values(tmp_path):
    _run(tmp_path, "a", 0, {}, [0.0, 0.2])
    _run(tmp_path, "b", 1, {}, [0.1, 0.4])
    _run(tmp_path, "c", 0, {"normalize_observations": True}, [0.5, 0.9])
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "seed0.csv").write_text("step,success_rate,normalized_score\n25,0.3,30\n50,0.6,60\n")
    raw = parse_group(f"raw=store:{tmp_path}:IQL:d/x-v0:s-steps50:normalize_observations=")
    std = parse_group(f"std=store:{tmp_path}:IQL:d/x-v0:s-steps50:normalize_observations=true")
    reference = parse_group(f"ref=csv:{ref}")
    assert sorted(raw.curves) == [0, 1] and sorted(std.curves) == [0] and sorted(reference.curves) == [0]
    # a folder of run records (as committed beside a doc) reads like the store that holds them
    folder = parse_group(f"raw=store:{tmp_path / 'runs'}:IQL:d/x-v0:s-steps50:normalize_observations=")
    assert folder.curves == raw.curves
    assert main(["--out", str(tmp_path / "x"), "--group", f"raw=store:{tmp_path / 'absent'}:IQL:d/x-v0:s"]) == 2
    table = markdown([raw, std, reference])
    assert "| 50 | 30.0 (20.0 / 40.0) | 90.0 (90.0) | 60.0 (60.0) |" in table
    store = f"store:{tmp_path}:IQL:d/x-v0:s-steps50"
    assert main(["--out", str(tmp_path / "out" / "curves"), "--group", f"raw={store}", "--note", "Build `abc`."]) == 0
    assert (tmp_path / "out" / "curves.png").exists() and (tmp_path / "out" / "curves.md").exists()
    # the file names the command that remakes it (without the note), then the note
    foot = (tmp_path / "out" / "curves.md").read_text().strip().splitlines()[-1]
    assert foot == (f"Made with `python -m benchmarks.curves --out {tmp_path / 'out' / 'curves'} --group "
                    f"raw={store}`. Build `abc`."), foot
    assert main(["--out", str(tmp_path / "none"), "--group", f"none=store:{tmp_path}:SAC:d/x-v0:s-steps50"]) == 1
    with pytest.raises(SystemExit):  # an abbreviated --note would land in the footer's command: refused instead
        main(["--out", str(tmp_path / "out" / "curves"), "--group", f"raw={store}", "--not", "Build `abc`."])


def test_agreement_uses_welch_intervals_over_seeds(tmp_path):
    from scipy import stats

    from benchmarks.curves import Group, agreement, welch_interval

    a, b = [10.0, 11.0, 13.0], [0.0, 1.0, 5.0]
    diff, low, high = welch_interval(a, b)
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert abs(diff - 28 / 3) < 1e-12 and abs(low - expected.low) < 1e-9 and abs(high - expected.high) < 1e-9
    same = Group("x", {0: {25: 10.0, 50: 20.0}, 1: {25: 12.0, 50: 21.0}})
    apart = Group("y", {0: {25: 90.0, 50: 95.0}, 1: {25: 92.0, 50: 96.0}})
    assert "within seed noise at 2 of 2 evaluations and over the whole curve: yes" in agreement(same, same)
    text = agreement(apart, same)
    assert "within seed noise at 0 of 2 evaluations and over the whole curve: no" in text
    assert "| 25 | +80.0 [" in text
    ref = tmp_path / "ref"
    ref.mkdir()
    for seed, values in ((0, (0.1, 0.2)), (1, (0.3, 0.4))):
        rows = f"25,{values[0]},0\n50,{values[1]},0\n"
        (ref / f"seed{seed}.csv").write_text("step,success_rate,normalized_score\n" + rows)
    out = tmp_path / "cmp"
    assert main(["--out", str(out), "--group", f"r={'csv:' + str(ref)}", "--group", f"s={'csv:' + str(ref)}",
                 "--compare", "r", "s"]) == 0
    assert "r vs s (2 and 2 seeds, 2 evaluations)" in out.with_suffix(".md").read_text()
    assert main(["--out", str(out), "--group", f"r={'csv:' + str(ref)}", "--group", f"s={'csv:' + str(ref)}",
                 "--compare", "r", "s", "--compare", "s", "r"]) == 0  # repeated: one comparison each
    written = out.with_suffix(".md").read_text()
    assert "r vs s (2 and 2 seeds" in written and "s vs r (2 and 2 seeds" in written
    assert main(["--out", str(out), "--group", f"r={'csv:' + str(ref)}", "--compare", "r", "q"]) == 2
    (ref / "seed1.csv").write_text("step,success_rate,normalized_score\n25,0.3,0\n")  # seed 1 stopped early
    assert main(["--out", str(out), "--group", f"r={'csv:' + str(ref)}", "--group", f"s={'csv:' + str(ref)}",
                 "--compare", "r", "s"]) == 2


def test_budget_is_where_the_mean_curve_stays_above_the_fraction_of_its_final_value(tmp_path):
    import pytest

    from benchmarks.curves import Group, budget_at

    # means 10, 70, 50, 75, 80 at steps 50..250; 90% of the final 80 is 72, first held from step 200 on
    group = Group("g", {0: {50: 0, 100: 60, 150: 50, 200: 70, 250: 80}, 1: {50: 20, 100: 80, 150: 50, 200: 80,
                                                                         250: 80}})
    assert "reaches 90% of it (72.0) at step 200 (75.0)" in budget_at(group, 0.9)
    assert "at step 100 (70.0)" in budget_at(group, 0.6)  # 70 and everything after stay >= 48
    assert "at step 250 (80.0)" in budget_at(group, 1.0)
    with pytest.raises(ValueError, match="fraction must lie in"):
        budget_at(group, 1.5)
    _run(tmp_path, "a", 0, {}, [0.0, 0.5, 0.6])
    store = f"store:{tmp_path}:IQL:d/x-v0:s-steps50"
    assert main(["--out", str(tmp_path / "c"), "--group", f"a={store}", "--budget-at", "0.8", "a"]) == 0
    assert "reaches 80% of it (48.0) at step 50 (50.0)" in (tmp_path / "c.md").read_text()
    assert main(["--out", str(tmp_path / "c"), "--group", f"a={store}", "--budget-at", "0.8", "b"]) == 2


def test_the_y_axis_names_the_metric_the_runs_record(tmp_path):
    from benchmarks.curves import axis_label

    _run(tmp_path, "maze", 0, {}, [0.0, 0.2])
    locomotion = tmp_path / "locomotion" / "runs" / "cheetah"
    locomotion.mkdir(parents=True)
    spec = {"label": "IQL", "dataset_id": "d/x-v0", "suite": "s-steps50", "seed": 0, "config": {},
            "protocol": {"steps": 50}}
    (locomotion / "provenance.json").write_text(json.dumps({"run": spec}))
    (locomotion / "evaluations.csv").write_text("step,success_rate,normalized_score\n25,,41.5\n50,,44.0\n")
    maze = parse_group(f"maze=store:{tmp_path}:IQL:d/x-v0:s-steps50")
    cheetah = parse_group(f"cheetah=store:{tmp_path / 'locomotion'}:IQL:d/x-v0:s-steps50")
    assert cheetah.curves == {0: {25: 41.5, 50: 44.0}}
    assert axis_label([maze]) == "success rate (%)"
    assert axis_label([cheetah]) == "normalised score"  # a HalfCheetah curve is not labelled a success rate
    assert axis_label([maze, cheetah]) == "success rate (%) / normalised score"
