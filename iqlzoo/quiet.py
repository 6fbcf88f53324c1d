"""Keep two third-party notices that concern nothing iqlzoo does off the console, each matched narrowly by message.

* gymnasium-robotics prints (to stderr, when first imported) that the rewards of ``AdroitHandRelocateDense-v1``,
  ``AdroitHandHammerDense-v1`` and ``AdroitHandDoorDense-v1`` changed in 1.2.1; iqlzoo uses none of them. The notice
  comes from ``farama_notifications``, so the entries that name AdroitHand are removed there before
  gymnasium-robotics is imported; any other notification still prints.
* MuJoCo 4 warns, for every model compiled from an XML with ``settotalmass`` (Gymnasium's HalfCheetah and Ant), that
  the attribute is deprecated: 34 lines per dataset build, plus ``MUJOCO_LOG.TXT`` in the working directory. A MuJoCo
  warning handler drops that message and prints every other MuJoCo warning as MuJoCo does (``WARNING: ...`` on
  stderr). A handler installed by someone else is left alone.

:func:`quiet_third_party_notices` runs when :mod:`iqlzoo` is imported.
"""

from __future__ import annotations

import sys

_ADROIT_NOTICE = "AdroitHand"
_MUJOCO_NOTICE = "'settotalmass' is deprecated"


def drop_adroit_notice() -> None:
    """Remove gymnasium-robotics' AdroitHand reward notice from ``farama_notifications`` (no-op once printed)."""
    try:
        from farama_notifications import notifications
    except ImportError:
        return
    per_version = notifications.get("gymnasium_robotics", {})
    for version in [v for v, message in per_version.items() if _ADROIT_NOTICE in str(message)]:
        del per_version[version]


def mujoco_warning(message: str) -> None:
    """MuJoCo's warning handler: drop the ``settotalmass`` deprecation, print anything else like MuJoCo."""
    if _MUJOCO_NOTICE not in message:
        print(f"WARNING: {message}", file=sys.stderr)


def filter_mujoco_warnings() -> None:
    """Install :func:`mujoco_warning` as MuJoCo's warning handler unless MuJoCo is missing or has a handler."""
    try:
        import mujoco
    except ImportError:
        return
    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(mujoco_warning)


def quiet_third_party_notices() -> None:
    """Both filters above."""
    drop_adroit_notice()
    filter_mujoco_warnings()
