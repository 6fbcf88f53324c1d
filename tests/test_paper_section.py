"""The leaderboard's paper-protocol section: ours at the paper's budget beside the published numbers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from benchmarks.store import EvalRecord, ResultsStore
from leaderboard.__main__ import main
from leaderboard.paper import TITLE

#: ARBITRARY TEST DATA: (dataset, agent) -> each seed's score at steps 500k and 1M (normalised, x100).
CURVES = {
    ("D4RL/antmaze/umaze-v1", "IQL"): [(30.0, 40.0), (35.0, 42.0), (38.0, 45.0)],  # far below the paper's 87.5
    ("D4RL/antmaze/large-play-v1", "IQL"): [(30.0, 40.0), (35.0, 42.0), (38.0, 45.0)],  # above the paper's 39.6
    ("D4RL/antmaze/large-play-v1", "D2RLIQL"): [(20.0, 30.0), (25.0, 36.0), (21.0, 33.0)],
}


#: What a paper run's provenance records of its IQL settings and protocol (reference runs are matched on it).
IQL_CONFIG = {"expectile": 0.9, "temperature": 10.0, "normalize_observations": True}
PROTOCOL = {"steps": 1_000_000, "eval_every": 500_000, "eval_episodes": 100}


def write_paper_runs(root: Path) -> None:
    store = ResultsStore(root)
    for (dataset_id, agent), seeds in CURVES.items():
        for seed, scores in enumerate(seeds):
            run_id = f"paper-{agent}-{dataset_id.rsplit('/', 1)[1]}-s{seed}"
            store.write_provenance(run_id, {"note": "ARBITRARY TEST DATA", "agent_config": IQL_CONFIG,
                                            "run": {"protocol": PROTOCOL}})
            for step, score in zip((500_000, 1_000_000), scores, strict=True):
                store.append(EvalRecord(
                    run_id=run_id, agent=agent, config_hash="x", dataset_id=dataset_id, dataset_hash="abcdef0123",
                    data_source="regenerated", suite="antmaze-paper", budget=1_000_000, seed=seed, step=step,
                    return_mean=score / 100, return_std=0.1, normalized_score=score, success_rate=score / 100,
                    n_episodes=100, wall_time_s=1.0,
                ))
            store.set_status(run_id, "finished")


def test_only_regenerated_play_and_diverse_mazes_are_labelled_for_their_own_goals() -> None:
    from leaderboard.paper import labelled_for_own_goals

    assert labelled_for_own_goals("iqlzoo/antmaze/medium-play-v0", "regenerated")
    assert labelled_for_own_goals("iqlzoo/antmaze/umaze-diverse-v0", "regenerated")
    assert not labelled_for_own_goals("iqlzoo/antmaze/umaze-v0", "regenerated")
    assert not labelled_for_own_goals("D4RL/antmaze/medium-play-v1", "official")
    assert not labelled_for_own_goals("iqlzoo/antmaze/medium-play-evalgoal-v0", "regenerated")
    assert not labelled_for_own_goals("iqlzoo/halfcheetah/medium-v0", "regenerated")


def paper_rows(markdown: str) -> dict[tuple[str, str], list[str]]:
    section = markdown.split(f"## {TITLE}", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if line.startswith("| `"):
            rows[(cells[0].strip("`"), cells[1])] = cells
    return rows


def test_paper_runs_get_a_section_beside_the_published_numbers(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_paper_runs(root)
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 0
    markdown = out.read_text()
    assert "[paper protocol](#paper-protocol-ours-at-the-iql-papers-budget-beside-the-published-numbers)" in markdown
    rows = paper_rows(markdown)
    assert set(rows) == {("D4RL/antmaze/umaze-v1", "IQL"), ("D4RL/antmaze/large-play-v1", "IQL"),
                         ("D4RL/antmaze/large-play-v1", "D2RLIQL")}
    umaze = rows[("D4RL/antmaze/umaze-v1", "IQL")]
    mean = np.mean([scores[-1] for scores in CURVES[("D4RL/antmaze/umaze-v1", "IQL")]])
    assert umaze[2].startswith(f"{mean:.1f} [") and umaze[3:5] == ["3", "1,000,000"]
    assert umaze[5] == "yes"  # every seed gained from 500k to 1M
    assert umaze[7:12] == ["87.5", "77.0 ± 5.5", "84.0 ± 4.1", f"{mean - 87.5:+.1f}", "**yes**"]
    assert umaze[12] == "—"  # the store holds no reference run
    assert umaze[13] == "regenerated `abcdef01`"
    large = rows[("D4RL/antmaze/large-play-v1", "IQL")]
    assert large[7] == "39.6" and large[11] == "no"  # ours (42.3) is above the paper: no gap to explain
    d2rl = rows[("D4RL/antmaze/large-play-v1", "D2RLIQL")]
    lower, upper = map(float, re.search(r"\[([\d.]+), ([\d.]+)\]", d2rl[2]).groups())
    assert d2rl[11] == ("**yes**" if upper < 39.6 else "no")
    assert d2rl[12] == "n/a"  # the reference implements IQL alone
    # large-play's regenerated data labels each episode's own goal (not D4RL's task); umaze's one goal is the
    # evaluation goal, so only large-play is named
    note = next(line for line in markdown.splitlines() if line.startswith("**Not the paper's task on"))
    assert "`D4RL/antmaze/large-play-v1`" in note and "umaze" not in note.split(".**", 1)[0]
    plot = out.parent / "plots" / "antmaze-paper-learning-curves.png"
    assert plot.read_bytes().startswith(b"\x89PNG") and "](plots/antmaze-paper-learning-curves.png)" in markdown
    assert "#### `D4RL/antmaze/umaze-v1`" in markdown.split("## Suite `antmaze-paper`", 1)[1]  # full tables too
    # the report's claims made at 1M steps are measured from the paper runs the seed-findings cells share
    findings = markdown.split("### Measured in `seed-findings-paper`", 1)[1].split("\n### ", 1)[0]
    assert "9 runs of `antmaze-paper` in the store measure the claims of `seed-findings-paper`" in findings
    convergence = next(line for line in findings.splitlines() if "IQL+SC greatly outperforms" in line)
    assert "Final score: IQL 42.3 [" in convergence and "D2RLIQL 33.0 [" in convergence
    assert "Final evaluations at step 1,000,000 (budget 1,000,000)" in convergence



def write_halfcheetah_runs(root: Path, refs: tuple[float, float], returns: list[tuple[float, float]]) -> None:
    """IQL on halfcheetah-medium at the paper budget, each seed's (500k, 1M) mean returns normalised with `refs`."""
    store = ResultsStore(root)
    for seed, seed_returns in enumerate(returns):
        run_id = f"paper-IQL-halfcheetah-s{seed}"
        store.write_provenance(run_id, {"note": "ARBITRARY TEST DATA"})
        for step, value in zip((500_000, 1_000_000), seed_returns, strict=True):
            store.append(EvalRecord(
                run_id=run_id, agent="IQL", config_hash="x", dataset_id="iqlzoo/halfcheetah/medium-v0",
                dataset_hash="abcdef0123", data_source="regenerated", suite="halfcheetah-paper", budget=1_000_000,
                seed=seed, step=step, return_mean=value, return_std=10.0,
                normalized_score=100 * (value - refs[0]) / (refs[1] - refs[0]), success_rate=float("nan"),
                n_episodes=10, wall_time_s=1.0,
            ))
        store.set_status(run_id, "finished")


