"""The model card (README.md) of a zoo repo, rendered from its ``results.json`` by ``hub_cards/zoo.md``.

Every number on the card comes from the results document that `benchmarks.publish` writes beside it, so the card
and the data it summarises cannot disagree. The YAML header is built with ``huggingface_hub``'s ``ModelCardData``
and ``EvalResult``: its ``model-index`` carries the re-evaluated normalised score of the published weights, their
success rate where the task has one, and their mean and standard deviation of return. `check_card` parses a card
back with ``ModelCard`` and checks that the model-index survived.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import pandas as pd
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from benchmarks.scales import normalisation_refs, rounded
from iqlzoo.hub import METRICS

TAGS = ("reinforcement-learning", "deep-reinforcement-learning", "offline-reinforcement-learning", "iqlzoo")
TASK_NAME = "Offline Reinforcement Learning"
#: re-evaluation key -> (model-index metric type, metric name)
MODEL_INDEX_METRICS = {
    "normalized_score": METRICS["normalized_score"],
    "success_rate": METRICS["success_rate"],
    "mean_return": METRICS["mean_reward"],
    "std_return": METRICS["std_reward"],
}


@dataclass(frozen=True)
class RepoFile:
    """A file of the repo as the card lists it."""

    name: str
    contents: str
    size: int


def human_size(size: int) -> str:
    """Bytes as "312 kB" / "1.21 MB" (powers of 1000, as the Hub shows them)."""
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.0f} kB"
    return f"{size / 1_000_000:.2f} MB"


def eval_results(results: Mapping[str, Any]) -> list[EvalResult]:
    """The model-index entries: the re-evaluation of the published weights, one per metric it has."""
    dataset_id = results["dataset"]["id"]
    reeval = results["reevaluation"]
    args = {"n_episodes": int(reeval["n_episodes"]), "first_seed": int(reeval["first_seed"]), "deterministic": True}
    entries = []
    for key, (metric_type, metric_name) in MODEL_INDEX_METRICS.items():
        value = reeval.get(key)
        if value is None:
            continue
        entries.append(
            EvalResult(
                task_type="reinforcement-learning",
                task_name=TASK_NAME,
                dataset_type=dataset_id,
                dataset_name=dataset_id,
                metric_type=metric_type,
                metric_name=metric_name,
                metric_value=round(float(value), 4),
                metric_args=dict(args),
            )
        )
    return entries


def _with_ci(summary: Mapping[str, Any] | None, scale: float = 1.0, unit: str = "") -> str:
    if summary is None:
        return "–"
    low, high = (scale * float(x) for x in summary["ci95"])
    return f"{scale * float(summary['mean']):.1f}{unit} [{low:.1f}, {high:.1f}]"


def _value(value: float | None, scale: float = 1.0, unit: str = "") -> str:
    return "–" if value is None else f"{scale * float(value):.1f}{unit}"


def _score_table(results: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(column heads, rows) of the evaluation table: re-evaluation, mean over seeds, the published seed."""
    reeval, training = results["reevaluation"], results["training"]
    chosen = results["selection"]
    final = next(run["final"] for run in results["runs"] if run["run_id"] == chosen["run_id"])
    columns: list[tuple[str, str, float, str]] = []  # (head, key, scale, unit)
    if reeval.get("normalized_score") is not None:
        columns.append(("Normalised score", "normalized_score", 1.0, ""))
    if reeval.get("success_rate") is not None:
        columns.append(("Success rate", "success_rate", 100.0, " %"))
    last, n = reeval["first_seed"] + reeval["n_episodes"] - 1, len(results["runs"])
    rows = [
        {
            "label": "These weights, re-evaluated after training",
            "cells": [_value(reeval[key], scale, unit) for _, key, scale, unit in columns]
            + [f"{reeval['mean_return']:,.1f} ± {reeval['std_return']:,.1f}"],
            "episodes": f"{reeval['n_episodes']} (reset seeds {reeval['first_seed']:,}–{last:,})",
        },
        {
            "label": f"Training-time final evaluation, mean over {n} seed{'s' if n != 1 else ''} [95% CI]",
            "cells": [_with_ci(training[key], scale, unit) for _, key, scale, unit in columns]
            + [_with_ci(training["return_mean"])],
            "episodes": f"{results['budget']['eval_episodes']} per seed",
        },
        {
            "label": f"Training-time final evaluation of the published seed ({chosen['seed']})",
            "cells": [_value(final[key], scale, unit) for _, key, scale, unit in columns]
            + [f"{final['return_mean']:,.1f}"],
            "episodes": str(final["n_episodes"]),
        },
    ]
    return [head for head, *_ in columns] + ["Return"], rows


