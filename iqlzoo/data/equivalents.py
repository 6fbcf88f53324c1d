"""Which locally built iqlzoo dataset stands in for which official Minari dataset: the one map that the data adapter,
the dataset recipes and the benchmark harness all read (import-light on purpose: no simulators, no recipes).
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
