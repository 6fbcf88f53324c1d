"""What machine this is, as far as reproducing a number needs: the CPU model.

Floating-point results of the same code differ in their last bits between CPU kinds (vector instruction sets, the
kernels a math library picks for them), and a rollout grows such a difference into a different episode, so records
that promise bit-reproducibility name the CPU they were made on.
"""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``'s "model name", else ``platform.processor()``), or None if unknown."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None
