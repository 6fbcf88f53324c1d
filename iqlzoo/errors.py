"""The error type of files iqlzoo refuses to load."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A file that is not a loadable iqlzoo checkpoint: missing, truncated, foreign, corrupt, malformed, or larger
    than a load limit (see :class:`iqlzoo.limits.LoadLimits`). The message names the file, the field or tensor at
    fault, and what to do."""
