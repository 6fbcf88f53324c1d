"""The datasets iqlzoo can build locally, by id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from minari import MinariDataset

from iqlzoo.datasets.toy import PENDULUM_ID, build_pendulum_dataset


@dataclass(frozen=True)
class Recipe:
    """A named way to build a dataset; ``build(force)`` creates it in the local Minari store or reuses it."""

    summary: str
    build: Callable[[bool], MinariDataset]


RECIPES: dict[str, Recipe] = {
    PENDULUM_ID: Recipe(
        summary="Pendulum-v1, 100 episodes (noisy swing-up controller + random); quick-start/test data",
        build=lambda force: build_pendulum_dataset(force=force),
    ),
}


def build(dataset_id: str, force: bool = False) -> MinariDataset:
    """Build ``dataset_id`` by its recipe, or raise a KeyError listing the known ids."""
    if dataset_id not in RECIPES:
        raise KeyError(f"no recipe for {dataset_id!r}; known: {sorted(RECIPES)}")
    return RECIPES[dataset_id].build(force)
