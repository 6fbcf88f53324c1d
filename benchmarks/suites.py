"""What the benchmark harness trains: suites of agent configurations x datasets, budgets, and the runs they expand to.

A *suite* names datasets and agent configurations ("cells"); a *budget* says how long each run trains and how it is
evaluated; `plan` picks the cells and seeds, and `benchmarks.run.expand` crosses them with the resolved datasets into
`RunSpec`s, one per run. Specs are plain data, so they travel to worker processes and Ray tasks as they are.

Agents are referred to by name through iqlzoo's one agent registry (`iqlzoo.AGENTS`, filled by every
`OfflineAgent` subclass as it is defined); `plan` refuses a name that is not in it before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.hyperparams import (
    HYPERPARAMS_DIR,
    HyperparamsError,
    cell_settings,
    check_settings,
    load_suite_file,
    suite_file,
)
from iqlzoo import AGENTS
from iqlzoo.agents.presets import infer_domain
from iqlzoo.data.equivalents import OFFICIAL, official_equivalent


class AgentUnavailableError(ValueError):
    """An agent name that is not in iqlzoo's agent registry."""


def agent_class(name: str) -> type:
    """The agent class registered as `name` (`iqlzoo.AGENTS`); `AgentUnavailableError` lists the known names."""
    if name not in AGENTS:
        raise AgentUnavailableError(f"unknown agent {name!r}; iqlzoo's agents: {sorted(AGENTS)}")
    return AGENTS[name]


@dataclass(frozen=True)
class Protocol:
    """How one run trains and is evaluated: `steps` gradient steps; an evaluation of `eval_episodes` episodes every
    `eval_every` steps and at the end; a checkpoint every `checkpoint_every` steps and at the end."""

    steps: int
    eval_every: int
    eval_episodes: int
    checkpoint_every: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def eval_steps(self) -> list[int]:
        """The steps at which the run is evaluated."""
        return sorted({*range(self.eval_every, self.steps + 1, self.eval_every), self.steps})

    def evaluates_at(self, step: int) -> bool:
        """Whether the run is evaluated after gradient step `step` (every `eval_every` steps and at the end)."""
        return step % self.eval_every == 0 or step == self.steps

    def checkpoints_at(self, step: int) -> bool:
        """Whether the run is checkpointed after gradient step `step` (every `checkpoint_every` and at the end)."""
        return step % self.checkpoint_every == 0 or step == self.steps


@dataclass(frozen=True)
class Budget:
    """A named training budget; gradient steps, evaluation cadence and episodes depend on the domain (`antmaze` or
    `locomotion`)."""

    name: str
    steps: Mapping[str, int]
    eval_every: Mapping[str, int]
    eval_episodes: Mapping[str, int]
    checkpoint_every: int
    seeds: int
    summary: str
    agent_config: Mapping[str, Any] = field(default_factory=dict)
    """Settings every run of this budget passes to its agent (a cell's own configuration wins); they are part of the
    run's configuration, hence of its config hash and run id."""

    @staticmethod
    def domain_key(domain: str) -> str:
        """The budget's name for `domain`'s numbers: ``antmaze``, or ``locomotion`` for anything else."""
        return "antmaze" if domain == "antmaze" else "locomotion"

    def protocol(self, domain: str) -> Protocol:
        """The protocol of a run on a dataset of `domain` (anything but `antmaze` uses the locomotion numbers)."""
        key = self.domain_key(domain)
        return Protocol(self.steps[key], self.eval_every[key], self.eval_episodes[key], self.checkpoint_every)

    def steps_text(self) -> str:
        """The gradient steps per run in words, e.g. "100,000 (AntMaze) / 50,000 (locomotion) steps"."""
        if len(set(self.steps.values())) == 1:
            return f"{next(iter(self.steps.values())):,} steps"
        return " / ".join(f"{steps:,} ({_DOMAIN_NAMES[domain]})" for domain, steps in self.steps.items()) + " steps"


_DOMAIN_NAMES = {"antmaze": "AntMaze", "locomotion": "locomotion"}