def test_scores_on_other_reference_returns_than_d4rls_are_set_beside_the_returns(tmp_path: Path) -> None:
    from leaderboard.published import D4RL_HALFCHEETAH_REFS

    # ARBITRARY TEST DATA: mean returns of three seeds at 500k and 1M steps
    returns = [(3900.0, 4000.0), (3950.0, 4100.0), (4000.0, 4060.0)]
    root = tmp_path / "results"
    write_halfcheetah_runs(root, (-297.6, 8122.1), returns)
    write_paper_runs(root)  # AntMaze: success rates on both sides, no note
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 0
    markdown = out.read_text()
    notes = [line for line in markdown.splitlines() if line.startswith("**Other reference returns on")]
    assert len(notes) == 1 and "`iqlzoo/halfcheetah/medium-v0`" in notes[0]
    final = np.mean([seed[-1] for seed in returns])
    d4rl_score = 100 * (final - D4RL_HALFCHEETAH_REFS[0]) / (D4RL_HALFCHEETAH_REFS[1] - D4RL_HALFCHEETAH_REFS[0])
    paper_return = D4RL_HALFCHEETAH_REFS[0] + 0.474 * (D4RL_HALFCHEETAH_REFS[1] - D4RL_HALFCHEETAH_REFS[0])
    assert "random -297.6, expert 8,122.1" in notes[0] and "random -280.2, expert 12,135.0" in notes[0]
    assert f"IQL {final:,.0f} ({d4rl_score:.1f} on D4RL's references)" in notes[0]
    assert f"the IQL paper's 47.4 is a return of {paper_return:,.0f}" in notes[0]
    assert "normalised with D4RL's reference returns (random -280.2, expert 12,135.0)" in markdown  # suite table

    # runs normalised with D4RL's own references need no note
    root = tmp_path / "d4rl-scale"
    write_halfcheetah_runs(root, D4RL_HALFCHEETAH_REFS, returns)
    assert main(["--results", str(root), "--out", str(tmp_path / "b" / "README.md"), "--reps", "100"]) == 0
    assert "**Other reference returns on" not in (tmp_path / "b" / "README.md").read_text()


