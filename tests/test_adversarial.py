"""A few probes of benchmarks.adversarial, run in this process: each bad input is a clear error, no code runs, no
saved model is lost. (The whole pass: python -m benchmarks.adversarial --out DIR, see docs/reliability/.)"""

from pathlib import Path

import pytest

from benchmarks import adversarial

PROBES = {
    "predict/nan": "clear",
    "predict/empty batch": "clear",
    "config/temperature=inf": "clear",
    "config/n_critics=10**6": "clear",
    "config/seed='abc'": "clear",
    "learn/learn(1.5)": "clear",
    "learn/batch_size=10**7 on 60 transitions": "clear",
    "dataset/terminations=7": "clear",
    "dataset/zero transitions": "clear",
    "checkpoint/seed 'abc'": "clear",
    "checkpoint/config.json nested 100000 deep": "clear",
    "code/a pickle as model.safetensors": "clear",
    "code/an SB3 zip with a pickled policy.pth": "clear",
    "cli/leaderboard --results /nonexistent": "clear",
    "cli/quickstart --threads 0": "clear",
    "yaml/an alias bomb": "clear",
    "yaml/non-UTF-8 bytes": "clear",
}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    return adversarial.make_context(tmp_path_factory.mktemp("adversarial"))


@pytest.mark.parametrize("name", sorted(PROBES))
def test_a_bad_input_is_a_clear_error_and_runs_no_code(context, name):
    result = adversarial.run_probe(context, name)
    assert result["outcome"] == PROBES[name], result
    assert result.get("executed", 0) == 0


def test_a_full_disk_during_a_save_keeps_the_saved_model(context):
    result = adversarial.run_probe(context, "crash/disk full during save (folder)")
    assert result["survived"] == 1 and result["lost"] == 0, result
    assert "error names the path: True" in result["detail"], result


def test_the_tally_counts_outcomes_as_the_issue_does():
    results = [{"name": "a", "kind": "refuse", "outcome": "clear"}, {"name": "b", "kind": "cli", "outcome": "silent"},
               {"name": "c", "kind": "refuse", "outcome": "hang"}, {"name": "d", "kind": "refuse", "outcome": "n/a"},
               {"name": "e", "kind": "code", "outcome": "clear", "executed": 1},
               {"name": "f", "kind": "crash", "outcome": "n/a", "survived": 9, "lost": 1},
               {"name": "g", "kind": "correct", "outcome": "wrong"}]
    figures = adversarial.tally(results)
    assert (figures["inputs tried"], figures["clear errors"], figures["silent"], figures["hangs"]) == (4, 2, 1, 1)
    assert (figures["crashes survived"], figures["data lost"], figures["code executed"]) == (9, 1, 1)
    assert figures["correct-behaviour checks failed"] == 1
    assert "| g | wrong |" in adversarial.tally_markdown(figures, results)


def test_the_script_lists_its_probes(capsys):
    assert adversarial.main(["--list"]) == 0
    names = capsys.readouterr().out.split("\n")
    assert len(names) > 150 and "crash/SIGKILL during save (zip) x10" in names
    assert Path(adversarial.__file__).name == "adversarial.py"
