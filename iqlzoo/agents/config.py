"""The configuration of an IQL agent: hyperparameters with the domain presets, and the fitted data transform.

A config is plain data (a dataclass that round-trips through JSON), so checkpoints, the results store and model
cards all carry the exact configuration that produced them. ``None`` fields take the dataset domain's preset
(:mod:`iqlzoo.agents.presets`) when the config is :meth:`IQLConfig.resolved` against a dataset id.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from iqlzoo.agents.presets import DOMAIN_DEFAULTS, REWARD_TRANSFORMS, infer_domain
from iqlzoo.checkpoint import CheckpointError
from iqlzoo.data.transitions import TransitionDataset
from iqlzoo.errors import InvalidInputError
from iqlzoo.nets.heads import HEADS, head_class
from iqlzoo.nets.heads.quantile import DISTRIBUTIONAL_LOSSES
from iqlzoo.nets.mlp import BODIES
from iqlzoo.penalties import check_penalty
from iqlzoo.validation import type_problem


def _shown(value: Any) -> str:
    """``repr(value)``, cut to 80 characters (a hostile value may be huge)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    normalize_observations: bool | None = None
    """Standardise observations with the dataset's mean and std (stored in the checkpoint, applied in predict);
    ``None``: the domain preset (AntMaze yes, locomotion no)."""
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
    penalty_kwargs: dict[str, Any] = field(default_factory=dict)
    """The bonus model's own hyperparameters, e.g. ``{"kl_weight": 0.5}`` (cvae) or ``{"embedding_dim": 32}`` (rnd)."""
    bf16: bool = False
    """Run the policy's (and the bonus model's) training passes in bfloat16 via autocast, on CPUs with
    avx512_bf16/AMX and on recent GPUs. The value path — Q, V, the TD target, the advantages and the AWR weights —
    always runs in float32: bfloat16 rounds AntMaze values (|V| up to 100) to steps of 0.25–0.5, coarser than the
    advantages IQL learns. Parameters, Adam and the losses stay float32; saved weights are float32 either way."""
    divergence_factor: float = 10.0
    """Training stops as diverged once |mean Q| exceeds this factor times max|r|/(1−γ), the bound of any return."""

    def validate(self) -> None:
        """Raise ValueError for ill-typed, non-finite or out-of-range values, naming the field and what it accepts."""
        hints = typing.get_type_hints(IQLConfig)
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            problem = type_problem(value, hints[item.name])
            if problem is not None:
                raise InvalidInputError(f"IQL hyperparameter {item.name}={_shown(value)} is invalid: {problem}")
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
                raise InvalidInputError(f"IQL hyperparameter {name}={getattr(self, name)!r} is invalid: must be "
                                        f"{valid}")
        if self.reward_transform is not None and self.reward_transform not in REWARD_TRANSFORMS:
            raise InvalidInputError(f"reward_transform={self.reward_transform!r}: must be one of {REWARD_TRANSFORMS}")
        if self.domain is not None and self.domain not in DOMAIN_DEFAULTS:
            raise InvalidInputError(f"domain={self.domain!r}: must be one of {sorted(DOMAIN_DEFAULTS)}")
        choices = [
            ("actor_body", BODIES),
            ("critic_body", BODIES),
            ("value_body", BODIES),
            ("critic_head", tuple(HEADS)),
            ("distributional_loss", DISTRIBUTIONAL_LOSSES),
        ]
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise InvalidInputError(f"{name}={getattr(self, name)!r}: must be one of {allowed}")
        if not isinstance(self.penalty_kwargs, dict):
            raise InvalidInputError(f"penalty_kwargs={self.penalty_kwargs!r}: must be a dict of the bonus's "
                                    "hyperparameters")
        check_penalty(self.penalty, self.penalty_kwargs)
        for name in ("actor_hidden", "critic_hidden", "value_hidden", "penalty_hidden"):
            widths = getattr(self, name)
            if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
                raise InvalidInputError(f"{name}={widths!r}: must be a non-empty sequence of positive ints")

    @property
    def value_head(self) -> str:
        """The head V uses, as the critic's head declares it (distributional only in the report's per-quantile
        form of the quantile head)."""
        return head_class(self.critic_head).value_head(self)

    def resolved(self, dataset_id: str | None) -> IQLConfig:
        """A copy with the domain and every ``None`` preset field filled in."""
        if self.domain is not None and (not isinstance(self.domain, str) or self.domain not in DOMAIN_DEFAULTS):
            raise InvalidInputError(f"domain={self.domain!r}: must be one of {sorted(DOMAIN_DEFAULTS)}")
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


