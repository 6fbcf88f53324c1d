"""Share iqlzoo checkpoints through the Hugging Face Hub.

A checkpoint folder (``config.json`` + ``model.safetensors``, optionally ``optimizer.safetensors`` and
``state.json``) becomes a Hub model repo by adding a ``README.md`` model card (:func:`render_model_card`,
:func:`write_model_card`). Only JSON, safetensors and the card travel in either direction: pickles, ``.bin`` and
``.zip`` files are neither uploaded nor downloaded.

Failures of the Hub client are re-raised as :class:`HubError` subclasses whose message names the repo, revision or
endpoint involved and says what to do, instead of a deep traceback from the HTTP layer; when a repo cannot be fetched
but a published copy of it is on this machine (:mod:`iqlzoo.zoo`), the message says where, and how to serve it.
``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` are read by ``huggingface_hub`` when it is first imported; the ``endpoint=``
and ``local_files_only=`` arguments take effect per call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import (
    CommitInfo,
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
    constants,
    is_offline_mode,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from iqlzoo.atomic import atomic_write_text
from iqlzoo.zoo import local_copy_hint

CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
#: The only files pushed to or fetched from a repo.
CHECKPOINT_PATTERNS = (CONFIG_FILE, "*.safetensors", "*.json", CARD_FILE)
BASE_TAGS = ("reinforcement-learning", "offline-reinforcement-learning", "iql", "minari", "iqlzoo")
#: metrics key -> (model-index metric type, human-readable name)
METRICS = {
    "normalized_score": ("normalized_score", "Normalized score (x100, D4RL convention)"),
    "mean_reward": ("mean_reward", "Mean episode return"),
    "std_reward": ("std_reward", "Std of episode return"),
    "success_rate": ("success_rate", "Success rate"),
}
METRIC_EXTRAS = ("normalized_score_ci", "n_episodes")


class HubError(RuntimeError):
    """A Hub operation failed; the message says what went wrong and what to do."""


class HubRepoNotFoundError(HubError):
    """The repo does not exist, or the token used gives no access to it."""


class HubRevisionNotFoundError(HubError):
    """The repo exists but has no such branch, tag or commit."""


class NotACheckpointError(HubError):
    """A folder or repo without ``config.json``: not an iqlzoo checkpoint."""


class HubOfflineError(HubError):
    """Network access is disabled and the cache has no copy of what was asked for."""


class HubConnectionError(HubError):
    """The Hub endpoint could not be reached (or failed) and the cache has no copy to fall back on."""


def push_folder(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload iqlzoo agent",
    endpoint: str | None = None,
    extra_patterns: Sequence[str] = (),
) -> CommitInfo:
    """Upload a checkpoint folder to the model repo ``repo_id`` as one commit, creating the repo if needed.

    Only files matching :data:`CHECKPOINT_PATTERNS` (and ``extra_patterns``) are sent; files whose content is already
    in the repo are skipped, and a push that changes nothing makes no commit.

    Args:
        folder: checkpoint folder; must contain ``config.json``.
        repo_id: ``"namespace/name"``.
        token: Hub token with write access; None uses ``HF_TOKEN`` or the saved login.
        private: create the repo private (ignored when it already exists).
        revision: branch to commit to, created from ``main`` if missing; None commits to ``main``.
        commit_message: summary of the commit.
        endpoint: Hub URL; None uses ``HF_ENDPOINT`` or https://huggingface.co.
        extra_patterns: further glob patterns of files to send, e.g. ``("*.gif", "*.png")`` for a replay and plots.

    Returns:
        The commit: a ``str`` holding the commit URL, with the commit id as ``.oid``.

    Raises:
        NotACheckpointError: ``folder`` has no ``config.json``.
        HubRepoNotFoundError: the token may not create or write to ``repo_id``.
        HubOfflineError: ``HF_HUB_OFFLINE`` is set.
        HubConnectionError: the endpoint cannot be reached.
        HubError: any other refusal by the Hub.
    """
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        state = "does not exist" if not folder.exists() else f"has no {CONFIG_FILE}"
        raise NotACheckpointError(
            f"Cannot push {folder}: it {state}, so it is not an iqlzoo checkpoint folder. "
            "Save the agent to a folder first and push that folder."
        )
    url = _endpoint_url(endpoint)
    api = HfApi(endpoint=endpoint, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            revision=revision,
            commit_message=commit_message,
            allow_patterns=[*CHECKPOINT_PATTERNS, *extra_patterns],
        )
    except OfflineModeIsEnabled:
        raise HubOfflineError(
            f"Cannot push to {repo_id!r}: HF_HUB_OFFLINE is set. Unset it (and connect to the internet) to upload."
        ) from None
    except httpx2.TransportError as err:
        raise HubConnectionError(
            f"Cannot push to {repo_id!r}: the Hub at {url} cannot be reached ({_summary(err)}). Check your "
            "connection and the endpoint (the endpoint= argument or HF_ENDPOINT)."
        ) from None
    except HfHubHTTPError as err:
        if isinstance(err, RepositoryNotFoundError) or err.response.status_code in (401, 403):
            raise HubRepoNotFoundError(
                f"Cannot push to {repo_id!r} on {url}: {_token_hint(token)} may not create or write to this repo. "
                f"Pass token= with write access to the namespace {repo_id.split('/')[0]!r}, or set HF_TOKEN / run "
                f"`hf auth login`. ({_summary(err)})"
            ) from None
        raise HubError(f"Pushing {folder} to {repo_id!r} on {url} failed: {_summary(err)}") from None


def download_folder(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
    local_files_only: bool = False,
    endpoint: str | None = None,
) -> Path:
    """Fetch the checkpoint files of ``repo_id`` into the Hub cache and return the snapshot folder.

    Only files matching :data:`CHECKPOINT_PATTERNS` are fetched. Files already cached are not fetched again; when
    network access is disabled (``local_files_only=True`` or ``HF_HUB_OFFLINE=1``) or the endpoint cannot be
    reached, the cached snapshot of ``revision`` is returned if there is one.

    Args:
        repo_id: ``"namespace/name"``.
        revision: branch, tag or commit id; None means ``main``.
        cache_dir: Hub cache folder; None uses ``HF_HUB_CACHE`` (``~/.cache/huggingface/hub``).
        token: Hub token for private or gated repos; None uses ``HF_TOKEN`` or the saved login.
        local_files_only: never use the network.
        endpoint: Hub URL; None uses ``HF_ENDPOINT`` or https://huggingface.co.

    Returns:
        The snapshot folder, holding at least ``config.json``.

    Raises:
        HubRepoNotFoundError: the repo does not exist or the token gives no access to it.
        HubRevisionNotFoundError: the repo has no such revision.
        NotACheckpointError: the repo has no ``config.json`` at that revision.
        HubOfflineError: network access is disabled and nothing is cached.
        HubConnectionError: the endpoint cannot be reached (or failed) and nothing is cached.
        HubError: any other refusal by the Hub.
    """
    url = _endpoint_url(endpoint)
    rev = revision or constants.DEFAULT_REVISION
    try:
        snapshot = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=cache_dir,
                token=token,
                local_files_only=local_files_only,
                endpoint=endpoint,
                allow_patterns=list(CHECKPOINT_PATTERNS),
            )
        )
    except RevisionNotFoundError:
        raise HubRevisionNotFoundError(
            f"Repository {repo_id!r} on {url} has no revision {rev!r}. Pass an existing branch, tag or commit id, "
            "or revision=None for the latest version on main."
        ) from None
    except LocalEntryNotFoundError as err:
        cache = Path(cache_dir or constants.HF_HUB_CACHE)
        if local_files_only or is_offline_mode():
            reason = "local_files_only=True" if local_files_only else "HF_HUB_OFFLINE is set"
            raise HubOfflineError(
                f"No complete cached copy of {repo_id!r} (revision {rev!r}) in {cache}, and downloads are disabled "
                f"({reason}). Connect to the internet and download it once (unset HF_HUB_OFFLINE / pass "
                "local_files_only=False), or load a local checkpoint folder with IQL.load(path) instead "
                "(load_from_hub takes Hub repo ids only)." + local_copy_hint(repo_id)
            ) from None
        cause = _summary(err.__cause__) if err.__cause__ is not None else _summary(err)
        raise HubConnectionError(
            f"Cannot download {repo_id!r}: the Hub at {url} cannot be reached or failed ({cause}), and there is no "
            f"cached copy of revision {rev!r} in {cache}. Check your connection and the endpoint (the endpoint= "
            "argument or HF_ENDPOINT), or load a local checkpoint folder with IQL.load(path) instead."
            + local_copy_hint(repo_id)
        ) from None
    except httpx2.TransportError as err:
        raise HubConnectionError(
            f"Downloading {repo_id!r} from {url} was interrupted ({_summary(err)}). Check your connection and retry."
            + local_copy_hint(repo_id)
        ) from None
    except HfHubHTTPError as err:
        if isinstance(err, RepositoryNotFoundError) or err.response.status_code in (401, 403):
            raise HubRepoNotFoundError(
                f"Repository {repo_id!r} was not found on {url}, or {_token_hint(token)} gives no access to it. "
                "Check the repo id (namespace/name); for a private or gated repo pass token= or set HF_TOKEN / run "
                "`hf auth login`." + local_copy_hint(repo_id)
            ) from None
        raise HubError(f"Downloading {repo_id!r} (revision {rev!r}) from {url} failed: {_summary(err)}") from None
    if not (snapshot / CONFIG_FILE).is_file():
        found = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*")) if snapshot.is_dir() else []
        raise NotACheckpointError(
            f"Repository {repo_id!r} (revision {rev!r}) has no {CONFIG_FILE}, so it is not an iqlzoo checkpoint "
            f"(checkpoint files found: {', '.join(found) or 'none'}). Check the repo id, and the revision if the "
            "checkpoint is on another branch."
        )
    return snapshot


def render_model_card(
    *,
    repo_id: str,
    agent_class: str | type,
    config: Mapping[str, Any],
    dataset_id: str | None,
    env_id: str | None,
    num_timesteps: int,
    metrics: Mapping[str, Any] | None = None,
) -> ModelCard:
    """Build the model card (``README.md``) of a checkpoint repo from ``hub_cards/template.md``.

    The metadata has ``library_name: iqlzoo``, tags for the method, agent class, dataset and environment, the
    dataset under ``datasets``, and, when ``metrics`` are given, a ``model-index`` with one result per metric.

    Args:
        repo_id: the repo the card is for (shown in the loading snippet).
        agent_class: agent class or its name, e.g. ``"IQL"``.
        config: the agent's full configuration, shown as JSON.
        dataset_id: Minari dataset the agent was trained on.
        env_id: Gymnasium environment it was evaluated in.
        num_timesteps: training steps done.
        metrics: evaluation results, any of ``normalized_score`` (D4RL x100 scale), ``normalized_score_ci``
            (``[low, high]``), ``mean_reward``, ``std_reward``, ``success_rate`` (0 to 1) and ``n_episodes``.
            None or empty: the card says that no evaluation is known.

    Raises:
        ValueError: unknown metric names, a malformed confidence interval, or metrics with neither ``dataset_id``
            nor ``env_id`` to say what they were measured on.
    """
    name = agent_class if isinstance(agent_class, str) else agent_class.__name__
    metrics = dict(metrics or {})
    unknown = sorted(set(metrics) - set(METRICS) - set(METRIC_EXTRAS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; expected some of {[*METRICS, *METRIC_EXTRAS]}")
    if any(key in metrics for key in METRICS) and not (dataset_id or env_id):
        raise ValueError("metrics need dataset_id or env_id to say what they were measured on")
    ci = metrics.get("normalized_score_ci")
    if ci is not None and (len(ci) != 2 or float(ci[0]) > float(ci[1])):
        raise ValueError(f"normalized_score_ci must be [low, high] with low <= high, got {ci!r}")

    eval_results = _eval_results(metrics, benchmark=dataset_id or env_id or "")
    card_data = ModelCardData(
        library_name="iqlzoo",
        tags=[*BASE_TAGS, name, *(x for x in (dataset_id, env_id) if x)],
        datasets=[dataset_id] if dataset_id else None,
        model_name=repo_id if eval_results else None,
        eval_results=eval_results or None,
    )
    template = files("hub_cards").joinpath("template.md").read_text(encoding="utf-8")
    return ModelCard.from_template(
        card_data,
        template_str=template,
        repo_id=repo_id,
        agent_class=name,
        dataset_id=dataset_id,
        env_id=env_id,
        num_timesteps=int(num_timesteps),
        config_json=json.dumps(config, indent=2, sort_keys=True),
        results=_result_rows(metrics),
        n_episodes=metrics.get("n_episodes"),
        has_normalized_score="normalized_score" in metrics,
    )


def write_model_card(folder: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write ``card`` to ``folder/README.md`` atomically and durably (:func:`iqlzoo.atomic.atomic_write_text`, mode
    0o644: a README is world-readable) and return its path."""
    return atomic_write_text(Path(folder) / CARD_FILE, str(card), mode=0o644)