BUDGETS: dict[str, Budget] = {
    "paper": Budget(
        name="paper",
        steps={"antmaze": 1_000_000, "locomotion": 1_000_000},
        eval_every={"antmaze": 100_000, "locomotion": 5_000},
        eval_episodes={"antmaze": 100, "locomotion": 10},
        checkpoint_every=50_000,
        seeds=5,
        summary="the IQL paper's protocol: 1M gradient steps; locomotion evaluated every 5k steps on 10 episodes, "
        "AntMaze every 100k steps on 100 episodes (the reference code's flags)",
    ),
    "quick": Budget(
        name="quick",
        steps={"antmaze": 500_000, "locomotion": 50_000},
        eval_every={"antmaze": 50_000, "locomotion": 5_000},
        eval_episodes={"antmaze": 100, "locomotion": 10},
        checkpoint_every=10_000,
        seeds=3,
        summary="500k gradient steps on AntMaze (where IQL's 1M-step umaze curve stays at or above 90% of its final "
        "value: docs/antmaze/README.md), 50k on locomotion (a twentieth of the paper's), in float32; AntMaze "
        "evaluated every 50k steps on 100 episodes, locomotion every 5k steps on 10 episodes",
    ),
    "tiny": Budget(
        name="tiny",
        steps={"antmaze": 1_000, "locomotion": 1_000},
        eval_every={"antmaze": 250, "locomotion": 250},
        eval_episodes={"antmaze": 2, "locomotion": 3},
        checkpoint_every=250,
        seeds=2,
        summary="1k gradient steps, evaluated every 250 steps on 2-3 episodes: checks the machinery, measures nothing",
    ),
}


@dataclass(frozen=True)
class Cell:
    """One agent configuration on some datasets. `label` is the name the results store and leaderboard show;
    `settings` maps each of `datasets` to the hyperparameters its runs pass to the agent's constructor (merged from
    the suite's file, `benchmarks.hyperparams`); `overrides` are the cell's own settings there (what sets it apart
    from the suite's other cells); `finding` says what the cell tests."""

    label: str
    agent: str
    datasets: tuple[str, ...]
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    finding: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def config(self, task: str) -> dict[str, Any]:
        """The hyperparameters of this cell's runs on `task` (official dataset id)."""
        return dict(self.settings.get(task, {}))


@dataclass(frozen=True)
class Scope:
    """What a suite trains at one budget when the command line does not name datasets: `pairs` maps each cell label
    to the datasets (official ids) it runs there (a cell of the suite not in it runs nothing); `why` says why the
    budget runs less than the whole grid (its cost, measured)."""

    why: str
    pairs: Mapping[str, tuple[str, ...]]

    def text(self, short: Mapping[str, str]) -> str:
        """"IQL, BC on umaze, medium-play; BonusIQL on umaze": the pairs grouped by dataset list, datasets by their
        short names (`short`: id -> short name)."""
        by_datasets: dict[tuple[str, ...], list[str]] = {}
        for label, tasks in self.pairs.items():
            by_datasets.setdefault(tasks, []).append(label)
        return "; ".join(f"{', '.join(labels)} on {', '.join(short.get(task, task) for task in tasks)}"
                         for tasks, labels in by_datasets.items())


@dataclass(frozen=True)
class Suite:
    """Datasets and agent configurations, read from ``hyperparams/<name>.yml``. `--agents` selects cells by label
    or agent name; in an `open` suite a registered agent with no cell of its own runs with `base_settings`.
    `test_data` suites write into a store marked as test data, never published."""

    name: str
    summary: str
    datasets: tuple[str, ...]
    default_budget: str
    cells: tuple[Cell, ...] = ()
    open: bool = False
    base_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    test_data: bool = False
    source: str = ""
    """The hyperparameter file the suite was read from."""
    names: Mapping[str, str] = field(default_factory=dict)
    """The file's short dataset names -> Minari ids (``--datasets`` takes either)."""
    scopes: Mapping[str, Scope] = field(default_factory=dict)
    """Budget name -> what the suite trains at that budget (the file's ``scope``); a budget not here runs every
    cell on every dataset."""

    def scoped(self, cells: Sequence[Cell], budget: str) -> list[Cell]:
        """`cells` narrowed to the datasets the scope of `budget` gives them; the suite's cells that it does not name
        are dropped. Cells that are not the file's own (an `open` suite's other agents) and budgets without a scope
        are left as they are."""
        scope = self.scopes.get(budget)
        if scope is None:
            return list(cells)
        narrowed = []
        for cell in cells:
            if cell not in self.cells:
                narrowed.append(cell)
                continue
            tasks = tuple(task for task in cell.datasets if task in scope.pairs.get(cell.label, ()))
            if tasks:
                narrowed.append(replace(cell, datasets=tasks, settings={task: cell.settings[task] for task in tasks}))
        return narrowed

    def scope_text(self, budget: str) -> str:
        """"At the `quick` budget the suite trains only IQL on umaze; ...: <why>", or "" without a scope."""
        scope = self.scopes.get(budget)
        if scope is None:
            return ""
        short = {task: name for name, task in self.names.items()}
        return f"At the `{budget}` budget the `{self.name}` suite trains only {scope.text(short)}: {scope.why}"

    @property
    def default_agents(self) -> tuple[str, ...]:
        """The agents of the suite's cells, in file order."""
        return tuple(dict.fromkeys(cell.agent for cell in self.cells))

    def select(self, agents: Sequence[str] | None = None) -> list[Cell]:
        """The cells to run for the `agents` asked for (None: all of the suite's cells)."""
        if not agents:
            return list(self.cells)
        chosen: list[Cell] = []
        unknown: list[str] = []
        for name in dict.fromkeys(agents):
            matching = [cell for cell in self.cells if name in (cell.label, cell.agent)]
            if matching:
                chosen += [cell for cell in matching if cell not in chosen]
            elif self.open:
                chosen.append(Cell(name, name, self.datasets, dict(self.base_settings)))
            else:
                unknown.append(name)
        if unknown:
            known = sorted({c.label for c in self.cells} | {c.agent for c in self.cells})
            raise ValueError(f"suite {self.name!r} has no cells for {unknown}; its labels and agents: {known}")
        return chosen


