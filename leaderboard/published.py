"""Published IQL numbers on the official D4RL datasets, to read ours against — never ours, and not on our data.

- ``iql_paper``: Kostrikov, Nair & Levine (2021), Table 1: normalised score (x100) after 1M steps, D4RL ``-v2``
  locomotion and ``-v0`` AntMaze datasets; locomotion averaged over the final evaluations of 10 seeds, AntMaze over
  100 final evaluation episodes per seed.
- ``corl_last`` / ``corl_best``: CORL's IQL (Tarasov et al., 2022, README "D4RL Benchmarks", offline): mean ± std over
  seeds of each run's last and of its best evaluation, on D4RL ``-v2`` datasets.
- ``corl_bc_last``: CORL's behaviour cloning, last evaluation — what imitation alone reaches on that data.
- ``d4rl_refs``: the reference returns (random, expert) D4RL normalises that environment's returns with
  (``d4rl/infos.py``, ``REF_MIN_SCORE`` / ``REF_MAX_SCORE``), for the locomotion datasets; None on AntMaze, where
  D4RL's references are 0 and 1, as every AntMaze dataset's here, so scores there are success rates on both sides.

Keys are the official Minari ids our suites name; None where a source reports no number for that dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.suites import task_of
from iqlzoo.data.equivalents import EVALGOAL_MAZES


@dataclass(frozen=True)
class Published:
    d4rl_name: str
    iql_paper: float | None
    corl_last: tuple[float, float] | None
    corl_best: tuple[float, float] | None
    corl_bc_last: tuple[float, float] | None
    d4rl_refs: tuple[float, float] | None = None


#: D4RL's reference returns for HalfCheetah (random, expert): d4rl/infos.py.
D4RL_HALFCHEETAH_REFS = (-280.178953, 12135.0)


PUBLISHED: dict[str, Published] = {
    "D4RL/antmaze/umaze-v1": Published("antmaze-umaze", 87.5, (77.00, 5.52), (84.00, 4.06), (55.25, 4.15)),
    "D4RL/antmaze/umaze-diverse-v1": Published("antmaze-umaze-diverse", 62.2, (54.25, 5.54), (79.50, 3.35),
                                               (47.25, 4.09)),
    "D4RL/antmaze/medium-play-v1": Published("antmaze-medium-play", 71.2, (65.75, 11.71), (78.50, 3.84), (0.00, 0.00)),
    "D4RL/antmaze/medium-diverse-v1": Published("antmaze-medium-diverse", 70.0, (73.75, 5.45), (83.50, 1.80),
                                                (0.75, 0.83)),
    "D4RL/antmaze/large-play-v1": Published("antmaze-large-play", 39.6, (42.00, 4.53), (53.50, 2.50), (0.00, 0.00)),
    "D4RL/antmaze/large-diverse-v1": Published("antmaze-large-diverse", 47.5, (30.25, 3.63), (53.00, 3.00),
                                               (0.00, 0.00)),
    "mujoco/halfcheetah/medium-v0": Published("halfcheetah-medium", 47.4, (48.31, 0.22), (48.84, 0.07),
                                              (42.40, 0.19), D4RL_HALFCHEETAH_REFS),
    "mujoco/halfcheetah/medium-expert-v0": Published("halfcheetah-medium-expert", 86.7, (94.74, 0.52), (95.38, 0.17),
                                                     (55.95, 7.35), D4RL_HALFCHEETAH_REFS),
    "mujoco/halfcheetah/expert-v0": Published("halfcheetah-expert", None, None, None, None, D4RL_HALFCHEETAH_REFS),
}


def plus_minus(value: tuple[float, float] | None) -> str:
    """"mean ± std" with one decimal, or "n/a"."""
    return "n/a" if value is None else f"{value[0]:.1f} ± {value[1]:.1f}"


def published_line(official_id: str) -> str | None:
    """One Markdown line with the published numbers for `official_id`, or None when we have none."""
    found = PUBLISHED.get(official_id)
    if found is None or (found.iql_paper is None and found.corl_last is None):
        return None
    paper = "n/a" if found.iql_paper is None else f"{found.iql_paper:.1f}"
    scale = "" if found.d4rl_refs is None else (
        f"; normalised with D4RL's reference returns (random {found.d4rl_refs[0]:,.1f}, expert "
        f"{found.d4rl_refs[1]:,.1f}), not with our data's")
    return (f"Published on the official D4RL `{found.d4rl_name}` data (not ours, not our data): IQL paper {paper}; "
            f"CORL IQL last {plus_minus(found.corl_last)}, best {plus_minus(found.corl_best)}; CORL BC last "
            f"{plus_minus(found.corl_bc_last)} (mean ± std over seeds){scale}.")


def published_task(dataset_id: str) -> str:
    """The official id whose published numbers a run's dataset is shown beside: its suite task
    (`benchmarks.suites.task_of`), or, for an AntMaze maze relabelled for the evaluation goal, that maze — D4RL's
    own task, which the published numbers were measured on."""
    return EVALGOAL_MAZES.get(dataset_id) or task_of(dataset_id)
