"""Behaviour policies that generate the HalfCheetah and AntMaze datasets.

Training (resumable, CPU): ``python -m iqlzoo.recipes.behaviour.train {halfcheetah,ant-goal} --run-dir ...``.
Shipped weights: ``load_behaviour_policy("halfcheetah-medium")`` rebuilds a plain torch actor from
``iqlzoo/recipes/weights/<name>.safetensors`` and its JSON card.
"""

from iqlzoo.recipes.behaviour.policy import BehaviourPolicy, BehaviourPolicyError, load_behaviour_policy

__all__ = ["BehaviourPolicy", "BehaviourPolicyError", "load_behaviour_policy"]
