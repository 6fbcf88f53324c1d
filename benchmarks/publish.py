"""``python -m benchmarks.publish`` - publish the zoo: one Hugging Face Hub model repo per agent x dataset of a suite.

    python -m benchmarks.publish --suite SUITE [--agents NAME ...] [--datasets NAME ...] [--results results/]
        [--out zoo/] [--org iqlzoo] [--eval-episodes N] [--reps N] [--no-replay] [--leaderboard-url URL]
        [--replace-longer] [--push] [--endpoint URL] [--private]
    python -m benchmarks.publish --push-only [--out zoo/] [--org iqlzoo] [--endpoint URL] [--private]

For every (agent, dataset) cell of the suite with finished runs in the results store, the run of the **median** seed
by final training-time score (normalised score, else mean return; for an even number of seeds the lower of the two
middle ones, ties broken by seed) is published, not the best one: its final weights (the checkpoint of its last step)
go to ``{out}/{org}/{Agent}-{dataset}/`` (rl_zoo3's ``{algo}-{env}`` naming; the dataset part is the dataset id
without its namespace, e.g. ``IQL-antmaze-umaze-v0`` for ``iqlzoo/antmaze/umaze-v0``) with:

- ``config.json`` + ``model.safetensors``: an inference export (`iqlzoo.checkpoint.export_checkpoint`): policy,
  critics and value, no optimizer state and no target critic (rebuilt on load as a copy of the critic);
- ``results.json``: every seed's evaluation records with run ids and provenance, the dataset's content hash, budget,
  precision, versions, the selection, the training-time score over seeds (mean and 95% CI, rliable) and a fresh
  re-evaluation of the published weights (`REEVAL_EPISODES`, reset seeds `REEVAL_SEED` + i);
- ``README.md``: the model card (`benchmarks.zoo_card`), its model-index holding the re-evaluated scores;
- ``replay.gif``: one deterministic evaluation episode rendered offscreen (left out, with the reason on the card,
  where the machine cannot render);
- ``learning_curve.png``: the training-time evaluations of the cell's seeds (mean and range) and the published one.

Each repo folder is built in a temporary folder and replaces its destination in one move at the end
(`iqlzoo.atomic.atomic_write_folder`), so a reader never sees half a repo and a rerun replaces it whole. ``--push``
uploads the repos written with ``huggingface_hub`` (``create_repo`` with ``exist_ok=True`` + ``upload_folder``, token
from ``HF_TOKEN`` or ``hf auth login``); without a token or network it stops with a message saying how, after
everything is written locally, and ``--push-only`` pushes them later.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from huggingface_hub import get_token
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from benchmarks import curves, stats
from benchmarks.runner import CHECKPOINT_DIR, LATEST, checkpoint_name, dataset_fingerprint
from benchmarks.store import (
    DEFAULT_RESULTS,
    REPO_ROOT,
    TEST_DATA_MARKER,
    ResultsStore,
    build_label,
    copy_present,
)
from benchmarks.suites import budget_of_store_suite, short_name, task_of
from benchmarks.zoo_card import RepoFile, check_card, human_size, render_zoo_card
from iqlzoo.agents.base import AGENTS, library_versions
from iqlzoo.agents.iql import IQL
from iqlzoo.agents.presets import infer_domain
from iqlzoo.atomic import atomic_write_folder
from iqlzoo.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    Checkpoint,
    CheckpointError,
    export_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from iqlzoo.data.minari import from_minari
from iqlzoo.evaluation import EVAL_THREADS, EvaluationResult, evaluate
from iqlzoo.hub import HubError, push_folder, write_model_card
from iqlzoo.machine import cpu_model
from iqlzoo.recipes.common import CODE_BASE_URL
from iqlzoo.recipes.registry import RECIPES
from iqlzoo.replay import RenderUnavailableError, record_replay
from iqlzoo.zoo import DEFAULT_ORG, REEVAL_ENVS, REEVAL_SEED, RESULTS_FILE, repo_name

DEFAULT_OUT = REPO_ROOT / "zoo"
LEADERBOARD_URL = f"{CODE_BASE_URL}/leaderboard/README.md"
REPO_URL = CODE_BASE_URL.split("/blob/", 1)[0]
#: Re-evaluation episode i is reset with seed REEVAL_SEED + i; training-time evaluations use 1,000,000 + 1000·seed + i
#: (`benchmarks.runner.EVAL_SEED_BASE`), so the two never share an episode for seeds below 1000.
#: Re-evaluation episodes per domain (`iqlzoo.agents.presets.infer_domain`): the IQL paper's numbers.
REEVAL_EPISODES = {"antmaze": 100, "locomotion": 10, "generic": 10}
#: Tensor prefixes an export leaves out -> the prefix they are rebuilt from on load (IQLNetworks starts its target
#: critic as a copy of the critic).
DERIVED_ON_LOAD = {"critic_target.": "critic."}
REPLAY_FILE = "replay.gif"
CURVE_FILE = "learning_curve.png"
#: Files pushed beyond iqlzoo.hub.CHECKPOINT_PATTERNS (config, safetensors, JSON, README).
EXTRA_PATTERNS = ("*.gif", "*.png")
SELECTION_RULE = (
    "the run of the median seed by final training-time score (normalised score, else mean return); for an even "
    "number of seeds the lower of the two middle ones; ties broken by the lower seed"
)


class PublishError(RuntimeError):
    """A cell that cannot be published; the message says why."""


@dataclass(frozen=True)
class Cell:
    """The finished runs of one agent on one dataset: their final evaluations (one row per seed) and all records."""

    agent: str
    dataset_id: str
    suite: str
    finals: pd.DataFrame
    records: pd.DataFrame


@dataclass(frozen=True)
class Published:
    """A repo written under the zoo folder."""

    repo_id: str
    folder: Path
    results: dict[str, Any]


def store_suite(frame: pd.DataFrame, suite: str) -> str:
    """The store suite (``<suite>-<budget>``) that ``suite`` names: itself when stored, else the only stored suite
    of that name under some budget. Raises ValueError when there is none or several."""
    stored = sorted(set(frame["suite"]))
    if suite in stored:
        return suite
    matches = [name for name in stored if name.startswith(suite + "-")]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ValueError(f"the results store has no runs of suite {suite!r}; its suites: {stored}")
    raise ValueError(f"suite {suite!r} was run under several budgets {matches}: pass one of them as --suite")


def dataset_matches(dataset_id: str, names: Sequence[str]) -> bool:
    """Whether a ``--datasets`` name picks ``dataset_id``: the full id, the official id it regenerates, the
    repo's dataset part (``antmaze-umaze-v0``) or the short name (``umaze``: last component without its version)."""
    keys = {dataset_id, task_of(dataset_id), repo_name("", dataset_id)[1:]}
    keys |= {short_name(dataset_id), short_name(task_of(dataset_id))}
    return any(name in keys for name in names)


