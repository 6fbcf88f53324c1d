"""The suites' hyperparameter files, ``hyperparams/<suite>.yml``: read, checked and merged into suite cells.

Each file is the single source of one suite's agent settings, in the manner of rl_zoo3's ``hyperparams/*.yml`` and
CORL's per-dataset configs::

    summary: str                      # one line shown by the harness
    budget: quick                     # the suite's default budget (benchmarks.suites.BUDGETS)
    open: true                        # optional: --agents may name any iqlzoo agent; it runs with `settings`
    test_data: true                   # optional: results go to a store marked as test data
    datasets: {short name: Minari id}
    settings: {field: value}          # every cell on every dataset
    dataset_settings: {short name: {field: value}}
    cells:
      LABEL:                          # the name the store and the leaderboard show
        agent: NAME                   # default: LABEL
        datasets: [short name, ...]   # default: all of the suite's
        settings: {field: value}
        dataset_settings: {short name: {field: value}}
        finding: str                  # what the cell tests (seed-findings)
    scope:                            # optional: what a budget trains when --datasets does not narrow it
      BUDGET:                         # a budget of benchmarks.suites.BUDGETS
        why: str                      # the reason, shown with the budget's results
        cells: {LABEL: [short name, ...]}   # the (cell, dataset) pairs it runs; a cell not named runs nothing

A run of cell c on dataset d uses, field by field, the last of
``settings < dataset_settings[d] < c.settings < c.dataset_settings[d]`` (then ``--params`` from the command line).
Every field must be a field of `iqlzoo.agents.config.IQLConfig` with a value it accepts: each (cell, dataset) is
resolved and validated as the agent would when the file is read, so a typo is an error naming the file, the cell
and the field before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from iqlzoo import AGENTS
from iqlzoo.errors import IqlzooError
from iqlzoo.safe_read import read_small_text

#: Where the suites' files live (the repository's ``hyperparams/``).
HYPERPARAMS_DIR = Path(__file__).resolve().parent.parent / "hyperparams"

_TOP_KEYS = {"summary", "budget", "open", "test_data", "datasets", "settings", "dataset_settings", "cells", "scope"}
_SCOPE_KEYS = {"why", "cells"}
_CELL_KEYS = {"agent", "datasets", "settings", "dataset_settings", "finding"}
_NUMBER_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class HyperparamsError(IqlzooError, ValueError):
    """A suite's hyperparameter file is missing, malformed or names a setting the agent does not accept."""


MAX_FILE_BYTES = 1 << 20
"""A suite's file is a few KB; a larger one is not a hyperparameter file."""
MAX_NODES = 100_000
"""The most YAML nodes a file may hold with every alias expanded: anchors and aliases are welcome (seed-findings.yml
shares dataset settings), a "billion laughs" of nested aliases is refused before anything walks it."""


