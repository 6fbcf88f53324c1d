"""Which locally built iqlzoo dataset stands in for which official Minari dataset (kept import-light on purpose:
:mod:`iqlzoo.data.minari` uses it in error messages without loading the recipes and their simulators).
"""

from __future__ import annotations

import re

HALFCHEETAH_LEVELS = ("random", "simple", "medium", "expert", "medium-expert")
ANTMAZE_NAMES = ("umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse")
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
