"""Implicit Q-Learning (Kostrikov, Nair & Levine, 2021) and the source report's variants, as one SB3-style agent.

One gradient step on a batch (s, a, r, s', d) updates three networks with three losses (see :mod:`iqlzoo.losses`):

1. V by expectile regression towards the target critic:  L_V = E[L₂^τ(min_i Q̂_i(s,a) − V(s))]
2. Q_i by TD regression onto the value of the next state: L_Q = Σ_i E[(r + γ(1−d)V(s') − Q_i(s,a))²]
3. π by advantage-weighted regression: L_π = −E[min(exp(β(min_i Q̂_i(s,a) − V(s))), w_max) log π(a|s)]

then Q̂ ← (1 − α)Q̂ + αQ (Polyak averaging, α = ``target_update_rate``). As in common reference implementations,
V(s) and V(s') are evaluated once, before V's update, and the advantage of step 3 reuses the one of step 1, so one
forward pass per network serves all three losses. The losses touch disjoint parameters, so one backward pass of
their sum gives each network exactly its own loss's gradient.

The variants are configurations of the same update, never separate code paths of their own:

- **Bodies** (``actor_body``/``critic_body``/``value_body``): ``mlp`` or ``d2rl`` (input concatenated into every
  hidden layer; the report's "IQL+SC").
- **Critic head** (``critic_head="quantile"``, distributional IQL, IQN-style; quantile fractions τ_1..τ_N ~ U(0, 1)
  drawn per sample), with ``distributional_loss``:

  - ``"iql"`` — the report's form: the IQL losses applied per quantile with shared fractions,
    L_V = E_i[L₂^τ(min_e Q̂_e(s,a,τ_i) − V(s,τ_i))] and L_Q = Σ_e E_i[(r + γ(1−d)V(s',τ_i) − Q_e(s,a,τ_i))²].
    Each quantile is regressed with a mean-type loss, so nothing makes the τ_i-outputs actual quantiles; the report
    found it unstable.
  - ``"quantile_huber"`` — a sound form: Q's quantiles fit the distributional Bellman target T = r + γ(1−d)V(s')
    with the quantile-Huber loss ρ^κ_τ, and V (a scalar head) is the upper expectile of the critic's expected
    value, L_V = E[L₂^τ(E_i min_e Q̂_e(s,a,τ_i) − V(s))]. The return distribution's spread then comes from reward and
    transition randomness across the data, as in distributional TD with a fixed bootstrap value.

  In both forms the policy's advantage uses expected values, A = E_i Q̂(s,a,τ_i) − E_i V(s,τ_i).
- **Penalty** (``penalty="rnd"|"cvae"``, anti-exploration bonus): every use of the target critic in steps 1 and 3 is
  replaced by Q̂(s,a) − α·b̃(s,a), with b̃ = b / E_D[b] the bonus normalised by a bias-corrected running mean of
  its value on data batches. IQL only ever evaluates Q at dataset actions, so the bonus lowers V's expectile target
  and the advantages of dataset pairs that the bonus model finds rare; the TD target of step 2 is unchanged (it uses
  V alone). The bonus model trains on the same batch with its own loss (see :mod:`iqlzoo.penalties`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from minari import MinariDataset
from torch import nn
from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list
from torch.optim.adam import adam as adam_update

from iqlzoo.agents.base import OfflineAgent, library_versions
from iqlzoo.agents.presets import DOMAIN_DEFAULTS, REWARD_TRANSFORMS, infer_domain
from iqlzoo.checkpoint import Checkpoint, CheckpointError, optimizer_from_tensors, optimizer_to_tensors
from iqlzoo.data.buffer import TransitionBuffer
from iqlzoo.data.minari import from_minari
from iqlzoo.data.spaces import space_from_json, space_to_json
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.losses import awr_loss, awr_weights, expectile_loss, quantile_huber_loss, td_loss
from iqlzoo.nets import EnsembleQ, GaussianPolicy, ValueNet
from iqlzoo.nets.heads import HEADS
from iqlzoo.nets.mlp import BODIES
from iqlzoo.penalties import PENALTIES, make_penalty
from iqlzoo.validation import load_network_tensors, validate_checkpoint

DISTRIBUTIONAL_LOSSES = ("iql", "quantile_huber")
AUTO_COMPILE_STEPS = 20_000
"""With ``compile="auto"``, learn() calls of at least this many steps compile the update (cold compile ≈ a minute)."""


@dataclass
class IQLConfig:
    """Hyperparameters of IQL. ``None`` fields take the dataset domain's preset (see :mod:`iqlzoo.agents.presets`)."""

    expectile: float | None = None
    """τ of the expectile regression for V; higher → V closer to the max of Q over dataset actions."""
    temperature: float | None = None
    """β, the inverse temperature of the advantage weights exp(β·A)."""
    reward_transform: str | None = None
    """``return_scale`` (r·1000/(max−min episode return)), ``minus_one`` (r − 1) or ``none``."""
    gamma: float = 0.99
    """Discount factor γ."""
    target_update_rate: float = 0.005
    """Polyak rate α of the target critic, Q̂ ← (1−α)Q̂ + αQ."""
    batch_size: int = 256
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    actor_cosine_decay: bool = True
    """Anneal the actor's learning rate as lr·½(1 + cos(π·t/T)) over the ``learn`` call's T steps."""
    max_weight: float = 100.0
    """Clip of the advantage weights."""
    n_critics: int = 2
    """Size of the Q ensemble; the minimum over members is used (1 reproduces the report's divergent ablation)."""
    actor_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    value_hidden: tuple[int, ...] = (256, 256)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    normalize_observations: bool = False
    """Standardise observations with the dataset's mean and std (stored in the checkpoint, applied in predict)."""
    domain: str | None = None
    """Preset domain; ``None`` infers it from the dataset id."""
    actor_body: str = "mlp"
    """``mlp`` or ``d2rl`` (input concatenated into every hidden layer)."""
    critic_body: str = "mlp"
    value_body: str = "mlp"
    critic_head: str = "scalar"
    """``scalar`` or ``quantile`` (distributional IQL with IQN-style implicit quantiles)."""
    distributional_loss: str = "iql"
    """With a quantile head: ``iql`` (the report's per-quantile IQL losses) or ``quantile_huber`` (sound form)."""
    n_quantiles: int = 8
    """Quantile fractions sampled per transition (N)."""
    n_cos: int = 64
    """Size of the cosine basis embedding τ."""
    huber_kappa: float = 1.0
    """κ of the quantile-Huber loss."""
    penalty: str = "none"
    """Anti-exploration bonus: ``none``, ``rnd`` or ``cvae``."""
    penalty_alpha: float = 0.1
    """α in Q − α·b̃; b̃ ≈ 1 on the data after normalisation."""
    penalty_lr: float = 3e-4
    penalty_hidden: tuple[int, ...] = (256, 256)
    penalty_norm_momentum: float = 0.01
    """Momentum of the running mean E_D[b] that normalises the bonus."""
    bf16: bool = False
    """Run the policy's (and the bonus model's) training passes in bfloat16 via autocast, on CPUs with
    avx512_bf16/AMX and on recent GPUs. The value path — Q, V, the TD target, the advantages and the AWR weights —
    always runs in float32: bfloat16 rounds AntMaze values (|V| up to 100) to steps of 0.25–0.5, coarser than the
    advantages IQL learns. Parameters, Adam and the losses stay float32; saved weights are float32 either way."""
    divergence_factor: float = 10.0
    """Training stops as diverged once |mean Q| exceeds this factor times max|r|/(1−γ), the bound of any return."""

    def validate(self) -> None:
        """Raise ValueError for out-of-range values, naming the field and its valid range."""
        checks = [
            ("expectile", self.expectile is None or 0.0 < self.expectile < 1.0, "in (0, 1)"),
            ("temperature", self.temperature is None or self.temperature >= 0.0, ">= 0"),
            ("gamma", 0.0 <= self.gamma <= 1.0, "in [0, 1]"),
            ("target_update_rate", 0.0 < self.target_update_rate <= 1.0, "in (0, 1]"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("n_critics", self.n_critics >= 1, ">= 1"),
            ("max_weight", self.max_weight > 0, "> 0"),
            ("actor_lr", self.actor_lr > 0, "> 0"),
            ("critic_lr", self.critic_lr > 0, "> 0"),
            ("value_lr", self.value_lr > 0, "> 0"),
            ("log_std_min", self.log_std_min < self.log_std_max, "< log_std_max"),
            ("n_quantiles", self.n_quantiles >= 1, ">= 1"),
            ("n_cos", self.n_cos >= 1, ">= 1"),
            ("huber_kappa", self.huber_kappa > 0, "> 0"),
            ("penalty_alpha", self.penalty_alpha >= 0, ">= 0"),
            ("penalty_lr", self.penalty_lr > 0, "> 0"),
            ("penalty_norm_momentum", 0 < self.penalty_norm_momentum <= 1, "in (0, 1]"),
            ("divergence_factor", self.divergence_factor > 0, "> 0"),
        ]
        for name, ok, valid in checks:
            if not ok:
                raise ValueError(f"IQL hyperparameter {name}={getattr(self, name)!r} is invalid: must be {valid}")
        if self.reward_transform is not None and self.reward_transform not in REWARD_TRANSFORMS:
            raise ValueError(f"reward_transform={self.reward_transform!r}: must be one of {REWARD_TRANSFORMS}")
        if self.domain is not None and self.domain not in DOMAIN_DEFAULTS:
            raise ValueError(f"domain={self.domain!r}: must be one of {sorted(DOMAIN_DEFAULTS)}")
        choices = [
            ("actor_body", BODIES),
            ("critic_body", BODIES),
            ("value_body", BODIES),
            ("critic_head", HEADS),
            ("distributional_loss", DISTRIBUTIONAL_LOSSES),
            ("penalty", PENALTIES),
        ]
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be one of {allowed}")
        for name in ("actor_hidden", "critic_hidden", "value_hidden", "penalty_hidden"):
            widths = getattr(self, name)
            if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
                raise ValueError(f"{name}={widths!r}: must be a non-empty sequence of positive ints")

    @property
    def value_head(self) -> str:
        """V is distributional only in the report's per-quantile form."""
        return "quantile" if self.critic_head == "quantile" and self.distributional_loss == "iql" else "scalar"

    def resolved(self, dataset_id: str | None) -> IQLConfig:
        """A copy with the domain and every ``None`` preset field filled in."""
        domain = self.domain or infer_domain(dataset_id)
        preset = DOMAIN_DEFAULTS[domain]
        filled = {k: (preset[k] if getattr(self, k) is None else getattr(self, k)) for k in preset}
        return dataclasses.replace(self, domain=domain, **filled)

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IQLConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise CheckpointError(f"unknown IQL config fields {sorted(unknown)}: saved by a newer iqlzoo?")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})