def load_suite(name: str, directory: Path = HYPERPARAMS_DIR) -> Suite:
    """Suite `name` from its hyperparameter file; every (cell, dataset) is resolved and validated as its agent
    would, so a bad file fails here, naming the file, the cell and the field."""
    path = suite_file(name, directory)
    data = load_suite_file(path)
    if data["budget"] not in BUDGETS:
        raise HyperparamsError(f"{path}: budget {data['budget']!r} is not one of {sorted(BUDGETS)}")
    shorts: dict[str, str] = data["datasets"]
    cells = []
    for label, entry in data["cells"].items():
        agent = entry.get("agent", label)
        datasets = tuple(shorts[short] for short in entry.get("datasets", list(shorts)))
        settings = {}
        for short in entry.get("datasets", list(shorts)):
            settings[shorts[short]] = cell_settings(data, label, short)
            check_settings(agent, shorts[short], settings[shorts[short]], f"{path}: cells.{label} on {short}")
        cells.append(Cell(label, agent, datasets, settings, entry.get("finding"), dict(entry.get("settings") or {})))
    base = {dataset_id: cell_settings(data, "", short) for short, dataset_id in shorts.items()}
    scopes = {}
    for budget, entry in (data.get("scope") or {}).items():
        if budget not in BUDGETS:
            raise HyperparamsError(f"{path}: scope.{budget} is not a budget; budgets: {sorted(BUDGETS)}")
        pairs = {label: tuple(shorts[short] for short in chosen) for label, chosen in entry["cells"].items()}
        scopes[budget] = Scope(" ".join(str(entry["why"]).split()), pairs)
    return Suite(name, str(data["summary"]), tuple(shorts.values()), data["budget"], tuple(cells),
                 bool(data.get("open", False)), base, bool(data.get("test_data", False)), str(path), dict(shorts),
                 scopes)


def load_suites(directory: Path = HYPERPARAMS_DIR) -> dict[str, Suite]:
    """Every suite with a file in `directory` (``hyperparams/*.yml``), by name."""
    return {path.stem: load_suite(path.stem, directory) for path in sorted(directory.glob("*.yml"))}


SUITES: dict[str, Suite] = load_suites()

ANTMAZE: dict[str, str] = dict(SUITES["antmaze"].names)
HALFCHEETAH: dict[str, str] = dict(SUITES["halfcheetah"].names)
PENDULUM_TOY = "iqlzoo/toy/pendulum-mixed-v0"
#: The settings of the smoke suite's runs (small networks and batches).
SMOKE_CONFIG: dict[str, Any] = SUITES["smoke"].cells[0].config(PENDULUM_TOY)
SEED_FINDINGS_CELLS: tuple[Cell, ...] = SUITES["seed-findings"].cells
#: The agents of the main suites' leaderboard: IQL and the source report's three improvements, and behaviour cloning
#: (what imitation alone reaches on each dataset).
LEADERBOARD_AGENTS: tuple[str, ...] = SUITES["antmaze"].default_agents


#: Locally regenerated dataset id -> the official suite dataset it stands in for: the part of
#: `iqlzoo.data.equivalents.OFFICIAL` (the one map) that the suites use.
REGENERATED: dict[str, str] = {
    regenerated: official for regenerated, official in OFFICIAL.items() if official in {*ANTMAZE.values(),
                                                                                        *HALFCHEETAH.values()}
}


