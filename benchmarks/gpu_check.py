"""``python -m benchmarks.gpu_check [--device cuda]`` — iqlzoo's CUDA code paths checked against the CPU, then timed.

CI has no GPU, so nothing else runs these paths; a session lent a GPU machine runs this script there (docs/gpu.md).
Every check trains from identical weights on identical batches and measures how far two computations drift apart,
as the relative distance of their parameter changes after ``--steps`` updates,

    drift = ‖θ_a − θ_b‖₂ / ‖θ_b − θ₀‖₂   (θ₀ the common start),

which is ~1e-7–1e-4 for the same function in another summation order and O(1) for a wrong one (a stale CUDA-graph
input, a missed update, a wrong batch). The checks (each fails above its bound, and the script then exits 1):

1. ``cpu_parity``: float32 IQL (AntMaze preset and shapes) on the device against the same model on the CPU. TF32
   stays off (torch's default for float32 matmuls), so the two differ only in rounding.
2. ``compiled_parity``: the compiled update on the device (on CUDA ``mode="reduce-overhead"``: CUDA graphs) against
   the eager update on the device.
3. ``seed_group_parity``: three seeds trained as one K=3 model against each seed alone, through ``learn``.
4. ``bf16_value_path``: with ``bf16=True`` on the device, Q̂, V, Q, the TD target and the advantage at values near −60
   stay within 1e-3 of float32 (tests/test_precision.py, on the device's autocast).
5. ``checkpoint``: a model trained on the device, saved and loaded on the CPU, predicts the same actions.

Then the speed rows: gradient updates per second through ``learn`` (batch sampling, divergence checks and logging
included, as in a benchmark run) for AntMaze shapes on a 1M-transition buffer, per agent and per seed group, with
the wall time a 1M-step group of three seeds would take. Results go to ``gpu_check.json`` and ``gpu_check.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.precision_check import shift_values  # noqa: E402
from benchmarks.speed import synthetic_dataset  # noqa: E402
from iqlzoo import IQL, TransitionDataset  # noqa: E402
from iqlzoo.atomic import atomic_write_text  # noqa: E402

# regenerated AntMaze: 2-d position + 27-d ant state + 2-d goal, 8 joint torques
ANTMAZE_OBS, ANTMAZE_ACT = 31, 8
# bounds on drift (see the module docstring); the bf16 and checkpoint bounds are absolute
BOUNDS = {"cpu_parity": 1e-2, "compiled_parity": 1e-2, "seed_group_parity": 1e-2, "bf16_value_path": 1e-3,
          "checkpoint": 1e-4}
# speed rows: name -> (n_seeds, compile, IQL keyword arguments)
SPEED_ROWS: dict[str, tuple[int, bool, dict[str, Any]]] = {
    "IQL eager, K=1": (1, False, {}),
    "IQL compiled, K=1": (1, True, {}),
    "IQL eager, K=3": (3, False, {}),
    "IQL compiled, K=3 (a seed group)": (3, True, {}),
    "IQL compiled, K=10": (10, True, {}),
    "IQL compiled + bf16, K=3": (3, True, {"bf16": True}),
}
VARIANTS: dict[str, dict[str, Any]] = {
    "D2RLIQL": {"actor_body": "d2rl", "critic_body": "d2rl", "value_body": "d2rl"},
    "DistributionalIQL": {"critic_head": "quantile"},
    "BonusIQL (RND)": {"penalty": "rnd"},
    "BonusIQL (CVAE)": {"penalty": "cvae"},
}
for _name, _config in VARIANTS.items():
    SPEED_ROWS[f"{_name} eager, K=3"] = (3, False, _config)
    SPEED_ROWS[f"{_name} compiled, K=3"] = (3, True, _config)


def antmaze_shaped(n: int, seed: int = 0) -> TransitionDataset:
    """Random transitions with AntMaze's shapes and sparse 0/1 goal rewards (terminal at the goal)."""
    data = synthetic_dataset(n, seed, ANTMAZE_OBS, ANTMAZE_ACT, dataset_id="synthetic/antmaze-shapes")
    goal = (np.random.default_rng(seed + 1).random(n) < 0.01).astype(np.float32)
    data.rewards, data.terminations = goal, goal.copy()
    return data


