"""The one check of what users pass to iqlzoo's functions and command lines (configuration fields aside, which
``IQLConfig.validate`` checks with :func:`iqlzoo.validation.type_problem`).

Python arguments that are wrong raise :class:`~iqlzoo.errors.InvalidInputError` naming the argument, what it got and
what it accepts; command-line values are argparse types, so a wrong one is argparse's usage error (exit status 2)
with the same kind of message, never a traceback.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np
import torch

from iqlzoo.errors import InvalidInputError

MIN_SEED, MAX_SEED = -(2**63), 2**64 - 2**20
"""The range of seeds: torch takes [-2**63, 2**64), and the agents of a multi-seed model take ``seed + k``."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_integer(value: object) -> bool:
    """A Python or NumPy integer; ``bool`` is not one."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def positive_int(name: str, value: object) -> int:
    """``value`` as a positive int; anything else (a bool, a float, a string, a number < 1) is refused."""
    if not is_integer(value):
        raise InvalidInputError(f"{name} must be a positive int, got {_shown(value)} ({type(value).__name__}); pass "
                                f"e.g. {name}=1000")
    if value < 1:
        raise InvalidInputError(f"{name} must be positive, got {value}; pass a number of steps >= 1")
    return int(value)


def seed_argument(value: object) -> int | None:
    """``seed``: None (a random seed) or an int in [:data:`MIN_SEED`, :data:`MAX_SEED`]."""
    if value is None:
        return None
    if not is_integer(value) or not MIN_SEED <= value <= MAX_SEED:
        raise InvalidInputError(f"seed must be None or an int in [-2**63, 2**64 - 2**20], got {_shown(value)} "
                                f"({type(value).__name__}); pass e.g. seed=0")
    return int(value)


def verbose_argument(value: object) -> int:
    """``verbose``: 0 (silent), 1 (info) or 2 (debug), as in Stable-Baselines3; ``False``/``True`` mean 0/1."""
    if isinstance(value, bool):
        return int(value)
    if not is_integer(value) or value not in (0, 1, 2):
        raise InvalidInputError(f"verbose must be 0, 1 or 2 (as in Stable-Baselines3), got {_shown(value)}")
    return int(value)


def resolve_device(device: object) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; a CUDA device without a visible GPU is refused up front, once."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise InvalidInputError(f"device={_shown(device)} is not a torch device; use 'cpu', 'cuda' or 'auto'")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"device={device!r} is not a torch device ({exc}); use 'cpu', 'cuda' or "
                                "'auto'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device={device!r}: no CUDA GPU is visible to this process "
                                "(torch.cuda.is_available() is False); use device='cpu' or 'auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"device={device!r}: iqlzoo trains on 'cpu' or 'cuda'; use one of them or 'auto'")
    return resolved


def int_at_least(minimum: int, expected: str) -> Callable[[str], int]:
    """An argparse type: the text as an int >= ``minimum``, else argparse's error "expected <expected>, got ..."."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = expected
    return parse


def cli_non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (e.g. GPUs per run)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


cli_positive_int = int_at_least(1, "a positive integer")
"""An argparse type: a positive integer (steps, episodes, threads, resamples)."""
cli_seed = int_at_least(0, "a seed (an integer >= 0)")
"""An argparse type: a seed, an integer >= 0."""