@dataclass
class DataTransform:
    """How raw data maps to what the networks see; fitted on the dataset and saved with the model."""

    reward_scale: float = 1.0
    reward_shift: float = 0.0
    dataset_id: str | None = None
    env_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def fit_reward_transform(kind: str, dataset: TransitionDataset) -> tuple[float, float]:
    """(scale, shift) of r ↦ scale·r + shift for the named transform."""
    if kind == "none":
        return 1.0, 0.0
    if kind == "minus_one":
        return 1.0, -1.0
    returns = dataset.episode_returns
    if returns is None or len(returns) < 2:
        raise ValueError(
            "reward_transform='return_scale' needs the returns of at least two episodes, and this dataset "
            f"({dataset.dataset_id or 'in memory'}) provides {0 if returns is None else len(returns)}: pass "
            "episode_returns to TransitionDataset or choose reward_transform='none'"
        )
    spread = float(returns.max() - returns.min())
    if spread <= 0.0:
        raise ValueError("reward_transform='return_scale': all episode returns are equal; choose 'none'")
    return 1000.0 / spread, 0.0


def _private_copy(method: Any) -> Any:
    """``method`` bound to a copy of its function with its own code object.

    Dynamo keys compiled graphs on the code object and guards each on the instance, so every model compiling the
    shared ``IQL._update`` adds an entry to one cache — and after ``recompile_limit`` (8) entries it silently runs
    eagerly, even when the earlier models are gone: a harness worker or a sweep script would train its 9th model
    uncompiled. A private code object gives each model its own cache, freed with the model.
    """
    func = method.__func__
    clone = types.FunctionType(
        func.__code__.replace(), func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )
    clone.__kwdefaults__ = func.__kwdefaults__
    clone.__qualname__ = func.__qualname__
    return types.MethodType(clone, method.__self__)