def _bounded_yaml(text: str, path: Path) -> Any:
    """``yaml.safe_load(text)``, refusing a document of more than :data:`MAX_NODES` nodes once aliases are expanded
    (counted on the composed graph, where each alias is a reference, so the count itself is cheap)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}

        def expanded(current: yaml.Node) -> int:
            if id(current) not in sizes:
                sizes[id(current)] = 1  # a recursive alias counts once; safe_load builds it as a cycle
                children = (current.value if isinstance(current, yaml.SequenceNode) else
                            [part for pair in current.value for part in pair]
                            if isinstance(current, yaml.MappingNode) else [])
                sizes[id(current)] = 1 + sum(expanded(child) for child in children)
            return sizes[id(current)]

        if expanded(node) > MAX_NODES:
            raise HyperparamsError(f"{path} expands to more than {MAX_NODES:,} values once its YAML aliases are "
                                   "resolved (an alias bomb?); a hyperparameter file is a few dozen settings")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def suite_file(name: str, directory: Path = HYPERPARAMS_DIR) -> Path:
    """The hyperparameter file of suite `name`."""
    return directory / f"{name}.yml"


def load_suite_file(path: Path) -> dict[str, Any]:
    """The file at `path`, read with ``yaml.safe_load`` (plain data only: no tags, no code) and checked for shape:
    a mapping with the keys above, every dataset a short name of ``datasets``, every cell a mapping."""
    try:
        text = read_small_text(path, MAX_FILE_BYTES, lambda: HyperparamsError(
            f"{path} is over {MAX_FILE_BYTES:,} bytes: not a hyperparameter file; check the path"))
        data = _bounded_yaml(text, path)
    except OSError as error:
        raise HyperparamsError(f"cannot read the hyperparameter file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise HyperparamsError(f"{path} is not UTF-8 text (byte {error.start}: {error.reason}); save it as "
                               "UTF-8") from None
    except yaml.YAMLError as error:
        raise HyperparamsError(f"{path} is not valid YAML: {error}") from None
    except RecursionError:
        raise HyperparamsError(f"{path} nests its values too deeply to be a hyperparameter file") from None
    where = str(path)
    _mapping(data, where, required=("summary", "budget", "datasets", "cells"), allowed=_TOP_KEYS)
    datasets = _mapping(data["datasets"], f"{where}: datasets")
    for short, dataset_id in datasets.items():
        if not isinstance(dataset_id, str) or not dataset_id:
            raise HyperparamsError(f"{where}: datasets.{short} must be a Minari dataset id, got {dataset_id!r}")
    _settings(data.get("settings"), f"{where}: settings")
    _dataset_settings(data.get("dataset_settings"), datasets, f"{where}: dataset_settings")
    for label, cell in _mapping(data["cells"], f"{where}: cells").items():
        cell = {} if cell is None else cell
        _mapping(cell, f"{where}: cells.{label}", allowed=_CELL_KEYS)
        data["cells"][label] = cell
        agent = cell.get("agent", label)
        if agent not in AGENTS:
            raise HyperparamsError(f"{where}: cells.{label}: unknown agent {agent!r}; iqlzoo's agents: "
                                   f"{sorted(AGENTS)}")
        chosen = cell.get("datasets", list(datasets))
        if not isinstance(chosen, list) or not chosen:
            raise HyperparamsError(f"{where}: cells.{label}.datasets must be a non-empty list of short names")
        for short in chosen:
            if short not in datasets:
                raise HyperparamsError(f"{where}: cells.{label}.datasets names {short!r}, which is not in "
                                       f"datasets ({sorted(datasets)})")
        _settings(cell.get("settings"), f"{where}: cells.{label}.settings")
        _dataset_settings(cell.get("dataset_settings"), datasets, f"{where}: cells.{label}.dataset_settings")
    _scope(data.get("scope"), data["cells"], datasets, f"{where}: scope")
    return data


def _scope(scope: Any, cells: Mapping[str, Any], datasets: Mapping[str, Any], where: str) -> None:
    """Check a file's ``scope``: per budget a ``why`` and the datasets of some of the file's cells, each one of that
    cell's datasets. (Whether each budget exists is checked by `benchmarks.suites.load_suite`.)"""
    if scope is None:
        return
    for budget, entry in _mapping(scope, where).items():
        _mapping(entry, f"{where}.{budget}", required=("why", "cells"), allowed=_SCOPE_KEYS)
        if not isinstance(entry["why"], str) or not entry["why"].strip():
            raise HyperparamsError(
                f"{where}.{budget}.why must say, in a sentence, why the budget runs only these cells")
        for label, chosen in _mapping(entry["cells"], f"{where}.{budget}.cells").items():
            if label not in cells:
                raise HyperparamsError(f"{where}.{budget}.cells names {label!r}, which is not a cell of this file "
                                       f"({sorted(cells)})")
            own = cells[label].get("datasets", list(datasets))
            if not isinstance(chosen, list) or not chosen:
                raise HyperparamsError(f"{where}.{budget}.cells.{label} must be a non-empty list of short names")
            outside = [short for short in chosen if short not in own]
            if outside:
                raise HyperparamsError(f"{where}.{budget}.cells.{label} names {outside}, which the cell does not run "
                                       f"(its datasets: {own})")


def cell_settings(data: Mapping[str, Any], label: str, short: str) -> dict[str, Any]:
    """The settings of cell `label` on dataset `short`: settings < dataset_settings < the cell's settings < the
    cell's dataset_settings, each later value replacing an earlier one."""
    cell = data["cells"].get(label) or {}
    layers = (data.get("settings"), (data.get("dataset_settings") or {}).get(short), cell.get("settings"),
              (cell.get("dataset_settings") or {}).get(short))
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer or {})
    return merged


def check_settings(agent: str, dataset_id: str, settings: Mapping[str, Any], where: str) -> None:
    """Resolve `settings` as agent `agent` would on `dataset_id` and validate them; an unknown field or a value the
    field does not accept is a `HyperparamsError` that names `where` and the field."""
    try:
        config = AGENTS[agent].resolve_config(dataset_id, dict(settings))
        config.validate()
    except (TypeError, ValueError) as error:
        hint = ""
        texts = [key for key, value in settings.items() if isinstance(value, str) and _NUMBER_TEXT.match(value)]
        if texts:
            hint = f" ({', '.join(texts)}: YAML reads a number like 3e-4 as text; write 3.0e-4)"
        raise HyperparamsError(f"{where}: {error}{hint}") from None


def _mapping(value: Any, where: str, required: tuple[str, ...] = (), allowed: set[str] | None = None) -> dict:
    if not isinstance(value, dict):
        raise HyperparamsError(f"{where} must be a mapping, got {type(value).__name__}")
    missing = [key for key in required if key not in value]
    if missing:
        raise HyperparamsError(f"{where}: missing {missing}")
    if allowed is not None and set(value) - allowed:
        raise HyperparamsError(f"{where}: unknown keys {sorted(set(value) - allowed)}; allowed: {sorted(allowed)}")
    for key in value:
        if not isinstance(key, str):
            raise HyperparamsError(f"{where}: keys must be text, got {key!r}")
    return value


def _settings(value: Any, where: str) -> None:
    if value is not None:
        _mapping(value, where)


def _dataset_settings(value: Any, datasets: Mapping[str, str], where: str) -> None:
    if value is None:
        return
    for short, settings in _mapping(value, where).items():
        if short not in datasets:
            raise HyperparamsError(f"{where} names {short!r}, which is not in datasets ({sorted(datasets)})")
        _settings(settings, f"{where}.{short}")
