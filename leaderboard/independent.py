"""Independent checks beside our scores: the reference IQL's runs on the data our agents trained on.

`benchmarks/reference_iql.py` is an IQL that shares no code with `iqlzoo.agents` (its own networks, data loading,
update and evaluation). A finished run of it on the same data build, with the same protocol and IQL settings as one
of our rows, is the independent implementation that tells a gap to the published numbers that lies in our data
from one that lies in our code: where the two agree, our code is not the cause.

A reference run is stored in the results store as ``<results>/references/<name>/``, the files that
``python -m benchmarks.reference_iql --out <folder>`` writes, checkpoints left out:

- ``seed<k>.csv``: the learning curve, one line per evaluation (``step``, ``mean_return``, ``success_rate``,
  ``normalized_score``, ``seconds``);
- ``seed<k>.provenance.json``: ``settings`` (``dataset``, ``steps``, ``eval_every``, ``eval_episodes``,
  ``expectile``, ``temperature``, ``normalize_observations``), ``dataset_hash`` (the same content hash as a run's
  ``dataset.hash``) and one entry per invocation (commit, versions, machine, command).

A seed counts once its curve has reached ``settings["steps"]``; its score is the normalised score of that final
evaluation. A row's cell is the mean over the matching seeds.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.store import build_label
from iqlzoo.safe_read import read_small_text

REFERENCES_DIR = "references"
#: The settings a reference run must share with our row's runs: keys of its settings and of their agent configs.
SHARED_SETTINGS: tuple[str, ...] = ("expectile", "temperature", "normalize_observations")
#: ... and with their protocol: keys of its settings and of their protocols.
SHARED_PROTOCOL: tuple[str, ...] = ("steps", "eval_episodes")
CURVE_COLUMNS = ("step", "normalized_score")
_SEED_FILE = re.compile(r"seed(\d+)\.provenance\.json")
#: Reference records are small (a provenance of ~50 invocations is ~60 kB): a larger file is not one of them.
MAX_FILE_BYTES = 4 * 2**20


class ReferenceFormatError(ValueError):
    """A folder under ``<results>/references/`` is not a reference run as `benchmarks.reference_iql` writes one."""


@dataclass(frozen=True)
class ReferenceRun:
    """One seed of a reference IQL run: where it is stored, what it trained on, and its curve."""

    folder: Path
    seed: int
    dataset_id: str
    dataset_hash: str
    settings: Mapping[str, Any]
    curve: pd.DataFrame  # columns CURVE_COLUMNS, one row per evaluation, by step

    @property
    def curve_file(self) -> Path:
        return self.folder / f"seed{self.seed}.csv"

    @property
    def finished(self) -> bool:
        """Whether the curve reached the run's budget (``settings["steps"]``)."""
        return not self.curve.empty and int(self.curve["step"].iloc[-1]) >= int(self.settings["steps"])

    @property
    def final_score(self) -> float:
        """The normalised score (x100 for AntMaze success) of the last evaluation."""
        return float(self.curve["normalized_score"].iloc[-1])


def _read_small(path: Path) -> str:
    try:
        return read_small_text(path, MAX_FILE_BYTES, lambda: ReferenceFormatError(
            f"{path}: more than a reference record's {MAX_FILE_BYTES:,} bytes; move it out of the store's "
            "references/ folder"))
    except UnicodeDecodeError as error:
        raise ReferenceFormatError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); move it out of "
                                   "the store's references/ folder") from None
    except OSError as error:
        raise ReferenceFormatError(f"{path}: cannot be read ({error.strerror or error})") from None


