"""A straightforward eager PyTorch IQL update: the baseline of ``python -m benchmarks.speed``.

Written the way common single-file implementations are: one ``nn.Sequential`` per network, two separate critics,
one optimizer per network, three backward passes, batch sampling by indexing five separate tensors, Polyak
averaging in a Python loop. Same losses and shapes as :mod:`iqlzoo.agents.iql`, none of its engineering.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _mlp(in_dim: int, out_dim: int, hidden: int = 256) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
    )


class ReferenceIQL:
    """Plain IQL (expectile 0.7, temperature 3, twin critics, Gaussian policy with tanh mean)."""

    def __init__(self, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor, next_obs: torch.Tensor,
                 done: torch.Tensor, batch_size: int = 256, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.obs, self.act, self.rew, self.next_obs, self.done = obs, act, rew, next_obs, done
        self.batch_size = batch_size
        obs_dim, act_dim = obs.shape[1], act.shape[1]
        self.q1, self.q2 = _mlp(obs_dim + act_dim, 1), _mlp(obs_dim + act_dim, 1)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        self.value = _mlp(obs_dim, 1)
        self.actor = _mlp(obs_dim, act_dim)
        self.log_std = nn.Parameter(torch.zeros(act_dim))
        self.q_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=3e-4)
        self.v_opt = torch.optim.Adam(self.value.parameters(), lr=3e-4)
        self.pi_opt = torch.optim.Adam([*self.actor.parameters(), self.log_std], lr=3e-4)

    def update(self) -> None:
        index = torch.randint(len(self.rew), (self.batch_size,))
        obs, act, rew = self.obs[index], self.act[index], self.rew[index]
        next_obs, done = self.next_obs[index], self.done[index]
        sa = torch.cat([obs, act], dim=1)
        with torch.no_grad():
            target_q = torch.min(self.q1_target(sa), self.q2_target(sa)).squeeze(-1)
            next_v = self.value(next_obs).squeeze(-1)
        v = self.value(obs).squeeze(-1)
        adv = target_q - v
        v_loss = (torch.abs(0.7 - (adv < 0).float()) * adv**2).mean()
        self.v_opt.zero_grad()
        v_loss.backward()
        self.v_opt.step()

        target = rew + 0.99 * (1 - done) * next_v
        q_loss = ((self.q1(sa).squeeze(-1) - target) ** 2).mean() + ((self.q2(sa).squeeze(-1) - target) ** 2).mean()
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()

        weights = torch.exp(3.0 * adv.detach()).clamp(max=100.0)
        mean = torch.tanh(self.actor(obs))
        log_std = self.log_std.clamp(-5.0, 2.0)
        log_prob = (-0.5 * ((act - mean) / log_std.exp()) ** 2 - log_std - 0.9189385332).sum(-1)
        pi_loss = -(weights * log_prob).mean()
        self.pi_opt.zero_grad()
        pi_loss.backward()
        self.pi_opt.step()

        with torch.no_grad():
            for net, target_net in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
                for p, tp in zip(net.parameters(), target_net.parameters()):
                    tp.mul_(0.995).add_(0.005 * p)
