"""Ceilings on what loading a checkpoint may read and build.

A checkpoint may come from a stranger (the Hub, a download, a shared folder), so loading must not let a small file
claim unbounded memory: a 3 MB zip can inflate to gigabytes, and a 1 KB ``config.json`` can describe networks of
billions of parameters. Every load checks sizes against these limits *before* reading or allocating, and a file over
a limit fails at once with a :class:`~iqlzoo.errors.CheckpointError` naming the limit.

A user who trusts a larger checkpoint raises a limit explicitly, per call or per process::

    IQL.load(path, limits=LoadLimits(max_parameters=500_000_000))
    IQLZOO_MAX_PARAMETERS=500000000 python train.py

Precedence: an argument given to :class:`LoadLimits` > the ``IQLZOO_<FIELD>`` environment variable > the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from iqlzoo.errors import CheckpointError

MiB = 1 << 20
GiB = 1 << 30
RATIO_CHECK_MIN_BYTES = 1 * MiB
"""Zip members smaller than this are not held to ``max_compression_ratio`` (they cannot exhaust memory)."""


def env_name(limit: str) -> str:
    """The environment variable that sets the limit named ``limit``: ``IQLZOO_<LIMIT>``."""
    return f"IQLZOO_{limit.upper()}"


def _from_env(limit: str, default: int) -> int:
    raw = os.environ.get(env_name(limit), "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {env_name(limit)}={raw!r} must be a positive integer") from None
    if value <= 0:
        raise ValueError(f"environment variable {env_name(limit)}={raw!r} must be a positive integer")
    return value


def _limit(name: str, default: int) -> int:
    return field(default_factory=lambda: _from_env(name, default))


@dataclass(frozen=True)
class LoadLimits:
    """The most a checkpoint load may read or build; each field defaults to ``$IQLZOO_<FIELD>`` or a built-in value.

    The defaults admit networks of up to 100 million parameters (≈ 400 MB of float32 weights, 1.6 GB with Adam's
    moments and the gradients), some 200 times the IQL paper's (two hidden layers of 256 units).
    """

    max_tensor_bytes: int = _limit("max_tensor_bytes", 1 * GiB)
    """Size of ``model.safetensors`` or ``optimizer.safetensors`` (after decompression)."""
    max_json_bytes: int = _limit("max_json_bytes", 16 * MiB)
    """Size of ``config.json``, ``state.json`` and of a safetensors header."""
    max_compression_ratio: int = _limit("max_compression_ratio", 100)
    """Uncompressed / compressed size of a zip member of at least 1 MiB (iqlzoo writes uncompressed zips: ratio 1)."""
    max_parameters: int = _limit("max_parameters", 100_000_000)
    """Network parameters (weights, biases, buffers; target networks included) that ``config.json`` describes."""
    max_hidden_layers: int = _limit("max_hidden_layers", 64)
    """Hidden layers of any one network body."""
    max_zip_entries: int = _limit("max_zip_entries", 64)
    """Entries a checkpoint zip's central directory may declare (iqlzoo writes at most 4)."""
    max_zip_directory_bytes: int = _limit("max_zip_directory_bytes", 1 * MiB)
    """Size of a checkpoint zip's central directory (iqlzoo's take some 300 bytes); it is read whole, so bounded."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"LoadLimits.{item.name} must be a positive int, got {value!r}")

    def exceeded(self, what: str, value: int | float | str, limit: str) -> CheckpointError:
        """The error for ``what`` (its size ``value``) being over the limit named ``limit``, saying how to raise it."""
        shown = f"{value:,}" if isinstance(value, (int, float)) else value
        return CheckpointError(
            f"{what} is {shown}, over the load limit {limit}={getattr(self, limit):,}; the file may be corrupt or "
            f"hostile. If you trust it, raise the limit: load(path, limits=LoadLimits({limit}=...)) or the "
            f"environment variable {env_name(limit)}"
        )

    def check(self, what: str, value: int | float, limit: str) -> None:
        """Raise :meth:`exceeded` when ``value`` is over the limit named ``limit``."""
        if value > getattr(self, limit):
            raise self.exceeded(what, value, limit)