def score_column(finals: pd.DataFrame) -> str:
    """``normalized_score`` when every final evaluation has one, else ``return_mean``."""
    return "normalized_score" if finals["normalized_score"].notna().all() else "return_mean"


def choose_median(finals: pd.DataFrame) -> pd.Series:
    """The final evaluation of the median seed (see `SELECTION_RULE`)."""
    if finals.empty:
        raise ValueError("no runs to choose from")
    ranked = finals.sort_values([score_column(finals), "seed"], kind="stable").reset_index(drop=True)
    return ranked.iloc[(len(ranked) - 1) // 2]


def find_cells(
    store: ResultsStore, frame: pd.DataFrame, suite: str, agents: Sequence[str] | None, datasets: Sequence[str] | None
) -> tuple[list[Cell], list[str]]:
    """The cells of ``suite`` (a store suite) with finished runs, filtered by ``agents`` (labels) and ``datasets``;
    and notes on the runs left out (not finished, or short of their budget)."""
    rows = frame[frame["suite"] == suite]
    if agents:
        unknown = sorted(set(agents) - set(rows["agent"]))
        if unknown:
            known = sorted(set(rows["agent"]))
            raise ValueError(f"suite {suite!r} has no runs of agents {unknown}; its agents: {known}")
        rows = rows[rows["agent"].isin(agents)]
    if datasets:
        chosen = [d for d in sorted(set(rows["dataset_id"])) if dataset_matches(d, datasets)]
        unknown = [name for name in datasets if not any(dataset_matches(d, [name]) for d in chosen)]
        if unknown:
            raise ValueError(f"suite {suite!r} has no runs on datasets {unknown}; its datasets: "
                             f"{sorted(set(rows['dataset_id']))}")
        rows = rows[rows["dataset_id"].isin(chosen)]
    notes = []
    finals = stats.final_evaluations(rows)
    states = {run_id: store.read_status(run_id) for run_id in finals["run_id"]}
    unfinished = sorted(run_id for run_id, status in states.items() if status is None or status.state != "finished")
    short = sorted(set(finals.loc[finals["step"] < finals["budget"], "run_id"]) - set(unfinished))
    if unfinished:
        notes.append(f"left out {len(unfinished)} runs that are not finished: {', '.join(unfinished)}")
    if short:
        notes.append(f"left out {len(short)} finished runs short of their budget: {', '.join(short)}")
    finals = finals[~finals["run_id"].isin(unfinished + short)]
    cells = []
    for (agent, dataset_id), group in finals.groupby(["agent", "dataset_id"], sort=True):
        if group["seed"].duplicated().any():
            notes.append(f"left out {agent} on {dataset_id}: several runs share a seed ({sorted(group['run_id'])}), "
                         "i.e. two configurations under one label")
            continue
        records = rows[rows["run_id"].isin(group["run_id"])]
        cells.append(Cell(str(agent), str(dataset_id), suite, group.reset_index(drop=True), records))
    return cells, notes


def final_checkpoint(store: ResultsStore, run_id: str, step: int) -> Path:
    """The checkpoint of the run's step ``step`` (``step_XXXXXXX.zip``, else ``latest.zip`` if it is that step)."""
    folder = store.run_dir(run_id) / CHECKPOINT_DIR
    path = folder / checkpoint_name(step)
    if path.is_file():
        return path
    latest = folder / LATEST
    if latest.is_file() and int(load_checkpoint(latest).config.get("num_timesteps", -1)) == step:
        return latest
    raise PublishError(f"run {run_id} has no checkpoint of its final step {step} ({path} is missing): its "
                       "checkpoints were deleted or never copied to this machine")


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN/inf as None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return _finite(value)
    return value


def seed_summary(values: pd.Series, reps: int) -> dict[str, Any] | None:
    """Mean over seeds with its 95% CI (`benchmarks.stats.mean_over_seeds`), or None when a seed lacks the metric."""
    if values.isna().any() or values.empty:
        return None
    estimates = stats.mean_over_seeds({"cell": values.to_numpy(dtype=float)}, reps=reps, seed=0)
    low, high = estimates.interval["cell"][:, 0]
    return {"mean": float(estimates.point["cell"][0]), "ci95": [float(low), float(high)]}


def _record(row: pd.Series) -> dict[str, Any]:
    return _jsonable({key: row[key] for key in ("step", "return_mean", "return_std", "normalized_score",
                                                 "success_rate", "n_episodes", "wall_time_s")})


def _run_entry(store: ResultsStore, cell: Cell, final: pd.Series) -> dict[str, Any]:
    run_id = str(final["run_id"])
    provenance = store.read_provenance(run_id) or {}
    records = cell.records[cell.records["run_id"] == run_id].sort_values("step")
    keep = ("git_commit", "git_dirty", "packages", "command", "created_at", "cpu_model", "cuda_device")
    return {
        "run_id": run_id,
        "seed": int(final["seed"]),
        "config_hash": str(final["config_hash"]),
        "dataset_hash": str(final["dataset_hash"]),
        "final": _record(final),
        "evaluations": [_record(row) for _, row in records.iterrows()],
        "provenance": {key: provenance.get(key) for key in keep},
    }


def results_document(
    *,
    repo_id: str,
    cell: Cell,
    store: ResultsStore,
    chosen: pd.Series,
    ckpt_config: Mapping[str, Any],
    evaluation_hash: str,
    reeval: EvaluationResult,
    references: list[float] | None,
    replay: Mapping[str, Any],
    reps: int,
    test_data: bool,
) -> dict[str, Any]:
    """The content of ``results.json`` (the card is rendered from it); `references` are the reference returns of the
    re-evaluation's data (`reference_returns`)."""
    provenance = store.read_provenance(str(chosen["run_id"])) or {}
    protocol = (provenance.get("run") or {}).get("protocol") or {}
    metric = score_column(cell.finals)
    finals = cell.finals.sort_values("seed")
    data = ckpt_config.get("data", {})
    return _jsonable({
        "format": "iqlzoo-zoo-results",
        "format_version": 1,
        "repo_id": repo_id,
        "agent": cell.agent,
        "agent_class": ckpt_config["agent_class"],
        "config_hash": str(chosen["config_hash"]),
        "dataset": {
            "id": cell.dataset_id,
            "source": str(chosen["data_source"]),
            "official_id": task_of(cell.dataset_id),
            "hash": str(chosen["dataset_hash"]),
            "build": build_label(str(chosen["dataset_hash"])),
            "evaluation_hash": evaluation_hash,
            "env_id": data.get("env_id") or reeval.env_id,
            "domain": infer_domain(cell.dataset_id),
            "build_command": f"python -m iqlzoo.recipes build {cell.dataset_id}" if cell.dataset_id in RECIPES
            else None,
        },
        "suite": cell.suite,
        "budget": {
            "name": budget_of_store_suite(cell.suite),
            "steps": int(chosen["budget"]),
            "eval_every": protocol.get("eval_every"),
            "eval_episodes": int(protocol.get("eval_episodes", chosen["n_episodes"])),
            "checkpoint_every": protocol.get("checkpoint_every"),
        },
        "precision": "bf16" if ckpt_config.get("config", {}).get("bf16") else "float32",
        "test_data": test_data,
        "selection": {
            "rule": SELECTION_RULE,
            "metric": metric,
            "run_id": str(chosen["run_id"]),
            "seed": int(chosen["seed"]),
            "final_step": int(chosen["step"]),
            "final_score": chosen[metric],
        },
        "training": {
            "metric": metric,
            "reps": reps,
            "bootstrap_seed": 0,
            "normalized_score": seed_summary(finals["normalized_score"], reps),
            "success_rate": seed_summary(finals["success_rate"], reps),
            "return_mean": seed_summary(finals["return_mean"], reps),
        },
        "reevaluation": reevaluation_block(reeval, references),
        "replay": dict(replay),
        "learning_curve": CURVE_FILE,
        "runs": [_run_entry(store, cell, row) for _, row in finals.iterrows()],
        "versions": {
            "training": provenance.get("packages"),
            "git_commit": provenance.get("git_commit"),
            "checkpoint": ckpt_config.get("versions"),
            "publish": library_versions(),
        },
    })


def reevaluate(model: IQL, data: Any, n_episodes: int) -> EvaluationResult:
    """The card's re-evaluation of `model`: `n_episodes` deterministic episodes reset with seeds REEVAL_SEED + i,
    REEVAL_ENVS at a time (`evaluate` runs the policy on EVAL_THREADS torch threads)."""
    return evaluate(model, data, n_episodes=n_episodes, seed=REEVAL_SEED, n_envs=REEVAL_ENVS)


def reference_returns(data: Any) -> list[float] | None:
    """The reference returns [random, expert] that normalise scores on `data` (a TransitionDataset: those of its
    build, measured when it was made), or None when it has none."""
    return [float(data.ref_min_score), float(data.ref_max_score)] if data.has_reference_scores else None


def reevaluation_block(reeval: EvaluationResult, references: list[float] | None) -> dict[str, Any]:
    """``results.json``'s record of a re-evaluation: its scores and episodes, the reference returns its normalised
    score uses (`reference_returns` of the data it ran on), and what reproducing them to the bit takes (the same
    seeds, batch, torch thread count and kind of CPU)."""
    return _jsonable({
        "reference_returns": references,
        "n_episodes": reeval.n_episodes,
        "first_seed": REEVAL_SEED,
        "deterministic": True,
        "n_envs": min(reeval.n_episodes, REEVAL_ENVS),
        "torch_threads": EVAL_THREADS,
        "cpu": cpu_model(),
        "normalized_score": reeval.normalized_score,
        "success_rate": reeval.success_rate,
        "mean_return": reeval.mean_return,
        "std_return": reeval.std_return,
        "returns": reeval.returns,
        "lengths": reeval.lengths,
        "successes": reeval.successes,
    })


def replay_record(model: IQL, data: Any, path: Path, max_frames: int, log: Any = print) -> dict[str, Any]:
    """Render the re-evaluation's first episode to `path` (`record_replay`) and return ``results.json``'s record of
    it; on a machine that cannot render, nothing is written and the record says why."""
    try:
        shot = record_replay(model, data, path, seed=REEVAL_SEED, max_frames=max_frames)
    except RenderUnavailableError as error:
        log(f"{path.parent.name}: no replay: {error}")
        return {"file": None, "reason": str(error)}
    return {"file": path.name, "seed": shot.seed, "return": shot.episode_return, "length": shot.length,
            "success": shot.success, "frames": shot.n_frames, "every": shot.every, "speed": shot.speed}


def weights_summary(
    tensors: Mapping[str, torch.Tensor], untrained: Sequence[str] = (), agent: str = "This agent"
) -> tuple[dict[str, int], str]:
    """Bytes per network of an export, and the card's sentence on what ``model.safetensors`` holds and why;
    `untrained`: the prefixes of the networks the export left out because `agent`'s training never updates them."""
    groups = {"actor": 0, "critic": 0, "value": 0, "penalty": 0, "other": 0}
    for name, tensor in tensors.items():
        group = name.split(".", 1)[0]
        groups[group if group in groups else "other"] += tensor.numel() * tensor.element_size()
    if untrained:
        left_out = ", ".join(f"`{prefix.rstrip('.')}`" for prefix in untrained)
        text = (
            f"`model.safetensors` holds the policy only, in float32 ({human_size(groups['actor'])}, with the "
            f"observation statistics), which is all `predict` needs. {agent} trains only its policy: its networks "
            f"{left_out} are never updated, so they are not shipped (the file's `config.json` lists them under "
            "`untrained_tensors`), and loading builds them as a new agent's, freshly initialised. Do not read Q, V or "
            "advantages from this agent. The optimizer moments and the random-number state are left out too; the "
            "training checkpoints with optimizer state stay in the results store."
        )
        return {k: v for k, v in groups.items() if v}, text
    parts = [f"policy {human_size(groups['actor'])}", f"critics {human_size(groups['critic'])}",
             f"value {human_size(groups['value'])}"]
    if groups["penalty"]:
        parts.append(f"anti-exploration bonus model {human_size(groups['penalty'])}")
    text = (
        f"`model.safetensors` holds the policy, the critics and the value network in float32 ({', '.join(parts)}). "
        f"The policy alone ({human_size(groups['actor'])}) is all `predict` needs; the critics and value ship too "
        "because they are small and let you compute Q, V and advantages, or fine-tune. The target critic, the "
        "optimizer moments and the random-number state are left out: loading rebuilds the target critic as a copy "
        "of the critic, as a freshly built agent starts. The training checkpoints with optimizer state stay in the "
        "results store."
    )
    return {k: v for k, v in groups.items() if v}, text


def write_learning_curve(cell: Cell, chosen_seed: int, metric: str, path: Path) -> None:
    """Plot the training-time evaluations of the cell's seeds (mean with the seeds' range) and the published seed's
    own curve against gradient steps (`benchmarks.curves.plot`)."""
    seeds = {
        int(seed): dict(zip(rows["step"].astype(int), rows[metric].astype(float)))
        for seed, rows in cell.records.sort_values("step").groupby("seed", sort=True)
    }
    groups = [curves.Group("all seeds", seeds), curves.Group(f"published: seed {chosen_seed}",
                                                             {chosen_seed: seeds[chosen_seed]})]
    curves.plot(groups, path, "normalised score" if metric == "normalized_score" else "mean return")


def never_trained(ckpt: Checkpoint) -> tuple[str, ...]:
    """The prefixes of the networks the agent class of `ckpt` holds but never trains (``never_trained``)."""
    return tuple(getattr(AGENTS.get(str(ckpt.config["agent_class"])), "never_trained", ()))


def inference_export(ckpt: Checkpoint) -> tuple[Checkpoint, tuple[str, ...]]:
    """What a repo ships of a training checkpoint (`export_checkpoint`): no optimizer state, the target critic
    derived on load, and none of the networks the agent's training never updates (its ``never_trained``: BC's
    critics and value); returns the export and those left-out prefixes."""
    untrained = never_trained(ckpt)
    derived = {target: source for target, source in DERIVED_ON_LOAD.items()
               if not target.startswith(untrained) and not source.startswith(untrained)}
    return export_checkpoint(ckpt, derived, untrained), untrained


def _same_weights(exported: IQL, trained: IQL, left_out: Sequence[str] = ()) -> bool:
    """Whether every tensor an export keeps is bit-equal in the two agents (`left_out`: prefixes it does not keep,
    beyond the derived ones)."""
    mine, theirs = exported.nets.state_dict(), trained.nets.state_dict()
    skipped = (*DERIVED_ON_LOAD, *left_out)
    kept = [name for name in theirs if not name.startswith(skipped)]
    return mine.keys() == theirs.keys() and all(torch.equal(mine[name], theirs[name]) for name in kept)


def published_steps(folder: Path) -> int | None:
    """The training budget (gradient steps) of the repo already published in ``folder``, or None when there is none
    (or its ``results.json`` does not say)."""
    try:
        steps = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))["budget"]["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(steps) if isinstance(steps, int) and not isinstance(steps, bool) else None


def publish_cell(
    cell: Cell,
    store: ResultsStore,
    zoo: Path,
    org: str,
    *,
    replace_longer: bool = False,
    eval_episodes: int | None = None,
    reps: int = 2000,
    replay: bool = True,
    replay_frames: int = 150,
    test_data: bool = False,
    leaderboard_url: str = LEADERBOARD_URL,
    log: Any = print,
) -> Published:
    """Write the repo of ``cell`` to ``zoo/org/{Agent}-{dataset}/`` (replacing an older one whole); the replay keeps
    at most ``replay_frames`` frames.

    The zoo holds one agent per (agent, dataset), the best-trained one: a repo published from a longer budget (e.g.
    the 1M-step ``paper`` runs) is not replaced by one from a shorter budget (``quick``) unless ``replace_longer``."""
    name = repo_name(cell.agent, cell.dataset_id)
    repo_id = f"{org}/{name}"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PublishError(f"{repo_id!r} is not a valid Hub repo id: {error}") from None
    chosen = choose_median(cell.finals)
    existing = published_steps(zoo / org / name)
    if existing is not None and existing > int(chosen["budget"]) and not replace_longer:
        raise PublishError(f"{zoo / org / name} was published from runs of {existing:,} steps; these runs have "
                           f"{int(chosen['budget']):,}. The zoo keeps the better-trained agent: pass --replace-longer "
                           "to replace it anyway")
    metric = score_column(cell.finals)
    run_id, step = str(chosen["run_id"]), int(chosen["step"])
    log(f"{repo_id}: seed {chosen['seed']} of {len(cell.finals)} (median by final {metric} {chosen[metric]:.2f}), "
        f"run {run_id}")
    ckpt_path = final_checkpoint(store, run_id, step)
    ckpt = load_checkpoint(ckpt_path)
    try:
        export, untrained = inference_export(ckpt)
    except ValueError as error:
        raise PublishError(f"{ckpt_path}: {error}") from None
    data = from_minari(cell.dataset_id, download=False)
    evaluation_hash = dataset_fingerprint(data)
    if evaluation_hash != chosen["dataset_hash"]:
        log(f"{repo_id}: warning: the local {cell.dataset_id} (hash {evaluation_hash}) is another build than the one "
            f"trained on ({chosen['dataset_hash']}); the re-evaluation uses the local one")

    with tempfile.TemporaryDirectory(prefix="iqlzoo-publish-") as work:
        staging = Path(work) / name
        save_checkpoint(staging, export)
        model = IQL.load(staging, device="cpu")
        trained = IQL.load(ckpt_path, device="cpu")
        if not _same_weights(model, trained, untrained):
            raise PublishError(f"{repo_id}: the exported weights differ from those of {ckpt_path}")
        n_episodes = eval_episodes or REEVAL_EPISODES[infer_domain(cell.dataset_id)]
        log(f"{repo_id}: re-evaluating on {n_episodes} episodes (reset seeds from {REEVAL_SEED:,})")
        reeval = reevaluate(model, data, n_episodes)
        replay_info: dict[str, Any] = {"file": None, "reason": "not recorded (--no-replay)"}
        if replay:
            replay_info = replay_record(model, data, staging / REPLAY_FILE, replay_frames, log)
        write_learning_curve(cell, int(chosen["seed"]), metric, staging / CURVE_FILE)
        results = results_document(repo_id=repo_id, cell=cell, store=store, chosen=chosen, ckpt_config=ckpt.config,
                                   evaluation_hash=evaluation_hash, reeval=reeval,
                                   references=reference_returns(data), replay=replay_info, reps=reps,
                                   test_data=test_data)
        _write_results(staging, results)
        _, weights_text = weights_summary(export.tensors, untrained, str(ckpt.config["agent_class"]))
        _write_card(staging, results, weights_text, ckpt.config["config"], leaderboard_url)
        # the whole repo replaces the old one in one move: a reader sees the old repo or the new, never a mix
        folder = atomic_write_folder(zoo / org / name, {p.name: p.read_bytes() for p in sorted(staging.iterdir())})
    score = results["reevaluation"]["normalized_score"]
    log(f"{repo_id}: written to {folder} (re-evaluated "
        f"{'score ' + format(score, '.1f') if score is not None else 'return ' + format(reeval.mean_return, '.1f')})")
    return Published(repo_id, folder, results)


#: What each file of a repo holds, for the card's file table.
REPO_FILES = {
    "config.json": "agent class, configuration, spaces, data transform, versions",
    "model.safetensors": "the weights (see below)",
    RESULTS_FILE: "every seed's evaluation records and provenance, the selection, the re-evaluation",
    REPLAY_FILE: "one deterministic evaluation episode",
    CURVE_FILE: "training-time evaluations of the seeds",
}


def _write_results(staging: Path, results: Mapping[str, Any]) -> None:
    """Write a repo's ``results.json`` (sorted keys, indented: a republish changes only the lines that changed)."""
    (staging / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_card(staging: Path, results: Mapping[str, Any], weights_text: str, config: Mapping[str, Any],
                leaderboard_url: str) -> None:
    """Render the card of the repo files in `staging` (checked with huggingface_hub) into its README.md."""
    repo_files = [RepoFile(f, text, (staging / f).stat().st_size) for f, text in REPO_FILES.items()
                  if (staging / f).is_file()]
    card = render_zoo_card(results, repo_files, weights_text, config, leaderboard_url, CODE_BASE_URL, REPO_URL)
    check_card(str(card))
    write_model_card(staging, card)


def reexport_repo(folder: Path, leaderboard_url: str = LEADERBOARD_URL, log: Any = print) -> bool:
    """Rewrite a published repo's weights as today's `inference_export` of them (e.g. without the networks its
    agent never trains, which repos published before 2026-12-03 shipped) and re-render its card with today's
    template; results, replay and curve stay, since the policy is unchanged (checked: every tensor kept is bit-equal,
    so every prediction and the card's re-evaluation are too). Weights that already are today's export keep their
    bytes. Returns whether any file changed."""
    ckpt = load_checkpoint(folder)
    untrained = never_trained(ckpt)
    exported = not untrained or not any(name.startswith(untrained) for name in ckpt.tensors)
    export = ckpt if exported else inference_export(ckpt)[0]
    results = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="iqlzoo-reexport-") as work:
        staging = Path(work) / folder.name
        if exported:
            copy_present(folder, staging, (CONFIG_FILE, MODEL_FILE))
        else:
            save_checkpoint(staging, export)
            if not _same_weights(IQL.load(staging, device="cpu"), IQL.load(folder, device="cpu"), untrained):
                raise PublishError(f"{folder}: the re-exported weights differ from the published ones")
        copy_present(folder, staging, (RESULTS_FILE, REPLAY_FILE, CURVE_FILE))
        _, weights_text = weights_summary(export.tensors, untrained, str(ckpt.config["agent_class"]))
        _write_card(staging, results, weights_text, ckpt.config["config"], leaderboard_url)
        files = {p.name: p.read_bytes() for p in sorted(staging.iterdir())}
        changed = any(not (folder / name).is_file() or (folder / name).read_bytes() != data
                      for name, data in files.items())
        if changed:
            atomic_write_folder(folder, files)
    if exported:
        log(f"{folder}: weights already today's export; card {'re-rendered' if changed else 'unchanged'}")
    else:
        log(f"{folder}: re-exported without {', '.join(untrained)} ({(folder / MODEL_FILE).stat().st_size:,} "
            "bytes of weights)")
    return changed


def reevaluate_repo(folder: Path, leaderboard_url: str = LEADERBOARD_URL, *, replay: bool = True,
                    replay_frames: int = 150, log: Any = print) -> dict[str, Any]:
    """Re-evaluate a published repo's weights as `publish_cell` does today (same episodes and seeds; the batch,
    torch thread count and CPU recorded), re-render its replay (kept as it was where this machine cannot render, or
    without `replay`) and its card; the weights, the training records and the curve stay. For repos whose
    re-evaluation predates the fixed thread count (2026-12-05) or was made on another kind of CPU. Returns the new
    ``reevaluation`` record."""
    results = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    ckpt = load_checkpoint(folder)
    dataset_id = results["dataset"]["id"]
    data = from_minari(dataset_id, download=False)
    evaluation_hash = dataset_fingerprint(data)
    if evaluation_hash != results["dataset"].get("hash"):
        log(f"{folder.name}: the local {dataset_id} (hash {evaluation_hash}) is another build than the one trained on "
            f"({results['dataset'].get('hash')}); the re-evaluation uses the local one")
    model = IQL.load(folder, device="cpu")
    before = results["reevaluation"]
    with tempfile.TemporaryDirectory(prefix="iqlzoo-reevaluate-") as work:
        staging = Path(work) / folder.name
        copy_present(folder, staging, (CONFIG_FILE, MODEL_FILE, CURVE_FILE, REPLAY_FILE))
        results["reevaluation"] = reevaluation_block(reevaluate(model, data, int(before["n_episodes"])),
                                                     reference_returns(data))
        results["dataset"]["evaluation_hash"] = evaluation_hash
        results["versions"]["publish"] = library_versions()
        if replay:
            shot = replay_record(model, data, staging / REPLAY_FILE, replay_frames, log)
            if shot["file"] is not None or (results.get("replay") or {}).get("file") is None:
                results["replay"] = shot
        _write_results(staging, results)
        _, weights_text = weights_summary(ckpt.tensors, never_trained(ckpt), str(ckpt.config["agent_class"]))
        _write_card(staging, results, weights_text, ckpt.config["config"], leaderboard_url)
        atomic_write_folder(folder, {p.name: p.read_bytes() for p in sorted(staging.iterdir())})
    after = results["reevaluation"]
    metric = "normalized_score" if after.get("normalized_score") is not None else "mean_return"
    log(f"{folder.name}: re-evaluated {before[metric]:.2f} -> {after[metric]:.2f} ({metric}, {after['n_episodes']} "
        f"episodes, {after['torch_threads']} torch thread, on {after['cpu']})")
    return after


def repo_folders(zoo: Path, org: str) -> list[Path]:
    """The repo folders under ``zoo/org`` (those with a ``config.json``), sorted."""
    folder = zoo / org
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and (p / "config.json").is_file())


