"""Stable-Baselines3-style plumbing shared by iqlzoo's offline agents.

The agent owns the training loop (``learn``), acting (``predict``) and persistence (``save``/``load``, Hub push and
pull); a subclass supplies the networks and one gradient step. Conventions follow SB3 exactly — ``learn`` returns
``self`` and honours SB3 callbacks and loggers, ``predict`` returns ``(action, state)`` and decides single vs batch
from the observation's shape — except the save format, which is JSON + safetensors instead of pickle.
"""

from __future__ import annotations

import os
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback, ProgressBarCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from iqlzoo.agents.progress import gradient_step_bar
from iqlzoo.arguments import positive_int, resolve_device, seed_argument, verbose_argument
from iqlzoo.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from iqlzoo.data.spaces import ObservationFlattener
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.errors import InvalidInputError
from iqlzoo.limits import LoadLimits

SelfAgent = TypeVar("SelfAgent", bound="OfflineAgent")


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite during training."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


class _GradientStepProgressBar(ProgressBarCallback):
    """SB3's progress bar, advanced by one gradient step per call (there is no training env to count), showing the
    mean rate of the call (see :mod:`iqlzoo.agents.progress`)."""

    def _on_training_start(self) -> None:
        self.pbar = gradient_step_bar(self.model._total_timesteps - self.model.num_timesteps)

    def _on_step(self) -> bool:
        self.pbar.update(1)
        return True