def _eval_results(metrics: Mapping[str, Any], *, benchmark: str) -> list[EvalResult]:
    """One model-index result per metric present, on the dataset (or environment) ``benchmark``."""
    results = []
    for key, (metric_type, metric_name) in METRICS.items():
        if key not in metrics:
            continue
        args: dict[str, Any] = {}
        if metrics.get("n_episodes") is not None:
            args["n_episodes"] = int(metrics["n_episodes"])
        if key == "normalized_score" and metrics.get("normalized_score_ci") is not None:
            args["confidence_interval"] = [round(float(x), 4) for x in metrics["normalized_score_ci"]]
        results.append(
            EvalResult(
                task_type="reinforcement-learning",
                task_name="Offline Reinforcement Learning",
                dataset_type=benchmark,
                dataset_name=benchmark,
                metric_type=metric_type,
                metric_name=metric_name,
                metric_value=round(float(metrics[key]), 4),
                metric_args=args or None,
            )
        )
    return results


def _result_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, formatted value) rows of the card's evaluation table."""
    rows = []
    if "normalized_score" in metrics:
        value = f"{float(metrics['normalized_score']):.1f}"
        if metrics.get("normalized_score_ci") is not None:
            low, high = (float(x) for x in metrics["normalized_score_ci"])
            value += f" (confidence interval {low:.1f} to {high:.1f})"
        rows.append((METRICS["normalized_score"][1], value))
    if "mean_reward" in metrics:
        value = f"{float(metrics['mean_reward']):,.1f}"
        if "std_reward" in metrics:
            value += f" ± {float(metrics['std_reward']):,.1f}"
        rows.append((METRICS["mean_reward"][1], value))
    elif "std_reward" in metrics:
        rows.append((METRICS["std_reward"][1], f"{float(metrics['std_reward']):,.1f}"))
    if "success_rate" in metrics:
        rows.append((METRICS["success_rate"][1], f"{100 * float(metrics['success_rate']):.1f} %"))
    return rows


def _endpoint_url(endpoint: str | None) -> str:
    return (endpoint or constants.ENDPOINT).rstrip("/")


def _token_hint(token: str | None) -> str:
    return "the token passed" if token else "the default token (HF_TOKEN or the saved login, if any)"


def _summary(err: BaseException) -> str:
    """``ClassName: first line of the message``."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
