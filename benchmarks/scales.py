"""The reference returns behind stored normalised scores, solved from the records themselves (leaderboard, zoo cards).

A normalised score is 100 (R − random) / (expert − random), with the reference returns of the data the run trained
on. Regenerated datasets measure theirs when they are built (100 episodes of their random and expert policies), so
two builds of one dataset can normalise the same return differently, and locomotion data normalises with other
references than D4RL's. The records hold each evaluation's mean return beside its score, which fixes the references.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.store import build_label

METRIC = "normalized_score"


def normalisation_refs(rows: pd.DataFrame) -> tuple[float, float] | None:
    """The reference returns (random, expert) behind the normalised scores of the evaluation `rows` (of runs on one
    build of a dataset, which all normalise alike), solved by least squares from score = 100 (R − random) / (expert −
    random) over their (mean return, score) pairs; None when they hold fewer than two distinct scores or do not lie
    on one line (to 1e-6 of the largest |R|)."""
    pairs = rows[["return_mean", METRIC]].dropna().to_numpy(dtype=float)
    if len(np.unique(pairs[:, 1])) < 2:
        return None
    slope, random = np.polyfit(pairs[:, 1] / 100.0, pairs[:, 0], 1)  # R = random + (score / 100) (expert − random)
    if np.max(np.abs(random + slope * pairs[:, 1] / 100.0 - pairs[:, 0])) > 1e-6 * max(1.0, np.abs(pairs[:, 0]).max()):
        return None
    return float(random), float(random + slope)


def rounded(refs: tuple[float, float]) -> tuple[float, float]:
    """Reference returns to 0.1, the precision they are compared and shown at."""
    return round(refs[0], 1), round(refs[1], 1)


def differing_refs(evaluations: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Each build's (``dataset_hash``) reference returns, rounded to 0.1, when the builds in `evaluations` normalise
    with different ones; empty when they agree, when there is one build, or when a build's cannot be solved."""
    refs = {data_hash: normalisation_refs(rows) for data_hash, rows in evaluations.groupby("dataset_hash", sort=True)}
    if len(refs) < 2 or any(found is None for found in refs.values()):
        return {}
    shown = {data_hash: rounded(found) for data_hash, found in refs.items() if found}
    return shown if len(set(shown.values())) > 1 else {}


def largest_gap(refs: dict[str, tuple[float, float]]) -> float:
    """How far apart, in %, one return scores on the references `refs` at most: the ratio of their widest to their
    narrowest expert − random, minus one."""
    spans = [expert - random for random, expert in refs.values()]
    return 100.0 * (max(spans) / min(spans) - 1.0)


def named_refs(refs: dict[str, tuple[float, float]]) -> str:
    """"`a1b2c3d4`: random R0, expert R1; ..." for the builds' reference returns `refs` (`differing_refs`)."""
    return "; ".join(f"`{build_label(data_hash)}`: random {lo:,.1f}, expert {hi:,.1f}"
                     for data_hash, (lo, hi) in refs.items())