def _batching_text(n_episodes: int, n_envs: int) -> str:
    """How an evaluation's episodes were stepped: "10 episodes side by side", "100 episodes, 10 at a time side by
    side," (one batched policy call per step of the batch)."""
    if n_episodes <= n_envs:
        return f"{n_episodes} episode{'s' if n_episodes != 1 else ''} side by side"
    return f"{n_episodes} episodes, {n_envs} at a time side by side,"


def _protocol_text(results: Mapping[str, Any]) -> str:
    reeval, training = results["reevaluation"], results["training"]
    lines = [
        "Every evaluation rolls out the policy's deterministic (mean) action without further training. The "
        f"re-evaluation resets episode i with seed {reeval['first_seed']:,} + i, disjoint from the seeds of the "
        "training-time evaluations (1,000,000 + 1,000 · seed + i)."
    ]
    if reeval.get("torch_threads") is not None:
        lines.append(
            f"It ran {_batching_text(reeval['n_episodes'], reeval['n_envs'])} with the policy on "
            f"{reeval['torch_threads']} torch thread{'s' if reeval['torch_threads'] != 1 else ''} (as "
            "`iqlzoo.evaluate` does) on "
            f"{'the CPU `' + reeval['cpu'] + '`' if reeval.get('cpu') else 'a CPU it did not record'}: on that kind of "
            "CPU, "
            f"`evaluate(model, n_episodes={reeval['n_episodes']}, seed={reeval['first_seed']})` reproduces its returns "
            "to the bit; on another kind, last-bit differences in the arithmetic grow along an episode, so expect "
            "agreement within sampling noise."
        )
    if reeval.get("normalized_score") is not None:
        lines.append(
            "Normalised score: 100 × (return − random return) / (expert return − random return), D4RL's convention "
            f"(0 is a random policy, 100 an expert), with the dataset's reference returns{_references_text(results)}."
        )
    lines.append(
        "The 95% confidence intervals over seeds are percentile intervals of rliable's bootstrap "
        f"({training['reps']:,} resamples of the seeds, bootstrap seed {training['bootstrap_seed']}); with few seeds "
        "they are wide."
    )
    return " ".join(lines)


def _references_text(results: Mapping[str, Any]) -> str:
    """", random R0 and expert R1. These are ..." naming the reference returns the re-evaluation's score uses when
    they are returns (locomotion), not AntMaze's 0 and 1 (success): as its record names them (`reference_returns`),
    else, for a re-evaluation on the build the runs trained on, solved from their records
    (`scales.normalisation_refs`); then the training-time scores' own where they differ (another build: each measures
    its references when it is made); on regenerated data, that they are not D4RL's. "" when neither is known."""
    build = results["dataset"]["hash"]
    rows = pd.DataFrame([record for run in results["runs"] if run["dataset_hash"] == build
                         for record in run["evaluations"]], columns=["return_mean", "normalized_score"])
    trained = normalisation_refs(rows.astype(float))
    recorded = results["reevaluation"].get("reference_returns")
    same_build = results["dataset"].get("evaluation_hash", build) == build
    refs = tuple(recorded) if recorded else (trained if same_build else None)
    if refs is None or (abs(refs[0]) < 1e-6 and abs(refs[1] - 1.0) < 1e-6):
        return ""
    text = f", random {refs[0]:,.1f} and expert {refs[1]:,.1f}"
    if trained is not None and rounded(trained) != rounded(refs):
        text += (f" (the training-time scores: random {trained[0]:,.1f} and expert {trained[1]:,.1f}, solved from the "
                 "training records of the build they trained on, which measured its own)")
    if results["dataset"].get("source") != "regenerated":
        return text  # official data: its references are Minari's, which may or may not be D4RL's
    return (text + ". These are this data's own, not the ones D4RL's published tables normalise with: beside a "
            "published score, this one says where the agent stands between its own data's random and expert "
            "policies, not how large its returns are")


def _dataset_text(results: Mapping[str, Any], code_url: str) -> tuple[str, str]:
    """(the dataset row of the card, how to get the dataset)."""
    data = results["dataset"]
    dataset_id, source = data["id"], data["source"]
    name = "-".join(dataset_id.split("/")[1:])
    build = f"build it with `{data['build_command']}`" if data.get("build_command") else "it is not published"
    if source == "official":
        text, how = f"`{dataset_id}` (official Minari dataset)", "`minari` downloads it on first use"
    elif source == "regenerated":
        text = (f"`{dataset_id}`, regenerated by iqlzoo in place of the official `{data['official_id']}` "
                f"([dataset card]({code_url}/docs/datasets/{name}.md))")
        how = build
    else:
        text, how = f"`{dataset_id}`, a toy dataset (test data, not a benchmark)", build
    text += f"; content hash `{data['hash']}` (SHA-256 over the transitions, first 16 hex digits)"
    if data.get("evaluation_hash") not in (None, data["hash"]):
        text += f"; re-evaluated with a local build of hash `{data['evaluation_hash']}`"
    return text, how


