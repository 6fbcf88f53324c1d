"""An independent IQL: the published algorithm written out plainly, to check :mod:`iqlzoo.agents` against.

It shares no code with iqlzoo's algorithm (it uses only :mod:`iqlzoo.atomic`, to write its files durably): it reads
the Minari dataset itself, builds its own networks, and evaluates on the dataset's evaluation environment with its
own loop. It follows the reference code of Kostrikov et al. (2021) step by step, including where iqlzoo
deliberately differs, so that agreement of the two means more than shared habits:

- one ``nn.Sequential`` per network (two critics, a target copy of each, a value net, a policy mean), hidden layers
  (256, 256) with ReLU, orthogonal initialisation with gain √2 and zero biases (iqlzoo: PyTorch's default init);
- per step, on a batch of 256 transitions drawn uniformly with replacement:

  1. V:  L_V = E[|τ − 1(u < 0)| u²],  u = min(Q̂₁, Q̂₂)(s, a) − V(s)            (expectile τ; one Adam step)
  2. π:  L_π = −E[min(exp(β(min(Q̂₁, Q̂₂)(s, a) − V(s))), 100) log π(a|s)], with the *updated* V
  3. Q:  L_Q = E[(Q₁(s,a) − y)² + (Q₂(s,a) − y)²],  y = r + γ(1 − d)V(s') with the *updated* V
  4. Q̂ ← 0.995 Q̂ + 0.005 Q

  (iqlzoo evaluates V once, before its update, for all three losses, as CORL does);
- π(a|s) = N(tanh(μ(s)), diag(σ²)), log σ a free vector initialised at 0 and clipped to [−5, 2]; the actor's
  learning rate decays as lr·½(1 + cos(πt/T)) over the run's T steps; dataset actions are clipped to ±(1 − 10⁻⁵);
- AntMaze: τ = 0.9, β = 10, r ← r − 1; anything else: τ = 0.7, β = 3, r ← 1000 r / (max − min episode return).

``--normalize-observations`` standardises states with the dataset's mean and standard deviation (+10⁻³), as CORL
does on AntMaze (the reference code does not). Observations of goal datasets are
``[achieved_goal, observation, desired_goal]`` flattened; evaluation uses the mean action and counts an episode as a
success if the environment reported ``info["success"]`` at any step. Each seed's learning curve goes to
``<out>/seed<N>.csv``; a checkpoint after every evaluation (``torch.load(weights_only=True)``: tensors and plain
containers only) lets an interrupted run resume. ``<out>/seed<N>.provenance.json`` holds the run's settings, the
SHA-256 of the transitions it trained on (the formula of iqlzoo's build labels, computed here on the reference's own
arrays) and, for every invocation, the commit, versions and machine; resuming with other settings than the run began
with is refused::

    python -m benchmarks.reference_iql --dataset iqlzoo/antmaze/umaze-v0 --seeds 0 1 2 --steps 200000 \\
        --eval-every 25000 --eval-episodes 30 --out docs/reference/umaze

A finished run whose curves and provenance files (not its ``seed<N>.pt`` checkpoints) are copied into the results
store's ``references/<name>/`` is the leaderboard's independent check: its paper section sets the run's final score
beside iqlzoo's IQL on the same data, protocol and settings (:mod:`leaderboard.independent`).

The class :class:`ReferenceIQL` is also the eager baseline of ``python -m benchmarks.speed``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.store import collect_provenance
from iqlzoo.atomic import atomic_write, atomic_write_text

GOAL_KEYS = ("achieved_goal", "observation", "desired_goal")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _mlp(in_dim: int, out_dim: int, hidden: int = 256) -> nn.Sequential:
    net = nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
    )
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=math.sqrt(2.0))
            nn.init.zeros_(layer.bias)
    return net


class ReferenceIQL:
    """Plain IQL on in-memory tensors (s, a, r, s', d); see the module docstring for the update."""

    def __init__(self, obs: torch.Tensor, act: torch.Tensor, rew: torch.Tensor, next_obs: torch.Tensor,
                 done: torch.Tensor, batch_size: int = 256, seed: int = 0, expectile: float = 0.7,
                 temperature: float = 3.0, total_steps: int = 1_000_000, lr: float = 3e-4,
                 discount: float = 0.99, polyak: float = 0.005) -> None:
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.obs, self.rew, self.next_obs, self.done = obs, rew, next_obs, done
        self.act = act.clamp(-1.0 + 1e-5, 1.0 - 1e-5)
        self.batch_size, self.expectile, self.temperature = batch_size, expectile, temperature
        self.total_steps, self.lr, self.discount, self.polyak = total_steps, lr, discount, polyak
        obs_dim, act_dim = obs.shape[1], act.shape[1]
        self.q1, self.q2 = _mlp(obs_dim + act_dim, 1), _mlp(obs_dim + act_dim, 1)
        self.q1_target, self.q2_target = copy.deepcopy(self.q1), copy.deepcopy(self.q2)
        self.value = _mlp(obs_dim, 1)
        self.actor = _mlp(obs_dim, act_dim)
        self.log_std = nn.Parameter(torch.zeros(act_dim))
        self.q_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=lr)
        self.v_opt = torch.optim.Adam(self.value.parameters(), lr=lr)
        self.pi_opt = torch.optim.Adam([*self.actor.parameters(), self.log_std], lr=lr)
        self.step = 0

    def _target_q(self, sa: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.min(self.q1_target(sa), self.q2_target(sa)).squeeze(-1)

    def update(self, index: torch.Tensor | None = None) -> dict[str, float]:
        """One step of V, π, Q and the target, in the reference code's order, on a uniformly drawn batch (or the
        transitions `index`); returns the losses."""
        if index is None:
            index = torch.randint(len(self.rew), (self.batch_size,), generator=self.generator)
        obs, act, rew = self.obs[index], self.act[index], self.rew[index]
        next_obs, done = self.next_obs[index], self.done[index]
        sa = torch.cat([obs, act], dim=1)
        target_q = self._target_q(sa)

        diff = target_q - self.value(obs).squeeze(-1)
        v_loss = (torch.abs(self.expectile - (diff < 0).float()) * diff**2).mean()
        self.v_opt.zero_grad()
        v_loss.backward()
        self.v_opt.step()

        with torch.no_grad():
            v = self.value(obs).squeeze(-1)
            next_v = self.value(next_obs).squeeze(-1)
        weights = torch.exp(self.temperature * (target_q - v)).clamp(max=100.0)
        mean = torch.tanh(self.actor(obs))
        log_std = self.log_std.clamp(-5.0, 2.0)
        log_prob = (-0.5 * ((act - mean) / log_std.exp()) ** 2 - log_std - _HALF_LOG_2PI).sum(-1)
        pi_loss = -(weights * log_prob).mean()
        progress = min(self.step, self.total_steps) / self.total_steps
        for group in self.pi_opt.param_groups:
            group["lr"] = self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        self.pi_opt.zero_grad()
        pi_loss.backward()
        self.pi_opt.step()

        target = rew + self.discount * (1.0 - done) * next_v
        q_loss = ((self.q1(sa).squeeze(-1) - target) ** 2 + (self.q2(sa).squeeze(-1) - target) ** 2).mean()
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()

        with torch.no_grad():
            for net, target_net in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
                for p, tp in zip(net.parameters(), target_net.parameters()):
                    tp.mul_(1.0 - self.polyak).add_(self.polyak * p)
        self.step += 1
        return {"v_loss": v_loss.item(), "q_loss": q_loss.item(), "pi_loss": pi_loss.item(),
                "v_mean": v.mean().item()}

    def policy_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic (mean) action."""
        with torch.no_grad():
            return torch.tanh(self.actor(obs))

    def state(self) -> dict:
        nets = {"q1": self.q1, "q2": self.q2, "q1_target": self.q1_target, "q2_target": self.q2_target,
                "value": self.value, "actor": self.actor}
        return {
            "nets": {name: net.state_dict() for name, net in nets.items()},
            "log_std": self.log_std.detach().clone(),
            "optimizers": {"q": self.q_opt.state_dict(), "v": self.v_opt.state_dict(), "pi": self.pi_opt.state_dict()},
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
        }

    def load_state(self, state: dict) -> None:
        for name, net_state in state["nets"].items():
            getattr(self, name).load_state_dict(net_state)
        with torch.no_grad():
            self.log_std.copy_(state["log_std"])
        self.q_opt.load_state_dict(state["optimizers"]["q"])
        self.v_opt.load_state_dict(state["optimizers"]["v"])
        self.pi_opt.load_state_dict(state["optimizers"]["pi"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])


# ---------------------------------------------------------------------------------------------------- data


def observation_keys(space: object) -> tuple[str, ...]:
    """The keys of a dict observation space in the order flattened: those of [achieved_goal, observation,
    desired_goal] it has (a dataset labelled for one goal has no desired_goal), then any others, sorted."""
    names = list(getattr(space, "spaces", {}))
    return tuple(key for key in GOAL_KEYS if key in names) + tuple(sorted(set(names) - set(GOAL_KEYS)))


def _flat(obs: object, keys: Sequence[str] = GOAL_KEYS) -> np.ndarray:
    """A dict observation as its `keys`' entries side by side (others, e.g. an evaluation environment's goal that
    the dataset does not hold, are left out); arrays pass through."""
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(obs[key], dtype=np.float32) for key in keys], axis=-1)
    return np.asarray(obs, dtype=np.float32)


def load_transitions(dataset_id: str) -> tuple[object, dict[str, np.ndarray], np.ndarray]:
    """(MinariDataset, arrays s, a, r, s', terminal, and the episode returns), straight from Minari's episodes."""
    import minari

    dataset = minari.load_dataset(dataset_id, download=False)
    parts: dict[str, list[np.ndarray]] = {"obs": [], "act": [], "rew": [], "next_obs": [], "done": []}
    returns = []
    keys = observation_keys(dataset.observation_space)
    for episode in dataset.iterate_episodes():
        states = _flat(episode.observations, keys)  # T + 1 entries
        parts["obs"].append(states[:-1])
        parts["next_obs"].append(states[1:])
        parts["act"].append(np.asarray(episode.actions, dtype=np.float32))
        parts["rew"].append(np.asarray(episode.rewards, dtype=np.float32))
        parts["done"].append(np.asarray(episode.terminations, dtype=np.float32))
        returns.append(float(np.sum(episode.rewards)))
    return dataset, {key: np.concatenate(value) for key, value in parts.items()}, np.asarray(returns)


def transitions_hash(data: dict[str, np.ndarray]) -> str:
    """16 hex digits of SHA-256 over (s, a, r, s', terminal), each array's dtype and shape and then its bytes: the
    formula of iqlzoo's build labels, so equal hashes mean both read byte-identical transitions."""
    digest = hashlib.sha256()
    for key in ("obs", "act", "rew", "next_obs", "done"):
        array = np.ascontiguousarray(data[key])
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array)
    return digest.hexdigest()[:16]


class SettingsMismatch(ValueError):
    """A resumed run was asked to go on with other settings than it began with."""


def record_provenance(path: Path, settings: dict, dataset_hash: str) -> dict:
    """Add this invocation to the JSON file `path` (``<out>/seed<N>.provenance.json``; written atomically), creating
    it on the first.

    The file keeps the run's `settings` and `dataset_hash` from its first invocation and appends each invocation's
    :func:`benchmarks.store.collect_provenance` (commit, versions, machine, command). An invocation whose settings or
    data differ from the recorded ones raises :class:`SettingsMismatch`: its steps would continue another experiment's
    curve.
    """
    record = {"settings": settings, "dataset_hash": dataset_hash, "invocations": []}
    if path.exists():
        record = json.loads(path.read_text())
        theirs = {"settings": record.get("settings"), "dataset_hash": record.get("dataset_hash")}
        ours = {"settings": settings, "dataset_hash": dataset_hash}
        if theirs != ours:
            raise SettingsMismatch(
                f"{path.parent} holds a run begun with {json.dumps(theirs, sort_keys=True)}, not "
                f"{json.dumps(ours, sort_keys=True)}: pass the same settings to resume it, or a new --out to start "
                "another run")
    record["invocations"].append(collect_provenance())
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def evaluate(agent: ReferenceIQL, env: object, mean: np.ndarray, std: np.ndarray, episodes: int,
             seed: int, keys: Sequence[str] = GOAL_KEYS) -> tuple[np.ndarray, np.ndarray]:
    """(returns, successes) of `episodes` deterministic episodes; episode i is reset with seed `seed + i`."""
    returns, successes = np.zeros(episodes), np.zeros(episodes, dtype=bool)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            state = torch.as_tensor((_flat(obs, keys) - mean) / std).unsqueeze(0)
            action = agent.policy_action(state).squeeze(0).numpy().clip(-1.0, 1.0)
            obs, reward, terminated, truncated, info = env.step(action)
            returns[i] += float(reward)
            successes[i] |= bool(info.get("success", False))
            done = terminated or truncated
    return returns, successes


def _normalized(dataset: object, returns: np.ndarray) -> float | None:
    import minari

    try:
        return 100.0 * float(np.mean(minari.get_normalized_score(dataset, returns)))
    except ValueError:  # no reference scores
        return None


def train_seed(dataset_id: str, seed: int, steps: int, eval_every: int, eval_episodes: int, out: Path,
               normalize_observations: bool = False, log=print, expectile: float | None = None,
               temperature: float | None = None) -> list[dict]:
    """Train one seed, evaluating every `eval_every` steps; resumes from ``<out>/seed<N>.pt``; returns the curve.

    `expectile` τ and `temperature` β default to the paper's values for the domain (AntMaze 0.9 and 10, else 0.7
    and 3); setting them reruns the paper's ablations (e.g. τ = 0.5, where V is the behaviour's value: one-step RL).
    """
    antmaze = "antmaze" in dataset_id
    expectile = (0.9 if antmaze else 0.7) if expectile is None else expectile
    temperature = (10.0 if antmaze else 3.0) if temperature is None else temperature
    if not 0.0 < expectile < 1.0 or temperature < 0.0:
        raise ValueError(f"expectile must lie in (0, 1) and temperature be >= 0; got {expectile} and {temperature}")
    dataset, data, episode_returns = load_transitions(dataset_id)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"dataset": dataset_id, "steps": steps, "eval_every": eval_every, "eval_episodes": eval_episodes,
                "normalize_observations": normalize_observations, "expectile": expectile,
                "temperature": temperature}
    record_provenance(out / f"seed{seed}.provenance.json", settings, transitions_hash(data))
    rew = data["rew"] - 1.0 if antmaze else data["rew"] * 1000.0 / (episode_returns.max() - episode_returns.min())
    if normalize_observations:
        mean, std = data["obs"].mean(axis=0), data["obs"].std(axis=0) + 1e-3
    else:
        mean, std = np.zeros(data["obs"].shape[1], np.float32), np.ones(data["obs"].shape[1], np.float32)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32))

    agent = ReferenceIQL(t((data["obs"] - mean) / std), t(data["act"]), t(rew), t((data["next_obs"] - mean) / std),
                         t(data["done"]), seed=seed, expectile=expectile,
                         temperature=temperature, total_steps=steps)
    ckpt, curve_path = out / f"seed{seed}.pt", out / f"seed{seed}.csv"
    curve: list[dict] = []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        agent.load_state(state["agent"])
        curve = json.loads(state["curve"])
        log(f"seed {seed}: resuming at step {agent.step}")
    env, keys = dataset.recover_environment(eval_env=True), observation_keys(dataset.observation_space)
    start = time.perf_counter()
    while agent.step < steps:
        agent.update()
        if agent.step % eval_every == 0 or agent.step == steps:
            returns, successes = evaluate(agent, env, mean, std, eval_episodes, seed=10_000 * (seed + 1), keys=keys)
            row = {"step": agent.step, "mean_return": float(returns.mean()),
                   "success_rate": float(successes.mean()) if antmaze else None,
                   "normalized_score": _normalized(dataset, returns),
                   "seconds": round(time.perf_counter() - start, 1)}
            curve.append(row)
            log(f"seed {seed} step {agent.step}: {row}")
            save_curve(curve_path, curve)
            save_resume_state(ckpt, agent.state(), curve)
    env.close()
    return curve


