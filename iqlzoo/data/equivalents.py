"""Which locally built iqlzoo dataset stands in for which official Minari dataset: the one map that the data adapter,
the dataset recipes and the benchmark harness all read (import-light on purpose: no simulators, no recipes); and how
long ``python -m iqlzoo.recipes build`` takes for each dataset iqlzoo can build, which their messages quote.
"""

from __future__ import annotations

import re

HALFCHEETAH_LEVELS = ("random", "simple", "medium", "expert", "medium-expert")
ANTMAZE_NAMES = ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")

#: Official Minari id -> the iqlzoo id of its local regeneration.
REGENERATIONS: dict[str, str] = {
    **{f"D4RL/antmaze/{name}-v1": f"iqlzoo/antmaze/{name}-v0" for name in ANTMAZE_NAMES},
    **{f"mujoco/halfcheetah/{level}-v0": f"iqlzoo/halfcheetah/{level}-v0" for level in HALFCHEETAH_LEVELS},
}
#: iqlzoo id -> the official Minari id it regenerates (the inverse of `REGENERATIONS`).
OFFICIAL: dict[str, str] = {regenerated: official for official, regenerated in REGENERATIONS.items()}
#: iqlzoo id of an AntMaze regeneration relabelled for the evaluation goal, D4RL's task
#: (:mod:`iqlzoo.recipes.antmaze_evalgoal`) -> the official id of the maze it holds. Not a stand-in for that dataset
#: (whose labels are Minari's, each episode's own goal): a task of its own, built from the regeneration.
EVALGOAL_MAZES: dict[str, str] = {f"iqlzoo/antmaze/{name}-evalgoal-v0": f"D4RL/antmaze/{name}-v1"
                                  for name in ANTMAZE_NAMES}
#: The toy dataset of quick starts and tests (built in seconds by :mod:`iqlzoo.recipes.toy`).
PENDULUM_ID = "iqlzoo/toy/pendulum-mixed-v0"
_VERSION = re.compile(r"-v\d+$")


def regenerated_equivalent(official_id: str) -> str | None:
    """The iqlzoo id regenerating ``official_id`` (any version), e.g. ``D4RL/antmaze/umaze-v1`` →
    ``iqlzoo/antmaze/umaze-v0``, ``mujoco/halfcheetah/medium-v0`` → ``iqlzoo/halfcheetah/medium-v0``; else None."""
    unversioned = _VERSION.sub("", official_id)
    for official, regenerated in REGENERATIONS.items():
        if _VERSION.sub("", official) == unversioned:
            return regenerated
    return None


def official_equivalent(dataset_id: str) -> str | None:
    """The official Minari id that the iqlzoo dataset ``dataset_id`` regenerates, or None."""
    return OFFICIAL.get(dataset_id)


def build_time(dataset_id: str) -> str | None:
    """Roughly how long ``python -m iqlzoo.recipes build dataset_id`` takes on 2 busy cores (``docs/datasets``:
    537-755 s per 1M AntMaze steps, 75-120 s per HalfCheetah level plus its reference scores), or None for an id
    iqlzoo cannot build."""
    if dataset_id == PENDULUM_ID:
        return "seconds"
    if dataset_id in EVALGOAL_MAZES:
        return "1-3 min from its -v0 dataset, which is built first when missing (~9-12 min)"
    if dataset_id not in OFFICIAL:
        return None
    if dataset_id.startswith("iqlzoo/antmaze/"):
        return "~9-12 min"
    if dataset_id == "iqlzoo/halfcheetah/medium-expert-v0":
        return "~6-10 min; seconds once medium and expert are built"
    return "~3-5 min"