def test_reference_returns_are_solved_only_from_scores_on_one_line() -> None:
    import pandas as pd

    from benchmarks.scales import normalisation_refs

    returns = np.array([100.0, 2500.0, 4000.0])
    rows = pd.DataFrame({"return_mean": returns, "normalized_score": 100 * (returns + 297.6) / (8122.1 + 297.6)})
    random, expert = normalisation_refs(rows)
    assert abs(random + 297.6) < 1e-6 and abs(expert - 8122.1) < 1e-6
    rows.loc[2, "normalized_score"] += 0.5  # not one normalisation
    assert normalisation_refs(rows) is None
    assert normalisation_refs(rows.iloc[:1]) is None  # one score fixes no line


def write_reference(root: Path, name: str, seed: int, dataset_id: str, scores: list[float],
                    dataset_hash: str = "abcdef0123", **settings: object) -> Path:
    """A reference IQL run's curve (one evaluation per 500k steps) and provenance, as benchmarks.reference_iql writes
    them, under the store's references/ folder."""
    import json

    folder = root / "references" / name
    folder.mkdir(parents=True, exist_ok=True)
    steps = [500_000 * (k + 1) for k in range(len(scores))]
    lines = ["step,mean_return,success_rate,normalized_score,seconds",
             *(f"{step},{score / 100},{score / 100},{score},1.0" for step, score in zip(steps, scores, strict=True))]
    (folder / f"seed{seed}.csv").write_text("\n".join(lines) + "\n")
    recorded = {"dataset": dataset_id, "steps": 1_000_000, "eval_every": 500_000, "eval_episodes": 100,
                **IQL_CONFIG, **settings}
    (folder / f"seed{seed}.provenance.json").write_text(json.dumps(
        {"settings": recorded, "dataset_hash": dataset_hash, "invocations": [{"note": "ARBITRARY TEST DATA"}]}))
    return folder


