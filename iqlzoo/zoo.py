"""Where the published zoo lives on this machine, and how to use it without the Hub.

``python -m benchmarks.publish`` writes one Hub model repo per agent x dataset under ``zoo/{org}/{name}/`` in the
repository. Any such folder loads directly (``IQL.load("zoo/iqlzoo/IQL-antmaze-umaze-v0")``), and
``python -m iqlzoo.serve_zoo zoo/`` serves them all over the Hub's HTTP API, so that with
``HF_ENDPOINT=http://127.0.0.1:8765`` ``IQL.load_from_hub("iqlzoo/IQL-antmaze-umaze-v0")`` works unchanged offline.

The zoo folders looked in, in order: ``$IQLZOO_ZOO`` (when set), ``zoo/`` in the current directory, and ``zoo/`` in
the checkout holding this package.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Address and port ``python -m iqlzoo.serve_zoo`` listens on by default.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Environment variable naming a zoo folder to look in first.
ZOO_ENV = "IQLZOO_ZOO"
#: The zoo folder of the checkout holding this package (exists in a source checkout, not in an installed wheel).
CHECKOUT_ZOO = Path(__file__).resolve().parents[1] / "zoo"


#: The Hub organisation the project publishes under (``iqlzoo/IQL-antmaze-umaze-v0``).
DEFAULT_ORG = "iqlzoo"


def repo_name(agent: str, dataset_id: str) -> str:
    """``{agent}-{dataset}`` (rl_zoo3's ``{algo}-{env}``): the dataset id without its namespace, ``/`` as ``-``
    (``IQL-antmaze-umaze-v0`` for ``iqlzoo/antmaze/umaze-v0``)."""
    parts = dataset_id.split("/")
    return f"{agent}-{'-'.join(parts[1:] if len(parts) > 1 else parts)}"


def zoo_roots() -> list[Path]:
    """The zoo folders to look in, in order, without duplicates (they need not exist)."""
    roots = [Path(os.environ[ZOO_ENV])] if os.environ.get(ZOO_ENV) else []
    roots += [Path.cwd() / "zoo", CHECKOUT_ZOO]
    return list(dict.fromkeys(root.resolve() for root in roots))


def local_copy(repo_id: str) -> Path | None:
    """The folder of ``repo_id`` ("org/name") in the first zoo that has it (with a ``config.json``), or None."""
    if repo_id.count("/") != 1:
        return None
    for root in zoo_roots():
        folder = root / repo_id
        if (folder / "config.json").is_file():
            return folder
    return None


def serve_command(root: str | os.PathLike[str], port: int = DEFAULT_PORT) -> str:
    """The shell command that serves the zoo ``root`` on ``port``."""
    return f"python -m iqlzoo.serve_zoo {root} --port {port}"


def local_copy_hint(repo_id: str) -> str:
    """A sentence saying where a local copy of ``repo_id`` is and how to use it, or "" when there is none."""
    folder = local_copy(repo_id)
    if folder is None:
        return ""
    root = folder.parent.parent
    return (
        f" A published copy of {repo_id!r} is on this machine at {folder}: load it directly with "
        f"IQL.load({str(folder)!r}), or serve the zoo offline with `{serve_command(root)}` and set "
        f"HF_ENDPOINT=http://127.0.0.1:{DEFAULT_PORT} before starting Python (unset HF_HUB_OFFLINE)."
    )


#: The file of a published repo that records its evaluations (written by ``python -m benchmarks.publish``).
RESULTS_FILE = "results.json"
#: The first evaluation seed of a published repo's re-evaluation: episode i is reset with seed 2,000,000 + i.
REEVAL_SEED = 2_000_000
#: How many of the re-evaluation's episodes run side by side (one batched policy call per step): the batch is part of
#: what makes its returns reproducible, since a matmul rounds differently at another batch size.
REEVAL_ENVS = 10
#: The repo the quick start shows first when the zoo has it.
FEATURED = ("iqlzoo/IQL-halfcheetah-medium-v0", "iqlzoo/IQL-antmaze-umaze-v0")


def shipped_repos() -> list[str]:
    """The repo ids ("org/name") published in the zoo folders on this machine, featured ones first."""
    found = {f"{folder.parent.name}/{folder.name}" for root in zoo_roots() if root.is_dir()
             for folder in root.glob("*/*") if (folder / "config.json").is_file()}
    return [repo for repo in FEATURED if repo in found] + sorted(found - set(FEATURED))