def graph_breaks() -> int:
    """Graph breaks dynamo has counted in this process so far. The compiled update is meant to be one graph; on CUDA,
    torch's functional Adam disables dynamo for non-capturable state steps on the device (``_disable_dynamo_if_
    unsupported`` in torch.optim.optimizer), which would split it: the rows record how many breaks compiling added."""
    from torch._dynamo.utils import counters

    return sum(counters["graph_break"].values())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parameters_of(model: IQL) -> dict[str, torch.Tensor]:
    """A copy of `model`'s network parameters and buffers: the θ₀ that :func:`drift` measures from."""
    return {name: value.clone() for name, value in model.nets.state_dict().items()}


def shared_batches(data: TransitionDataset, steps: int, batch: int, seed: int) -> list[torch.Tensor]:
    """`steps` batches of indices (1, `batch`) drawn on the CPU with `seed`, for every model a check compares."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(len(data.rewards), (1, batch), generator=generator) for _ in range(steps)]


def drift(a: IQL, b: IQL, start: dict[str, torch.Tensor]) -> float:
    """‖θ_a − θ_b‖₂ / ‖θ_b − θ₀‖₂ over every network parameter and buffer, in float64 on the CPU."""
    sa, sb = a.nets.state_dict(), b.nets.state_dict()
    apart = moved = 0.0
    for name, value in sb.items():
        vb, va, v0 = value.double().cpu(), sa[name].double().cpu(), start[name].double().cpu()
        apart += float(((va - vb) ** 2).sum())
        moved += float(((vb - v0) ** 2).sum())
    return (apart / max(moved, 1e-300)) ** 0.5


def twin(model: IQL, device: str, **changes: Any) -> IQL:
    """A model of the same data and configuration on `device` (with `changes`), holding `model`'s weights."""
    other = IQL("MlpPolicy", model.dataset, seed=model.seeds[0], device=device,
                **{"compile": False, "domain": "antmaze", **changes})
    other.nets.load_state_dict(model.nets.state_dict())
    return other


def run_updates(model: IQL, batches: Sequence[torch.Tensor], compiled: bool = False) -> list[np.ndarray]:
    """Apply one update per batch of indices (drawn on the CPU, so every model sees the same data); the stats."""
    model._setup_training(len(batches))
    update = model._compiled_update if compiled else model._update
    if update is None:
        raise RuntimeError("torch.compile fell back to eager: see the warning above")
    stats = []
    for index in batches:
        stats.append(update(index.to(model.device), None, None).detach().cpu().numpy())
    return stats


def check_cpu_parity(data: TransitionDataset, device: str, steps: int, batch: int) -> dict[str, Any]:
    base = IQL("MlpPolicy", data, seed=0, device="cpu", compile=False, domain="antmaze", batch_size=batch)
    start = parameters_of(base)
    other = twin(base, device, batch_size=batch)
    batches = shared_batches(data, steps, batch, seed=1)
    cpu_stats, dev_stats = run_updates(base, batches), run_updates(other, batches)
    stat_gap = max(float(np.abs(c - d).max()) for c, d in zip(cpu_stats, dev_stats))
    return {"value": drift(other, base, start), "max_stat_difference": stat_gap}


def check_compiled_parity(data: TransitionDataset, device: str, steps: int, batch: int) -> dict[str, Any]:
    eager = IQL("MlpPolicy", data, seed=0, device=device, compile=False, domain="antmaze", batch_size=batch)
    start = parameters_of(eager)
    compiled = twin(eager, device, compile=True, batch_size=batch)
    batches = shared_batches(data, steps, batch, seed=2)
    started, breaks = time.perf_counter(), graph_breaks()
    compiled_stats = run_updates(compiled, batches, compiled=True)
    seconds, breaks = time.perf_counter() - started, graph_breaks() - breaks
    eager_stats = run_updates(eager, batches)
    stat_gap = max(float(np.abs(c - d).max()) for c, d in zip(compiled_stats, eager_stats))
    return {"value": drift(compiled, eager, start), "max_stat_difference": stat_gap,
            "compile_and_run_s": seconds, "graph_breaks": breaks}


