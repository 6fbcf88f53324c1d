"""An agent's deterministic policy as an ONNX model, to act without iqlzoo or PyTorch (e.g. with onnxruntime).

The model has one input and one output:

- ``observation``: float32, shape (batch, obs_dim) — the flat observation vector, laid out exactly as the rows of
  :attr:`iqlzoo.data.TransitionDataset.observations`. For a Box observation space it is the observation flattened
  (C order). For a Dict space it is the agent's ``obs_keys`` entries, each flattened, concatenated in that order;
  for goal datasets (AntMaze) ``[achieved_goal (2), observation (27), desired_goal (2)]``, 31 values. The layout
  is stored in the model's metadata as ``iqlzoo.observation_layout`` (a JSON list of ``{"key", "shape",
  "start", "stop"}``); :meth:`iqlzoo.data.ObservationFlattener.flatten` produces it from dict observations.
- ``action``: float32, shape (batch, *action_shape) — the mean action mapped to the action space's bounds and
  clipped, as ``predict(obs, deterministic=True)`` returns it.

Everything between the two is in the graph: the observation standardisation (s − μ)/σ stored with the agent, the
policy network, tanh and the affine map from [-1, 1] to [low, high].
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from iqlzoo.data.spaces import space_to_json

if TYPE_CHECKING:
    from iqlzoo.agents.base import OfflineAgent

INPUT_NAME = "observation"
OUTPUT_NAME = "action"
EXPORT_PACKAGES = ("onnx", "onnxscript")
"""What :func:`export_policy` needs: ``onnx``, and ``onnxscript`` for PyTorch's ``torch.export``-based exporter."""


class DeterministicPolicy(nn.Module):
    """Flat raw observations (B, obs_dim) → the agent's mean actions in the action bounds (B, *action_shape)."""

    def __init__(self, agent: OfflineAgent) -> None:
        super().__init__()
        # registered so that the exporter sees the agent's networks as parameters of this module
        self.networks = nn.ModuleDict(
            {
                name: getattr(agent, name)
                for name in agent.parameter_attributes
                if isinstance(getattr(agent, name), nn.Module)
            }
        )
        self.agent_act = agent._act
        self.action_shape = tuple(agent.action_space.shape)
        space = agent.action_space
        low, high = (torch.as_tensor(np.asarray(b, dtype=np.float32).reshape(-1)) for b in (space.low, space.high))
        self.register_buffer("low", low.to(agent.device))
        self.register_buffer("high", high.to(agent.device))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        action = self.agent_act(observation, True)
        action = self.low + (action + 1.0) * 0.5 * (self.high - self.low)
        return torch.clamp(action, self.low, self.high).reshape(-1, *self.action_shape)


def observation_layout(agent: OfflineAgent) -> list[dict[str, object]]:
    """Where each observation entry sits in the flat input: ``[{"key", "shape", "start", "stop"}, ...]``."""
    layout, start = [], 0
    for key, shape in agent.flattener.shapes.items():
        stop = start + int(np.prod(shape))
        layout.append({"key": key, "shape": list(shape), "start": start, "stop": stop})
        start = stop
    return layout


def _require_packages() -> None:
    missing = []
    for name in EXPORT_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"exporting a policy to ONNX needs the optional packages {', '.join(missing)}, which are not installed: "
            "pip install 'iqlzoo[export]' (onnx, onnxscript and onnxruntime)"
        )


def export_policy(agent: OfflineAgent, path: str | os.PathLike) -> Path:
    """Write ``agent``'s deterministic policy to ``path`` as one self-contained ONNX file (see the module docstring
    for its input and output); returns the path. Raises ImportError naming the extra when onnx is missing."""
    _require_packages()
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = DeterministicPolicy(agent)
    modes = [module.training for module in policy.modules()]
    policy.eval()
    try:
        example = torch.zeros(2, agent.flattener.dim, device=agent.device)
        with torch.no_grad():
            torch.onnx.export(
                policy,
                (example,),
                str(path),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                external_data=False,
                verbose=False,
            )
    finally:
        for module, mode in zip(policy.modules(), modes):
            module.training = mode
    model = onnx.load(str(path))
    onnx.helper.set_model_props(
        model,
        {
            "iqlzoo.agent_class": agent.agent_name,
            "iqlzoo.num_timesteps": str(agent.num_timesteps),
            "iqlzoo.observation_layout": json.dumps(observation_layout(agent)),
            "iqlzoo.action_space": json.dumps(space_to_json(agent.action_space)),
        },
    )
    onnx.save(model, str(path))
    return path
