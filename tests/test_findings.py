"""The seed findings: each claim's measurement checked against numbers computed here from the same hand-built
records (divergence share, means, rliable's probability of improvement, srank means, instability), the "not measured
yet" path, reading run states, provenance and srank logs from a store, and the leaderboard section."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rliable import metrics

from benchmarks import stats
from benchmarks.store import COLUMNS, EvalRecord, ResultsStore, empty_frame
from benchmarks.suites import ANTMAZE, HALFCHEETAH, SMOKE_CONFIG, Protocol, RunSpec
from leaderboard import findings
from leaderboard.render import FINDINGS_TITLE, build_leaderboard
from leaderboard.report_claims import SRANK_CLAIMS

#: A store suite named by its protocol (no named budget), so that no run here is of a superseded budget
SUITE = "seed-findings-steps100"
BUDGET = 100
STEPS = (25, 50, 75, 100)
REPS = 200
UMAZE, MEDIUM, LARGE = ANTMAZE["umaze"], ANTMAZE["medium-play"], ANTMAZE["large-play"]


class Records:
    """Builds an evaluation frame and `RunRecords` by hand: one run per `add` call."""

    def __init__(self) -> None:
        self.evaluations: list[dict[str, object]] = []
        self.runs: list[dict[str, object]] = []
        self.sranks: list[dict[str, object]] = []
        self.q_means: list[dict[str, object]] = []

    def add(
        self,
        label: str,
        dataset: str,
        seed: int,
        scores: dict[int, float],
        state: str = "finished",
        sranks: dict[int, tuple[float, float, float, float]] | None = None,
        suite: str = SUITE,
        dataset_hash: str = "test",
        budget: int = BUDGET,
        q_means: dict[int, float] | None = None,
        returns: tuple[float, float] = (math.nan, math.nan),
        refs: tuple[float, float] = (0.0, 100.0),
    ) -> str:
        """A run with normalised `scores` by step, its `state`, and srank rows step -> (policy features, policy
        weights, q features, q weights), trained on the build `dataset_hash` of `dataset`; its logged mean Q by step
        and the range its returns lie in (`findings.return_range`; NaN: unknown). Its mean returns are the scores
        on the reference returns `refs` (random, expert)."""
        run_id = f"{label}.{dataset.replace('/', '-')}.seed{seed}.{suite}.{budget}"
        self.runs.append(
            {
                "run_id": run_id,
                "suite": suite,
                "agent": label,
                "dataset_id": dataset,
                "seed": seed,
                "budget": budget,
                "state": state,
                "return_low": returns[0],
                "return_high": returns[1],
            }
        )
        for step, score in scores.items():
            row = dict.fromkeys(COLUMNS)
            row.update(
                run_id=run_id,
                agent=label,
                config_hash="test",
                dataset_id=dataset,
                dataset_hash=dataset_hash,
                data_source="official",
                suite=suite,
                budget=budget,
                seed=seed,
                step=step,
                return_mean=refs[0] + score / 100 * (refs[1] - refs[0]),
                return_std=1.0,
                normalized_score=score,
                success_rate=math.nan,
                n_episodes=10,
                wall_time_s=1.0,
            )
            self.evaluations.append(row)
        for step, values in (sranks or {}).items():
            self.sranks.append({"run_id": run_id, "step": step, **dict(zip(findings.SRANK_COLUMNS, values))})
        for step, value in (q_means or {}).items():
            self.q_means.append({"run_id": run_id, "step": step, "q_mean": value})
        return run_id

    def finals(self, label: str, dataset: str, finals: list[float], state: str = "finished") -> None:
        """Runs with seeds 0.. whose only evaluation is a final one at the budget."""
        for seed, score in enumerate(finals):
            self.add(label, dataset, seed, {BUDGET: score}, state)

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.evaluations, columns=list(COLUMNS))
        return frame.astype(empty_frame().dtypes.to_dict()).sort_values(["run_id", "step"], ignore_index=True)

    def records(self) -> findings.RunRecords:
        return findings.run_records(self.runs, self.sranks, self.q_means)

    def claims(self, suite: str | None = SUITE) -> list[dict[str, object]]:
        return findings.seed_findings(self.frame(), self.records(), suite, reps=REPS, seed=0)


def claim_for(claims: list[dict[str, object]], *words: str) -> dict[str, object]:
    """The one claim whose text contains every word."""
    found = [claim for claim in claims if all(word in str(claim["claim"]) for word in words)]
    assert len(found) == 1, [claim["claim"] for claim in found]
    return found[0]


def mean_ci(values: list[float]) -> str:
    """ "mean [low, high]" as the findings print it: the mean checked with numpy, the CI from stats' rliable call."""
    found = stats.mean_over_seeds({"x": np.array(values)}, reps=REPS, seed=0)
    assert found.point["x"][0] == pytest.approx(np.mean(values))
    low, high = found.interval["x"][:, 0]
    return f"{np.mean(values):.1f} [{low:.1f}, {high:.1f}]"