def check_seed_group_parity(data: TransitionDataset, device: str, steps: int, batch: int) -> dict[str, Any]:
    kwargs = dict(device=device, compile=False, domain="antmaze", batch_size=batch)
    starts = [IQL("MlpPolicy", data, seed=seed, **kwargs) for seed in (10, 11, 12)]
    initial = [parameters_of(single) for single in starts]
    multi = IQL("MlpPolicy", data, seed=10, n_seeds=3, **kwargs)  # seed k of it starts where seed 10+k alone does
    multi.learn(steps, log_interval=10**9)
    worst = 0.0
    for k, single in enumerate(starts):
        single.learn(steps, log_interval=10**9)
        worst = max(worst, drift(multi.agent(k), single, initial[k]))
    return {"value": worst}


def check_bf16_value_path(data: TransitionDataset, device: str, batch: int) -> dict[str, Any]:
    mixed = IQL("MlpPolicy", data, seed=0, device=device, compile=False, domain="antmaze", bf16=True)
    shift_values(mixed, -60.0)
    exact = twin(mixed, device, bf16=False)
    index = torch.arange(batch, device=mixed.device).unsqueeze(0)
    out = {}
    for name, model in (("mixed", mixed), ("exact", exact)):
        model._setup_training(1)
        with torch.no_grad():
            out[name] = model._losses(*model.buffer.gather(index), None, None)
    errors = {name: float((out["mixed"][name] - out["exact"][name]).abs().max())
              for name in ("target_q", "v", "q", "td_target", "advantage")}
    return {"value": max(errors.values()), "errors": errors, "v_mean": float(out["exact"]["v"].mean()),
            "actor_loss_gap": float((out["mixed"]["actor_loss"] - out["exact"]["actor_loss"]).abs())}


def check_checkpoint(data: TransitionDataset, device: str, steps: int, batch: int) -> dict[str, Any]:
    model = IQL("MlpPolicy", data, seed=0, device=device, compile=False, domain="antmaze", batch_size=batch)
    model.learn(steps, log_interval=10**9)
    obs = data.observations[:64]
    with tempfile.TemporaryDirectory() as folder:
        loaded = IQL.load(model.save(Path(folder) / "agent"), device="cpu")
    here, there = model.predict(obs)[0], loaded.predict(obs)[0]
    return {"value": float(np.abs(here - there).max())}


def updates_per_second(data: TransitionDataset, device: str, n_seeds: int, compile: bool, seconds: float,
                       **config: Any) -> dict[str, Any]:
    """Group updates/s of ``learn`` (logging every 1000 steps, as benchmark runs do), after a warm-up."""
    model = IQL("MlpPolicy", data, seed=0, device=device, compile=compile, n_seeds=n_seeds, domain="antmaze",
                **config)
    breaks = graph_breaks()
    model.learn(10, log_interval=1000)  # buffer, compilation (timed in compile_seconds), first graphs
    breaks = graph_breaks() - breaks
    chunk, steps = 500, 0
    model.learn(chunk, reset_num_timesteps=False, log_interval=1000)
    synchronize(model.device)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.learn(chunk, reset_num_timesteps=False, log_interval=1000)
        steps += chunk
    synchronize(model.device)
    group = steps / (time.perf_counter() - started)
    if compile and model._compiled_update is None:
        raise RuntimeError("torch.compile fell back to eager")
    return {"n_seeds": n_seeds, "group_updates_per_s": group, "agent_updates_per_s": group * n_seeds,
            # three seeds of 1M steps at this per-agent rate (K=1: one after another; K=3: one group)
            "hours_per_1M_step_group_of_3": 3e6 / (group * n_seeds) / 3600 if n_seeds <= 3 else None,
            "compile_s": getattr(model, "compile_seconds", None) if compile else None,
            "graph_breaks": breaks if compile else None}