def library_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint."""
    import importlib.metadata as md

    out = {}
    for name in ("iqlzoo", "torch", "numpy", "gymnasium", "minari", "stable-baselines3"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


#: Every agent class by its ``agent_name``: the one registry that checkpoints, the harness and the leaderboard use.
#: A subclass registers itself by being defined (see :meth:`OfflineAgent.__init_subclass__`).
AGENTS: dict[str, type[OfflineAgent]] = {}


class OfflineAgent(ABC):
    """Base of iqlzoo's agents: SB3's user-facing API over an offline (dataset-driven) gradient-step loop.

    Subclasses implement :meth:`_train_step` (one update on one batch, returning a 1-D tensor of statistics named
    by :attr:`stat_names`), :meth:`_act` (normalised observations → actions in [-1, 1]) and the checkpoint hooks
    :meth:`_checkpoint_payload` / :meth:`_from_checkpoint`.

    The contract the benchmark harness and diagnostics rely on, and nothing more: ``config`` (a dataclass with
    ``to_json()``), ``dataset`` (the :class:`~iqlzoo.data.TransitionDataset` trained on, or None), ``n_seeds`` and
    ``seeds``, :meth:`agent` and :meth:`stack` (K seeds as one model and back), and :meth:`penultimate_features` /
    :meth:`penultimate_weights` (what effective-rank diagnostics measure).
    """

    agent_name: ClassVar[str] = "OfflineAgent"
    stat_names: tuple[str, ...] = ()
    config: Any
    dataset: TransitionDataset | None = None
    n_seeds: int = 1
    seeds: list[int]
    parameter_attributes: ClassVar[tuple[str, ...]] = ("nets", "optimizer")
    """The attributes whose state dicts make up :meth:`get_parameters` (SB3's ``_get_torch_save_params``): the
    ``nn.Module`` holding every network and the optimizer of their parameters."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "agent_name" in cls.__dict__:
            AGENTS[cls.agent_name] = cls

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.spaces.Box,
        obs_keys: tuple[str, ...] | None,
        *,
        env: gym.Env | VecEnv | None = None,
        seed: int | None = None,
        device: str | torch.device = "auto",
        verbose: int = 0,
        tensorboard_log: str | None = None,
    ) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.flattener = ObservationFlattener(observation_space, obs_keys)
        self.device = resolve_device(device)
        self.verbose = verbose_argument(verbose)
        seed = seed_argument(seed)
        self.tensorboard_log = tensorboard_log
        self.seed = seed
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._logger: Logger | None = None
        self._custom_logger = False
        self._first_bad_step: torch.Tensor | None = None
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed if seed is not None else int(torch.randint(2**31 - 1, (1,)).item()))
        self.env: VecEnv | None = None
        if env is not None:
            self.set_env(env)

    # ------------------------------------------------------------------ environment
    def set_env(self, env: gym.Env | VecEnv) -> None:
        """Attach an environment (used by callbacks and :func:`iqlzoo.evaluate`); its spaces must match the data."""
        venv = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
        space = venv.action_space
        if not isinstance(space, gym.spaces.Box) or space.shape != self.action_space.shape or not (
            np.allclose(space.low, self.action_space.low) and np.allclose(space.high, self.action_space.high)
        ):
            raise InvalidInputError(
                f"the environment's action space {venv.action_space} does not match the dataset's "
                f"{self.action_space}: train and act in the same environment"
            )
        try:
            env_dim = ObservationFlattener(venv.observation_space, self.flattener.keys).dim
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"the environment's observation space does not fit the model: {exc}") from None
        if env_dim != self.flattener.dim:
            raise InvalidInputError(
                f"the environment's observations flatten to {env_dim} values but the model expects "
                f"{self.flattener.dim} ({self.observation_space})"
            )
        self.env = venv

    def get_env(self) -> VecEnv | None:
        """The attached environment as a VecEnv (SB3's ``get_env``).

        Without one, the dataset's evaluation environment is created on first call; None when neither exists.
        """
        if self.env is None:
            default = self._default_env()
            if default is not None:
                self.set_env(default)
        return self.env

    def get_vec_normalize_env(self) -> None:
        """SB3 callbacks ask for it; offline agents never normalise through a VecNormalize wrapper."""
        return None

    def _default_env(self) -> gym.Env | None:
        """The environment to use when none was given (subclasses: the dataset's evaluation environment)."""
        return None

    # ------------------------------------------------------------------ logging
    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = configure_logger(self.verbose, None, "", True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use ``logger`` (e.g. from ``stable_baselines3.common.logger.configure``) instead of the default."""
        self._logger = logger
        self._custom_logger = True

    # ------------------------------------------------------------------ training
    @abstractmethod
    def _train_step(self, progress_remaining: float) -> torch.Tensor:
        """Sample a batch, apply one gradient step to every network; return the statistics: a 1-D tensor, or for a
        model training K agents at once a (K, n_stats) tensor, one row per agent."""

    @abstractmethod
    def _setup_training(self, total_timesteps: int) -> None:
        """Raise when the agent cannot train (e.g. loaded without a dataset); prepare buffer and step function."""

    def learn(
        self: SelfAgent,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 1000,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfAgent:
        """Run ``total_timesteps`` gradient steps (SB3's "timesteps" are gradient steps offline).

        With ``reset_num_timesteps=False`` training continues from :attr:`num_timesteps` (e.g. after ``load``) up to
        ``num_timesteps + total_timesteps``; the progress bar counts the steps of this call.

        Statistics are averaged over ``log_interval`` steps and dumped to the SB3 logger; callbacks see one
        ``on_step`` per gradient step and stop training by returning False. Losses are checked for NaN/inf at every
        dump (and at least every 1000 steps) without a host sync inside the step; a non-finite loss raises
        :class:`TrainingDivergedError` naming the first bad step.
        """
        total_timesteps = positive_int("total_timesteps", total_timesteps)
        log_interval = positive_int("log_interval", log_interval)
        self._setup_training(total_timesteps)
        if reset_num_timesteps:
            self.num_timesteps = 0
        # As in SB3's _setup_learn, total_timesteps is the target step from here on: callbacks read it from locals()
        # (ProgressBarCallback counts total_timesteps - num_timesteps steps), also when resuming.
        total_timesteps = self._total_timesteps = self.num_timesteps + int(total_timesteps)
        if not self._custom_logger:
            self._logger = configure_logger(
                self.verbose, self.tensorboard_log, tb_log_name or self.agent_name, reset_num_timesteps
            )
        callback = self._init_callback(callback, progress_bar)
        callback.on_training_start(locals(), globals())
        check_every = min(int(log_interval), 1000)
        stat_sum = torch.zeros(len(self.stat_names), device=self.device)  # (K, n_stats) for K agents, after one step
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        self._first_bad_step = first_bad  # save() consults it, so callbacks cannot persist a diverged model
        n_stats, last_dump, t_dump = 0, self.num_timesteps, time.perf_counter()
        while self.num_timesteps < self._total_timesteps:
            progress_remaining = 1.0 - self.num_timesteps / self._total_timesteps
            stats = self._train_step(progress_remaining)
            bad_now = self._diverged(stats) & (first_bad < 0)
            first_bad.copy_(torch.where(bad_now, torch.full_like(first_bad, self.num_timesteps + 1), first_bad))
            stat_sum = stat_sum + stats
            n_stats += 1
            self.num_timesteps += 1
            callback.update_locals(locals())
            keep_going = callback.on_step()
            if self.num_timesteps % check_every == 0 or self.num_timesteps == self._total_timesteps:
                self._raise_if_diverged(first_bad)
            if self.num_timesteps % log_interval == 0:
                now = time.perf_counter()
                self._dump_logs(stat_sum / n_stats, (self.num_timesteps - last_dump) / max(now - t_dump, 1e-9))
                stat_sum = torch.zeros_like(stat_sum)
                n_stats, last_dump, t_dump = 0, self.num_timesteps, now
            if not keep_going:  # after this step's log line, so a run stopped at a log step logs as one that went on
                break
        self._raise_if_diverged(first_bad)
        callback.on_training_end()
        return self

    def check_divergence(self) -> None:
        """Raise :class:`TrainingDivergedError` if the current or last ``learn`` call has diverged so far.

        ``learn`` checks every ``min(log_interval, 1000)`` steps to avoid a host sync per step; callbacks that
        evaluate or export the model mid-training call this first (``save`` always does).
        """
        if self._first_bad_step is not None:
            self._raise_if_diverged(self._first_bad_step)

    def _diverged(self, stats: torch.Tensor) -> torch.Tensor:
        """Whether one step's statistics show divergence (a 0-d bool tensor; no host sync). Default: non-finite."""
        return ~torch.isfinite(stats).all()

    def _raise_if_diverged(self, first_bad: torch.Tensor) -> None:
        step = int(first_bad.item())
        if step >= 0:
            raise TrainingDivergedError(
                f"{self.agent_name}: training diverged at gradient step {step} (a loss became NaN or infinite, or "
                "the value estimates exceeded the bound any return obeys). The model's parameters are no longer "
                "trustworthy (save() refuses them); checkpoints saved before that step are intact — reload the last "
                "one and lower the learning rate, or check the dataset's rewards and observations.",
                step=step,
            )

    def _dump_logs(self, means: torch.Tensor, updates_per_s: float) -> None:
        """Log ``train/<stat>`` (the mean over agents) and, for K > 1 agents, each agent's ``agent<k>/train/<stat>``
        (the harness gives every seed of a group its own train log)."""
        per_agent = means.reshape(-1, len(self.stat_names))
        for name, value in zip(self.stat_names, per_agent.mean(dim=0).tolist()):
            self.logger.record(f"train/{name}", value)
        if per_agent.shape[0] > 1:
            for k, values in enumerate(per_agent.tolist()):
                for name, value in zip(self.stat_names, values):
                    self.logger.record(f"agent{k}/train/{name}", value)
        for name, value in self._extra_log_values().items():
            self.logger.record(f"train/{name}", value)
        self.logger.record("time/updates_per_s", updates_per_s)
        self.logger.record("time/total_timesteps", self.num_timesteps)
        self.logger.dump(step=self.num_timesteps)

    def _extra_log_values(self) -> dict[str, float]:
        """Further scalars to log (e.g. learning rates); read at dump time only."""
        return {}

    def _init_callback(self, callback: Any, progress_bar: bool) -> BaseCallback:
        if isinstance(callback, list):
            callback = CallbackList(callback)
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        if progress_bar:
            callback = CallbackList([callback, _GradientStepProgressBar()])
        callback.init_callback(self)  # type: ignore[arg-type]
        return callback

    # ------------------------------------------------------------------ acting
    @abstractmethod
    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Flat raw observations (B, obs_dim) → actions in [-1, 1]^d, shape (B, act_dim)."""

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """The policy's action for one observation or a batch, as SB3's ``predict``.

        A single observation (shape of the observation space, or a dict of such entries) gives one action of the
        action space's shape; a batch (leading dimension n_env) gives (n_env, *action_shape). ``deterministic``
        selects the mean action, otherwise a sample. Actions are mapped from [-1, 1] to the action bounds and
        clipped. ``state`` is returned unchanged (the policy has no recurrent state).

        Unlike SB3, whose ``predict`` defaults to ``deterministic=False`` (sampling is how an online agent
        explores), the default here is ``True``: an offline agent is only ever evaluated, and IQL is evaluated with
        the mean action (as in the paper and D4RL practice), so plain ``model.predict(obs)`` and SB3's
        ``evaluate_policy``/``EvalCallback`` (which pass ``deterministic=True`` themselves) score the same policy.
        """
        flat, batched = self.flattener.flatten(observation)
        if flat.shape[0] == 0:
            raise InvalidInputError("predict() got an empty batch of observations; pass at least one")
        if not np.isfinite(flat).all():
            bad = int(np.argmax(~np.isfinite(flat).all(axis=1)))
            raise InvalidInputError(f"predict() got a NaN or infinite observation (row {bad} of the batch): the "
                                    "policy's action would be NaN; check the environment or the observation pipeline")
        with torch.no_grad():
            action = self._act(torch.as_tensor(flat, device=self.device), deterministic).cpu().numpy()
        low, high = self.action_space.low.reshape(-1), self.action_space.high.reshape(-1)
        action = np.clip(low + (action + 1.0) * 0.5 * (high - low), low, high).astype(self.action_space.dtype)
        action = action.reshape((-1, *self.action_space.shape))
        return (action if batched else action[0]), state

    # ------------------------------------------------------------------ the harness's contract
    def agent(self: SelfAgent, k: int) -> SelfAgent:
        """Seed ``k`` of a multi-seed model as a single agent; a single agent is its own seed 0."""
        if k != 0:
            raise IndexError(f"{self.agent_name} trains one seed per model; agent({k}) does not exist")
        return self

    @classmethod
    def stack(cls: type[SelfAgent], agents: Any, compile: bool | str | None = None) -> SelfAgent:
        """K single agents as one K-seed model (the inverse of :meth:`agent`); here only K = 1."""
        agents = list(agents)
        if len(agents) != 1:
            raise InvalidInputError(f"{cls.__name__} cannot train several seeds as one model")
        return agents[0]

    def penultimate_features(self, obs: torch.Tensor, act: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features (B, H) of the last hidden layer of the networks diagnostics watch, by name."""
        raise NotImplementedError(f"{self.agent_name} exposes no features for diagnostics")

    def penultimate_weights(self) -> dict[str, torch.Tensor]:
        """Weight matrices of the last hidden layer of the networks diagnostics watch, by name."""
        raise NotImplementedError(f"{self.agent_name} exposes no weights for diagnostics")

    def export_policy(self, path: str | os.PathLike) -> Path:
        """Write the deterministic policy (``predict(obs, deterministic=True)``) to ``path`` as an ONNX model.

        Its input ``observation`` (float32, (batch, obs_dim)) is the flat observation vector as the dataset's
        transitions hold it — for dict observations the ``obs_keys`` entries flattened and concatenated in order,
        e.g. ``[achieved_goal, observation, desired_goal]`` on AntMaze — and its output ``action`` (float32,
        (batch, *action_shape)) the action in the action bounds; observation normalisation is part of the graph.
        See :mod:`iqlzoo.export`. Needs ``pip install 'iqlzoo[export]'``.
        """
        from iqlzoo.export import export_policy

        return export_policy(self, path)

    # ------------------------------------------------------------------ persistence
    @abstractmethod
    def _checkpoint_payload(self, include_optimizer: bool) -> Checkpoint:
        """Everything that defines the agent, as JSON config + tensors."""

    @classmethod
    @abstractmethod
    def _from_checkpoint(
        cls: type[SelfAgent], ckpt: Checkpoint, device: str | torch.device, **kwargs: Any
    ) -> SelfAgent:
        """Rebuild an agent from :meth:`_checkpoint_payload`'s output."""

    def save(self, path: str | os.PathLike, include_optimizer: bool = True) -> Path:
        """Save to a folder (or a ``.zip``) as JSON + safetensors, atomically; refuses non-finite parameters."""
        self.check_divergence()
        ckpt = self._checkpoint_payload(include_optimizer)
        for name, tensor in ckpt.tensors.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise TrainingDivergedError(
                    f"refusing to save {path}: parameter {name!r} holds NaN or inf (training diverged); "
                    "the previous checkpoint at that path, if any, is left untouched",
                    step=self.num_timesteps,
                )
        return save_checkpoint(path, ckpt)

    @classmethod
    def load(
        cls: type[SelfAgent],
        path: str | os.PathLike,
        env: gym.Env | VecEnv | None = None,
        device: str | torch.device = "auto",
        *,
        limits: LoadLimits | None = None,
        **kwargs: Any,
    ) -> SelfAgent:
        """Load an agent saved by :meth:`save` (any iqlzoo agent class can load its own checkpoints).

        The signature is SB3's, ``load(path, env=None, device="auto", **kwargs)``: ``env`` attaches an environment
        (checked against the saved spaces); further keyword arguments (e.g. ``dataset=`` to continue training) are
        passed to the agent. ``limits`` caps what the file may make iqlzoo read and allocate (default:
        :class:`~iqlzoo.limits.LoadLimits`, set by ``IQLZOO_MAX_*`` environment variables); raise them only for
        checkpoints you trust. Any other problem with the file is a :class:`~iqlzoo.errors.CheckpointError`.
        """
        if isinstance(env, (str, torch.device)):
            raise InvalidInputError(
                f"{cls.__name__}.load's second positional argument is the environment, as in SB3, got {env!r}; "
                f"pass the device by keyword: {cls.__name__}.load(path, device={str(env)!r})"
            )
        if env is not None:
            kwargs["env"] = env
        return cls._agent_from_checkpoint(load_checkpoint(path, limits), path, device, **kwargs)

    @classmethod
    def _agent_from_checkpoint(
        cls: type[SelfAgent], ckpt: Checkpoint, path: str | os.PathLike, device: str | torch.device, **kwargs: Any
    ) -> SelfAgent:
        """The agent of class ``ckpt`` names (which must be ``cls`` or a subclass), rebuilt on ``device``."""
        saved = ckpt.config["agent_class"]
        if saved not in AGENTS:
            raise CheckpointError(f"{path}/config.json: field 'agent_class' is {saved!r}, not an iqlzoo agent class "
                                  f"(known: {sorted(AGENTS)}); is the file from a newer iqlzoo or a plugin that is "
                                  "not imported?")
        target = AGENTS[saved]
        if not issubclass(target, cls):
            raise InvalidInputError(f"{path} holds a {saved}, which is not a {cls.__name__}; load it with {saved}.load")
        return target._from_checkpoint(ckpt, device, **kwargs)

    # ------------------------------------------------------------------ parameters (SB3's get/set_parameters)
    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """The agent's parameters as SB3 returns them: attribute name → that object's ``state_dict()``.

        ``"nets"`` holds every network's tensors (for IQL: policy, critics, target critics, value, the optional
        bonus model, and the observation statistics), ``"optimizer"`` the optimizer's state. The tensors are the
        agent's own (not copies), as in SB3.
        """
        return {name: getattr(self, name).state_dict() for name in self.parameter_attributes}

    def set_parameters(
        self,
        load_path_or_dict: str | os.PathLike | dict[str, dict[str, Any]],
        exact_match: bool = True,
        device: str | torch.device = "auto",
    ) -> None:
        """Load parameters from :meth:`get_parameters`' output or from a checkpoint saved by :meth:`save`, as SB3.

        Values are copied into the agent's existing tensors (parameters, buffers, optimizer moments and learning
        rates), so a compiled update keeps working. ``exact_match=True`` requires every entry of
        :meth:`get_parameters` to be given and each state dict to match exactly; ``False`` loads what is given
        (a checkpoint saved without its optimizer state then sets the networks only). ``device`` is where a
        checkpoint is read to ("auto": the agent's device); the values end up on the agent's device either way.
        """
        if isinstance(load_path_or_dict, dict):
            params = load_path_or_dict
        else:
            ckpt = load_checkpoint(load_path_or_dict)
            source = type(self)._agent_from_checkpoint(
                ckpt, load_path_or_dict, self.device if device == "auto" else device
            )
            params = source.get_parameters()
            if not ckpt.optimizer_tensors:
                params.pop("optimizer", None)  # saved without it: the loaded agent's optimizer state is a fresh one
        unknown = sorted(set(params) - set(self.parameter_attributes))
        if unknown:
            raise InvalidInputError(
                f"{unknown} are not parameters of this {self.agent_name}; get_parameters() has "
                f"{list(self.parameter_attributes)}"
            )
        missing = [name for name in self.parameter_attributes if name not in params]
        if exact_match and missing:
            raise InvalidInputError(
                f"the parameters lack {missing} (exact_match=True needs all of {list(self.parameter_attributes)}); "
                "pass exact_match=False to load only what is given"
            )
        for name, state in params.items():
            target = getattr(self, name)
            try:
                if isinstance(target, torch.optim.Optimizer):
                    _load_optimizer_state_in_place(target, state)
                else:
                    target.load_state_dict(state, strict=exact_match)
            except (RuntimeError, ValueError, KeyError) as exc:
                raise InvalidInputError(f"cannot set {name!r}: {str(exc).splitlines()[0]}") from None
        self._parameters_changed()

    def _parameters_changed(self) -> None:
        """Called after :meth:`set_parameters` to refresh what was derived from the old values (none here)."""
        return None

    def push_to_hub(
        self,
        repo_id: str,
        *,
        metrics: dict[str, Any] | None = None,
        token: str | None = None,
        private: bool = False,
        revision: str | None = None,
        commit_message: str | None = None,
        endpoint: str | None = None,
    ) -> str:
        """Upload this agent (config.json, model.safetensors and a model card README.md) to a Hub repo.

        ``metrics`` (e.g. the output of :meth:`iqlzoo.evaluation.EvaluationResult.as_metrics`) go into the card's
        model-index metadata. Returns the commit URL.
        """
        from iqlzoo import hub

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "agent"
            self.save(folder, include_optimizer=False)
            ckpt = load_checkpoint(folder)
            card = hub.render_model_card(
                repo_id=repo_id,
                agent_class=self.agent_name,
                config=ckpt.config,
                dataset_id=ckpt.config.get("data", {}).get("dataset_id"),
                env_id=ckpt.config.get("data", {}).get("env_id"),
                num_timesteps=self.num_timesteps,
                metrics=metrics,
            )
            hub.write_model_card(folder, card)
            return hub.push_folder(
                folder,
                repo_id,
                token=token,
                private=private,
                revision=revision,
                commit_message=commit_message or f"Upload {self.agent_name} ({self.num_timesteps} steps)",
                endpoint=endpoint,
            )

    @classmethod
    def load_from_hub(
        cls: type[SelfAgent],
        repo_id: str,
        revision: str | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        token: str | None = None,
        local_files_only: bool = False,
        endpoint: str | None = None,
        device: str | torch.device = "auto",
        **kwargs: Any,
    ) -> SelfAgent:
        """Download a Hub repo written by :meth:`push_to_hub` (JSON + safetensors only) and load it."""
        from iqlzoo import hub

        folder = hub.download_folder(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=local_files_only,
            endpoint=endpoint,
        )
        return cls.load(folder, device=device, **kwargs)


def _load_optimizer_state_in_place(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> None:
    """``optimizer.load_state_dict(state_dict)``, then the loaded values moved into the optimizer's previous state
    tensors and learning-rate tensors where those exist with the same shape, so code holding them (a compiled update)
    sees the new values. ``load_state_dict`` itself checks that the groups and parameter counts match."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    old_state = {p: dict(optimizer.state[p]) for p in params if p in optimizer.state}
    old_lrs = [group["lr"] for group in optimizer.param_groups]
    optimizer.load_state_dict(state_dict)
    for p, old in old_state.items():
        new = optimizer.state[p]
        for key, old_value in old.items():
            value = new.get(key)
            same = isinstance(value, torch.Tensor) and isinstance(old_value, torch.Tensor)
            if same and value.shape == old_value.shape:
                old_value.copy_(value)
                new[key] = old_value
    for group, old_lr in zip(optimizer.param_groups, old_lrs):
        if isinstance(old_lr, torch.Tensor):
            old_lr.copy_(torch.as_tensor(group["lr"]))
            group["lr"] = old_lr