#: (scale, shift) of the reward transforms that do not depend on the data; ``return_scale`` is fitted on the data.
DATA_FREE_REWARD_TRANSFORMS: dict[str, tuple[float, float]] = {"none": (1.0, 0.0), "minus_one": (1.0, -1.0)}


def fit_reward_transform(kind: str, dataset: TransitionDataset) -> tuple[float, float]:
    """(scale, shift) of r ↦ scale·r + shift for the named transform."""
    if kind in DATA_FREE_REWARD_TRANSFORMS:
        return DATA_FREE_REWARD_TRANSFORMS[kind]
    returns = dataset.episode_returns
    if returns is None or len(returns) < 2:
        raise InvalidInputError(
            "reward_transform='return_scale' needs the returns of at least two episodes, and this dataset "
            f"({dataset.dataset_id or 'in memory'}) provides {0 if returns is None else len(returns)}: pass "
            "episode_returns to TransitionDataset or choose reward_transform='none'"
        )
    spread = float(returns.max() - returns.min())
    if spread <= 0.0:
        raise InvalidInputError("reward_transform='return_scale': all episode returns are equal; choose 'none'")
    return 1000.0 / spread, 0.0


def return_bounds(reward_low: float, reward_high: float, gamma: float, penalized: bool = False) -> tuple[float, float]:
    """The interval every discounted return of rewards in [r_lo, r_hi] lies in, and so every value a correct Q or V fit
    can take: a return Σ_t γ^t r_t over any number of steps (an episode may end at a terminal) lies in
    [min(r_lo, 0), max(r_hi, 0)] / (1 − γ). An anti-exploration penalty lowers the rewards the critics are trained on
    by an amount with no fixed bound, so with ``penalized`` only the upper end holds (the lower is −inf).
    AntMaze's r − 1 at γ = 0.99: [−100, 0]."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"returns are bounded only for 0 <= gamma < 1, got gamma={gamma}")
    low = -float("inf") if penalized else min(reward_low, 0.0) / (1.0 - gamma)
    return low, max(reward_high, 0.0) / (1.0 - gamma)


def _widths(arch: Any) -> Any:
    """``net_arch`` widths as a tuple when they are a list or tuple; anything else is left for validate() to name."""
    return tuple(arch) if isinstance(arch, (list, tuple)) else arch


def config_from_kwargs(
    hyperparameters: dict[str, Any], learning_rate: float | None, policy_kwargs: dict[str, Any] | None
) -> IQLConfig:
    """An unresolved config from an agent constructor's keyword arguments, SB3-style: ``learning_rate`` sets the
    three learning rates, ``policy_kwargs={"net_arch": [...]}`` (or ``{"pi": ..., "qf": ..., "vf": ...}``) the
    hidden layers; anything else must be a field of :class:`IQLConfig`."""
    names = {f.name for f in dataclasses.fields(IQLConfig)}
    unknown = sorted(set(hyperparameters) - names)
    if unknown:
        raise InvalidInputError(f"unknown IQL hyperparameters {unknown}; valid: {sorted(names)}")
    values = dict(hyperparameters)
    if learning_rate is not None:
        for key in ("actor_lr", "critic_lr", "value_lr"):
            values.setdefault(key, learning_rate)
    if policy_kwargs:
        extra = set(policy_kwargs) - {"net_arch"}
        if extra:
            raise InvalidInputError(f"policy_kwargs supports only 'net_arch', got {sorted(extra)}")
        arch = policy_kwargs["net_arch"]
        if isinstance(arch, dict):
            for key, field_name in (("pi", "actor_hidden"), ("qf", "critic_hidden"), ("vf", "value_hidden")):
                if key in arch:
                    values.setdefault(field_name, _widths(arch[key]))
        else:
            for field_name in ("actor_hidden", "critic_hidden", "value_hidden"):
                values.setdefault(field_name, _widths(arch))
    for key in ("actor_hidden", "critic_hidden", "value_hidden", "penalty_hidden"):
        if isinstance(values.get(key), list):  # anything else is left for validate() to name
            values[key] = tuple(values[key])
    return IQLConfig(**values)