def task_of(dataset_id: str) -> str:
    """The suite dataset (official Minari id) that a run's dataset stands for: itself, or for a local regeneration
    the official id it regenerates."""
    return official_equivalent(dataset_id) or dataset_id


def short_name(dataset_id: str) -> str:
    """A dataset id's last component without its version: ``umaze`` for ``D4RL/antmaze/umaze-v1`` (and for
    ``iqlzoo/antmaze/umaze-v0``), ``medium-expert`` for ``mujoco/halfcheetah/medium-expert-v0``."""
    return dataset_id.rsplit("/", 1)[-1].rsplit("-v", 1)[0]


#: Suites whose plain agent runs other suites reuse (see `home_suite`).
MAIN_SUITES: tuple[str, ...] = ("antmaze", "halfcheetah")


def home_suite(suite_name: str, cell: Cell, task: str) -> str:
    """The suite a run of `cell` on `task` belongs to. A `seed-findings` cell with the label, agent and settings of
    a main suite's cell on one of that suite's datasets is that suite's run: trained once, it serves both the main
    suite's table and the finding (its records carry the main suite's name). Every other run belongs to the suite
    that asks for it."""
    if suite_name == "seed-findings":
        for name in MAIN_SUITES:
            for main_cell in SUITES[name].cells:
                if ((main_cell.label, main_cell.agent) == (cell.label, cell.agent) and task in main_cell.datasets
                        and main_cell.config(task) == cell.config(task)):
                    return name
    return suite_name


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.")


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class RunSpec:
    """One run: `label` (agent class `agent` with `config`) trained on `dataset_id` with `seed` under `protocol`.

    `suite` is the store's suite column (`Plan.store_suite`, e.g. "antmaze-quick"), so runs of one agent, dataset
    and seed under different budgets never meet in one leaderboard section. `data_source` is "official",
    "regenerated" or "toy". The run's identity - hence its folder - is everything but `checkpoint_every`.
    """

    suite: str
    label: str
    agent: str
    config: Mapping[str, Any]
    dataset_id: str
    data_source: str
    seed: int
    protocol: Protocol

    @property
    def config_hash(self) -> str:
        """12 hex digits of SHA-256 over the agent name and its configuration."""
        return _digest({"agent": self.agent, "config": dict(self.config)})[:12]

    @property
    def run_id(self) -> str:
        """The run's folder name: readable fields, then 8 hex digits of a hash over the whole identity."""
        identity = {
            "suite": self.suite,
            "label": self.label,
            "agent": self.agent,
            "config": dict(self.config),
            "dataset_id": self.dataset_id,
            "seed": self.seed,
            "steps": self.protocol.steps,
            "eval_every": self.protocol.eval_every,
            "eval_episodes": self.protocol.eval_episodes,
        }
        return f"{_slug(self.label)}.{_slug(self.dataset_id)}.seed{self.seed}.{self.suite}.{_digest(identity)[:8]}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe description (written to the run's provenance)."""
        return {**asdict(self), "config": dict(self.config), "config_hash": self.config_hash, "run_id": self.run_id}


@dataclass(frozen=True)
class Plan:
    """`cells` (label, agent, config, dataset task) to run per seed under `budget` with the command line's
    protocol overrides."""

    suite: Suite
    budget: Budget
    protocol_overrides: Mapping[str, int]
    seeds: tuple[int, ...]
    cells: tuple[Cell, ...]

    @property
    def store_suite(self) -> str:
        """The suite column of the store: "<suite>-<budget>", or with overridden numbers in place of the budget's
        name, e.g. "smoke-steps40-every20-episodes2" (the checkpoint interval is not part of it)."""
        return self.store_suite_of(self.suite.name)

    def store_suite_of(self, suite_name: str) -> str:
        """`store_suite` as it reads for the suite `suite_name` under the same budget and overrides."""
        names = {"steps": "steps", "eval_every": "every", "eval_episodes": "episodes"}
        changed = [f"{short}{self.protocol_overrides[key]}" for key, short in names.items()
                   if key in self.protocol_overrides]
        return "-".join([suite_name, *(changed or [self.budget.name])])

    @property
    def tasks(self) -> list[str]:
        """The datasets of this plan's cells, each once, in cell order."""
        return list(dict.fromkeys(task for cell in self.cells for task in cell.datasets))

    def run_suite(self, cell: Cell, task: str) -> str:
        """The store suite a run of `cell` on `task` belongs to: its home suite's (`home_suite`) under this plan's
        budget, so a run shared by two suites is trained once and found by both."""
        return self.store_suite_of(home_suite(self.suite.name, cell, task))

    def outside_scope(self, tasks: Sequence[str]) -> list[tuple[str, str]]:
        """The (cell label, dataset) pairs of this plan on `tasks` that the budget's scope leaves out (runs the
        command line asked for by name; the suite's default grid does not train them)."""
        inside = {(cell.label, task) for cell in self.suite.scoped(self.cells, self.budget.name)
                  for task in cell.datasets}
        return [(cell.label, task) for cell in self.cells for task in cell.datasets
                if task in tasks and (cell.label, task) not in inside]

    def protocol(self, domain: str) -> Protocol:
        """The budget's protocol for `domain` with the command line's overrides applied."""
        base = asdict(self.budget.protocol(domain))
        return Protocol(**{**base, **self.protocol_overrides})