def _load_seed(provenance_path: Path, seed: int) -> ReferenceRun:
    fix = "(write it with python -m benchmarks.reference_iql --out <folder>, or move the folder out of references/)"
    try:
        provenance = json.loads(_read_small(provenance_path))
    except json.JSONDecodeError as error:
        raise ReferenceFormatError(f"{provenance_path}: not valid JSON ({error}) {fix}") from error
    settings = provenance.get("settings") if isinstance(provenance, dict) else None
    needed = {"dataset", *SHARED_SETTINGS, *SHARED_PROTOCOL}
    if not isinstance(settings, dict) or not needed <= set(settings) or not isinstance(
            provenance.get("dataset_hash"), str):
        raise ReferenceFormatError(f"{provenance_path}: expected an object with 'dataset_hash' and 'settings' holding "
                                   f"{sorted(needed)} {fix}")
    curve_path = provenance_path.with_name(f"seed{seed}.csv")
    if not curve_path.is_file():
        raise ReferenceFormatError(f"{curve_path}: missing beside {provenance_path.name} {fix}")
    text = _read_small(curve_path)
    try:
        curve = pd.read_csv(io.StringIO(text))
        curve = curve[list(CURVE_COLUMNS)].astype({"step": int, "normalized_score": float})
    except (KeyError, ValueError, pd.errors.ParserError) as error:
        raise ReferenceFormatError(f"{curve_path}: expected the columns {list(CURVE_COLUMNS)} with numbers "
                                   f"({error}) {fix}") from error
    if not curve["normalized_score"].map(math.isfinite).all():
        raise ReferenceFormatError(f"{curve_path}: a normalised score is not a finite number {fix}")
    return ReferenceRun(provenance_path.parent, seed, str(settings["dataset"]), provenance["dataset_hash"],
                        settings, curve.sort_values("step").reset_index(drop=True))


def load_reference_runs(results_root: Path) -> list[ReferenceRun]:
    """Every seed of every reference run under ``<results_root>/references/`` (none when the folder is absent),
    ordered by folder and seed; raises :class:`ReferenceFormatError` naming the file that is not a reference record."""
    root = Path(results_root) / REFERENCES_DIR
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        for path in sorted(folder.iterdir()):
            match = _SEED_FILE.fullmatch(path.name)
            if match:
                found.append(_load_seed(path, int(match.group(1))))
    return found


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, int | float) and isinstance(theirs, int | float):
        return math.isclose(float(ours), float(theirs), rel_tol=1e-9)
    return ours == theirs


def matching(references: Sequence[ReferenceRun], dataset_id: str, configs: Sequence[Mapping[str, Any]],
             protocols: Sequence[Mapping[str, Any]]) -> list[ReferenceRun]:
    """The finished reference seeds on `dataset_id` whose IQL settings and protocol equal those of every one of our
    runs (`configs`: their agent configs; `protocols`: their protocols). None when a run's config or protocol is
    unknown: a check is only shown where it is known to measure the same thing."""
    if not configs or not protocols or not all(configs) or not all(protocols):
        return []
    pairs = [(config, key) for config in configs for key in SHARED_SETTINGS]
    pairs += [(protocol, key) for protocol in protocols for key in SHARED_PROTOCOL]
    return [reference for reference in references
            if reference.dataset_id == dataset_id and reference.finished
            and all(_same(ours.get(key), reference.settings[key]) for ours, key in pairs)]


def independent_cell(references: Sequence[ReferenceRun], our_hashes: Sequence[str],
                     link: Callable[[ReferenceRun], str]) -> str:
    """The row's cell: the mean final score of `references` with a link per seed, and the data build they trained
    on when it is not (only) ours; "—" without any."""
    if not references:
        return "—"
    mean = sum(reference.final_score for reference in references) / len(references)
    text = f"{mean:.1f} ({', '.join(link(reference) for reference in references)})"
    theirs = sorted({build_label(reference.dataset_hash) for reference in references})
    if set(theirs) != {build_label(value) for value in our_hashes}:
        text += " on build " + ", ".join(f"`{label}`" for label in theirs)
    return text


INDEPENDENT_NOTE = (
    "*Independent IQL*: the final score of `benchmarks/reference_iql.py`, an IQL that shares no code with iqlzoo's "
    "agents, trained on the same dataset with the same protocol, expectile, temperature and observation "
    "standardisation (mean over its seeds; each links its curve; its data build is named where it differs from "
    "ours). Beside ours and the paper's, it tells a gap that the data causes (the independent IQL falls short too) "
    "from one in iqlzoo's code (it does not); \"—\": no finished reference run.")
