"""Pieces shared by the HalfCheetah and AntMaze recipes: provenance fields, behaviour-policy loading with an
actionable error, progress bars, and a cache of reference scores so the costly 100-episode measurements run once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minari.storage.datasets_root_dir import get_dataset_path
from tqdm.auto import tqdm

from iqlzoo.recipes.behaviour.policy import BehaviourPolicy, load_behaviour_policy, resolve_policy_path
from iqlzoo.recipes.writer import recipe_hash

AUTHOR = "iqlzoo"
AUTHOR_EMAIL = "see the iqlzoo README"
CODE_BASE_URL = "https://github.com/iqlzoo/iqlzoo/blob/main"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_CACHE = ".iqlzoo-cache/reference_scores.json"

TRAINING_COMMANDS = {
    "halfcheetah": (
        # seed 1: seed 0 stalled near return 1,100 at 100k steps; seed 1 reached 4,021 at 120k (the shipped medium)
        "python -m iqlzoo.recipes.behaviour.train halfcheetah --run-dir runs/behaviour/halfcheetah-s1 "
        "--total-steps 3000000 --seed 1",
        "python -m iqlzoo.recipes.behaviour.train promote halfcheetah --run-dir runs/behaviour/halfcheetah-s1",
    ),
    "ant-goal": (
        # task version 3, initialised from version 2 at 1,240,760 steps (run.json and every card record the lineage);
        # a fresh machine resumes from the committed portable state in weights/resume
        "python -m iqlzoo.recipes.behaviour.train ant-goal --run-dir runs/behaviour/ant_goal_v3 "
        "--total-steps 10000000 --seed 0 --eval-freq 100000 --checkpoint-freq 250000",
        "python -m iqlzoo.recipes.behaviour.train promote ant-goal --run-dir runs/behaviour/ant_goal_v3",
    ),
}


class MissingBehaviourPolicyError(FileNotFoundError):
    """A recipe needs behaviour-policy weights that are not there; the message says how to produce them."""


def code_permalink(module_file: str) -> str:
    """Link to a module of this package in the iqlzoo repository (``module_file`` is a ``__file__``)."""
    return f"{CODE_BASE_URL}/{Path(module_file).resolve().relative_to(PACKAGE_ROOT).as_posix()}"


def require_policy(name_or_path: str | Path, task: str, needed_for: str) -> BehaviourPolicy:
    """Load a behaviour policy, or raise :class:`MissingBehaviourPolicyError` naming the training commands.

    Args:
        name_or_path: Shipped name (``halfcheetah-medium``) or path, as for ``load_behaviour_policy``.
        task: Training task that produces it (``halfcheetah`` or ``ant-goal``), for the error message.
        needed_for: What the policy is used for, for the error message.
    """
    weights = resolve_policy_path(name_or_path)
    if not weights.is_file() or not weights.with_suffix(".json").is_file():
        train, promote = TRAINING_COMMANDS[task]
        raise MissingBehaviourPolicyError(
            f"{needed_for} needs the behaviour policy {name_or_path!r}, but {weights} (and its .json card) "
            f"is missing.\n  Train it (resumable, hours on CPU): {train}\n  then promote the snapshots to "
            f"shipped weights: {promote}\n  or pass another weights file as the policy argument."
        )
    return load_behaviour_policy(weights)


def policy_fingerprint(policy: BehaviourPolicy, name_or_path: str | Path) -> dict[str, Any]:
    """The recipe fields identifying a behaviour policy: its name, weights hash, training steps and evaluation."""
    card = policy.card
    return {
        "name": str(name_or_path),
        "sha256": card.get("sha256"),
        "training_steps": card.get("training_steps"),
        "evaluation": card.get("evaluation"),
    }


def progress_bar(total: int, description: str, enabled: bool) -> tqdm:
    """A tqdm bar over ``total`` steps on stderr (silent when ``enabled`` is False)."""
    return tqdm(total=total, desc=description, unit="step", unit_scale=True, disable=not enabled, leave=False)


def cached_reference_score(key: dict[str, Any], compute: Callable[[], float]) -> float:
    """``compute()`` once per distinct ``key`` (per Minari store); later calls read the stored value.

    Reference scores average 100 full episodes; several datasets share them (all HalfCheetah levels use the same
    random and expert references), so they are kept in ``<store>/.iqlzoo-cache/reference_scores.json``.
    """
    path = get_dataset_path() / REFERENCE_CACHE
    cache = json.loads(path.read_text()) if path.is_file() else {}
    entry = recipe_hash(key)
    if entry not in cache:
        started = time.time()
        cache[entry] = {"key": key, "score": float(compute()), "seconds": round(time.time() - started, 1)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2, sort_keys=True))
        tmp.replace(path)
    return float(cache[entry]["score"])