def test_twin_q_counts_diverged_runs_and_leaves_them_out_of_scores() -> None:
    built = Records()
    built.add("IQL-1Q", UMAZE, 0, {50: 20.0, 100: 40.0})
    built.add("IQL-1Q", UMAZE, 1, {50: 30.0, 100: 50.0})
    built.add("IQL-1Q", UMAZE, 2, {25: 90.0}, state="diverged")  # its last score must not count
    built.finals("IQL", UMAZE, [70.0, 80.0, 90.0])
    claims = built.claims()
    measured = str(claim_for(claims, "Twin", UMAZE)["measured"])
    assert measured.startswith("IQL-1Q diverged in 1/3 ended runs; IQL diverged in 0/3 ended runs.")
    assert f"IQL-1Q {mean_ci([40.0, 50.0])} (2 seeds), IQL {mean_ci([70.0, 80.0, 90.0])} (3 seeds)" in measured
    assert "Final evaluations at step 100 (budget 100)." in measured
    assert claim_for(claims, "Twin", HALFCHEETAH["medium"])["measured"] is None
    links = [label for _, label, _ in claim_for(claims, "Twin", UMAZE)["records"]]
    assert links == ["s0", "s1", "s2 diverged", "s0", "s1", "s2"]


def test_return_range_bounds_every_discounted_return_where_the_config_fixes_the_rewards() -> None:
    antmaze = {"domain": "antmaze", "reward_transform": "minus_one", "gamma": 0.99}
    low, high = findings.return_range(antmaze)
    assert (low, high) == pytest.approx((-100.0, 0.0))
    assert findings.return_range({**antmaze, "reward_transform": "none"}) == pytest.approx((0.0, 100.0))
    assert findings.return_range({**antmaze, "gamma": 0.9})[0] == pytest.approx(-10.0)
    # bounded by the data, not by definition: no range
    assert findings.return_range({**antmaze, "reward_transform": "return_scale"}) is None
    assert findings.return_range({**antmaze, "domain": "halfcheetah"}) is None
    # an anti-exploration penalty lowers the rewards the critics see without a fixed bound: only the top end holds
    assert findings.return_range({**antmaze, "penalty": "rnd"}) == (-math.inf, pytest.approx(0.0))
    assert findings.return_range({**antmaze, "gamma": 1.0}) is None
    assert findings.return_range({}) is None


def test_twin_q_counts_runs_whose_mean_q_left_the_range_of_every_return() -> None:
    """A single-Q run whose mean Q climbs past 0 under r − 1 rewards holds values no return can have, though the
    guard (10x the bound) never stopped it: the finding counts it beside the guard's count."""
    built = Records()
    bounds = (-100.0, 0.0)
    built.add("IQL-1Q", UMAZE, 0, {100: 40.0}, q_means={25: -50.0, 50: -51.0, 75: 35.0, 100: 628.0}, returns=bounds)
    built.add("IQL-1Q", UMAZE, 1, {100: 50.0}, q_means={25: -50.0, 50: -40.0, 75: -9.0, 100: 180.0}, returns=bounds)
    built.add("IQL-1Q", UMAZE, 2, {100: 45.0}, q_means={25: -48.0, 50: -50.0, 75: -49.0, 100: -47.0}, returns=bounds)
    for seed in range(2):
        built.add("IQL", UMAZE, seed, {100: 70.0}, q_means={25: -56.0, 50: -58.8, 100: -58.6}, returns=bounds)
    built.add("IQL", HALFCHEETAH["medium"], 0, {100: 47.0}, q_means={50: 410.0, 100: -455.0})
    built.add("IQL-1Q", HALFCHEETAH["medium"], 0, {100: 45.0})
    claims = built.claims()
    measured = str(claim_for(claims, "Twin", UMAZE)["measured"])
    assert measured.startswith("IQL-1Q diverged in 0/3 ended runs; IQL diverged in 0/2 ended runs.")
    assert ("Mean Q outside the range of every discounted return: IQL-1Q 2/3 runs outside [-100, 0] (first at step "
            "75–100), largest |mean Q| 628 / 180 / 50; IQL 0/2 runs outside [-100, 0], largest |mean Q| 59 / 59. "
            "Final score") in measured
    cheetah = str(claim_for(claims, "Twin", HALFCHEETAH["medium"])["measured"])
    assert ("IQL-1Q: no mean Q logged; IQL: largest |mean Q| 455 (its records bound no return)") in cheetah


