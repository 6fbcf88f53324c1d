"""The machine a number is made on: its CPU model, and the torch thread count a block of work runs on.

Floating-point results of the same code differ in their last bits between CPU kinds (vector instruction sets, the
kernels a math library picks for them), and a rollout grows such a difference into a different episode, so records
that promise bit-reproducibility name the CPU they were made on.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from pathlib import Path

import torch


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``'s "model name", else ``platform.processor()``), or None if unknown."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch CPU threads and restore the caller's count afterwards (a process-wide setting:
    other threads of the process that use torch meanwhile run on ``n`` too)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