class IQLNetworks(nn.Module):
    """Policy π, critic ensemble Q, its target Q̂, value V, the optional bonus model, and fixed transforms.

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
            return EnsembleQ(
                obs_dim,
                act_dim,
                cfg.critic_hidden,
                cfg.n_critics,
                cfg.critic_body,
                cfg.critic_head,
                cfg.n_cos,
                n_agents,
            )

        self.critic = critic()
        self.critic_target = critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.value = ValueNet(obs_dim, cfg.value_hidden, cfg.value_body, cfg.value_head, cfg.n_cos, n_agents)
        self.penalty = make_penalty(cfg.penalty, obs_dim, act_dim, cfg.penalty_hidden, n_agents)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        # bias-corrected running mean of the bonus on data batches: ema / (1 − (1 − m)^t), one per agent
        self.register_buffer("bonus_ema", torch.zeros(n_agents))
        self.register_buffer("bonus_updates", torch.zeros(()))

    def agent_dim(self, name: str, single_shape: torch.Size) -> bool:
        """Whether state entry ``name`` is stacked over agents (vs shared), judged from one agent's shape."""
        return self.state_dict()[name].shape != single_shape


def _optimized_modules(nets: IQLNetworks) -> list[nn.Module]:
    """The modules with an optimizer parameter group, in group order: actor, critic, value[, penalty]."""
    return [nets.actor, nets.critic, nets.value] + ([nets.penalty] if nets.penalty is not None else [])