def test_divergence_share_counts_only_ended_runs() -> None:
    built = Records()
    built.add("IQL-1Q", UMAZE, 0, {100: 40.0}, state="diverged")
    built.add("IQL-1Q", UMAZE, 1, {50: 30.0}, state="running")
    built.add("IQL-1Q", UMAZE, 2, {50: 30.0}, state="failed")
    measured = str(claim_for(built.claims(), "Twin", UMAZE)["measured"])
    assert measured.startswith("IQL-1Q diverged in 1/1 ended runs (1 not ended yet, 1 failed); IQL: no runs.")
    assert "IQL-1Q 30.0 [30.0, 30.0] (1 seed), IQL n/a (no final score)" in measured
    assert "Final evaluations at step 50 (budget 100)." in measured


def test_expectile_sweep_reports_each_expectile_whether_the_means_rise_and_each_step() -> None:
    built = Records()
    sweep = {  # rising on umaze, falling on medium-play
        UMAZE: ([10.0, 20.0, 30.0], [40.0, 50.0, 60.0], [70.0, 80.0, 90.0]),
        MEDIUM: ([70.0, 80.0, 90.0], [40.0, 50.0, 60.0], [10.0, 20.0, 30.0]),
    }
    for dataset, (low, mid, high) in sweep.items():
        built.finals("IQL-expectile0.5", dataset, low)
        built.finals("IQL-expectile0.7", dataset, mid)
        built.finals("IQL", dataset, high)
    claims = built.claims()
    # each step: difference 30 of means, sample variances 100 and 100 over 3 seeds -> se = sqrt(200/3) = 8.165,
    # Welch dof = 4, t(0.975, 4) = 2.7764 -> half-width 22.67
    for dataset, rises, step in ((UMAZE, "yes", "+30.0 [+7.3, +52.7]"),
                                 (MEDIUM, "no, they fall as it rises", "-30.0 [-52.7, -7.3]")):
        low, mid, high = sweep[dataset]
        measured = str(claim_for(claims, "Expectile", dataset)["measured"])
        assert measured == (
            f"Final score by expectile: 0.5: IQL-expectile0.5 {mean_ci(low)} (3 seeds); "
            f"0.7: IQL-expectile0.7 {mean_ci(mid)} (3 seeds); 0.9: IQL {mean_ci(high)} (3 seeds). "
            f"Means rise with the expectile: {rises}. Steps (Welch 95% CI over seeds): 0.7 − 0.5: {step}; "
            f"0.9 − 0.7: {step}. Final evaluations at step 100 (budget 100)."
        )


def test_expectile_sweep_neither_rising_nor_falling_and_single_seeds_give_no_steps() -> None:
    built = Records()
    for label, score in (("IQL-expectile0.5", 40.0), ("IQL-expectile0.7", 20.0), ("IQL", 60.0)):
        built.finals(label, UMAZE, [score])
    measured = str(claim_for(built.claims(), "Expectile", UMAZE)["measured"])
    assert "Means rise with the expectile: no. Final evaluations" in measured
    assert "Steps" not in measured


def test_expectile_sweep_with_an_expectile_missing_does_not_judge_monotonicity() -> None:
    built = Records()
    built.finals("IQL-expectile0.5", UMAZE, [10.0])
    built.finals("IQL", UMAZE, [80.0])
    measured = str(claim_for(built.claims(), "Expectile", UMAZE)["measured"])
    assert "0.7: IQL-expectile0.7 n/a (no final score)" in measured
    assert "Means rise with the expectile: needs a final score for every expectile." in measured
    assert claim_for(built.claims(), "Expectile", MEDIUM)["measured"] is None


