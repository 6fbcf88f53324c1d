"""Which locally built iqlzoo dataset stands in for which official Minari dataset, and how long one takes to build
(kept import-light on purpose: :mod:`iqlzoo.data.minari` and the harness use it in messages without loading the
recipes and their simulators).
"""

from __future__ import annotations

import re

HALFCHEETAH_LEVELS = ("random", "simple", "medium", "expert", "medium-expert")
ANTMAZE_NAMES = ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")
_LOCAL = re.compile(r"^iqlzoo/(?P<family>antmaze|halfcheetah)/(?P<name>[a-z-]+)-v0$")
_OFFICIAL = re.compile(r"^(?:D4RL/antmaze/(?P<maze>[a-z-]+)|mujoco/halfcheetah/(?P<level>[a-z-]+))-v\d+$")


def regenerated_equivalent(official_id: str) -> str | None:
    """The iqlzoo id regenerating ``official_id`` (any version), e.g. ``D4RL/antmaze/umaze-v1`` →
    ``iqlzoo/antmaze/umaze-v0``, ``mujoco/halfcheetah/medium-v0`` → ``iqlzoo/halfcheetah/medium-v0``; else None."""
    match = _OFFICIAL.match(official_id)
    if match is None:
        return None
    if match["maze"] in ANTMAZE_NAMES:
        return f"iqlzoo/antmaze/{match['maze']}-v0"
    if match["level"] in HALFCHEETAH_LEVELS:
        return f"iqlzoo/halfcheetah/{match['level']}-v0"
    return None


def build_time(dataset_id: str) -> str | None:
    """Roughly how long ``python -m iqlzoo.datasets build dataset_id`` takes on 2 busy cores (``docs/datasets``:
    537-755 s per 1M AntMaze steps, 75-120 s per HalfCheetah level plus its reference scores), or None for an id
    iqlzoo cannot build."""
    from iqlzoo.datasets.toy import PENDULUM_ID

    if dataset_id == PENDULUM_ID:
        return "seconds"
    match = _LOCAL.match(dataset_id)
    if match is None:
        return None
    if match["family"] == "antmaze":
        return "~9-12 min" if match["name"] in ANTMAZE_NAMES else None
    if match["name"] == "medium-expert":
        return "~6-10 min; seconds once medium and expert are built"
    return "~3-5 min" if match["name"] in HALFCHEETAH_LEVELS else None