def curve_csv(curve: list[dict]) -> str:
    """The learning curve as CSV text, one row per evaluation."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(curve[0]) if curve else [])
    writer.writeheader()
    writer.writerows(curve)
    return text.getvalue()


def save_curve(curve_path: Path, curve: list[dict]) -> Path:
    """Write the learning curve as CSV, atomically and durably (:mod:`iqlzoo.atomic`)."""
    return atomic_write_text(curve_path, curve_csv(curve))


def save_resume_state(ckpt: Path, state: dict, curve: list[dict]) -> Path:
    """Write the resume checkpoint (the agent's state and the curve so far), atomically and durably: a kill or a power
    cut leaves the previous checkpoint or the new one, whole."""
    return atomic_write(ckpt, lambda handle: torch.save({"agent": state, "curve": json.dumps(curve)}, handle))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference_iql", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="a local Minari dataset id, e.g. iqlzoo/antmaze/umaze-v0")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--eval-every", type=int, default=100_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--normalize-observations", action="store_true")
    parser.add_argument("--expectile", type=float, default=None,
                        help="the value net's expectile tau (default: the paper's, AntMaze 0.9, otherwise 0.7)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="the AWR inverse temperature beta (default: the paper's, AntMaze 10, otherwise 3)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        train_seed(args.dataset, seed, args.steps, args.eval_every, args.eval_episodes, args.out,
                   args.normalize_observations, log=lambda text: print(text, flush=True),
                   expectile=args.expectile, temperature=args.temperature)
    return 0


if __name__ == "__main__":
    sys.exit(main())