def stack_agents(multi: IQLNetworks, singles: list[IQLNetworks]) -> None:
    """Copy K single-agent networks into the K-agent ``multi`` (agent-major along each ensemble dimension)."""
    states = [single.state_dict() for single in singles]
    stacked = {}
    for name, value in states[0].items():
        if multi.agent_dim(name, value.shape):
            stacked[name] = torch.cat([state[name] for state in states], dim=0)
        else:
            stacked[name] = value
    multi.load_state_dict(stacked)


def agent_slice(multi_state: dict[str, torch.Tensor], single_shapes: dict[str, torch.Size], k: int, n_agents: int):
    """Agent ``k``'s entries of a K-agent state (a state dict or optimizer tensors keyed alike)."""
    out = {}
    for name, value in multi_state.items():
        shape = single_shapes.get(name)
        if shape is not None and value.dim() > 0 and value.shape[0] == n_agents * shape[0] and n_agents > 1:
            size = shape[0]
            out[name] = value[k * size : (k + 1) * size].clone()
        else:
            out[name] = value.clone()
    return out


def _as_transition_dataset(dataset: Any, download: bool | None) -> TransitionDataset:
    if isinstance(dataset, TransitionDataset):
        return dataset
    if isinstance(dataset, (str, MinariDataset)):
        return from_minari(dataset, download=download)
    raise TypeError(
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
        _init_from: Checkpoint | None = None,
        **hyperparameters: Any,
    ) -> None:
        if policy != "MlpPolicy":
            raise ValueError(f"policy={policy!r} is not supported: iqlzoo agents use 'MlpPolicy'")
        if dataset is None and _init_from is None:
            raise ValueError(f"{type(self).__name__} needs a dataset (a Minari id, MinariDataset or TransitionDataset)")
        self.dataset = _as_transition_dataset(dataset, download) if dataset is not None else None
        if _init_from is not None:
            cfg = IQLConfig.from_json(_init_from.config["config"])
            observation_space = space_from_json(_init_from.config["spaces"]["observation"])
            action_space = space_from_json(_init_from.config["spaces"]["action"])
            obs_keys = _init_from.config["spaces"].get("obs_keys")
            self.transform = DataTransform(**_init_from.config["data"])
        else:
            cfg = self._config_from_kwargs({**self.preset, **hyperparameters}, learning_rate, policy_kwargs)
            cfg = cfg.resolved(self.dataset.dataset_id)
            observation_space, action_space = self.dataset.observation_space, self.dataset.action_space
            obs_keys = self.dataset.obs_keys
            scale, shift = fit_reward_transform(cfg.reward_transform, self.dataset)
            spec = self.dataset.eval_env_spec or self.dataset.env_spec
            self.transform = DataTransform(
                reward_scale=scale,
                reward_shift=shift,
                dataset_id=self.dataset.dataset_id,
                env_id=getattr(spec, "id", None),
            )
        cfg.validate()
        if not isinstance(n_seeds, int) or n_seeds < 1:
            raise ValueError(f"n_seeds must be a positive int, got {n_seeds!r}")
        if compile not in (True, False, "auto"):
            raise ValueError(f"compile must be True, False or 'auto', got {compile!r}")
        self.config = cfg
        self.n_seeds = n_seeds
        self.compile = compile
        self.stat_names = self.base_stats + (self.penalty_stats if cfg.penalty != "none" else ())
        self.q_limit = math.inf
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
        base_seed = self.generator.initial_seed() if seed is None else seed
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
            stack_agents(self.nets, singles)
            self.nets.to(self.device)
        self._single_shapes = {name: value.shape for name, value in singles[0].state_dict().items()}
        self._single_param_shapes = [
            p.shape for m in _optimized_modules(singles[0]) for p in m.parameters() if p.requires_grad
        ]
        rates = [cfg.actor_lr, cfg.critic_lr, cfg.value_lr, cfg.penalty_lr]
        self.optimizer = torch.optim.Adam(
            [
                {"params": [p for p in module.parameters() if p.requires_grad], "lr": lr}
                for module, lr in zip(_optimized_modules(self.nets), rates)
            ],
            # fused Adam accepts tensor learning rates, which a compiled step reads without recompiling
            fused=True,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        self._init_optimizer_state()
        self._compiled_update: Any = None
        self._trained_params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self._target_params = list(self.nets.critic_target.parameters())
        self._online_params = list(self.nets.critic.parameters())
        self.buffer: TransitionBuffer | None = None
        if _init_from is None and cfg.normalize_observations:
            mean = self.dataset.observations.mean(axis=0)
            std = self.dataset.observations.std(axis=0) + 1e-3
            self.nets.obs_mean.copy_(torch.as_tensor(mean))
            self.nets.obs_std.copy_(torch.as_tensor(std))

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _config_from_kwargs(
        hyperparameters: dict[str, Any], learning_rate: float | None, policy_kwargs: dict[str, Any] | None
    ) -> IQLConfig:
        names = {f.name for f in dataclasses.fields(IQLConfig)}
        unknown = sorted(set(hyperparameters) - names)
        if unknown:
            raise TypeError(f"unknown IQL hyperparameters {unknown}; valid: {sorted(names)}")
        values = dict(hyperparameters)
        if learning_rate is not None:
            for key in ("actor_lr", "critic_lr", "value_lr"):
                values.setdefault(key, learning_rate)
        if policy_kwargs:
            extra = set(policy_kwargs) - {"net_arch"}
            if extra:
                raise TypeError(f"policy_kwargs supports only 'net_arch', got {sorted(extra)}")
            arch = policy_kwargs["net_arch"]
            if isinstance(arch, dict):
                for key, field_name in (("pi", "actor_hidden"), ("qf", "critic_hidden"), ("vf", "value_hidden")):
                    if key in arch:
                        values.setdefault(field_name, tuple(arch[key]))
            else:
                for field_name in ("actor_hidden", "critic_hidden", "value_hidden"):
                    values.setdefault(field_name, tuple(arch))
        for key in ("actor_hidden", "critic_hidden", "value_hidden"):
            if key in values:
                values[key] = tuple(values[key])
        return IQLConfig(**values)

    def _check_dataset_fits(self, dataset: TransitionDataset) -> None:
        if dataset.action_space.shape != self.action_space.shape or not (
            np.allclose(dataset.action_space.low, self.action_space.low)
            and np.allclose(dataset.action_space.high, self.action_space.high)
        ):
            raise ValueError(
                f"the dataset's action space {dataset.action_space} does not match the model's {self.action_space}"
            )
        if dataset.obs_dim != self.flattener.dim:
            raise ValueError(
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
            raise ValueError(
                f"this {self.agent_name} has no dataset to train on (it was loaded for inference): pass one with "
                f"{self.agent_name}.load(path, dataset=...) or model.set_dataset(...)"
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
            max_reward = float(self.buffer.split(self.buffer.data)[2].abs().max())
            if self.config.gamma < 1.0 and max_reward > 0.0:
                self.q_limit = self.config.divergence_factor * max_reward / (1.0 - self.config.gamma)
        want = self.compile is True or (self.compile == "auto" and total_timesteps >= AUTO_COMPILE_STEPS)
        if want and self._compiled_update is None:
            self._compiled_update = self._compile_update()

    def _compile_update(self) -> Any:
        """The update under ``torch.compile``, warmed up and timed once.

        With ``trace_autograd_ops`` dynamo traces the ``autograd.grad`` call, so batch gather, losses, gradients, Adam
        and the Polyak update form one graph (``_update`` avoids ``zero_grad``/``backward``, which break it). CUDA uses
        ``mode="reduce-overhead"`` (CUDA graphs; not yet run on a GPU); CPU the default inductor mode. If
        compilation fails (no C++ compiler, an unsupported op), training continues eagerly with a warning. The warm-up
        step runs on a throw-away copy of the state, so compiled and eager training see the same sequence of updates.
        """
        mode = "reduce-overhead" if self.device.type == "cuda" else None
        update = _private_copy(self._update)
        compiled = torch._dynamo.config.patch(trace_autograd_ops=True)(
            torch.compile(update, mode=mode, dynamic=False, fullgraph=False)
        )
        snapshot = copy.deepcopy((self.nets.state_dict(), self.optimizer.state_dict()))
        start = time.perf_counter()
        try:
            b, k = self.config.batch_size, self.n_seeds
            index = torch.zeros(k, b, dtype=torch.long, device=self.device)
            taus = torch.full((k, b, self.config.n_quantiles), 0.5, device=self.device)
            noise_dim = self.nets.penalty.noise_dim if self.nets.penalty is not None else 0
            noise = torch.zeros(k, b, noise_dim, device=self.device) if noise_dim else None
            compiled(index, taus if self.config.critic_head == "quantile" else None, noise)
            if not _debug_get_cache_entry_list(update.__func__.__code__):
                raise RuntimeError("dynamo produced no graph for the update (recompile limit or a skipped frame)")
        except Exception as exc:  # compilation problems surface as many exception types
            message = f"torch.compile of the IQL update failed ({type(exc).__name__}: {exc}); training eagerly"
            warnings.warn(message, stacklevel=2)
            compiled = None
        finally:
            # restore in place: the compiled graph holds these very tensors
            self.nets.load_state_dict(snapshot[0])
            saved_state = snapshot[1]["state"]
            for index, p in enumerate(self._trained_params):
                for key, value in self.optimizer.state[p].items():
                    value.copy_(saved_state[index][key])
            for group, saved in zip(self.optimizer.param_groups, snapshot[1]["param_groups"]):
                group["lr"].copy_(saved["lr"])
        self.compile_seconds = time.perf_counter() - start
        if self.verbose and compiled is not None:
            print(f"{self.agent_name}: compiled the update in {self.compile_seconds:.1f} s")
        return compiled

    # ------------------------------------------------------------------ the update
    def _actor_lr(self, progress_remaining: float) -> float:
        if not self.config.actor_cosine_decay:
            return self.config.actor_lr
        return self.config.actor_lr * 0.5 * (1.0 + math.cos(math.pi * (1.0 - progress_remaining)))

    def _train_step(self, progress_remaining: float) -> torch.Tensor:
        assert self.buffer is not None
        self.optimizer.param_groups[0]["lr"].fill_(self._actor_lr(progress_remaining))
        index, taus, noise = self._draw_batch()
        update = self._compiled_update or self._update
        stats = update(index, taus, noise)
        # one row per agent: divergence is judged per agent, not on the mean
        return stats if self.n_seeds == 1 else stats.reshape(self.n_seeds, -1)

    def _draw_batch(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Each agent's random inputs of one step, from its own generator: batch indices (K, B), quantile fractions
        (K, B, N) for quantile critics, standard normal noise (K, B, d) for bonus models that need it."""
        assert self.buffer is not None
        cfg, b = self.config, self.config.batch_size
        index = self.buffer.sample_index(b, self.generators)
        taus = noise = None
        if cfg.critic_head == "quantile":
            taus = torch.stack(
                [torch.rand(b, cfg.n_quantiles, device=self.device, generator=g) for g in self.generators]
            )
        if self.nets.penalty is not None and self.nets.penalty.noise_dim:
            noise = torch.stack(
                [torch.randn(b, self.nets.penalty.noise_dim, device=self.device, generator=g) for g in self.generators]
            )
        return index, taus, noise

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
        value_taus = taus if cfg.value_head == "quantile" else None
        with torch.no_grad():
            target_q = nets.critic_target(obs, act, taus).min(dim=1).values  # (K, B, N)
            bonus = bonus_scale = None
            if nets.penalty is not None:
                bonus = nets.penalty.bonus(obs, act)  # (K, B)
                nets.bonus_updates.add_(1.0)
                nets.bonus_ema.lerp_(bonus.mean(dim=-1), cfg.penalty_norm_momentum)
                bonus_scale = nets.bonus_ema / (1.0 - (1.0 - cfg.penalty_norm_momentum) ** nets.bonus_updates)
                target_q = target_q - cfg.penalty_alpha * (bonus / bonus_scale.unsqueeze(-1)).unsqueeze(-1)
            if value_taus is None:
                target_q = target_q.mean(dim=-1, keepdim=True)
            next_v = nets.value(next_obs, value_taus)
            td_target = rew.unsqueeze(-1) + cfg.gamma * (1.0 - term.unsqueeze(-1)) * next_v
        v = nets.value(obs, value_taus)  # (K, B, N) or (K, B, 1)
        q = nets.critic(obs, act, taus)  # (K, C, B, N)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            log_prob = nets.actor.log_prob(obs, act).float()
            penalty_loss = nets.penalty.loss(obs, act, noise).float() if nets.penalty is not None else None
        value_loss = expectile_loss(target_q - v, cfg.expectile)
        if cfg.critic_head == "quantile" and cfg.distributional_loss == "quantile_huber":
            critic_loss = quantile_huber_loss(q, td_target, taus, cfg.huber_kappa)
        else:
            critic_loss = td_loss(q, td_target)
        advantage = (target_q.mean(dim=-1) - v.mean(dim=-1)).detach()  # (K, B)
        weights = awr_weights(advantage, cfg.temperature, cfg.max_weight)
        out = {
            "value_loss": value_loss,
            "critic_loss": critic_loss,
            "actor_loss": awr_loss(log_prob, weights),
            "target_q": target_q,
            "v": v,
            "q": q,
            "td_target": td_target,
            "advantage": advantage,
            "weights": weights,
        }
        if penalty_loss is not None:
            out.update(penalty_loss=penalty_loss, bonus=bonus, bonus_scale=bonus_scale)
        return out

    def _update(self, index: torch.Tensor, taus: torch.Tensor | None, noise: torch.Tensor | None) -> torch.Tensor:
        """One IQL step for every agent on its batch ``index`` (K, B): all losses, one backward, one optimizer step,
        the Polyak update. Returns the statistics (K·n_stats,) without any host synchronisation."""
        assert self.buffer is not None
        nets = self.nets
        parts = self._losses(*self.buffer.gather(index), taus, noise)  # (K, B, ·) batch
        total = parts["value_loss"] + parts["critic_loss"] + parts["actor_loss"]
        if nets.penalty is not None:
            total = total + parts["penalty_loss"]

        def per_agent(x: torch.Tensor) -> torch.Tensor:
            return x.detach().reshape(x.shape[0], -1).mean(dim=1)

        # statistics from detached tensors, taken before the gradient: nothing that needs a grad_fn may stay live
        # past autograd.grad, or dynamo splits the graph there
        stats = [
            parts["value_loss"].detach(),
            parts["critic_loss"].detach(),
            parts["actor_loss"].detach(),
            per_agent(parts["q"]),
            per_agent(parts["v"]),
            per_agent(parts["advantage"]),
            per_agent(parts["weights"]),
            per_agent(parts["td_target"]),
            per_agent(nets.actor.clipped_log_std()),
        ]
        if nets.penalty is not None:
            stats += [per_agent(parts["bonus"]), parts["bonus_scale"], parts["penalty_loss"].detach()]
        stats_vector = torch.stack(stats, dim=1).reshape(-1)
        # autograd.grad rather than backward(): dynamo traces it (trace_autograd_ops), so the compiled step is one
        # graph from batch gather to the Adam and Polyak updates
        grads = torch.autograd.grad(total.sum(), self._trained_params)
        with torch.no_grad():
            self._adam_step(grads)
            torch._foreach_lerp_(self._target_params, self._online_params, self.config.target_update_rate)
        return stats_vector

    def _adam_step(self, grads: tuple[torch.Tensor, ...]) -> None:
        """``self.optimizer``'s fused Adam step, called functionally on its own state tensors.

        ``Optimizer.step`` deliberately breaks dynamo graphs; calling ``torch.optim.adam.adam`` on the same state
        (``exp_avg``, ``exp_avg_sq``, ``step``) computes the identical update inside one graph, and the optimizer's
        ``state_dict`` stays the checkpoint format.
        """
        start = 0
        compiling = torch.compiler.is_compiling()
        for group in self.optimizer.param_groups:
            params = group["params"]
            states = [self.optimizer.state[p] for p in params]
            adam_update(
                params,
                list(grads[start : start + len(params)]),
                [state["exp_avg"] for state in states],
                [state["exp_avg_sq"] for state in states],
                [],
                [state["step"] for state in states],
                # fused kernels in eager mode; traced per-tensor updates (fused by inductor) under torch.compile,
                # which refuses to trace into the fused kernel
                fused=not compiling,
                foreach=False,
                amsgrad=False,
                beta1=group["betas"][0],
                beta2=group["betas"][1],
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
            )
            start += len(params)

    def _init_optimizer_state(self) -> None:
        """Create Adam's state tensors up front (``Optimizer.step`` would create them lazily on its first call)."""
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                state = self.optimizer.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)

    def _diverged(self, stats: torch.Tensor) -> torch.Tensor:
        """Non-finite statistics, or |mean Q| beyond ``divergence_factor``·max|r|/(1−γ) (a bound on any return) —
        for any one of the agents of a multi-seed model (one agent's blow-up must not hide in the mean)."""
        per_agent = stats.reshape(-1, len(self.stat_names))
        q_mean = per_agent[:, self.base_stats.index("q_mean")]
        return super()._diverged(per_agent) | (q_mean.abs() > self.q_limit).any()

    def _extra_log_values(self) -> dict[str, float]:
        return {"actor_lr": float(self.optimizer.param_groups[0]["lr"])}

    # ------------------------------------------------------------------ acting
    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        if self.n_seeds > 1:
            raise ValueError(
                f"this model trains {self.n_seeds} seeds at once; act with one of them: model.agent(k).predict(...)"
            )
        obs = ((obs - self.nets.obs_mean) / self.nets.obs_std).unsqueeze(0)
        return self.nets.actor.act(obs, deterministic, self.generator).squeeze(0).clamp(-1.0, 1.0)

    # ------------------------------------------------------------------ multi-seed
    def agent(self, k: int) -> IQL:
        """Seed ``k`` of a multi-seed model as an ordinary single agent (own copy of weights and optimizer state)."""
        if not 0 <= k < self.n_seeds:
            raise IndexError(f"agent index {k} out of range for {self.n_seeds} seeds")
        if self.n_seeds == 1:
            return self
        return type(self)._from_checkpoint(
            self._checkpoint_payload(include_optimizer=True, agent=k), self.device, dataset=self.dataset
        )

    @classmethod
    def stack(cls, agents: Sequence[IQL], compile: bool | str | None = None) -> IQL:
        """K single agents as one K-seed model of their class that continues exactly where each of them stands: the
        inverse of :meth:`agent`. Networks, Adam moments, learning rates, batch/noise generators and step counters are
        stacked agent-major; the agents must share class, configuration, data transform and step count.

        ``IQL.stack([IQL.load(p) for p in paths])`` resumes K interrupted seeds as one vectorised run, and
        ``stacked.agent(k)`` then equals agent ``k`` trained on alone (up to float reassociation in batched matmuls).
        """
        agents = list(agents)
        if not agents:
            raise ValueError("stack() needs at least one agent")
        first = agents[0]
        for k, other in enumerate(agents):
            if type(other) is not type(first) or other.n_seeds != 1:
                raise ValueError(f"stack() takes single {type(first).__name__} agents; agent {k} is "
                                 f"{type(other).__name__} with n_seeds={other.n_seeds}")
            mismatch = [
                name
                for name, a, b in (
                    ("configuration", other.config, first.config),
                    ("data transform", other.transform, first.transform),
                    ("observation space", other.observation_space, first.observation_space),
                    ("action space", other.action_space, first.action_space),
                    ("num_timesteps", other.num_timesteps, first.num_timesteps),
                )
                if a != b
            ]
            if mismatch:
                raise ValueError(f"agent {k} differs from agent 0 in {', '.join(mismatch)}: only copies of one run "
                                 "setup (different seeds) can be stacked")
        if len(agents) == 1:
            return first
        multi = type(first)(
            _init_from=first._checkpoint_payload(include_optimizer=False),
            dataset=first.dataset,
            n_seeds=len(agents),
            seed=first.seeds[0],
            device=first.device,
            compile=first.compile if compile is None else compile,
            verbose=first.verbose,
        )
        stack_agents(multi.nets, [a.nets for a in agents])
        singles = [a._trained_params for a in agents]
        for index, param in enumerate(multi._trained_params):
            for slot, value in multi.optimizer.state[param].items():
                parts = [agent.optimizer.state[params[index]][slot] for agent, params in zip(agents, singles)]
                value.copy_(torch.cat(parts, dim=0) if value.shape != parts[0].shape else parts[0])
        for group, single_group in zip(multi.optimizer.param_groups, first.optimizer.param_groups):
            group["lr"].copy_(single_group["lr"])
        multi.seeds = [a.seeds[0] for a in agents]
        for generator, agent in zip(multi.generators, agents):
            generator.set_state(agent.generator.get_state())
        multi.num_timesteps = first.num_timesteps
        multi._total_timesteps = first._total_timesteps
        return multi

    # ------------------------------------------------------------------ persistence
    def _checkpoint_payload(self, include_optimizer: bool, agent: int | None = None) -> Checkpoint:
        if self.n_seeds > 1 and agent is None:
            raise ValueError(
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
            opt_tensors["rng.generator"] = self.generators[k].get_state()
            state["total_timesteps"] = self._total_timesteps
        return Checkpoint(config=config, tensors=tensors, optimizer_tensors=opt_tensors, state=state)

    @classmethod
    def _from_checkpoint(cls, ckpt: Checkpoint, device: str | torch.device, **kwargs: Any) -> IQL:
        validate_checkpoint(ckpt, IQLConfig, DataTransform, IQLNetworks)
        try:
            agent = cls(_init_from=ckpt, device=device, seed=ckpt.config.get("seed"), **kwargs)
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"the checkpoint's config.json is incomplete or malformed ({exc})") from None
        load_network_tensors(agent.nets, ckpt.tensors, ckpt.origin or "")
        agent.num_timesteps = int(ckpt.config.get("num_timesteps", 0))
        if ckpt.optimizer_tensors:
            optimizer_from_tensors(
                agent.optimizer, "optimizer", ckpt.optimizer_tensors, ckpt.state["optimizer"], ckpt.origin or ""
            )
            for group in agent.optimizer.param_groups:
                group["lr"] = torch.as_tensor(float(group["lr"]), device=agent.device)
            if "rng.generator" in ckpt.optimizer_tensors and agent.device.type == "cpu":
                agent.generator.set_state(ckpt.optimizer_tensors["rng.generator"])
            agent._total_timesteps = int(ckpt.state.get("total_timesteps", agent.num_timesteps))
        return agent