def test_a_finished_reference_run_on_the_same_data_and_settings_is_set_beside_ours(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_paper_runs(root)
    # ARBITRARY TEST DATA: reference success at 500k and 1M steps
    write_reference(root, "umaze-1m", 0, "D4RL/antmaze/umaze-v1", [20.0, 41.0])
    write_reference(root, "umaze-1m", 1, "D4RL/antmaze/umaze-v1", [25.0, 44.0])
    write_reference(root, "umaze-1m", 2, "D4RL/antmaze/umaze-v1", [30.0])  # stopped at 500k: not counted
    write_reference(root, "umaze-tau0.7", 0, "D4RL/antmaze/umaze-v1", [90.0, 95.0], expectile=0.7)  # other settings
    write_reference(root, "umaze-raw", 0, "D4RL/antmaze/umaze-v1", [90.0, 96.0], normalize_observations=False)
    write_reference(root, "large-play-1m", 0, "D4RL/antmaze/large-play-v1", [10.0, 39.0], dataset_hash="99887766aa")
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 0
    markdown = out.read_text()
    rows = paper_rows(markdown)
    umaze = rows[("D4RL/antmaze/umaze-v1", "IQL")]
    seeds = "[s0](../results/references/umaze-1m/seed0.csv), [s1](../results/references/umaze-1m/seed1.csv)"
    assert umaze[12] == f"42.5 ({seeds})"
    large = rows[("D4RL/antmaze/large-play-v1", "IQL")]
    assert large[12] == "39.0 ([s0](../results/references/large-play-1m/seed0.csv)) on build `99887766`"
    assert rows[("D4RL/antmaze/large-play-v1", "D2RLIQL")][12] == "n/a"
    assert "*Independent IQL*: the final score of `benchmarks/reference_iql.py`" in markdown
    assert all((out.parent / link).is_file() for link in re.findall(r"\]\((\.\./results/references/[^)]+)\)", markdown))


def test_a_reference_run_is_not_set_beside_runs_whose_settings_are_unknown(tmp_path: Path) -> None:
    from leaderboard.independent import load_reference_runs, matching

    root = tmp_path / "results"
    write_reference(root, "umaze-1m", 0, "D4RL/antmaze/umaze-v1", [20.0, 41.0])
    references = load_reference_runs(root)
    assert [(r.seed, r.finished, r.final_score) for r in references] == [(0, True, 41.0)]
    known = matching(references, "D4RL/antmaze/umaze-v1", [IQL_CONFIG] * 3, [PROTOCOL] * 3)
    assert known == references
    # a run that recorded no agent config or no protocol (older stores): nothing to check the reference against
    assert matching(references, "D4RL/antmaze/umaze-v1", [IQL_CONFIG, {}, IQL_CONFIG], [PROTOCOL] * 3) == []
    assert matching(references, "D4RL/antmaze/umaze-v1", [IQL_CONFIG] * 3, [PROTOCOL, PROTOCOL, {}]) == []
    # another budget, or another dataset
    assert matching(references, "D4RL/antmaze/umaze-v1", [IQL_CONFIG], [{**PROTOCOL, "steps": 500_000}]) == []
    assert matching(references, "D4RL/antmaze/large-play-v1", [IQL_CONFIG], [PROTOCOL]) == []
    assert load_reference_runs(tmp_path / "no-store") == []


def test_a_folder_under_references_that_is_not_a_reference_run_is_named_in_the_error(tmp_path: Path, capsys) -> None:
    root = tmp_path / "results"
    write_paper_runs(root)
    folder = write_reference(root, "umaze-1m", 0, "D4RL/antmaze/umaze-v1", [20.0, 41.0])
    (folder / "seed0.csv").write_text("step,success\n500000,0.2\n")
    out = tmp_path / "board" / "README.md"
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 1
    error = capsys.readouterr().err
    assert "umaze-1m/seed0.csv: expected the columns ['step', 'normalized_score']" in error
    assert "python -m benchmarks.reference_iql --out" in error and not out.exists()
    (folder / "seed0.csv").unlink()
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 1
    assert "seed0.csv: missing beside seed0.provenance.json" in capsys.readouterr().err
    (folder / "seed0.provenance.json").write_text("[1, 2]")
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 1
    assert "seed0.provenance.json: expected an object with 'dataset_hash'" in capsys.readouterr().err
    (folder / "seed0.provenance.json").write_bytes(b'{"settings": "\xff"}')
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 1
    assert "seed0.provenance.json: not UTF-8 text (byte 14" in capsys.readouterr().err
    (folder / "seed0.provenance.json").write_text(" " * (4 * 2**20 + 1))
    assert main(["--results", str(root), "--out", str(out), "--reps", "100"]) == 1
    assert "seed0.provenance.json: more than a reference record's 4,194,304 bytes" in capsys.readouterr().err
