"""The datasets iqlzoo can build locally, by id, and the official Minari datasets they stand in for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from minari import MinariDataset
from minari.storage import get_dataset_path

from iqlzoo.atomic import file_lock
from iqlzoo.data.equivalents import official_equivalent
from iqlzoo.recipes import antmaze, antmaze_evalgoal, halfcheetah
from iqlzoo.recipes.toy import PENDULUM_ID, build_pendulum_dataset


class BuildFn(Protocol):
    """``build(force, steps, progress)``: create the dataset in the local Minari store, or reuse an identical one.

    ``steps=None`` means the recipe's default size.
    """

    def __call__(self, force: bool = False, steps: int | None = None, progress: bool = False) -> MinariDataset: ...


@dataclass(frozen=True)
class Recipe:
    """A named way to build a dataset, and the official Minari id it regenerates (if any)."""

    summary: str
    build: BuildFn
    official_id: str | None = None
    #: The data source a run on this dataset records when it stands in for no official dataset: ``toy`` (test and
    #: quick-start data) or ``regenerated`` (built from iqlzoo's regenerations, e.g. relabelled).
    source: str = "toy"


def _toy(force: bool = False, steps: int | None = None, progress: bool = False) -> MinariDataset:
    return build_pendulum_dataset(n_episodes=100 if steps is None else max(2, steps // 200), force=force)


def _halfcheetah(level: str) -> BuildFn:
    def build(force: bool = False, steps: int | None = None, progress: bool = False) -> MinariDataset:
        return halfcheetah.build_halfcheetah_dataset(
            level, halfcheetah.DEFAULT_STEPS if steps is None else steps, force=force, progress=progress
        )

    return build


def _antmaze(name: str) -> BuildFn:
    def build(force: bool = False, steps: int | None = None, progress: bool = False) -> MinariDataset:
        return antmaze.build_antmaze_dataset(
            name, antmaze.DEFAULT_STEPS if steps is None else steps, force=force, progress=progress
        )

    return build


def _antmaze_evalgoal(name: str) -> BuildFn:
    def build(force: bool = False, steps: int | None = None, progress: bool = False) -> MinariDataset:
        with build_lock(antmaze.TASKS[name].dataset_id):  # the source build, shared with the lanes that train on it
            antmaze.build_antmaze_dataset(name, antmaze.DEFAULT_STEPS if steps is None else steps, progress=progress)
        return antmaze_evalgoal.build_evalgoal_dataset(
            name, antmaze.DEFAULT_STEPS if steps is None else steps, force=force, progress=progress
        )

    return build


RECIPES: dict[str, Recipe] = {
    PENDULUM_ID: Recipe(
        summary="Pendulum-v1, 100 episodes (noisy swing-up controller + random); quick-start/test data",
        build=_toy,
    ),
    **{
        dataset_id: Recipe(
            summary=f"HalfCheetah-v5, {level} behaviour (1M steps per level)",
            build=_halfcheetah(level),
            official_id=official_equivalent(dataset_id),
        )
        for level, dataset_id in halfcheetah.DATASET_IDS.items()
    },
    **{
        task.dataset_id: Recipe(
            summary=f"{task.env_id}, {task.summary} (1M steps)", build=_antmaze(name), official_id=task.official_id
        )
        for name, task in antmaze.TASKS.items()
    },
    **{
        dataset_id: Recipe(
            summary=f"{antmaze.TASKS[name].dataset_id} labelled for the evaluation goal, without the goal in the "
            "observation (D4RL's AntMaze task; built from the -v0 data in 1-3 min)",
            build=_antmaze_evalgoal(name),
            source="regenerated",
        )
        for name, dataset_id in antmaze_evalgoal.DATASET_IDS.items()
    },
}


@contextmanager
def build_lock(dataset_id: str) -> Iterator[None]:
    """Hold the local store's build lock of ``dataset_id`` (an flock on a file beside the datasets) until the block
    ends, waiting while another process holds it. Two processes asked for one missing dataset (two benchmark lanes)
    thus build it once: the second waits, then finds the first's build and reuses it. The operating system releases
    the lock when its holder dies, so it never goes stale."""
    with file_lock(get_dataset_path() / f".iqlzoo-lock-{dataset_id.replace('/', '--')}.lock"):
        yield


def build(dataset_id: str, force: bool = False, steps: int | None = None, progress: bool = False) -> MinariDataset:
    """Build ``dataset_id`` by its recipe (under its `build_lock`), or raise a KeyError listing the known ids."""
    if dataset_id not in RECIPES:
        raise KeyError(f"no recipe for {dataset_id!r}; known: {sorted(RECIPES)}")
    with build_lock(dataset_id):
        return RECIPES[dataset_id].build(force=force, steps=steps, progress=progress)
