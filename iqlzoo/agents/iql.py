"""Implicit Q-Learning (Kostrikov, Nair & Levine, 2021) and the source report's variants, as one SB3-style agent.

One gradient step on a batch (s, a, r, s', d) updates three networks with three losses (see :mod:`iqlzoo.losses`):

1. V by expectile regression towards the target critic:  L_V = E[L₂^τ(min_i Q̂_i(s,a) − V(s))]
2. Q_i by TD regression onto the value of the next state: L_Q = Σ_i E[(r + γ(1−d)V(s') − Q_i(s,a))²]
3. π by advantage-weighted regression: L_π = −E[min(exp(β(min_i Q̂_i(s,a) − V(s))), w_max) log π(a|s)]

then Q̂ ← (1 − α)Q̂ + αQ (Polyak averaging, α = ``target_update_rate``). As in common reference implementations,
V(s) and V(s') are evaluated once, before V's update, and the advantage of step 3 reuses the one of step 1, so one
forward pass per network serves all three losses. The losses touch disjoint parameters, so one backward pass of
their sum gives each network exactly its own loss's gradient.

Precision: with ``bf16=True`` only the policy's and the bonus model's training passes run in bfloat16; the value
path (Q, Q̂, V, the TD target, the advantages and the AWR weights) always runs in float32.

The configuration lives in :mod:`iqlzoo.agents.config`, the compiled-step engine in
:mod:`iqlzoo.agents.compiled_step`, K-seed stacking in :mod:`iqlzoo.agents.multiseed`.

The variants are configurations of the same update, never separate code paths of their own:

- **Bodies** (``actor_body``/``critic_body``/``value_body``): ``mlp`` or ``d2rl`` (input concatenated into every
  hidden layer; the report's "IQL+SC").
- **Critic head** (``critic_head``, registered in :mod:`iqlzoo.nets.heads`): ``scalar``, or ``quantile`` for
  distributional IQL (IQN-style; quantile fractions τ_1..τ_N ~ U(0, 1) drawn per sample, two TD losses, see
  :mod:`iqlzoo.nets.heads.quantile`). The head declares whether it takes τ, which head V uses, its TD loss and its
  expectation; the policy's advantage always uses expected values, A = E_i Q̂(s,a,τ_i) − E_i V(s,τ_i).
- **Penalty** (``penalty="rnd"|"cvae"``, anti-exploration bonus, registered in :mod:`iqlzoo.penalties`): every use
  of the target critic in steps 1 and 3 is replaced by Q̂(s,a) − α·b̃(s,a), with b̃ = b / E_D[b] the bonus
  normalised (by the bonus model itself) with a bias-corrected running mean of its value on data batches. IQL only
  ever evaluates Q at dataset actions, so the bonus lowers V's expectile target and the advantages of dataset pairs
  that the bonus model finds rare; the TD target of step 2 is unchanged (it uses V alone). The bonus model trains on
  the same batch with its own loss (see :mod:`iqlzoo.penalties`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from minari import MinariDataset
from torch import nn

from iqlzoo.agents.base import OfflineAgent, library_versions
from iqlzoo.agents.compiled_step import adam_step, compile_update, init_adam_state
from iqlzoo.agents.config import DataTransform, IQLConfig, config_from_kwargs, fit_reward_transform, return_bounds
from iqlzoo.agents.multiseed import agent_slice, check_stackable, extract, stack_into, stack_states
from iqlzoo.arguments import positive_int
from iqlzoo.checkpoint import (
    UNTRAINED_KEY,
    Checkpoint,
    CheckpointError,
    check_untrained,
    optimizer_from_tensors,
    optimizer_to_tensors,
)
from iqlzoo.data.buffer import TransitionBuffer
from iqlzoo.data.minari import from_minari
from iqlzoo.data.spaces import ObservationFlattener, space_from_json, space_to_json
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.errors import InvalidInputError
from iqlzoo.limits import LoadLimits
from iqlzoo.losses import awr_loss, awr_weights, expectile_loss
from iqlzoo.nets import EnsembleQ, GaussianPolicy, ValueNet
from iqlzoo.nets.heads import head_class
from iqlzoo.penalties import make_penalty
from iqlzoo.validation import (
    RNG_TENSOR,
    check_agent_size,
    load_network_tensors,
    rng_state_device,
    validate_checkpoint,
)

__all__ = ["IQL", "IQLConfig", "IQLNetworks"]

MAX_BATCH_SIZE = 1 << 20
"""Largest accepted batch: beyond it one 256-wide activation alone exceeds 1 GiB."""
AUTO_COMPILE_STEPS = 20_000
"""With ``compile="auto"``, learn() calls of at least this many steps compile the update (cold compile ≈ a minute)."""


class IQLNetworks(nn.Module):
    """Policy π, critic ensemble Q, its target Q̂, value V, the optional bonus model, and the observation statistics.

    ``n_agents`` independent agents are stacked along the ensemble dimension of every layer (agent-major), so K
    seeds train in one set of batched matmuls; the observation statistics are shared.
    """

    def __init__(self, obs_dim: int, act_dim: int, cfg: IQLConfig, n_agents: int = 1) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.actor = GaussianPolicy(
            obs_dim, act_dim, cfg.actor_hidden, cfg.log_std_min, cfg.log_std_max, cfg.actor_body, n_agents
        )

        def critic() -> EnsembleQ:
            return EnsembleQ(obs_dim, act_dim, cfg.critic_hidden, cfg.n_critics, cfg.critic_body, cfg.critic_head,
                             cfg, n_agents)

        self.critic = critic()
        self.critic_target = critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.value = ValueNet(obs_dim, cfg.value_hidden, cfg.value_body, cfg.value_head, cfg, n_agents)
        self.penalty = make_penalty(cfg.penalty, obs_dim, act_dim, cfg.penalty_hidden, n_agents,
                                    cfg.penalty_norm_momentum, cfg.penalty_kwargs)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))

    def optimized(self) -> dict[str, nn.Module]:
        """The modules with an optimizer parameter group, by group name, in group order."""
        modules = {"actor": self.actor, "critic": self.critic, "value": self.value}
        if self.penalty is not None:
            modules["penalty"] = self.penalty
        return modules


def migrate_state(tensors: dict[str, torch.Tensor], has_penalty: bool) -> dict[str, torch.Tensor]:
    """Network state saved by iqlzoo ≤ 0.1 in today's layout: the bonus normaliser (``bonus_ema``,
    ``bonus_updates``) was kept at the top level of the networks, also without a bonus; it now lives in the bonus."""
    out = dict(tensors)
    for name in ("bonus_ema", "bonus_updates"):
        if name in out:
            value = out.pop(name)
            if has_penalty:
                out.setdefault(f"penalty.{name}", value)
    return out


def _as_transition_dataset(dataset: Any, download: bool | None) -> TransitionDataset:
    if isinstance(dataset, TransitionDataset):
        return dataset
    if isinstance(dataset, (str, MinariDataset)):
        return from_minari(dataset, download=download)
    raise InvalidInputError(
        f"dataset must be a Minari dataset id, a minari.MinariDataset or an iqlzoo TransitionDataset, "
        f"got {type(dataset).__name__}"
    )


class IQL(OfflineAgent):
    """Implicit Q-Learning, used like a Stable-Baselines3 algorithm::

        model = IQL("MlpPolicy", "D4RL/antmaze/umaze-v1").learn(1_000_000)
        action, _ = model.predict(obs, deterministic=True)
        model.save("iql_umaze")
        model = IQL.load("iql_umaze")

    ``dataset`` is a Minari id, a ``minari.MinariDataset`` or a :class:`~iqlzoo.data.TransitionDataset`; ``env``
    defaults to the dataset's evaluation environment, created when first needed. Hyperparameters are the fields of
    :class:`IQLConfig`; ``learning_rate`` sets all three learning rates and ``policy_kwargs={"net_arch": [...]}``
    (or ``{"net_arch": {"pi": [...], "qf": [...], "vf": [...]}}``) the hidden layers, as in SB3.
    """

    agent_name: ClassVar[str] = "IQL"
    preset: ClassVar[dict[str, Any]] = {}
    """Hyperparameter defaults of this named variant; the user's arguments override them."""
    base_stats: ClassVar[tuple[str, ...]] = (
        "value_loss",
        "critic_loss",
        "actor_loss",
        "q_mean",
        "v_mean",
        "advantage_mean",
        "awr_weight_mean",
        "td_target_mean",
        "log_std_mean",
    )
    penalty_stats: ClassVar[tuple[str, ...]] = ("bonus_mean", "bonus_scale", "penalty_loss")
    never_trained: ClassVar[tuple[str, ...]] = ()
    """Prefixes of the networks this agent holds but training never updates; an inference export leaves them out."""
    untrained_on_load: tuple[str, ...] = ()
    """The networks the loaded checkpoint left out (``never_trained``), which loading built as a new agent's."""

    def __init__(
        self,
        policy: str = "MlpPolicy",
        dataset: str | MinariDataset | TransitionDataset | None = None,
        env: gym.Env | None = None,
        *,
        learning_rate: float | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        n_seeds: int = 1,
        compile: bool | str = "auto",
        device: str | torch.device = "auto",
        verbose: int = 0,
        tensorboard_log: str | None = None,
        download: bool | None = None,
        limits: LoadLimits | None = None,
        **hyperparameters: Any,
    ) -> None:
        if policy != "MlpPolicy":
            raise InvalidInputError(f"policy={policy!r} is not supported: iqlzoo agents use 'MlpPolicy'")
        if dataset is None:
            raise InvalidInputError(f"{type(self).__name__} needs a dataset (a Minari id, MinariDataset or "
                                    "TransitionDataset)")
        data = _as_transition_dataset(dataset, download)
        cfg = self.resolve_config(data.dataset_id, hyperparameters, learning_rate, policy_kwargs)
        cfg.validate()
        n_seeds = positive_int("n_seeds", n_seeds)
        check_agent_size(cfg, ObservationFlattener(data.observation_space, data.obs_keys).dim,
                         int(np.prod(data.action_space.shape)), n_seeds, IQLNetworks,
                         limits if limits is not None else LoadLimits(), type(self).__name__)
        scale, shift = fit_reward_transform(cfg.reward_transform, data)
        spec = data.eval_env_spec or data.env_spec
        transform = DataTransform(reward_scale=scale, reward_shift=shift, dataset_id=data.dataset_id,
                                  env_id=getattr(spec, "id", None))
        self._build(cfg, data.observation_space, data.action_space, data.obs_keys, transform, dataset=data, env=env,
                    seed=seed, n_seeds=n_seeds, compile=compile, device=device, verbose=verbose,
                    tensorboard_log=tensorboard_log)
        if cfg.normalize_observations:
            self.nets.obs_mean.copy_(torch.as_tensor(data.observations.mean(axis=0)))
            self.nets.obs_std.copy_(torch.as_tensor(data.observations.std(axis=0) + 1e-3))

    @classmethod
    def resolve_config(
        cls,
        dataset_id: str | None,
        hyperparameters: dict[str, Any],
        learning_rate: float | None = None,
        policy_kwargs: dict[str, Any] | None = None,
    ) -> IQLConfig:
        """The configuration this agent class trains with on `dataset_id` given the constructor's keyword arguments:
        the class's preset, then `hyperparameters`, then the dataset domain's defaults for what is still unset
        (not validated; `TypeError` for a name that is not a field)."""
        return config_from_kwargs({**cls.preset, **hyperparameters}, learning_rate, policy_kwargs).resolved(dataset_id)

    def _build(
        self,
        cfg: IQLConfig,
        observation_space: gym.Space,
        action_space: gym.spaces.Box,
        obs_keys: Sequence[str] | None,
        transform: DataTransform,
        *,
        dataset: TransitionDataset | None,
        env: gym.Env | None = None,
        seed: int | None = None,
        n_seeds: int = 1,
        compile: bool | str = "auto",
        device: str | torch.device = "auto",
        verbose: int = 0,
        tensorboard_log: str | None = None,
    ) -> None:
        """Networks, optimizer and generators for a validated config; shared by the constructor, :meth:`load`,
        :meth:`agent` and :meth:`stack` (which then copy trained state in)."""
        n_seeds = positive_int("n_seeds", n_seeds)
        if compile not in (True, False, "auto"):
            raise InvalidInputError(f"compile must be True, False or 'auto', got {compile!r}")
        self.dataset = dataset
        self.transform = transform
        self.config = cfg
        self.n_seeds = n_seeds
        self.compile = compile
        self.stat_names = self.base_stats + (self.penalty_stats if cfg.penalty != "none" else ())
        self.q_limit = math.inf
        #: [low, high] every discounted return of the training rewards lies in (set with the buffer; None for γ = 1)
        self.return_bounds: tuple[float, float] | None = None
        self._warned_outside_returns: set[int] = set()
        self._critic_head = head_class(cfg.critic_head)
        self._value_head = head_class(cfg.value_head)
        super().__init__(
            observation_space,
            action_space,
            tuple(obs_keys) if obs_keys is not None else None,
            env=env,
            seed=seed,
            device=device,
            verbose=verbose,
            tensorboard_log=tensorboard_log,
        )
        if self.dataset is not None:
            self._check_dataset_fits(self.dataset)
        obs_dim, act_dim = self.flattener.dim, int(np.prod(action_space.shape))
        base_seed = self.generator.initial_seed() if self.seed is None else self.seed
        self.seeds = [base_seed + k for k in range(n_seeds)]
        self.generators = [self.generator] + [
            torch.Generator(device=self.device).manual_seed(s) for s in self.seeds[1:]
        ]
        singles = []
        for agent_seed in self.seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(agent_seed)
                singles.append(IQLNetworks(obs_dim, act_dim, cfg))
        if n_seeds == 1:
            self.nets = singles[0].to(self.device)
        else:
            self.nets = IQLNetworks(obs_dim, act_dim, cfg, n_agents=n_seeds)
            stack_states(self.nets, singles)
            self.nets.to(self.device)
        self._single_shapes = {name: value.shape for name, value in singles[0].state_dict().items()}
        self._single_param_shapes = [
            p.shape for m in self._trained_modules(singles[0]).values() for p in m.parameters() if p.requires_grad
        ]
        rates = {"actor": cfg.actor_lr, "critic": cfg.critic_lr, "value": cfg.value_lr, "penalty": cfg.penalty_lr}
        modules = self._trained_modules(self.nets)
        self._group_index = {name: index for index, name in enumerate(modules)}
        self.optimizer = torch.optim.Adam(
            [
                {"params": [p for p in module.parameters() if p.requires_grad], "lr": rates[name]}
                for name, module in modules.items()
            ],
            # fused Adam accepts tensor learning rates, which a compiled step reads without recompiling
            fused=True,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        init_adam_state(self.optimizer)
        self._compiled_update: Any = None
        self._trained_params = [p for group in self.optimizer.param_groups for p in group["params"]]
        polyak = "critic" in modules
        self._target_params = list(self.nets.critic_target.parameters()) if polyak else []
        self._online_params = list(self.nets.critic.parameters()) if polyak else []
        self.buffer: TransitionBuffer | None = None

    # ------------------------------------------------------------------ data
    def _check_dataset_fits(self, dataset: TransitionDataset) -> None:
        if dataset.action_space.shape != self.action_space.shape or not (
            np.allclose(dataset.action_space.low, self.action_space.low)
            and np.allclose(dataset.action_space.high, self.action_space.high)
        ):
            raise InvalidInputError(
                f"the dataset's action space {dataset.action_space} does not match the model's {self.action_space}"
            )
        if dataset.obs_dim != self.flattener.dim:
            raise InvalidInputError(
                f"the dataset's observations have {dataset.obs_dim} values but the model expects {self.flattener.dim}"
            )

    def set_dataset(self, dataset: str | MinariDataset | TransitionDataset, download: bool | None = None) -> None:
        """Attach (another) dataset to train on; it must have the model's spaces. Transforms stay as fitted."""
        data = _as_transition_dataset(dataset, download)
        self._check_dataset_fits(data)
        self.dataset, self.buffer = data, None

    def _default_env(self) -> gym.Env | None:
        if self.dataset is None or (self.dataset.env_spec is None and self.dataset.eval_env_spec is None):
            return None
        return self.dataset.make_env(eval_env=True)

    def _setup_training(self, total_timesteps: int) -> None:
        if self.dataset is None:
            raise InvalidInputError(
                f"this {self.agent_name} has no dataset to train on (it was loaded for inference): pass one with "
                f"{self.agent_name}.load(path, dataset=...) or model.set_dataset(...)"
            )
        if self.config.batch_size > MAX_BATCH_SIZE:
            raise InvalidInputError(
                f"batch_size={self.config.batch_size} is above {MAX_BATCH_SIZE:,}: one hidden layer's activations "
                f"alone would take {self.config.batch_size * 256 * 4 / 2**30:.1f} GiB per network and a step could "
                "stall the machine; IQL uses 256"
            )
        if self.config.batch_size > len(self.dataset.rewards) and self.buffer is None:
            warnings.warn(
                f"batch_size={self.config.batch_size} exceeds the {len(self.dataset.rewards)} transitions of "
                f"{self.dataset.dataset_id or 'the dataset'}: batches are drawn with replacement, so each step sees "
                "transitions several times",
                stacklevel=3,
            )
        if self.buffer is None:
            self.buffer = TransitionBuffer.from_dataset(
                self.dataset,
                obs_mean=self.nets.obs_mean,
                obs_std=self.nets.obs_std,
                act_low=torch.as_tensor(self.action_space.low.reshape(-1), dtype=torch.float32),
                act_high=torch.as_tensor(self.action_space.high.reshape(-1), dtype=torch.float32),
                reward_scale=self.transform.reward_scale,
                reward_shift=self.transform.reward_shift,
                device=self.device,
            )
            rewards = self.buffer.split(self.buffer.data)[2]
            if self.config.gamma < 1.0:
                low, high = float(rewards.min()), float(rewards.max())
                self.return_bounds = return_bounds(low, high, self.config.gamma,
                                                   penalized=self.config.penalty != "none")
                max_reward = max(-low, high)  # max |r|
                if max_reward > 0.0:
                    self.q_limit = self.config.divergence_factor * max_reward / (1.0 - self.config.gamma)
        want = self.compile is True or (self.compile == "auto" and total_timesteps >= AUTO_COMPILE_STEPS)
        if want and self._compiled_update is None:
            example = self._example_inputs()
            self._compiled_update, self.compile_seconds = compile_update(
                self._update, example, lambda: (self.nets, self.optimizer), self.device
            )
            if self.verbose and self._compiled_update is not None:
                print(f"{self.agent_name}: compiled the update in {self.compile_seconds:.1f} s")

    def _parameters_changed(self) -> None:
        """The training buffer holds observations normalised with the networks' observation statistics, which
        ``set_parameters`` may have replaced: rebuild it at once, so training goes on correctly even when a callback
        sets the parameters in the middle of ``learn``."""
        if self.buffer is not None:
            self.buffer = None
            self._setup_training(max(self._total_timesteps - self.num_timesteps, 1))

    def _example_inputs(self) -> tuple[torch.Tensor | None, ...]:
        """Inputs of the shapes :meth:`_draw_batch` gives, for the compile warm-up."""
        b, k = self.config.batch_size, self.n_seeds
        index = torch.zeros(k, b, dtype=torch.long, device=self.device)
        taus = torch.full((k, b, self.config.n_quantiles), 0.5, device=self.device)
        noise_dim = self.nets.penalty.noise_dim if self.nets.penalty is not None else 0
        noise = torch.zeros(k, b, noise_dim, device=self.device) if noise_dim else None
        return index, taus if self._critic_head.takes_taus else None, noise

    def _draw_batch(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Each agent's random inputs of one step, from its own generator: batch indices (K, B), quantile fractions
        (K, B, N) for heads that take them, standard normal noise (K, B, d) for bonus models that need it."""
        assert self.buffer is not None
        cfg, b = self.config, self.config.batch_size
        index = self.buffer.sample_index(b, self.generators)
        taus = noise = None
        if self._critic_head.takes_taus:
            taus = torch.stack(
                [torch.rand(b, cfg.n_quantiles, device=self.device, generator=g) for g in self.generators]
            )
        if self.nets.penalty is not None and self.nets.penalty.noise_dim:
            noise = torch.stack(
                [torch.randn(b, self.nets.penalty.noise_dim, device=self.device, generator=g) for g in self.generators]
            )
        return index, taus, noise

    # ------------------------------------------------------------------ the update
    def _actor_lr(self, progress_remaining: float) -> float:
        if not self.config.actor_cosine_decay:
            return self.config.actor_lr
        return self.config.actor_lr * 0.5 * (1.0 + math.cos(math.pi * (1.0 - progress_remaining)))

    def _param_group(self, name: str) -> dict[str, Any]:
        return self.optimizer.param_groups[self._group_index[name]]

    def _train_step(self, progress_remaining: float) -> torch.Tensor:
        assert self.buffer is not None
        self._param_group("actor")["lr"].fill_(self._actor_lr(progress_remaining))
        index, taus, noise = self._draw_batch()
        update = self._compiled_update or self._update
        stats = update(index, taus, noise)
        # one row per agent: divergence is judged per agent, not on the mean
        return stats if self.n_seeds == 1 else stats.reshape(self.n_seeds, -1)

    def _losses(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        rew: torch.Tensor,
        next_obs: torch.Tensor,
        term: torch.Tensor,
        taus: torch.Tensor | None,
        noise: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """The three IQL losses (and the bonus model's) on a batch of shape (K, B, ·), with the quantities they are
        built from: ``target_q`` (K, B, N), ``v``, ``q``, ``td_target``, ``advantage`` and ``weights`` (K, B).

        Precision: everything on the value path — Q, Q̂, V, the bonus b(s, a), the TD target, the advantages and
        the AWR weights — is computed in float32 even with ``bf16=True``. AntMaze values lie in [−100, 0], where
        bfloat16's 8 significant bits round to steps of 0.25–0.5, coarser than the advantages (~0.1) that
        exp(β·A) amplifies; only the policy's and the bonus model's own training passes run in bfloat16.
        """
        cfg, nets = self.config, self.nets
        value_taus = taus if self._value_head.takes_taus else None
        out: dict[str, torch.Tensor] = {}
        # the (penalised) target critic at dataset pairs, and the TD target from V(s'): no gradient flows here
        with torch.no_grad():
            target_q = nets.critic_target(obs, act, taus).min(dim=1).values  # (K, B, N)
            if nets.penalty is not None:
                penalty, out["bonus"], out["bonus_scale"] = nets.penalty.normalized(obs, act)  # (K, B)
                target_q = target_q - cfg.penalty_alpha * penalty.unsqueeze(-1)
            if value_taus is None:
                target_q = self._critic_head.expectation(target_q).unsqueeze(-1)
            td_target = rew.unsqueeze(-1) + cfg.gamma * (1.0 - term.unsqueeze(-1)) * nets.value(next_obs, value_taus)
        v = nets.value(obs, value_taus)  # (K, B, N) or (K, B, 1)
        q = nets.critic(obs, act, taus)  # (K, C, B, N)
        # 1. V: expectile regression towards the target critic
        value_loss = expectile_loss(target_q - v, cfg.expectile)
        # 2. Q: regression onto r + γ(1 − d)V(s'), in the head's TD loss
        critic_loss = self._critic_head.td_loss(q, td_target, taus, cfg)
        # 3. π: advantage-weighted regression on the dataset actions
        advantage = (self._critic_head.expectation(target_q) - self._value_head.expectation(v)).detach()  # (K, B)
        weights = awr_weights(advantage, cfg.temperature, cfg.max_weight)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            log_prob = nets.actor.log_prob(obs, act).float()
            if nets.penalty is not None:
                out["penalty_loss"] = nets.penalty.loss(obs, act, noise).float()
        out.update(
            value_loss=value_loss,
            critic_loss=critic_loss,
            actor_loss=awr_loss(log_prob, weights),
            target_q=target_q,
            v=v,
            q=q,
            td_target=td_target,
            advantage=advantage,
            weights=weights,
        )
        return out

    def _update(self, index: torch.Tensor, taus: torch.Tensor | None, noise: torch.Tensor | None) -> torch.Tensor:
        """One IQL step for every agent on its batch ``index`` (K, B): all losses, one backward, one optimizer step,
        the Polyak update. Returns the statistics named by ``stat_names``, (K·n_stats,), with no host sync."""
        assert self.buffer is not None
        parts = self._losses(*self.buffer.gather(index), taus, noise)  # (K, B, ·) batch
        total = sum(parts[name] for name in self._loss_names(parts))
        # statistics from detached tensors, taken before the gradient: nothing that needs a grad_fn may stay live
        # past autograd.grad, or dynamo splits the graph there
        stats = self._statistics(parts)
        stats_vector = torch.stack([stats[name] for name in self.stat_names], dim=1).reshape(-1)
        # autograd.grad rather than backward(): dynamo traces it (trace_autograd_ops), so the compiled step is one
        # graph from batch gather to the Adam and Polyak updates
        grads = torch.autograd.grad(total.sum(), self._trained_params)
        with torch.no_grad():
            adam_step(self.optimizer, grads)
            if self._target_params:
                torch._foreach_lerp_(self._target_params, self._online_params, self.config.target_update_rate)
        return stats_vector

    def _trained_modules(self, nets: IQLNetworks) -> dict[str, nn.Module]:
        """The modules the optimizer trains, one parameter group each, by name: all of IQL's networks."""
        return nets.optimized()

    def _loss_names(self, parts: dict[str, torch.Tensor]) -> tuple[str, ...]:
        """The losses of :meth:`_losses` whose sum is differentiated."""
        return ("value_loss", "critic_loss", "actor_loss") + (("penalty_loss",) if "penalty_loss" in parts else ())

    def _statistics(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One step's statistics per agent, (K,) each, named as in ``stat_names``."""

        def per_agent(name: str) -> torch.Tensor:
            x = parts[name].detach()
            return x.reshape(x.shape[0], -1).mean(dim=1)

        stats = {
            "value_loss": parts["value_loss"].detach(),
            "critic_loss": parts["critic_loss"].detach(),
            "actor_loss": parts["actor_loss"].detach(),
            "q_mean": per_agent("q"),
            "v_mean": per_agent("v"),
            "advantage_mean": per_agent("advantage"),
            "awr_weight_mean": per_agent("weights"),
            "td_target_mean": per_agent("td_target"),
            "log_std_mean": self.nets.actor.clipped_log_std().detach().reshape(self.n_seeds, -1).mean(dim=1),
        }
        if "penalty_loss" in parts:
            stats.update(bonus_mean=per_agent("bonus"), bonus_scale=parts["bonus_scale"],
                         penalty_loss=parts["penalty_loss"].detach())
        return stats

    def _diverged(self, stats: torch.Tensor) -> torch.Tensor:
        """Non-finite statistics, or |mean Q| beyond ``divergence_factor``·max|r|/(1−γ) (a bound on any return) —
        for any one of the agents of a multi-seed model (one agent's blow-up must not hide in the mean)."""
        per_agent = stats.reshape(-1, len(self.stat_names))
        if "q_mean" not in self.stat_names:
            return super()._diverged(per_agent)
        q_mean = per_agent[:, self.stat_names.index("q_mean")]
        return super()._diverged(per_agent) | (q_mean.abs() > self.q_limit).any()

    def _extra_log_values(self) -> dict[str, float]:
        return {"actor_lr": float(self._param_group("actor")["lr"])}

    def _dump_logs(self, means: torch.Tensor, updates_per_s: float) -> None:
        super()._dump_logs(means, updates_per_s)
        self._warn_if_values_leave_returns(means)

    def _warn_if_values_leave_returns(self, means: torch.Tensor) -> None:
        """Warn, once per agent, when an agent's mean Q over the last log interval lies outside ``return_bounds`` by
        more than a tenth of max|r|/(1−γ): a value no return of these rewards can have, i.e. the critic overestimates
        (or underestimates) without bound. The divergence guard stops training only at ``divergence_factor`` (10) times
        max|r|/(1−γ); a single critic on AntMaze left [−100, 0] at ~330k–430k steps and reached +628 by 500k without
        tripping it. The tenth is slack for the small bias of the twin minimum at a floor (expectile 0.5 on AntMaze:
        mean Q to −103 against −100)."""
        if self.return_bounds is None or "q_mean" not in self.stat_names or not math.isfinite(self.q_limit):
            return
        low, high = self.return_bounds
        slack = 0.1 * self.q_limit / self.config.divergence_factor  # a tenth of max|r|/(1−γ)
        q_means = means.reshape(-1, len(self.stat_names))[:, self.stat_names.index("q_mean")].tolist()
        for k, q_mean in enumerate(q_means):
            if k in self._warned_outside_returns or low - slack <= q_mean <= high + slack:
                continue
            self._warned_outside_returns.add(k)
            who = f"{self.agent_name}" + (f" (agent {k} of {len(q_means)})" if len(q_means) > 1 else "")
            warnings.warn(
                f"{who}: mean Q {q_mean:.1f} at step {self.num_timesteps} lies outside [{low:g}, {high:g}], the range "
                f"every discounted return of these training rewards lies in (γ = {self.config.gamma:g}): the critic's "
                "values are diverging. Training goes on (the divergence guard stops it only at |mean Q| > "
                f"{self.q_limit:g}); two critics (n_critics=2), a lower critic_lr or a smaller gamma usually keep "
                "the values in range.",
                stacklevel=2,
            )

    # ------------------------------------------------------------------ acting and diagnostics
    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        if self.n_seeds > 1:
            raise InvalidInputError(
                f"this model trains {self.n_seeds} seeds at once; act with one of them: model.agent(k).predict(...)"
            )
        obs = ((obs - self.nets.obs_mean) / self.nets.obs_std).unsqueeze(0)
        return self.nets.actor.act(obs, deterministic, self.generator).squeeze(0).clamp(-1.0, 1.0)

    def penultimate_features(self, obs: torch.Tensor, act: torch.Tensor) -> dict[str, torch.Tensor]:
        """The last hidden layer's features of the policy and the first critic (agent 0) on raw flat observations
        (B, obs_dim) and actions in [−1, 1] (B, act_dim): ``{"policy": (B, H), "q": (B, H)}``."""
        obs = (obs - self.nets.obs_mean) / self.nets.obs_std
        return {
            "policy": self.nets.actor.body(obs)[0],
            "q": self.nets.critic.body(torch.cat([obs, act], dim=-1))[0],
        }

    def penultimate_weights(self) -> dict[str, torch.Tensor]:
        """The weight matrices (in, out) of the policy's and the first critic's last hidden layer (agent 0)."""
        return {
            "policy": self.nets.actor.body.layers[-1].weight[0],
            "q": self.nets.critic.body.layers[-1].weight[0],
        }

    # ------------------------------------------------------------------ multi-seed
    def _blank_like(self, n_seeds: int, seed: int, compile: bool | str | None = None) -> IQL:
        """A freshly built agent of this class and setup with `n_seeds` seeds starting at `seed`."""
        blank = type(self).__new__(type(self))
        blank._build(self.config, self.observation_space, self.action_space, self.flattener.keys, self.transform,
                     dataset=self.dataset, seed=seed, n_seeds=n_seeds, device=self.device,
                     compile=self.compile if compile is None else compile, verbose=self.verbose)
        return blank

    def agent(self, k: int) -> IQL:
        """Seed ``k`` of a multi-seed model as an ordinary single agent (own copy of weights and optimizer state)."""
        if not 0 <= k < self.n_seeds:
            raise IndexError(f"agent index {k} out of range for {self.n_seeds} seeds")
        if self.n_seeds == 1:
            return self
        single = self._blank_like(1, self.seeds[k])
        extract(self, single, k)
        return single

    @classmethod
    def stack(cls, agents: Sequence[IQL], compile: bool | str | None = None) -> IQL:
        """K single agents as one K-seed model of their class that continues exactly where each of them stands: the
        inverse of :meth:`agent`. Networks, Adam moments, learning rates, batch/noise generators and step counters are
        stacked agent-major; the agents must share class, configuration, data transform and step count.

        ``IQL.stack([IQL.load(p) for p in paths])`` resumes K interrupted seeds as one vectorised run, and
        ``stacked.agent(k)`` then equals agent ``k`` trained on alone (up to float reassociation in batched matmuls).
        """
        agents = list(agents)
        check_stackable(agents)
        if len(agents) == 1:
            return agents[0]
        multi = agents[0]._blank_like(len(agents), agents[0].seeds[0], compile)
        stack_into(multi, agents)
        return multi

    # ------------------------------------------------------------------ persistence
    def _checkpoint_payload(self, include_optimizer: bool, agent: int | None = None) -> Checkpoint:
        if self.n_seeds > 1 and agent is None:
            raise InvalidInputError(
                f"this model trains {self.n_seeds} seeds at once; save each as a single agent: "
                "model.agent(k).save(path)"
            )
        k = agent or 0
        config = {
            "agent_class": self.agent_name,
            "config": self.config.to_json(),
            "spaces": {
                "observation": space_to_json(self.observation_space),
                "action": space_to_json(self.action_space),
                "obs_keys": list(self.flattener.keys) if self.flattener.keys is not None else None,
            },
            "data": dataclasses.asdict(self.transform),
            "num_timesteps": self.num_timesteps,
            "seed": self.seeds[k],
            "versions": library_versions(),
        }
        tensors = agent_slice(self.nets.state_dict(), self._single_shapes, k, self.n_seeds)
        opt_tensors: dict[str, torch.Tensor] = {}
        state: dict[str, Any] = {}
        if include_optimizer:
            opt_tensors, state["optimizer"] = optimizer_to_tensors(self.optimizer, "optimizer")
            shapes = {
                name: self._single_param_shapes[int(name.split(".")[1])]
                for name in opt_tensors
                if opt_tensors[name].dim() > 0
            }
            opt_tensors = agent_slice(opt_tensors, shapes, k, self.n_seeds)
            opt_tensors[RNG_TENSOR] = self.generators[k].get_state()
            state["total_timesteps"] = self._total_timesteps
        return Checkpoint(config=config, tensors=tensors, optimizer_tensors=opt_tensors, state=state)

    @classmethod
    def _from_checkpoint(
        cls, ckpt: Checkpoint, device: str | torch.device, dataset: Any = None, download: bool | None = None,
        **kwargs: Any,
    ) -> IQL:
        config = ckpt.config.get("config") if isinstance(ckpt.config, dict) else None
        has_penalty = isinstance(config, dict) and config.get("penalty", "none") != "none"
        ckpt.tensors = migrate_state(ckpt.tensors, has_penalty)
        validate_checkpoint(ckpt, IQLConfig, DataTransform, IQLNetworks)
        try:
            cfg = IQLConfig.from_json(ckpt.config["config"])
            observation_space = space_from_json(ckpt.config["spaces"]["observation"])
            action_space = space_from_json(ckpt.config["spaces"]["action"])
            obs_keys = ckpt.config["spaces"].get("obs_keys")
            transform = DataTransform(**ckpt.config["data"])
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"the checkpoint's config.json is incomplete or malformed ({exc})") from None
        data = _as_transition_dataset(dataset, download) if dataset is not None else None
        agent = cls.__new__(cls)
        agent._build(cfg, observation_space, action_space, obs_keys, transform, dataset=data,
                     seed=ckpt.config.get("seed"), device=device, **kwargs)
        untrained = ckpt.config.get(UNTRAINED_KEY) or []
        check_untrained(untrained or None, ckpt.tensors, f"{ckpt.origin or 'the checkpoint'}/config.json")
        load_network_tensors(agent.nets, ckpt.tensors, ckpt.origin or "", untrained)
        agent.untrained_on_load = tuple(untrained)
        agent.num_timesteps = int(ckpt.config.get("num_timesteps", 0))
        if ckpt.optimizer_tensors:
            optimizer_from_tensors(
                agent.optimizer, "optimizer", ckpt.optimizer_tensors, ckpt.state["optimizer"], ckpt.origin or ""
            )
            for group in agent.optimizer.param_groups:
                group["lr"] = torch.as_tensor(float(group["lr"]), device=agent.device)
            rng = ckpt.optimizer_tensors.get(RNG_TENSOR)
            saved_on = rng_state_device(rng) if rng is not None else None
            if saved_on == agent.device.type:
                agent.generator.set_state(rng)
            elif saved_on is not None and data is not None:
                warnings.warn(
                    f"{ckpt.origin or 'the checkpoint'}: its batch sampler's random state comes from a {saved_on} "
                    f"generator, which a {agent.device.type} generator cannot take: training it on "
                    f"{agent.device.type} draws different batches than an uninterrupted run would (load it with "
                    f"device='{saved_on}' to resume exactly)",
                    stacklevel=3,
                )
            agent._total_timesteps = int(ckpt.state.get("total_timesteps", agent.num_timesteps))
        return agent
