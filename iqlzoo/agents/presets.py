"""Per-domain defaults of the IQL paper, chosen from the dataset id.

| domain     | expectile τ | temperature β | reward transform                                   |
|------------|-------------|---------------|----------------------------------------------------|
| locomotion | 0.7         | 3             | r · 1000 / (max episode return − min episode return) |
| antmaze    | 0.9         | 10            | r − 1                                               |

Datasets of other domains get the locomotion defaults (labelled ``generic``).
"""

from __future__ import annotations

from typing import Any

REWARD_TRANSFORMS = ("return_scale", "minus_one", "none")

DOMAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "locomotion": {"expectile": 0.7, "temperature": 3.0, "reward_transform": "return_scale"},
    "antmaze": {"expectile": 0.9, "temperature": 10.0, "reward_transform": "minus_one"},
    "generic": {"expectile": 0.7, "temperature": 3.0, "reward_transform": "return_scale"},
}

_LOCOMOTION_WORDS = ("halfcheetah", "hopper", "walker", "mujoco/", "/ant/", "humanoid", "swimmer")


def infer_domain(dataset_id: str | None) -> str:
    """``antmaze`` for AntMaze ids, ``locomotion`` for MuJoCo locomotion ids, else ``generic``."""
    name = (dataset_id or "").lower()
    if "antmaze" in name:
        return "antmaze"
    if any(word in name for word in _LOCOMOTION_WORDS):
        return "locomotion"
    return "generic"