def test_srank_rows_use_each_runs_last_logged_srank_of_features_and_weights() -> None:
    built = Records()
    early = (100.0, 50.0, 90.0, 40.0)  # logged before the last checkpoint: must not count
    iql = [(226.0, 180.0, 222.0, 170.0), (228.0, 182.0, 224.0, 172.0), (230.0, 184.0, 226.0, 174.0)]
    d2rl = [(231.0, 190.0, 230.0, 185.0), (233.0, 192.0, 232.0, 187.0)]
    for seed, values in enumerate(iql):
        built.add("IQL", LARGE, seed, {BUDGET: 30.0}, sranks={50: early, 100: values})
    for seed, values in enumerate(d2rl):
        built.add("D2RLIQL", LARGE, seed, {BUDGET: 40.0}, sranks={50: early, 100: values})
    built.add("D2RLIQL", LARGE, 2, {25: 0.0}, state="diverged", sranks={25: early})
    claims = built.claims()

    def means(runs: list[tuple[float, ...]], index: int) -> str:
        return f"{np.mean([values[index] for values in runs]):.1f}"

    for network, (features, weights) in (("policy", (0, 1)), ("Q-network", (2, 3))):
        claim = claim_for(claims, f"srank of the {network}", "antmaze-large")
        report = next(c["report"] for c in SRANK_CLAIMS if c["claim"] in str(claim["claim"]))
        assert claim["report"] == report
        assert claim["measured"] == (
            f"IQL / D2RLIQL: {means(iql, features)} / {means(d2rl, features)} from penultimate-layer features "
            f"(δ = 0.01); {means(iql, weights)} / {means(d2rl, weights)} from that layer's weights. Mean over "
            f"3 / 2 seeds of each run's last logged srank, at step 100 (budget 100) on `{LARGE}`. "
            "Left out: D2RLIQL 1 diverged."
        )
        assert all(path.endswith("/train_log.jsonl") for _, _, path in claim["records"])
        assert claim_for(claims, f"srank of the {network}", "halfcheetah-expert")["measured"] is None
        assert claim_for(claims, f"srank of the {network}", "antmaze-medium")["measured"] is None


def test_convergence_on_large_play_reports_rliables_probability_of_improvement() -> None:
    built = Records()
    iql, d2rl = [20.0, 30.0, 40.0], [35.0, 45.0, 25.0, 50.0]
    built.finals("IQL", LARGE, iql)
    built.finals("D2RLIQL", LARGE, d2rl)
    measured = str(claim_for(built.claims(), "D2RL skip connections", LARGE)["measured"])
    probability = metrics.probability_of_improvement(np.array(d2rl)[:, None], np.array(iql)[:, None])
    assert 0.5 < probability < 1.0
    match = re.search(r"P\(D2RLIQL > IQL\) = (\d\.\d\d) \[(\d\.\d\d), (\d\.\d\d)\]", measured)
    assert match, measured
    point, low, high = (float(value) for value in match.groups())
    assert point == pytest.approx(probability, abs=0.005) and low <= point <= high
    assert measured.startswith(f"Final score: IQL {mean_ci(iql)} (3 seeds), D2RLIQL {mean_ci(d2rl)} (4 seeds); ")


def test_runs_compared_across_builds_of_a_dataset_say_so() -> None:
    built = Records()
    sranks = {BUDGET: (226.0, 180.0, 222.0, 170.0)}
    for seed in range(3):
        built.add("IQL", LARGE, seed, {BUDGET: 20.0}, sranks=sranks, dataset_hash="aaaaaaaa00000001")
        built.add("D2RLIQL", LARGE, seed, {BUDGET: 30.0}, sranks=sranks, dataset_hash="bbbbbbbb00000002")
    built.add("D2RLIQL", LARGE, 3, {25: 0.0}, state="diverged", dataset_hash="cccccccc00000003")  # left out
    built.finals("IQL", UMAZE, [10.0, 20.0])
    built.finals("DistributionalIQL", UMAZE, [5.0, 15.0])
    claims = built.claims()
    note = " Trained on 2 builds of the dataset (`aaaaaaaa` for IQL; `bbbbbbbb` for D2RLIQL)."
    assert note in str(claim_for(claims, "D2RL skip connections", LARGE)["measured"])
    assert note in str(claim_for(claims, "srank of the policy", "antmaze-large")["measured"])
    assert "builds of the dataset" not in str(claim_for(claims, "Distributional", UMAZE)["measured"])


