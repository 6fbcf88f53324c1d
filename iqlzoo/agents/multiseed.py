"""K independent agents as one model, and back.

A K-seed model stacks its agents along the ensemble dimension of every layer (agent-major), so K seeds train in one
set of batched matmuls. An entry of the networks' state (or of Adam's state, keyed alike) is stacked when its
leading dimension is K times a single agent's; entries of a single agent's shape (observation statistics, step
counters) are shared. :func:`stack_into` and :func:`extract` are exact inverses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from iqlzoo.errors import InvalidInputError

if TYPE_CHECKING:
    from iqlzoo.agents.iql import IQL


def stack_states(multi: nn.Module, singles: Sequence[nn.Module]) -> None:
    """Copy K single-agent modules' states into the K-agent ``multi`` (agent-major along each stacked entry)."""
    states = [single.state_dict() for single in singles]
    target = multi.state_dict()
    stacked = {}
    for name, value in states[0].items():
        if target[name].shape != value.shape:
            stacked[name] = torch.cat([state[name] for state in states], dim=0)
        else:
            stacked[name] = value
    multi.load_state_dict(stacked)


def agent_slice(multi_state: dict[str, torch.Tensor], single_shapes: dict[str, torch.Size], k: int,
                n_agents: int) -> dict[str, torch.Tensor]:
    """Agent ``k``'s entries of a K-agent state (a state dict or optimizer tensors keyed alike), as copies."""
    out = {}
    for name, value in multi_state.items():
        shape = single_shapes.get(name)
        if shape is not None and value.dim() > 0 and value.shape[0] == n_agents * shape[0] and n_agents > 1:
            size = shape[0]
            out[name] = value[k * size : (k + 1) * size].clone()
        else:
            out[name] = value.clone()
    return out


def check_stackable(agents: Sequence[IQL]) -> None:
    """ValueError unless `agents` are single agents of one class and one run setup (differing only in seed)."""
    if not agents:
        raise InvalidInputError("stack() needs at least one agent")
    first = agents[0]
    for k, other in enumerate(agents):
        if type(other) is not type(first) or other.n_seeds != 1:
            raise InvalidInputError(f"stack() takes single {type(first).__name__} agents; agent {k} is "
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
            raise InvalidInputError(f"agent {k} differs from agent 0 in {', '.join(mismatch)}: only copies of one run "
                             "setup (different seeds) can be stacked")


def stack_into(multi: IQL, agents: Sequence[IQL]) -> None:
    """Make the freshly built K-agent `multi` continue exactly where each of `agents` stands: networks, Adam
    moments, learning rates, batch generators, seeds and step counters."""
    stack_states(multi.nets, [a.nets for a in agents])
    for index, param in enumerate(multi._trained_params):
        for slot, value in multi.optimizer.state[param].items():
            parts = [agent.optimizer.state[agent._trained_params[index]][slot] for agent in agents]
            value.copy_(torch.cat(parts, dim=0) if value.shape != parts[0].shape else parts[0])
    for group, single_group in zip(multi.optimizer.param_groups, agents[0].optimizer.param_groups):
        group["lr"].copy_(single_group["lr"])
    multi.seeds = [a.seeds[0] for a in agents]
    for generator, agent in zip(multi.generators, agents):
        generator.set_state(agent.generator.get_state())
    multi.num_timesteps = agents[0].num_timesteps
    multi._total_timesteps = agents[0]._total_timesteps


def extract(multi: IQL, single: IQL, k: int) -> None:
    """Make the freshly built single agent `single` a copy of agent `k` of `multi`: networks, Adam state, learning
    rates, batch generator, seed and step counters."""
    single.nets.load_state_dict(agent_slice(multi.nets.state_dict(), multi._single_shapes, k, multi.n_seeds))
    for index, param in enumerate(single._trained_params):
        shape = multi._single_param_shapes[index]
        for slot, value in single.optimizer.state[param].items():
            source = multi.optimizer.state[multi._trained_params[index]][slot]
            if source.dim() > 0 and source.shape[0] == multi.n_seeds * shape[0] and multi.n_seeds > 1:
                source = source[k * shape[0] : (k + 1) * shape[0]]
            value.copy_(source)
    for group, multi_group in zip(single.optimizer.param_groups, multi.optimizer.param_groups):
        group["lr"].copy_(multi_group["lr"])
    single.seeds = [multi.seeds[k]]
    single.generator.set_state(multi.generators[k].get_state())
    single.num_timesteps = multi.num_timesteps
    single._total_timesteps = multi._total_timesteps
