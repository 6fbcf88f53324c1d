"""Critic heads are components: a new head is one class and one registry line, and IQL trains with it unchanged."""

from typing import Any, ClassVar

import pytest
import torch

from iqlzoo import IQL
from iqlzoo.nets.heads import HEADS, CriticHead, head_class
from iqlzoo.nets.mlp import EnsembleLinear


class ThreePointHead(CriticHead):
    """A test-only head: three point estimates per (s, a), regressed with a TD loss that also counts quantile τ."""

    takes_taus: ClassVar[bool] = True
    td_loss_calls = 0

    def __init__(self, ensemble_size: int, feature_dim: int, cfg: Any = None) -> None:
        super().__init__(ensemble_size, feature_dim, cfg)
        self.out = EnsembleLinear(ensemble_size, feature_dim, 3)

    def forward(self, features: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        assert taus is not None, "IQL must pass τ to a head that declares takes_taus"
        return self.out(features)

    @classmethod
    def td_loss(cls, q, td_target, taus, cfg):
        cls.td_loss_calls += 1
        return super().td_loss(q, td_target, taus, cfg)


def test_a_new_head_is_one_class_and_one_registry_line(monkeypatch, pendulum_data):
    monkeypatch.setitem(HEADS, "three-point", ThreePointHead)  # the one registry line
    model = IQL("MlpPolicy", pendulum_data, critic_head="three-point", seed=0, device="cpu", compile=False,
                batch_size=32, policy_kwargs={"net_arch": [16, 16]})
    assert isinstance(model.nets.critic.head, ThreePointHead) and model.config.value_head == "scalar"
    before = model.nets.critic.head.out.weight.detach().clone()
    model.learn(4)
    assert ThreePointHead.td_loss_calls == 4
    assert not torch.equal(before, model.nets.critic.head.out.weight)
    assert model.predict(pendulum_data.observations[:3])[0].shape == (3, 1)


def test_unknown_heads_are_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown critic head 'gaussian'.*'scalar', 'quantile'"):
        head_class("gaussian")
