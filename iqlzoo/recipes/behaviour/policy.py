"""Plain-torch behaviour policies rebuilt from a JSON card and a safetensors file (no pickle).

The network mirrors the actor of Stable-Baselines3's SAC: an MLP trunk, a linear head for the Gaussian mean and
one for the log standard deviation (clipped to ``[-20, 2]``), a tanh squashing, and a rescaling from ``[-1, 1]``
to the action bounds. The deterministic action is ``tanh(mean)`` rescaled, the stochastic one a squashed sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

CARD_FORMAT = "iqlzoo-behaviour-policy/1"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}
_REQUIRED_CARD_KEYS = ("format", "obs_dim", "act_dim", "net_arch", "activation", "action_low", "action_high")


class BehaviourPolicyError(RuntimeError):
    """Raised when a behaviour policy file is missing, unreadable or inconsistent with its card."""


class BehaviourPolicy(nn.Module):
    """SAC-style squashed Gaussian actor, callable on numpy observations.

    Args:
        obs_dim: Observation size.
        act_dim: Action size.
        net_arch: Hidden layer widths of the trunk.
        activation: Name of the hidden activation (a key of ``ACTIVATIONS``).
        action_low: Lower action bounds.
        action_high: Upper action bounds.
        card: Metadata kept with the policy (provenance, evaluation); not used for computation.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        net_arch: Sequence[int],
        activation: str,
        action_low: Sequence[float],
        action_high: Sequence[float],
        card: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise BehaviourPolicyError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        layers: list[nn.Module] = []
        width = obs_dim
        for hidden in net_arch:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        self.latent = nn.Sequential(*layers)
        self.mu = nn.Linear(width, act_dim)
        self.log_std = nn.Linear(width, act_dim)
        low = torch.as_tensor(np.asarray(action_low, dtype=np.float32))
        high = torch.as_tensor(np.asarray(action_high, dtype=np.float32))
        if low.shape != (act_dim,) or high.shape != (act_dim,):
            raise BehaviourPolicyError(f"action bounds must have shape ({act_dim},), got {low.shape} and {high.shape}")
        self.register_buffer("action_low", low, persistent=False)
        self.register_buffer("action_high", high, persistent=False)
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.net_arch = list(net_arch)
        self.activation = activation
        self.card: dict[str, Any] = dict(card or {})

    def forward(
        self, obs: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Return squashed actions in ``[-1, 1]`` for a batch of float32 observations."""
        latent = self.latent(obs)
        mean = self.mu(latent)
        if deterministic:
            return torch.tanh(mean)
        std = torch.clamp(self.log_std(latent), LOG_STD_MIN, LOG_STD_MAX).exp()
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return torch.tanh(mean + std * noise)

    @torch.no_grad()
    def __call__(
        self, obs: np.ndarray, deterministic: bool = True, generator: torch.Generator | None = None
    ) -> np.ndarray:
        """Act on one observation ``(obs_dim,)`` or a batch ``(n, obs_dim)``; returns actions in env units."""
        array = np.asarray(obs, dtype=np.float32)
        single = array.ndim == 1
        if array.shape[-1] != self.obs_dim or array.ndim not in (1, 2):
            raise ValueError(
                f"expected observations of shape ({self.obs_dim},) or (n, {self.obs_dim}), got {array.shape}"
            )
        batch = torch.as_tensor(array[None] if single else array)
        squashed = self.forward(batch, deterministic=deterministic, generator=generator)
        actions = self.action_low + 0.5 * (squashed + 1.0) * (self.action_high - self.action_low)
        result = actions.numpy()
        return result[0] if single else result

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Stable-Baselines3-style ``(action, state)``; single vs batch follows the observation's shape."""
        return self(obs, deterministic=deterministic), None

    def architecture(self) -> dict[str, Any]:
        """Card fields needed to rebuild the network."""
        return {
            "format": CARD_FORMAT,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "net_arch": self.net_arch,
            "activation": self.activation,
            "log_std_bounds": [LOG_STD_MIN, LOG_STD_MAX],
            "action_low": self.action_low.tolist(),
            "action_high": self.action_high.tolist(),
        }

    @classmethod
    def from_sb3(cls, model: Any, card: dict[str, Any] | None = None) -> BehaviourPolicy:
        """Copy the actor of a Stable-Baselines3 SAC ``model`` into a new ``BehaviourPolicy``."""
        actor = model.actor
        linears = [m for m in actor.latent_pi if isinstance(m, nn.Linear)]
        activations = [m for m in actor.latent_pi if not isinstance(m, nn.Linear)]
        names = {kind: name for name, kind in ACTIVATIONS.items()}
        if not activations or type(activations[0]) not in names:
            raise BehaviourPolicyError(f"unsupported actor trunk: {actor.latent_pi}")
        if getattr(actor, "use_sde", False):
            raise BehaviourPolicyError("gSDE actors are not supported")
        policy = cls(
            obs_dim=linears[0].in_features if linears else actor.mu.in_features,
            act_dim=actor.mu.out_features,
            net_arch=[m.out_features for m in linears],
            activation=names[type(activations[0])],
            action_low=model.action_space.low,
            action_high=model.action_space.high,
            card=card,
        )
        trunk = iter(m for m in policy.latent if isinstance(m, nn.Linear))
        with torch.no_grad():
            for source in linears:
                target = next(trunk)
                target.weight.copy_(source.weight)
                target.bias.copy_(source.bias)
            policy.mu.load_state_dict(actor.mu.state_dict())
            policy.log_std.load_state_dict(actor.log_std.state_dict())
        return policy.eval()

    def save(self, path: str | Path, card: dict[str, Any] | None = None) -> Path:
        """Write ``<path>.safetensors`` and its ``<path>.json`` card atomically; returns the weights path.

        ``card`` (default: the policy's current card) is written followed by the architecture fields and the
        weights' sha256, and becomes the policy's card.
        """
        weights = Path(path).with_suffix(".safetensors")
        weights.parent.mkdir(parents=True, exist_ok=True)
        tmp = weights.with_name(weights.name + ".tmp")
        tensors = {k: v.detach().contiguous().clone() for k, v in self.state_dict().items()}
        save_file(tensors, str(tmp), metadata={"format": CARD_FORMAT})
        full_card = {**(self.card if card is None else card), **self.architecture()}
        full_card["sha256"] = hashlib.sha256(tmp.read_bytes()).hexdigest()
        write_json_atomic(weights.with_suffix(".json"), full_card)
        tmp.replace(weights)
        self.card = full_card
        return weights


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and ``os.replace``."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def resolve_policy_path(name_or_path: str | Path) -> Path:
    """Map a shipped policy name (``halfcheetah-medium``) or a path (with or without suffix) to its weights file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".safetensors", ".json"):
        return candidate.with_suffix(".safetensors")
    if candidate.with_suffix(".safetensors").exists() or len(candidate.parts) > 1:
        return candidate.with_suffix(".safetensors")
    return WEIGHTS_DIR / f"{name_or_path}.safetensors"


def load_behaviour_policy(name_or_path: str | Path) -> BehaviourPolicy:
    """Rebuild a behaviour policy from its safetensors weights and JSON card.

    Args:
        name_or_path: A shipped name such as ``"halfcheetah-medium"`` (looked up in ``iqlzoo/recipes/weights``) or
            a path to ``X.safetensors`` / ``X.json`` / ``X`` with both files next to each other.

    Raises:
        BehaviourPolicyError: if a file is missing, the card is not valid JSON or lacks fields, or the weights are
            corrupt or do not match the card.
    """
    weights = resolve_policy_path(name_or_path)
    card_path = weights.with_suffix(".json")
    for required in (weights, card_path):
        if not required.is_file():
            shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))
            raise BehaviourPolicyError(f"behaviour policy file not found: {required} (shipped policies: {shipped})")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as err:
        raise BehaviourPolicyError(f"corrupt policy card {card_path}: {err}") from err
    missing = [key for key in _REQUIRED_CARD_KEYS if key not in card]
    if missing or card.get("format") != CARD_FORMAT:
        raise BehaviourPolicyError(f"policy card {card_path} is not a {CARD_FORMAT} card (missing {missing})")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise BehaviourPolicyError(f"corrupt policy weights {weights}: {err}") from err
    policy = BehaviourPolicy(
        obs_dim=int(card["obs_dim"]),
        act_dim=int(card["act_dim"]),
        net_arch=[int(w) for w in card["net_arch"]],
        activation=str(card["activation"]),
        action_low=card["action_low"],
        action_high=card["action_high"],
        card=card,
    )
    try:
        policy.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise BehaviourPolicyError(f"weights {weights} do not match the architecture in {card_path}: {err}") from err
    return policy.eval()