def _precision_text(precision: str) -> str:
    if precision == "bf16":
        return ("bfloat16 autocast for the matmuls, with the value path (Q, V, TD targets, advantages, AWR weights) "
                "in float32; weights stored in float32")
    return "float32"


def _versions_text(versions: Mapping[str, Any]) -> str:
    packages = versions.get("training") or {}
    names = [name for name in ("iqlzoo", "torch", "gymnasium", "minari", "mujoco") if name in packages]
    text = ", ".join(f"{name} {packages[name]}" for name in names) or "versions not recorded"
    if versions.get("git_commit"):
        text += f" (commit `{versions['git_commit'][:12]}`)"
    return text


def _replay_text(replay: Mapping[str, Any]) -> str:
    if not replay.get("file"):
        return str(replay.get("reason", "not recorded"))
    text = (f"The first re-evaluation episode (reset seed {replay['seed']:,}), played again with rendering: "
            f"return {replay['return']:,.1f} over {replay['length']} steps")
    if replay.get("success") is not None:
        text += ", goal reached" if replay["success"] else ", goal not reached"
    return text + f"; {replay['frames']} frames, every {replay['every']} step(s), at {replay['speed']:g}x speed."


def render_zoo_card(
    results: Mapping[str, Any],
    repo_files: Sequence[RepoFile],
    weights_text: str,
    config: Mapping[str, Any],
    leaderboard_url: str,
    code_url: str,
    repo_url: str,
) -> ModelCard:
    """The card of a zoo repo from its results document (see `benchmarks.publish.results_document`)."""
    dataset_text, dataset_how = _dataset_text(results, code_url)
    heads, rows = _score_table(results)
    budget = results["budget"]
    selection = results["selection"]
    seeds = ", ".join(str(run["seed"]) for run in results["runs"])
    card_data = ModelCardData(
        library_name="iqlzoo",
        pipeline_tag="reinforcement-learning",
        tags=list(dict.fromkeys([*TAGS, "iql", results["agent"], results["agent_class"], results["dataset"]["id"],
                                 results["dataset"]["env_id"]])),
        model_name=results["repo_id"],
        eval_results=eval_results(results),
    )
    template = files("hub_cards").joinpath("zoo.md").read_text(encoding="utf-8")
    return ModelCard.from_template(
        card_data,
        template_str=template,
        repo_id=results["repo_id"],
        agent=results["agent"],
        agent_class=results["agent_class"],
        dataset_id=results["dataset"]["id"],
        env_id=results["dataset"]["env_id"],
        test_data=results["test_data"],
        repo_url=repo_url,
        chosen_seed=selection["seed"],
        n_seeds=len(results["runs"]),
        dataset_text=dataset_text,
        dataset_how=dataset_how,
        budget_text=(f"`{budget['name']}`: {budget['steps']:,} gradient steps; evaluated every "
                     f"{budget['eval_every']:,} steps on {budget['eval_episodes']} episodes"),
        precision_text=_precision_text(results["precision"]),
        seeds_text=f"{len(results['runs'])} ({seeds}); published: seed {selection['seed']}, "
        f"run `{selection['run_id']}`",
        versions_text=_versions_text(results["versions"]),
        score_heads=heads,
        score_rows=rows,
        protocol_text=_protocol_text(results),
        reeval_episodes=results["reevaluation"]["n_episodes"],
        reeval_seed=results["reevaluation"]["first_seed"],
        replay_file=results["replay"].get("file"),
        replay_text=_replay_text(results["replay"]),
        curve_file=results["learning_curve"],
        files=[(f.name, f.contents, human_size(f.size)) for f in repo_files],
        weights_text=weights_text,
        leaderboard_url=leaderboard_url,
        config_json=json.dumps(config, indent=2, sort_keys=True),
    )


def check_card(text: str) -> ModelCard:
    """Parse a card with ``huggingface_hub.ModelCard`` and check its metadata: the tags, and a model-index whose
    results ``ModelCardData`` reads back with finite values. Returns the parsed card; raises ValueError otherwise."""
    card = ModelCard(text)
    data = card.data
    missing = [tag for tag in TAGS if tag not in (data.tags or [])]
    if missing:
        raise ValueError(f"card lacks the tags {missing}")
    if not data.eval_results or "model-index" not in data.to_dict():
        raise ValueError("card has no model-index")
    bad = [r.metric_type for r in data.eval_results if not math.isfinite(float(r.metric_value))]
    if bad:
        raise ValueError(f"card's model-index has non-finite values for {bad}")
    return card
