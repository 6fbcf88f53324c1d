"""Tests of the leaderboard generator: reproducible output, the empty store, the test-data guard, findings."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.store import ResultsStore, load_results
from leaderboard.__main__ import main
from leaderboard.render import DEFAULT_OUT, FINDINGS_TITLE, render_findings
from leaderboard.report_claims import SOURCE, SRANK_CLAIMS

FIXTURE = Path(__file__).parent / "fixtures" / "results"
SEED_FINDINGS_FIXTURE = FIXTURE.with_name("results_seed_findings")
REPS = "20"  # bootstrap resamples: these tests check structure and byte identity, not interval widths


def files_under(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_regenerating_from_the_fixture_is_byte_identical(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["--results", str(FIXTURE), "--out", str(tmp_path / name / "README.md"), "--reps", REPS]) == 0
    first, second = files_under(tmp_path / "a"), files_under(tmp_path / "b")
    assert first == second
    pngs = [name for name in first if name.endswith(".png")]
    assert len(pngs) == 12 and all(first[name].startswith(b"\x89PNG") for name in pngs)
    markdown = first["README.md"].decode()
    assert "generated from the results store `tests/fixtures/results`" in markdown
    for png in pngs:
        assert f"]({png})" in markdown
    assert "| IQL | " in markdown and "P(X > IQL)" in markdown
    assert "| Seeds | Steps | Still rising | Precision |" in markdown  # the fixture's runs record no bf16: float32
    assert "| float32 |" in markdown and "| bf16 |" not in markdown
    assert "Published on the official D4RL `antmaze-medium-play` data (not ours, not our data): IQL paper 71.2; " \
           "CORL IQL last 65.8 ± 11.7, best 78.5 ± 3.8" in markdown
    assert "Best evaluation (normalised score), mean" in markdown
    links = re.findall(r"\[s0\]\(([^)]+)\)", markdown)
    assert len(links) == 8  # one per (agent, dataset); relative to the output folder, and they resolve
    assert all(not link.startswith("/") and (tmp_path / "a" / link).is_file() for link in links)
    assert (tmp_path / "a" / "README.md").resolve() != DEFAULT_OUT.resolve()
    assert f"## {FINDINGS_TITLE}" in markdown and markdown.count("| not measured yet |") == 13  # no seed-findings runs
    observations = next(line for line in markdown.splitlines() if line.startswith("Observations: "))
    assert "AntMaze agents train on standardised observations" in observations  # the presets' defaults
    assert "Locomotion agents train on raw observations" in observations
    docs = re.search(r"\]\(([^)]+docs/antmaze/README\.md)\)", observations).group(1)
    assert (tmp_path / "a" / docs).resolve().is_file()  # the evidence link resolves from where the file goes
    data = next(line for line in markdown.splitlines() if line.startswith("Data: "))
    evidence = re.findall(r"\]\(([^)]+\.md)\)", data)
    assert len(evidence) == 2 and all((tmp_path / "a" / link).resolve().is_file() for link in evidence)
    assert "Paper protocol" not in markdown and "paper protocol" not in markdown  # no run at the paper's budget


def test_only_finished_runs_are_scored_and_the_others_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_root = tmp_path / "results"
    shutil.copytree(FIXTURE, store_root)
    store = ResultsStore(store_root)
    store.set_status("D2RLIQL-antmaze-medium-play-v1-s2", "running")
    store.set_status("IQL-halfcheetah-medium-v0-s1", "diverged", error="non-finite critic loss at step 900")
    assert main(["--results", str(store_root), "--out", str(tmp_path / "board" / "README.md"), "--reps", REPS]) == 0
    printed = capsys.readouterr().out
    assert "left out 1 run still pending or running (not final): D2RLIQL-antmaze-medium-play-v1-s2" in printed
    markdown = (tmp_path / "board" / "README.md").read_text()
    antmaze, halfcheetah = markdown.split("## Suite `antmaze`", 1)[1].split("## Suite `mujoco`", 1)
    assert "Left out" not in antmaze  # a running run is not final: left out unmentioned, so a store committed
    # without it gives the same file
    assert "Left out (1 run):" in halfcheetah and "- `mujoco/halfcheetah/medium-v0`: IQL diverged (s1)" in halfcheetah
    assert "/D2RLIQL-antmaze-medium-play-v1-s2/" not in antmaze and "/IQL-halfcheetah-medium-v0-s1/" not in halfcheetah
    assert "Seeds per agent: IQL 2, D2RLIQL 3." in halfcheetah
    full = tmp_path / "full.md"
    assert main(["--results", str(FIXTURE), "--out", str(full), "--reps", REPS]) == 0
    assert "Left out" not in full.read_text() and "Seeds per agent: IQL 3, D2RLIQL 3." in full.read_text()


def test_success_aggregates_are_not_repeated_when_they_equal_the_score(tmp_path: Path) -> None:
    """AntMaze's normalised score is 100 x its success rate; the board then draws one set of aggregates, not two,
    also when the suite holds locomotion runs of one agent (no success rate, and not in the score aggregates either,
    as the seed findings do). One evaluation that differs brings the success-rate aggregates back."""
    root = tmp_path / "results"
    shutil.copytree(FIXTURE, root)
    files = sorted((root / "runs").glob("*antmaze*/evaluations.csv"))
    for path in files:
        evaluations = pd.read_csv(path)
        evaluations["normalized_score"] = evaluations["success_rate"] * 100
        evaluations.to_csv(path, index=False, na_rep="nan")
    for seed in range(3):  # one agent's locomotion runs moved into the antmaze suite
        path = root / "runs" / f"D2RLIQL-halfcheetah-medium-v0-s{seed}" / "evaluations.csv"
        evaluations = pd.read_csv(path)
        evaluations["suite"] = "antmaze"
        evaluations.to_csv(path, index=False, na_rep="nan")

    def board(name: str) -> tuple[str, list[str]]:
        out = tmp_path / name / "README.md"
        assert main(["--results", str(root), "--out", str(out), "--reps", REPS]) == 0
        return out.read_text().split("## Suite `antmaze`", 1)[1], sorted(p.name for p in out.parent.glob("plots/*"))

    antmaze, pngs = board("same")
    assert antmaze.count("### Aggregate: success rate (%)") == 1 and "are not repeated" in antmaze
    assert "D2RLIQL: datasets ['mujoco/halfcheetah/medium-v0'] are not run by every agent" in antmaze
    assert not any(name.startswith("antmaze-success") for name in pngs)
    assert len(pngs) == 7  # mujoco now holds IQL alone: no improvement plot
    evaluations = pd.read_csv(files[0])
    evaluations.loc[0, "normalized_score"] += 1.0
    evaluations.to_csv(files[0], index=False, na_rep="nan")
    antmaze, pngs = board("differs")
    assert "are not repeated" not in antmaze and "antmaze-success-aggregates.png" in pngs and len(pngs) == 11


def test_seed_findings_fixture_regenerates_byte_identical_with_linked_measurements(tmp_path: Path) -> None:
    for name in ("a", "b"):
        out = tmp_path / name / "README.md"
        assert main(["--results", str(SEED_FINDINGS_FIXTURE), "--out", str(out), "--reps", REPS]) == 0
    first = files_under(tmp_path / "a")
    assert first == files_under(tmp_path / "b") and "README.md" in first
    assert all(name == "README.md" or name.startswith("plots/") and name.endswith(".png") for name in first)
    markdown = first["README.md"].decode()
    links = re.findall(r"\]\(([^)]*/runs/[^)]+)\)", markdown)
    assert links and all(not link.startswith("/") and (tmp_path / "a" / link).is_file() for link in links)
    findings, suites = markdown.split(f"## {FINDINGS_TITLE}\n", 1)[1].split("\n## Suite ", 1)
    assert "### Measured in `seed-findings-tiny`" in findings and findings.count("not measured yet") == 4
    assert "33 runs of `seed-findings-tiny` in the store (2 diverged, 31 finished)" in findings
    frame = load_results(SEED_FINDINGS_FIXTURE)
    single_q = frame[(frame["agent"] == "IQL-1Q") & (frame["step"] == 1000)]["normalized_score"]
    assert len(single_q) == 2  # seed 2 diverged before its first evaluation
    assert "IQL-1Q diverged in 1/3 ended runs; IQL diverged in 0/3 ended runs. " in findings
    assert f"IQL-1Q {single_q.mean():.1f} [" in findings
    assert re.search(r"\[s2 diverged\]\([^)]*/sf-IQL-1Q-antmaze-umaze-v1-s2/status\.json\)", findings)
    assert findings.count("/train_log.jsonl)") == 4 * 6  # 4 srank rows measured: 3 seeds of IQL and of D2RLIQL
    assert len(re.findall(r"\[s0\]\(", suites)) == 11  # the suite's own section: one per (agent, dataset)


def test_findings_leave_out_unended_runs_as_if_they_were_not_stored(tmp_path: Path) -> None:
    """A store whose only runs of one cell are still running renders the findings of the same store without them
    (what a clone of the committed, ended runs shows), one whose every run is pending the unmeasured table, and one
    whose every run is running the page of a store with no runs at all."""
    root, cell = tmp_path / "results", "sf-IQL-1Q-antmaze-umaze-v1-s"
    shutil.copytree(SEED_FINDINGS_FIXTURE, root)
    for seed in range(3):
        ResultsStore(root).set_status(f"{cell}{seed}", "running")

    def board(name: str) -> str:
        out = tmp_path / name / "README.md"
        assert main(["--results", str(root), "--out", str(out), "--reps", REPS]) == 0
        return out.read_text()

    running = board("running")
    for seed in range(3):
        shutil.rmtree(root / "runs" / f"{cell}{seed}")
    assert running == board("without")
    assert "IQL-1Q diverged" not in running and "running" not in running.split("### Measured in", 1)[1][:200]
    assert "30 runs of `seed-findings-tiny` in the store (1 diverged, 29 finished)" in running
    for run in (root / "runs").iterdir():
        ResultsStore(root).set_status(run.name, "pending")
    assert "No run of the `seed-findings` suite is stored yet." in board("pending")
    for run in (root / "runs").iterdir():
        ResultsStore(root).set_status(run.name, "running")
    all_running = board("all-running")
    shutil.rmtree(root / "runs")
    assert all_running == board("no-runs") and "No results have been recorded yet" in all_running


def test_empty_store_says_no_results_yet_and_removes_stale_plots(tmp_path: Path) -> None:
    out = tmp_path / "board" / "README.md"
    stale = out.parent / "plots" / "old-suite-score-profiles.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    (tmp_path / "empty").mkdir()
    assert main(["--results", str(tmp_path / "empty"), "--out", str(out)]) == 0
    markdown = out.read_text()
    assert "No results have been recorded yet" in markdown and "python -m benchmarks.run --suite" in markdown
    assert markdown.startswith("<!-- Generated by `python -m leaderboard`")
    assert not stale.exists()


def test_a_missing_store_is_an_error_not_an_empty_leaderboard(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as error:
        main(["--results", str(tmp_path / "nonexistent"), "--out", str(tmp_path / "README.md")])
    assert error.value.code == 2 and "is not a results store" in capsys.readouterr().err
    assert not (tmp_path / "README.md").exists()


def test_test_data_is_never_published_to_the_real_leaderboard(capsys: pytest.CaptureFixture[str]) -> None:
    before = DEFAULT_OUT.read_bytes() if DEFAULT_OUT.exists() else None
    with pytest.raises(SystemExit) as error:
        main(["--results", str(FIXTURE), "--reps", REPS])
    assert error.value.code == 2 and "holds test data" in capsys.readouterr().err
    assert (DEFAULT_OUT.read_bytes() if DEFAULT_OUT.exists() else None) == before


def test_findings_table_shows_report_numbers_beside_ours() -> None:
    claims = [*SRANK_CLAIMS[:1], {**SRANK_CLAIMS[1], "measured": "219 / 230"}]
    table = render_findings(claims, source=SOURCE)
    lines = table.splitlines()
    assert lines[0] == "| Claim (source report) | Report | Ours |"
    assert lines[2].endswith("| 227 / 232 | not measured yet |")
    assert lines[3].endswith("| 225 / 232 | 219 / 230 |")
    assert SOURCE in table
    assert [claim["report"] for claim in SRANK_CLAIMS] == [
        "227 / 232", "225 / 232", "226 / 232", "223 / 231", "221 / 230", "225 / 233"
    ]


def test_speed_table_beside_the_leaderboard_is_included(tmp_path):
    from benchmarks.store import empty_frame
    from leaderboard.render import SPEED_FILE, build_leaderboard

    out_dir = tmp_path / "board"
    out_dir.mkdir()
    assert "## Training speed" not in build_leaderboard(empty_frame(), tmp_path, out_dir, 50, 0).markdown
    (out_dir / SPEED_FILE).write_text("| configuration | updates/s |\n|---|---|\n| x | 1.0 |\n")
    markdown = build_leaderboard(empty_frame(), tmp_path, out_dir, 50, 0).markdown
    assert "## Training speed" in markdown and "| x | 1.0 |" in markdown


def test_runs_on_different_builds_of_one_dataset_are_flagged(tmp_path: Path) -> None:
    store_root = tmp_path / "results"
    shutil.copytree(FIXTURE, store_root)
    for seed in range(3):  # D2RLIQL's seeds on umaze come from another build of the dataset
        csv = store_root / "runs" / f"D2RLIQL-antmaze-umaze-v1-s{seed}" / "evaluations.csv"
        csv.write_text(csv.read_text().replace(",fixture-dataset,", ",0123456789abcdef,"))
    assert main(["--results", str(store_root), "--out", str(tmp_path / "board" / "README.md"), "--reps", REPS]) == 0
    markdown = (tmp_path / "board" / "README.md").read_text()
    umaze = markdown.split("#### `D4RL/antmaze/umaze-v1`", 1)[1].split("####", 1)[0]
    assert "trained on 2 different builds of this dataset (`01234567`, `fixture-`" in umaze
    assert re.search(r"\| D2RLIQL \|.*\| `01234567` \|", umaze) and re.search(r"\| IQL \|.*\| `fixture-` \|", umaze)
    assert markdown.count("different builds of this dataset") == 1
    assert "reference returns too" not in umaze  # success rates: both builds score returns the same way
    unchanged = tmp_path / "unchanged.md"
    assert main(["--results", str(FIXTURE), "--out", str(unchanged), "--reps", REPS]) == 0
    assert "different builds" not in unchanged.read_text()


def test_builds_normalising_with_other_reference_returns_are_named() -> None:
    from leaderboard.render import _mixed_builds_note

    def runs(data_hash: str, expert: float, returns: list[float]) -> pd.DataFrame:
        # ARBITRARY TEST DATA: one run's evaluations, normalised with random -297.6 and `expert`
        return pd.DataFrame({"run_id": data_hash, "dataset_hash": data_hash, "return_mean": returns,
                             "normalized_score": [100 * (r + 297.6) / (expert + 297.6) for r in returns]})

    evaluations = pd.concat([runs("aaaaaaaa11", 8122.1, [3000.0, 4000.0]),
                             runs("bbbbbbbb22", 8177.5, [3100.0, 3900.0])])
    final = evaluations.groupby("run_id").tail(1)
    note = _mixed_builds_note(final, evaluations)[0]
    assert "2 different builds" in note
    assert "`aaaaaaaa`: random -297.6, expert 8,122.1; `bbbbbbbb`: random -297.6, expert 8,177.5" in note
    assert f"up to {100 * ((8177.5 + 297.6) / (8122.1 + 297.6) - 1):.1f}% apart" in note
    same = pd.concat([runs("aaaaaaaa11", 8122.1, [3000.0, 4000.0]), runs("bbbbbbbb22", 8122.1, [3100.0, 3900.0])])
    assert "reference returns" not in _mixed_builds_note(same.groupby("run_id").tail(1), same)[0]


def test_rows_link_the_model_card_published_from_their_runs(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    for agent, chosen in (("IQL", "IQL-antmaze-umaze-v1-s1"), ("D2RLIQL", "a-run-not-in-this-store")):
        repo = zoo / "iqlzoo" / f"{agent}-antmaze-umaze-v1"
        repo.mkdir(parents=True)
        (repo / "README.md").write_text("card")
        (repo / "results.json").write_text(json.dumps({"selection": {"run_id": chosen}}))
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(FIXTURE), "--out", str(out), "--reps", REPS, "--zoo", str(zoo)]) == 0
    umaze = out.read_text().split("#### `D4RL/antmaze/umaze-v1`", 1)[1].split("####", 1)[0]
    links = re.findall(r"\[card\]\(([^)]+)\)", umaze)
    assert links == ["../zoo/iqlzoo/IQL-antmaze-umaze-v1/README.md"]  # D2RLIQL's card describes other runs
    assert (out.parent / links[0]).is_file()
    assert re.search(r"\| D2RLIQL \|.*\| — \|", umaze)
    # a card published from runs of a longer budget is linked, saying so (the zoo ships the better-trained agent)
    (zoo / "iqlzoo" / "D2RLIQL-antmaze-umaze-v1" / "results.json").write_text(json.dumps(
        {"selection": {"run_id": "a-run-not-in-this-store"}, "budget": {"steps": 10**9}}))
    assert main(["--results", str(FIXTURE), "--out", str(out), "--reps", REPS, "--zoo", str(zoo)]) == 0
    umaze = out.read_text().split("#### `D4RL/antmaze/umaze-v1`", 1)[1].split("####", 1)[0]
    assert re.search(r"\| D2RLIQL \|.*\[card\]\([^)]+\) \(from 1,000,000,000-step runs\) \|", umaze)


def test_aggregates_compare_only_runs_of_the_budget_the_suite_gives_now(tmp_path: Path) -> None:
    """D2RLIQL's runs trained for fewer steps than `quick` gives now: they keep their rows per dataset, flagged, but
    are neither aggregated nor set against IQL's and DistributionalIQL's runs of the current budget."""
    from benchmarks.suites import BUDGETS

    store_root = tmp_path / "results"
    shutil.copytree(FIXTURE, store_root)
    quick = BUDGETS["quick"]
    for csv in store_root.glob("runs/*/evaluations.csv"):
        header, *rows = [line.split(",") for line in csv.read_text().splitlines()]
        suite, budget = header.index("suite"), header.index("budget")
        for row in rows:
            row[suite] = "antmaze-quick"
            if not csv.parent.name.startswith("D2RLIQL-"):
                row[budget] = str(quick.protocol("antmaze" if "antmaze" in csv.parent.name else "locomotion").steps)
        csv.write_text("".join(",".join(row) + "\n" for row in [header, *rows]))
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(store_root), "--out", str(out), "--reps", REPS]) == 0
    section = out.read_text().split("## Suite `antmaze-quick`", 1)[1]
    tables, aggregates = section.split("### Aggregate: normalised score", 1)
    assert "**Superseded budget:** 6 of these antmaze runs trained for 1,000 steps" in tables
    assert re.search(r"\| D2RLIQL \| ", tables)  # still listed per dataset
    aggregates = aggregates.split("## ", 1)[0]
    assert "9 superseded runs (D2RLIQL 9; trained for 1,000 steps, where the budget now gives 50,000 / 500,000)" \
        in aggregates
    assert "| IQL | " in aggregates and "| DistributionalIQL | " in aggregates
    assert "| D2RLIQL | " not in aggregates  # neither in the aggregate table nor in P(X > IQL)


def test_seeds_of_one_agent_in_different_precisions_are_flagged(tmp_path: Path) -> None:
    store_root = tmp_path / "results"
    shutil.copytree(FIXTURE, store_root)
    provenance = store_root / "runs" / "IQL-antmaze-umaze-v1-s0" / "provenance.json"
    data = json.loads(provenance.read_text())
    data["agent_config"] = {**data.get("agent_config", {}), "bf16": True}
    provenance.write_text(json.dumps(data))
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(store_root), "--out", str(out), "--reps", REPS]) == 0
    markdown = out.read_text()
    umaze = markdown.split("#### `D4RL/antmaze/umaze-v1`", 1)[1].split("####", 1)[0]
    assert "**Mixed precision:** the seeds of IQL here trained in different precisions" in umaze
    assert markdown.count("**Mixed precision:**") == 1 and "| bf16, float32 |" in umaze


def test_rows_of_a_budget_the_suite_no_longer_runs_are_flagged() -> None:
    from benchmarks.suites import BUDGETS
    from leaderboard.render import superseded_budget_lines

    quick = BUDGETS["quick"]
    old_steps = quick.protocol("antmaze").steps // 5
    final = pd.DataFrame({"run_id": ["a", "b", "c"], "budget": [old_steps, old_steps, quick.protocol("x").steps],
                          "dataset_id": ["iqlzoo/antmaze/umaze-v0"] * 2 + ["iqlzoo/halfcheetah/medium-v0"]})
    lines = superseded_budget_lines("antmaze-quick", final)
    assert len(lines) == 2 and f"2 of these antmaze runs trained for {old_steps:,} steps" in lines[0]
    assert f"now gives antmaze {quick.protocol('antmaze').steps:,} steps" in lines[0]  # locomotion's: no line
    from leaderboard.render import scope_lines

    first = scope_lines("antmaze-quick")[0]
    assert first.startswith("**Scope:** At the `quick` budget the `antmaze` suite trains only")
    assert scope_lines("antmaze-paper") == scope_lines("halfcheetah-quick") == scope_lines("smoke-steps40") == []
    assert superseded_budget_lines("antmaze-paper", final.assign(budget=1_000_000)) == []
    assert superseded_budget_lines("smoke-custom", final) == []
