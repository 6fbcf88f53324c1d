"""iqlzoo's error types: what it raises about the inputs it was given.

Every refusal of an input — a file, a configuration, an argument, an observation, a dataset — is an
:class:`IqlzooError` whose message names what was wrong and says what to do, raised before anything is built or
trained. An exception of any other type escaping iqlzoo is a bug in iqlzoo.
"""

from __future__ import annotations


class IqlzooError(Exception):
    """Base of the errors iqlzoo raises about its inputs."""


class CheckpointError(IqlzooError, ValueError):
    """A file that is not a loadable iqlzoo checkpoint: missing, truncated, foreign, corrupt, malformed, or larger
    than a load limit (see :class:`iqlzoo.limits.LoadLimits`). The message names the file, the field or tensor at
    fault, and what to do."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint at the path given (a ``FileNotFoundError`` too, as Stable-Baselines3's ``load`` raises)."""


class InvalidInputError(IqlzooError, ValueError, TypeError):
    """An argument, a configuration field, an observation or a dataset that iqlzoo refuses: of the wrong type, out
    of range, non-finite, or inconsistent with the rest. It is both a ``ValueError`` and a ``TypeError`` so that code
    catching either (as Python's conventions for a bad value or a bad type suggest) keeps working."""