def plan(
    suite_name: str,
    agents: Sequence[str] | None = None,
    seeds: int | None = None,
    budget_name: str | None = None,
    overrides: Mapping[str, int | None] | None = None,
    chosen_seeds: Sequence[int] | None = None,
    scoped: bool = True,
) -> Plan:
    """Choose the cells of a suite; an agent name that iqlzoo does not know is an error before anything runs.

    `overrides` may set `steps`, `eval_every`, `eval_episodes` and `checkpoint_every`; None values are ignored.
    Seeds are 0..`seeds`-1 (default: the budget's), or exactly `chosen_seeds` (``--seed``); not both. With `scoped`
    the cells are narrowed to the budget's scope (`Suite.scoped`); without it (the command line named datasets),
    every chosen cell keeps all its datasets and `Plan.outside_scope` says which pairs the scope leaves out.
    """
    if suite_name not in SUITES:
        raise ValueError(f"unknown suite {suite_name!r}; known: {sorted(SUITES)}")
    suite = SUITES[suite_name]
    budget_name = budget_name or suite.default_budget
    if budget_name not in BUDGETS:
        raise ValueError(f"unknown budget {budget_name!r}; known: {sorted(BUDGETS)}")
    budget = BUDGETS[budget_name]
    chosen = {key: value for key, value in (overrides or {}).items() if value is not None}
    unknown = sorted(set(chosen) - {"steps", "eval_every", "eval_episodes", "checkpoint_every"})
    if unknown:
        raise ValueError(f"unknown protocol overrides {unknown}")
    Protocol(**{**asdict(budget.protocol("locomotion")), **chosen})  # validates the overrides
    if chosen_seeds is not None:
        if seeds is not None:
            raise ValueError("give --seeds N (seeds 0..N-1) or --seed N ... (those seeds), not both")
        if not chosen_seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in chosen_seeds):
            raise ValueError(f"seeds must be integers >= 0, got {list(chosen_seeds)}")
        seed_tuple = tuple(dict.fromkeys(chosen_seeds))
    else:
        n_seeds = budget.seeds if seeds is None else seeds
        if n_seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {n_seeds}")
        seed_tuple = tuple(range(n_seeds))
    cells = suite.select(agents)
    for cell in cells:
        agent_class(cell.agent)
    labels: dict[str, Cell] = {}
    for cell in cells:
        if labels.setdefault(cell.label, cell) != cell:
            raise ValueError(f"suite {suite_name!r}: label {cell.label!r} names two configurations")
    if scoped:
        cells = suite.scoped(cells, budget.name)
    return Plan(suite, budget, chosen, seed_tuple, tuple(cells))


def split_store_suite(suite: str) -> tuple[str, str]:
    """A store suite's suite and budget parts (``antmaze-quick`` -> ``("antmaze", "quick")``; `Plan.store_suite` joins
    them); ``("", suite)`` when it starts with no known suite's name."""
    for name in sorted(SUITES, key=len, reverse=True):
        if suite.startswith(name + "-"):
            return name, suite[len(name) + 1 :]
    return "", suite


def budget_of_store_suite(suite: str) -> str:
    """The budget part of a store suite (``antmaze-quick`` -> ``quick``), see `split_store_suite`."""
    return split_store_suite(suite)[1]


def current_steps(store_suite: str, dataset_id: str) -> int | None:
    """The gradient steps that the budget of store suite `store_suite` (``antmaze-quick``) gives a run on
    `dataset_id` today, or None when the store suite names no budget (protocol overrides, e.g. ``smoke-steps40``).
    A stored run that trained for another number of steps belongs to a budget the suite no longer runs."""
    budget = BUDGETS.get(budget_of_store_suite(store_suite))
    return None if budget is None else budget.protocol(infer_domain(dataset_id)).steps
