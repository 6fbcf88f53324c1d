"""Writing locally generated datasets into the Minari store: atomically, with the recipe that made them.

A dataset is first created by ``minari.create_dataset_from_buffers`` under a private temporary store inside the
real one, then moved into place with one ``os.replace``; an interrupted build therefore never leaves a half
dataset under the final id. The recipe (its parameters and their SHA-256) is written beside Minari's files as
``iqlzoo_recipe.json``; a later build with the same recipe hash reuses the dataset instead of rebuilding it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import minari
from minari import MinariDataset
from minari.data_collector.episode_buffer import EpisodeBuffer
from minari.storage.datasets_root_dir import get_dataset_path

RECIPE_FILE = "iqlzoo_recipe.json"


def recipe_hash(recipe: dict[str, Any]) -> str:
    """SHA-256 of the recipe's canonical JSON: equal parameters ⇒ equal hash."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_recipe(dataset_id: str) -> dict[str, Any] | None:
    """The recipe stored with a local dataset, or None when the dataset or its recipe file is absent."""
    path = get_dataset_path(dataset_id) / RECIPE_FILE
    if not path.is_file() or not (get_dataset_path(dataset_id) / "data").is_dir():
        return None
    return json.loads(path.read_text())


def existing_dataset(dataset_id: str, recipe: dict[str, Any]) -> MinariDataset | None:
    """The local dataset ``dataset_id`` if it was built from exactly ``recipe``, else None."""
    stored = read_recipe(dataset_id)
    if stored is not None and stored.get("hash") == recipe_hash(recipe):
        return minari.load_dataset(dataset_id)
    return None


@contextmanager
def _temporary_store(root: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix=".iqlzoo-build-", dir=root))
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(tmp)
    try:
        yield tmp
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous
        shutil.rmtree(tmp, ignore_errors=True)


def write_dataset(
    dataset_id: str,
    episodes: list[EpisodeBuffer],
    recipe: dict[str, Any],
    build_info: dict[str, Any] | None = None,
    **create_kwargs: Any,
) -> MinariDataset:
    """Create ``dataset_id`` from ``episodes`` (kwargs go to ``minari.create_dataset_from_buffers``), atomically.

    ``build_info`` (build time, measured reference scores, ...) is stored beside the recipe but not hashed.
    """
    root = get_dataset_path()
    final = get_dataset_path(dataset_id)
    with _temporary_store(root) as tmp:
        minari.create_dataset_from_buffers(dataset_id, buffer=episodes, **create_kwargs)
        built = tmp / dataset_id
        record = {"dataset_id": dataset_id, "hash": recipe_hash(recipe), "recipe": recipe, "build": build_info or {}}
        (built / RECIPE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=".iqlzoo-old-", dir=root))
            os.replace(final, trash / "old")
            os.replace(built, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(built, final)
    return minari.load_dataset(dataset_id)