def push_repos(
    folders: Sequence[Path], *, token: str | None, endpoint: str | None = None, private: bool = False, log: Any = print
) -> list[str]:
    """Upload each repo folder (``.../{org}/{name}``) to the Hub repo ``{org}/{name}``; returns the commit URLs.

    Raises `iqlzoo.hub.HubError` (with what to do) on the first repo that cannot be pushed.
    """
    urls = []
    for folder in folders:
        repo_id = f"{folder.parent.name}/{folder.name}"
        url = push_folder(folder, repo_id, token=token, private=private, endpoint=endpoint,
                          commit_message="Publish iqlzoo agent (python -m benchmarks.publish)",
                          extra_patterns=EXTRA_PATTERNS)
        log(f"{repo_id}: pushed ({url})")
        urls.append(str(url))
    return urls


def _push_later(out: Path, org: str) -> str:
    return f"python -m benchmarks.publish --push-only --out {out} --org {org}"


def _push(args: argparse.Namespace, folders: Sequence[Path]) -> int:
    """Push ``folders``; 0 when all went up, 1 with a message saying how to push them later otherwise."""
    token = get_token()
    if token is None:
        print(f"not pushed: no Hugging Face token. Log in with `hf auth login` (or set HF_TOKEN to a token with "
              f"write access to the organisation {args.org!r}), then push the {len(folders)} repos written under "
              f"{args.out / args.org} with: {_push_later(args.out, args.org)}", file=sys.stderr)
        return 1
    try:
        push_repos(folders, token=token, endpoint=args.endpoint, private=args.private)
    except HubError as error:
        print(f"not pushed: {error}\nEverything is written under {args.out / args.org}; once the Hub can be reached, "
              f"push it with: {_push_later(args.out, args.org)}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish",
                                     description="Publish the zoo: one Hub model repo per agent x dataset of a suite.")
    parser.add_argument("--suite", help="suite name (e.g. antmaze) or store suite (e.g. antmaze-quick)")
    parser.add_argument("--agents", nargs="+", help="agent labels to publish (default: all in the suite)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="datasets to publish: full ids or short names such as umaze (default: all)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results store (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="zoo folder (default %(default)s)")
    parser.add_argument("--org", default=DEFAULT_ORG, help="Hub organisation or user (default %(default)s)")
    parser.add_argument("--eval-episodes", type=int,
                        help="re-evaluation episodes (default: 100 on AntMaze, 10 on locomotion and others)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples of the CIs (default %(default)s)")
    parser.add_argument("--no-replay", action="store_true", help="do not render the replay GIF")
    parser.add_argument("--replace-longer", action="store_true",
                        help="replace repos published from a longer training budget (kept by default)")
    parser.add_argument("--leaderboard-url", default=LEADERBOARD_URL, help="leaderboard link on the cards")
    parser.add_argument("--push", action="store_true", help="upload the repos written to the Hub")
    parser.add_argument("--push-only", action="store_true", help="upload the repos already under --out/--org")
    parser.add_argument("--endpoint", help="Hub URL for --push (default: HF_ENDPOINT or https://huggingface.co)")
    parser.add_argument("--private", action="store_true", help="create new repos private")
    parser.add_argument("--reexport", nargs="+", type=Path, metavar="REPO_FOLDER",
                        help="rewrite these published repos' weights as today's export (leaving out the networks "
                             "their agent never trains) and re-render their cards; nothing is re-evaluated")
    parser.add_argument("--reevaluate", nargs="+", type=Path, metavar="REPO_FOLDER",
                        help="re-evaluate these published repos' weights on this machine as publishing does today "
                             "(same seeds, one torch thread) and re-render their replays and cards; the weights and "
                             "training records stay")
    args = parser.parse_args(argv)
    if not args.push_only and not args.reexport and not args.reevaluate and not args.suite:
        parser.error("--suite is required (unless --push-only, --reexport or --reevaluate)")
    for name in ("eval_episodes", "reps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Publish the cells asked for (and push them with --push); 0 when all is well, 1 when a cell or the push
    failed, 2 for a request that cannot be met."""
    args = parse_args(argv)
    if args.reexport:
        try:
            for folder in args.reexport:
                reexport_repo(folder, args.leaderboard_url)
        except (PublishError, CheckpointError, OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.reevaluate:
        try:
            for folder in args.reevaluate:
                reevaluate_repo(folder, args.leaderboard_url, replay=not args.no_replay)
        except (CheckpointError, OSError, ValueError, KeyError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.push_only:
        folders = repo_folders(args.out, args.org)
        if not folders:
            print(f"error: no repos under {args.out / args.org} to push", file=sys.stderr)
            return 2
        return _push(args, folders)
    test_data = (args.results / TEST_DATA_MARKER).exists()
    if test_data and args.out.resolve() == DEFAULT_OUT.resolve():
        print(f"error: {args.results} holds test data ({TEST_DATA_MARKER}); it must not be published to "
              f"{DEFAULT_OUT}: pass another --out", file=sys.stderr)
        return 2
    store = ResultsStore(args.results)
    frame = store.load()
    try:
        suite = store_suite(frame, args.suite)
        cells, notes = find_cells(store, frame, suite, args.agents, args.datasets)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    if not cells:
        print(f"error: suite {suite!r} has no finished runs to publish", file=sys.stderr)
        return 2
    names = [repo_name(cell.agent, cell.dataset_id) for cell in cells]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        print(f"error: several datasets give the repo names {clashes}; publish them apart with --datasets",
              file=sys.stderr)
        return 2
    published, failed = [], []
    for cell in cells:
        try:
            published.append(publish_cell(cell, store, args.out, args.org, replace_longer=args.replace_longer,
                                          eval_episodes=args.eval_episodes,
                                          reps=args.reps, replay=not args.no_replay, test_data=test_data,
                                          leaderboard_url=args.leaderboard_url))
        except (PublishError, CheckpointError, FileNotFoundError, ValueError) as error:
            failed.append(cell)
            print(f"error: {cell.agent} on {cell.dataset_id} not published: {error}", file=sys.stderr)
    print(f"published {len(published)} of {len(cells)} repos under {args.out / args.org}")
    status = 1 if failed else 0
    if args.push and published:
        status = _push(args, [repo.folder for repo in published]) or status
    return status


if __name__ == "__main__":
    raise SystemExit(main())
