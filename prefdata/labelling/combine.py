"""Combining several judges' per-candidate scores into one: mean, majority or rank.

    from prefdata.labelling.combine import combine
    combine(["p1", "p1", "p2"], {"rm": [0.3, 2.1, -1.0], "exact": [1.0, 0.0, None]}, "rank")
    # [0.75, 0.25, 0.0]  (one score per candidate, higher is better, None if no judge scored it)

Judges score on different scales, so raw scores are never averaged:
- mean: each judge's scores are z-standardised over the whole run (a judge with one
  distinct value contributes 0), then a weighted mean over the judges that scored the
  candidate.
- rank (Borda): within each prompt each judge ranks the candidates it scored, mapped to
  [0, 1] (1 = its best, ties share the average rank); weighted mean over judges.
- majority: for every two candidates of a prompt each judge votes for the higher score
  (equal scores: no vote); the weighted majority decides the pair (a tied vote is a draw).
  A candidate's score is its Copeland win rate (wins + draws/2) / pairs it took part in.
Missing scores (None) are skipped: a candidate's aggregate uses the judges that scored it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

Combine = Literal["mean", "majority", "rank"]


def combine(
    groups: Sequence,
    scores: dict[str, Sequence[float | None]],
    method: Combine,
    weights: dict[str, float] | None = None,
    scales: dict[str, tuple[float, float] | None] | None = None,
) -> list[float | None]:
    """One aggregate score per candidate (aligned with `groups`), None if no judge scored it.

    `scales` (mean only): each judge's (mean, std) over the whole run, when `scores` hold only
    part of it (the partitioned label stage); by default they are taken from `scores`."""
    weights = {j: (weights or {}).get(j, 1.0) for j in scores}
    matrix = {j: _as_array(s) for j, s in scores.items()}
    if method == "mean":
        parts = {j: _zscore(v, scales.get(j) if scales is not None else zscale(v)) for j, v in matrix.items()}
        return _weighted_mean(parts, weights)
    if method == "rank":
        parts = {j: _borda(groups, v) for j, v in matrix.items()}
        return _weighted_mean(parts, weights)
    if method == "majority":
        return _copeland(groups, matrix, weights)
    raise ValueError(f"unknown combine method {method!r}: use mean, majority or rank")


def ranks_within_groups(groups: Sequence, scores: Sequence[float | None]) -> list[int | None]:
    """1 = best within each group (competition ranking: ties share the better rank)."""
    values = _as_array(scores)
    out: list[int | None] = [None] * len(values)
    for idx in group_indices(groups):
        for i in idx:
            if not np.isnan(values[i]):
                out[i] = 1 + sum(1 for j in idx if not np.isnan(values[j]) and values[j] > values[i])
    return out


def _as_array(scores: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if s is None or _nan(s) else float(s) for s in scores], dtype=float)


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def group_indices(groups: Sequence) -> list[list[int]]:
    """Indices of each group's items, groups in first-seen order: [p1, p2, p1] -> [[0, 2], [1]]."""
    order: dict = {}
    for i, g in enumerate(groups):
        order.setdefault(g, []).append(i)
    return list(order.values())


def zscale(values: np.ndarray) -> tuple[float, float] | None:
    """(mean, std) of the present scores, None if there are none."""
    present = values[~np.isnan(values)]
    return (float(present.mean()), float(present.std())) if present.size else None


def _zscore(values: np.ndarray, scale: tuple[float, float] | None) -> np.ndarray:
    if scale is None:
        return values
    mean, std = scale
    if std == 0:
        return np.where(np.isnan(values), np.nan, 0.0)
    return (values - mean) / std


def _borda(groups: Sequence, values: np.ndarray) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    for idx in group_indices(groups):
        scored = [i for i in idx if not np.isnan(values[i])]
        if len(scored) == 1:
            out[scored[0]] = 0.5  # alone in its prompt: no information either way
        for i in scored if len(scored) > 1 else []:
            below = sum(values[j] < values[i] for j in scored)
            equal = sum(values[j] == values[i] for j in scored) - 1
            out[i] = (below + equal / 2) / (len(scored) - 1)
    return out


def _weighted_mean(parts: dict[str, np.ndarray], weights: dict[str, float]) -> list[float | None]:
    stacked = np.vstack(list(parts.values()))
    w = np.array([weights[j] for j in parts])[:, None] * ~np.isnan(stacked)
    total = w.sum(axis=0)
    summed = np.nansum(np.nan_to_num(stacked) * w, axis=0)
    return [float(s / t) if t > 0 else None for s, t in zip(summed, total)]


def _copeland(groups: Sequence, matrix: dict[str, np.ndarray], weights: dict[str, float]) -> list[float | None]:
    n = len(groups)
    points, games = np.zeros(n), np.zeros(n)
    for idx in group_indices(groups):
        for i, j in itertools.combinations(idx, 2):
            vote, voters = 0.0, 0
            for judge, v in matrix.items():
                if np.isnan(v[i]) or np.isnan(v[j]):
                    continue
                voters += 1
                vote += weights[judge] * np.sign(v[i] - v[j])
            if voters == 0:
                continue
            games[[i, j]] += 1
            if vote > 0:
                points[i] += 1
            elif vote < 0:
                points[j] += 1
            else:
                points[[i, j]] += 0.5
    scored_alone = _scored_alone(groups, matrix)
    return [
        float(points[i] / games[i]) if games[i] else (0.5 if scored_alone[i] else None)
        for i in range(n)
    ]


def _scored_alone(groups: Sequence, matrix: dict[str, np.ndarray]) -> list[bool]:
    any_score = np.zeros(len(groups), dtype=bool)
    for v in matrix.values():
        any_score |= ~np.isnan(v)
    return list(any_score)