def test_builds_that_normalise_with_other_reference_returns_say_so() -> None:
    built = Records()
    for seed in range(3):  # ARBITRARY TEST DATA
        built.add("IQL", LARGE, seed, {BUDGET // 2: 10.0 + seed, BUDGET: 20.0 + seed}, dataset_hash="aaaaaaaa01",
                  refs=(-297.6, 8122.1))
        built.add("D2RLIQL", LARGE, seed, {BUDGET // 2: 15.0 + seed, BUDGET: 30.0 + seed}, dataset_hash="bbbbbbbb02",
                  refs=(-297.6, 8177.5))
    measured = str(claim_for(built.claims(), "D2RL skip connections", LARGE)["measured"])
    gap = 100 * ((8177.5 + 297.6) / (8122.1 + 297.6) - 1)
    assert (" Trained on 2 builds of the dataset (`aaaaaaaa` for IQL; `bbbbbbbb` for D2RLIQL), whose scores are "
            "normalised with different reference returns (`aaaaaaaa`: random -297.6, expert 8,122.1; `bbbbbbbb`: "
            f"random -297.6, expert 8,177.5; one return scores up to {gap:.1f}% apart).") in measured


def test_distributional_reports_instability_over_the_second_half_of_training() -> None:
    built = Records()
    iql = [{25: 10.0, 50: 30.0, 75: 60.0, 100: 62.0}, {25: 5.0, 50: 40.0, 75: 70.0, 100: 66.0}]
    dist = [{25: 10.0, 50: 80.0, 75: 30.0, 100: 70.0}, {25: 5.0, 50: 60.0, 75: 90.0, 100: 50.0}]
    for seed, scores in enumerate(iql):
        built.add("IQL", UMAZE, seed, scores)
    for seed, scores in enumerate(dist):
        built.add("DistributionalIQL", UMAZE, seed, scores)
    built.add("DistributionalIQL", UMAZE, 2, {25: 10.0, 50: 20.0}, state="diverged")
    measured = str(claim_for(built.claims(), "Distributional", UMAZE)["measured"])

    def spread(runs: list[dict[int, float]]) -> list[float]:  # std over steps > budget / 2 = 50
        return [float(np.std([run[75], run[100]])) for run in runs]

    assert spread(dist) == [20.0, 20.0] and spread(iql) == [1.0, 2.0]
    finals_iql, finals_dist = [run[100] for run in iql], [run[100] for run in dist]
    probability = metrics.probability_of_improvement(np.array(finals_dist)[:, None], np.array(finals_iql)[:, None])
    assert (
        f"Final score: IQL {mean_ci(finals_iql)} (2 seeds), DistributionalIQL {mean_ci(finals_dist)} (2 seeds)"
        in measured
    )
    assert f"P(DistributionalIQL > IQL) = {probability:.2f} [" in measured
    assert f"IQL {mean_ci(spread(iql))} (2 seeds), DistributionalIQL {mean_ci(spread(dist))} (2 seeds)." in measured
    assert "IQL diverged in 0/2 ended runs; DistributionalIQL diverged in 1/3 ended runs." in measured
    assert findings.instability(built.frame(), built.runs[0]["run_id"], BUDGET) == pytest.approx(1.0)
    assert findings.instability(built.frame(), built.runs[-1]["run_id"], BUDGET) is None  # no step above 50


def test_every_claim_is_listed_unmeasured_without_seed_findings_records() -> None:
    built = Records()
    built.finals("IQL-1Q", UMAZE, [80.0, 90.0])  # another suite's runs of a cell it does not share measure nothing
    built.runs = [{**run, "suite": "antmaze-steps100"} for run in built.runs]
    built.evaluations = [{**row, "suite": "antmaze-steps100"} for row in built.evaluations]
    assert findings.findings_suites(built.records()) == []
    for suite in (None, SUITE):
        claims = built.claims(suite)
        assert len(claims) == 13 and all(claim["measured"] is None and not claim["records"] for claim in claims)
    assert [claim["report"] for claim in claims[4:10]] == [claim["report"] for claim in SRANK_CLAIMS]


def test_leaderboard_has_the_findings_section_measured_or_not(tmp_path: Path) -> None:
    built = Records()
    built.add("IQL-1Q", UMAZE, 0, {100: 40.0})
    built.add("IQL-1Q", UMAZE, 1, {25: 5.0}, state="diverged")
    board = build_leaderboard(built.frame(), tmp_path / "store", tmp_path / "out", 50, 0, records=built.records())
    section = board.markdown.split(f"## {FINDINGS_TITLE}\n", 1)[1]
    assert f"### Measured in `{SUITE}`" in section and "IQL-1Q diverged in 1/2 ended runs" in section
    assert section.count("not measured yet") == 12
    link = f"[s1 diverged](../store/runs/{built.runs[1]['run_id']}/evaluations.csv)"
    assert link in section and "How ours is measured:" in section

    empty = build_leaderboard(empty_frame(), tmp_path / "none", tmp_path / "out", 50, 0).markdown
    assert "No results have been recorded yet" in empty and f"## {FINDINGS_TITLE}" in empty
    assert empty.count("| not measured yet |") == 13 and "python -m benchmarks.run --suite seed-findings" in empty


def test_run_records_come_from_status_provenance_and_training_logs(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    finished = "IQL.umaze.seed0.seed-findings-steps100.aaaaaaaa"
    store.append(
        EvalRecord(finished, "IQL", "h", UMAZE, "d", "official", SUITE, BUDGET, 0, 100, 1.0, 0.0, 50.0, 0.5, 10, 1.0)
    )
    store.set_status(finished, "finished")
    log = [
        {"step": 50, "train/value_loss": 0.5, "train/q_mean": -42.5},
        {"step": 50, "srank/policy_features": 200, "srank/q_features": 190},
        {"step": 100, **dict.fromkeys(findings.SRANK_COLUMNS, 210)},
    ]
    text = "".join(json.dumps(row) + "\n" for row in log) + '{"step": 150, "srank/policy_fea'  # cut short by a kill
    (store.run_dir(finished) / findings.TRAIN_LOG).write_text(text)
    spec = RunSpec(SUITE, "IQL-1Q", "IQL", {"n_critics": 1}, UMAZE, "official", 2, Protocol(BUDGET, 25, 2, 50))
    config = {"domain": "antmaze", "reward_transform": "minus_one", "gamma": 0.99}
    store.write_provenance(spec.run_id, {"run": spec.to_json(), "agent_config": config})  # diverged before any eval
    store.set_status(spec.run_id, "diverged", "diverged at step 10")
    store.set_status("no-identity", "pending")  # neither evaluations nor provenance: skipped
    other = "IQL.umaze.seed0.antmaze-steps100.bbbbbbbb"
    store.append(
        EvalRecord(
            other, "IQL", "h", UMAZE, "d", "official", "antmaze-steps100", BUDGET, 0, 100, 1.0, 0.0, 50.0, 0.5, 10, 1.0
        )
    )
    (store.run_dir(other) / findings.TRAIN_LOG).write_text(json.dumps(log[-1]) + "\n")

    records = findings.load_run_records(tmp_path, store.load())
    runs = records.runs.set_index("run_id")
    assert sorted(runs.index) == sorted([finished, spec.run_id, other])
    assert runs.loc[spec.run_id, ["suite", "agent", "dataset_id", "seed", "budget", "state"]].tolist() == [
        SUITE,
        "IQL-1Q",
        UMAZE,
        2,
        BUDGET,
        "diverged",
    ]
    assert runs.loc[finished, "state"] == "finished" and findings.findings_suites(records) == [SUITE]
    # every run's log is read: the main suites' IQL runs are shared with the findings
    assert records.sranks["run_id"].tolist() == [other, finished, finished]
    assert records.sranks["step"].tolist() == [100, 50, 100]
    assert records.sranks.iloc[1][list(findings.SRANK_COLUMNS)].tolist()[::2] == [200.0, 190.0]
    assert math.isnan(records.sranks.iloc[1]["srank/policy_weights"])
    assert records.q_means.values.tolist() == [[finished, 50, -42.5]]
    # the range of returns comes from the run's agent config; a run without one has none
    assert runs.loc[spec.run_id, ["return_low", "return_high"]].tolist() == pytest.approx([-100.0, 0.0])
    assert runs.loc[finished, ["return_low", "return_high"]].isna().all()
    measured = str(claim_for(findings.seed_findings(store.load(), records, SUITE, REPS, 0), "Twin", UMAZE)["measured"])
    # the shared run has no status.json: it counts as not ended, but its final evaluation is used
    assert measured.startswith("IQL-1Q diverged in 1/1 ended runs; IQL diverged in 0/1 ended runs (1 not ended yet).")
    assert "IQL 50.0 [50.0, 50.0] (2 seeds)" in measured


def test_constants_match_the_runner_the_srank_callback_and_the_presets() -> None:
    from benchmarks import runner
    from iqlzoo.agents.presets import DOMAIN_DEFAULTS
    from iqlzoo.diagnostics import SrankCallback

    callback = SrankCallback()
    assert findings.TRAIN_LOG == runner.TRAIN_LOG
    assert (findings.SRANK_DELTA, findings.SRANK_BATCH) == (callback.delta, callback.batch_size)
    assert findings.ANTMAZE_EXPECTILE == DOMAIN_DEFAULTS["antmaze"]["expectile"]
    assert [label for _, label in findings.EXPECTILE_SWEEP] == ["IQL-expectile0.5", "IQL-expectile0.7", "IQL"]


def test_a_real_run_logs_the_sranks_the_findings_read(tmp_path: Path, pendulum_minari) -> None:
    from benchmarks.runner import RunContext, execute_run

    spec = RunSpec(
        f"{findings.SUITE}-steps40",
        "IQL-1Q",
        "IQL",
        {**SMOKE_CONFIG, "n_critics": 1},
        pendulum_minari.spec.dataset_id,
        "toy",
        0,
        Protocol(steps=40, eval_every=20, eval_episodes=1, checkpoint_every=20),
    )
    assert execute_run(spec, RunContext(str(tmp_path))).state == "finished"
    frame = ResultsStore(tmp_path).load()
    records = findings.load_run_records(tmp_path, frame)
    assert records.runs[["run_id", "agent", "state"]].values.tolist() == [[spec.run_id, "IQL-1Q", "finished"]]
    assert records.sranks["step"].tolist() == [20, 40]
    values = records.sranks[list(findings.SRANK_COLUMNS)].to_numpy()
    assert np.isfinite(values).all() and (values >= 1).all() and (values <= 64).all()


def test_findings_use_regenerated_data_and_the_main_suites_shared_runs() -> None:
    built = Records()
    regenerated = "iqlzoo/antmaze/umaze-v0"
    built.add("IQL-1Q", regenerated, 0, {BUDGET: 40.0})
    for seed, score in enumerate([70.0, 80.0]):  # trained by `--suite antmaze`, reused by the finding
        built.add("IQL", regenerated, seed, {BUDGET: score}, suite="antmaze-steps100")
    built.add("IQL", regenerated, 2, {BUDGET: 10.0}, suite="antmaze-paper")  # another budget: not this suite's
    built.add("IQL-1Q", regenerated, 1, {BUDGET: 99.0}, suite="antmaze-steps100")  # not a shared cell
    measured = str(claim_for(built.claims(), "Twin", UMAZE)["measured"])
    assert measured.startswith("IQL-1Q diverged in 0/1 ended runs; IQL diverged in 0/2 ended runs.")
    assert f"IQL {mean_ci([70.0, 80.0])} (2 seeds)" in measured


def test_runs_of_a_superseded_budget_are_counted_not_compared() -> None:
    """`quick` gives AntMaze more steps than IQL-1Q's old runs trained for: they must not be set against IQL's runs
    of the current budget, only counted; reruns at the current budget are compared."""
    from benchmarks.suites import BUDGETS

    now = BUDGETS["quick"].protocol("antmaze").steps
    old = now // 5
    built = Records()
    for seed, score in enumerate([70.0, 80.0, 75.0]):
        built.add("IQL", UMAZE, seed, {now: score}, suite="antmaze-quick", budget=now)
        built.add("IQL-1Q", UMAZE, seed, {old: 20.0}, suite="seed-findings-quick", budget=old)
    measured = str(claim_for(built.claims("seed-findings-quick"), "Twin", UMAZE)["measured"])
    assert measured == (f"Not measured at the current budget yet: 3 superseded runs (IQL-1Q 3; trained for {old:,} "
                        f"steps, where the budget now gives {now:,}) are left out: runs of different budgets are not "
                        "compared.")
    for seed in range(3):
        built.add("IQL-1Q", UMAZE, seed, {now: 40.0}, suite="seed-findings-quick", budget=now)
    measured = str(claim_for(built.claims("seed-findings-quick"), "Twin", UMAZE)["measured"])
    assert "IQL-1Q 40.0 [40.0, 40.0] (3 seeds)" in measured
    assert f"IQL {mean_ci([70.0, 80.0, 75.0])} (3 seeds)" in measured
    assert measured.endswith(f"3 superseded runs (IQL-1Q 3; trained for {old:,} steps, where the budget now gives "
                             f"{now:,}) are left out: runs of different budgets are not compared.")


def test_claims_outside_a_budgets_scope_say_so_and_where_they_are_measured() -> None:
    """`quick` leaves large-play to the 1M runs (hyperparams/seed-findings.yml, scope): its large-play claims say
    that, not "not measured yet"; the `paper` budget, without a scope, still waits for its runs."""
    from benchmarks.suites import BUDGETS

    now = BUDGETS["quick"].protocol("antmaze").steps
    built = Records()
    for seed in range(3):
        built.add("IQL", UMAZE, seed, {now: 70.0}, suite="antmaze-quick", budget=now)
    quick = built.claims("seed-findings-quick")
    measured = str(claim_for(quick, "D2RL skip connections", LARGE)["measured"])
    assert measured.startswith("Not trained at the `quick` budget: its scope leaves IQL, D2RLIQL on `large-play` out: "
                               "the large-play claims")
    assert str(claim_for(quick, "srank of the policy", "antmaze-large")["measured"]).startswith("Not trained at")
    assert claim_for(quick, "srank of the policy", "antmaze-medium")["measured"] is None  # in scope, not yet run
    assert claim_for(built.claims("seed-findings-paper"), "D2RL skip connections", LARGE)["measured"] is None


def test_regenerated_ids_match_the_dataset_registry() -> None:
    from benchmarks.suites import REGENERATED, task_of
    from iqlzoo.recipes.registry import RECIPES

    official = {dataset_id: recipe.official_id for dataset_id, recipe in RECIPES.items() if recipe.official_id}
    assert {k: v for k, v in official.items() if v in REGENERATED.values()} == REGENERATED
    assert task_of("iqlzoo/antmaze/large-play-v0") == ANTMAZE["large-play"] and task_of(UMAZE) == UMAZE


def test_seed_findings_plain_agent_runs_are_the_main_suites_runs() -> None:
    from benchmarks.run import expand
    from benchmarks.suites import plan

    def resolved(tasks):
        return {task: (task, "official") for task in tasks}

    # at the `paper` budget, which has no scope: every cell on every dataset
    findings_specs = expand(plan("seed-findings", budget_name="paper", seeds=3),
                            resolved(findings.SUITES["seed-findings"].datasets))
    main_specs = expand(plan("antmaze", budget_name="paper", seeds=3), resolved(ANTMAZE.values())) + expand(
        plan("halfcheetah", budget_name="paper", seeds=3), resolved(HALFCHEETAH.values())
    )
    shared = {spec.run_id for spec in findings_specs} & {spec.run_id for spec in main_specs}
    by_id = {spec.run_id: spec for spec in findings_specs}
    assert {(by_id[run].label, by_id[run].dataset_id) for run in shared} == set(findings.SHARED_CELLS)
    assert len(shared) == 3 * len(findings.SHARED_CELLS)  # 3 seeds each: trained once for both suites
    assert {by_id[run].suite for run in shared} == {"antmaze-paper", "halfcheetah-paper"}
    own = [spec for spec in findings_specs if spec.run_id not in shared]
    assert {spec.suite for spec in own} == {"seed-findings-paper"}
    assert {spec.label for spec in own} == {"IQL-1Q", "IQL-expectile0.5", "IQL-expectile0.7"}
