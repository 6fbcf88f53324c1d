"""The README's "Use" block runs as written, offline, on the toy dataset (with a smaller step and episode budget)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: The budgets the test shrinks: (as written, as run). Everything else runs as written.
SMALLER = (("model.learn(5_000,", "model.learn(50,"), ("n_episodes=10)", "n_episodes=2)"))


def use_block() -> str:
    """The first Python block of the README's "## Use" section."""
    section = README.read_text().split("\n## Use\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_readme_use_block_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))  # a fresh machine: nothing built yet
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and no internet
    monkeypatch.chdir(tmp_path)
    code = use_block()
    for written, run in SMALLER:
        assert written in code, f"the README's Use block no longer has {written!r}: update SMALLER"
        code = code.replace(written, run)
    exec(compile(code, f"{README}:Use", "exec"), {"__name__": "readme"})
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(printed) == 2 and all("'normalized_score'" in line for line in printed), printed
    assert (tmp_path / "iql_pendulum" / "config.json").is_file()


def test_ci_runs_the_readmes_test_command_exactly() -> None:
    """`.ci/run` runs the README's "Set up and run the tests" line, character for character, and nothing else."""
    text = README.read_text()
    section = text.split("Set up and run the tests", 1)[1]
    readme_line = next(line.strip() for line in section.splitlines() if line.startswith("    "))
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line.strip() and not line.startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands == [readme_line], (commands, readme_line)
