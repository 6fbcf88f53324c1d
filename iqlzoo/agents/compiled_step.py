"""Whole-step compilation of an agent's update, and the functional Adam step that lets it be one graph.

``torch.compile`` of the update with ``trace_autograd_ops`` traces batch gather, losses, ``autograd.grad``, Adam and
the Polyak update as one graph; ``Optimizer.step`` would break it, so :func:`adam_step` calls
``torch.optim.adam.adam`` on the optimizer's own state tensors (the identical update, and the optimizer's
``state_dict`` stays the checkpoint format).
"""

from __future__ import annotations

import copy
import time
import types
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.adam import adam as _adam


def init_adam_state(optimizer: torch.optim.Optimizer) -> None:
    """Create Adam's state tensors up front (``Optimizer.step`` would create them lazily on its first call), so a
    compiled step and checkpoints always see the same tensors."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)


def adam_step(optimizer: torch.optim.Optimizer, grads: tuple[torch.Tensor, ...]) -> None:
    """``optimizer``'s Adam step for gradients in parameter-group order, called functionally on its state."""
    start = 0
    compiling = torch.compiler.is_compiling()
    for group in optimizer.param_groups:
        params = group["params"]
        states = [optimizer.state[p] for p in params]
        _adam(
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


def private_copy(method: Any) -> Any:
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


def compiled_graph_count(code: types.CodeType) -> int:
    """How many compiled graphs dynamo holds for ``code``.

    The only use of a private torch API in iqlzoo: torch offers no public way to ask whether compilation produced a
    graph or silently fell back to eager (recompile limit, skipped frame). ``tests/test_compiled_step.py`` fails
    loudly if a torch release moves or changes it.
    """
    from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list

    return len(_debug_get_cache_entry_list(code))


def compile_update(
    update: Callable[..., torch.Tensor],
    example_args: tuple[Any, ...],
    state: Callable[[], tuple[torch.nn.Module, torch.optim.Optimizer]],
    device: torch.device,
) -> tuple[Callable[..., torch.Tensor] | None, float]:
    """(``update`` under ``torch.compile``, warmed up on ``example_args``; seconds it took) — or (None, seconds)
    with a warning if compilation fails (no C++ compiler, an unsupported op), so training continues eagerly.

    CUDA uses ``mode="reduce-overhead"`` (CUDA graphs), CPU the default inductor mode. The warm-up step runs on the
    model's real tensors, which are restored in place afterwards (the graph holds these very tensors), so compiled
    and eager training see the same sequence of updates. ``state()`` gives the (networks, optimizer) to restore.
    """
    mode = "reduce-overhead" if device.type == "cuda" else None
    own = private_copy(update)
    nets, optimizer = state()
    snapshot = copy.deepcopy((nets.state_dict(), optimizer.state_dict()))
    params = [p for group in optimizer.param_groups for p in group["params"]]
    start = time.perf_counter()
    try:
        # trace_autograd_ops exists from torch 2.11 on: an older torch raises here and trains eagerly
        compiled = torch._dynamo.config.patch(trace_autograd_ops=True)(
            torch.compile(own, mode=mode, dynamic=False, fullgraph=False)
        )
        compiled(*example_args)
        if not compiled_graph_count(own.__func__.__code__):
            raise RuntimeError("dynamo produced no graph for the update (recompile limit or a skipped frame)")
    except Exception as exc:  # compilation problems surface as many exception types
        warnings.warn(f"torch.compile of the update failed ({type(exc).__name__}: {exc}); training eagerly",
                      stacklevel=3)
        compiled = None
    finally:
        nets.load_state_dict(snapshot[0])
        saved_state = snapshot[1]["state"]
        for index, p in enumerate(params):
            for key, value in optimizer.state[p].items():
                value.copy_(saved_state[index][key])
        for group, saved in zip(optimizer.param_groups, snapshot[1]["param_groups"]):
            group["lr"].copy_(saved["lr"])
    return compiled, time.perf_counter() - start