def timed(name: str, check: Callable[[], dict[str, Any]], bound: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # a check that crashes is a failed check, reported with its error
        result = {"value": None, "error": f"{type(exc).__name__}: {exc}"}
    result["bound"] = bound
    result["passed"] = result["value"] is not None and result["value"] <= bound
    result["seconds"] = time.perf_counter() - started
    print(f"{name}: {'ok' if result['passed'] else 'FAILED'} {json.dumps(result, default=str)}", flush=True)
    return result


def machine(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                            "device": device, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def markdown(result: dict[str, Any]) -> str:
    info = result["machine"]
    lines = [f"Device: {info.get('gpu', info['device'])} (torch {info['torch']}, CUDA {info.get('cuda')}), "
             f"{info['cpus']} CPUs. Generated by `python -m benchmarks.gpu_check`.", "",
             "| check | measured | bound | passed |", "|---|---|---|---|"]
    for name, check in result["checks"].items():
        value = "error: " + check["error"] if check.get("error") else f"{check['value']:.2e}"
        lines.append(f"| {name} | {value} | {check['bound']:.0e} | {'yes' if check['passed'] else 'NO'} |")
    if result["speed"]:
        lines += ["", "| configuration (AntMaze shapes, batch 256, 256x256 nets) | group updates/s | agent updates/s"
                  " | h per 1M-step group of 3 seeds | compile s | graph breaks |", "|---|---|---|---|---|---|"]
        for name, row in result["speed"].items():
            if "error" in row:
                lines.append(f"| {name} | error: {row['error']} | | | | |")
                continue
            hours, compile_s = row["hours_per_1M_step_group_of_3"], row["compile_s"]
            hours_text = "–" if hours is None else f"{hours:.2f}"
            compile_text = "–" if compile_s is None else f"{compile_s:.0f}"
            breaks = row.get("graph_breaks")
            lines.append(f"| {name} | {row['group_updates_per_s']:.0f} | {row['agent_updates_per_s']:.0f} | "
                         f"{hours_text} | {compile_text} | {'–' if breaks is None else breaks} |")
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "gpu_check.json", json.dumps(result, indent=1, default=str))
    atomic_write_text(out / "gpu_check.md", markdown(result))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="the device checked against the CPU (cpu: a dry run of the script itself)")
    parser.add_argument("--steps", type=int, default=50, help="updates per parity check")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--transitions", type=int, default=1_000_000, help="size of the synthetic buffer")
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per speed row (0: no speed rows)")
    parser.add_argument("--rows", nargs="*", default=list(SPEED_ROWS), help="speed rows to time")
    parser.add_argument("--out", type=Path, default=Path("leaderboard"))
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is visible (torch.cuda.is_available() is False); use --device cpu for a dry run")
    torch.manual_seed(0)
    data = antmaze_shaped(args.transitions)
    small = antmaze_shaped(20_000, seed=3)
    result: dict[str, Any] = {"machine": machine(args.device), "steps": args.steps, "batch": args.batch,
                              "checks": {}, "speed": {}}
    checks: dict[str, Callable[[], dict[str, Any]]] = {
        "cpu_parity": lambda: check_cpu_parity(small, args.device, args.steps, args.batch),
        "compiled_parity": lambda: check_compiled_parity(small, args.device, args.steps, args.batch),
        "seed_group_parity": lambda: check_seed_group_parity(small, args.device, args.steps, args.batch),
        "bf16_value_path": lambda: check_bf16_value_path(small, args.device, args.batch),
        "checkpoint": lambda: check_checkpoint(small, args.device, args.steps, args.batch),
    }
    for name, check in checks.items():
        result["checks"][name] = timed(name, check, BOUNDS[name])
        write(result, args.out)
    for name in args.rows if args.seconds > 0 else []:
        n_seeds, compile, config = SPEED_ROWS[name]
        try:
            result["speed"][name] = updates_per_second(data, args.device, n_seeds, compile, args.seconds, **config)
        except Exception as exc:  # one failing row must not cost the others' numbers
            result["speed"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {json.dumps(result['speed'][name], default=str)}", flush=True)
        write(result, args.out)
    print(markdown(result))
    return 0 if all(check["passed"] for check in result["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
