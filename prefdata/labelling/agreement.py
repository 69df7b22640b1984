"""Agreement between label sources (judges here, Argilla annotators elsewhere).

    from prefdata.labelling.agreement import derived_pair_labels, pairwise_agreement, cohen_kappa
    a = derived_pair_labels(groups, judge_a_scores)    # one label per candidate pair
    b = derived_pair_labels(groups, judge_b_scores)
    pairwise_agreement(a, b), cohen_kappa(a, b)

Scores on different scales (a reward model's logits, a 0/1 exact match, 1-5 ratings) are
compared through *derived pairs*: for every two candidates of the same prompt, each source
says +1 (first better), -1 (second better) or 0 (tie). Pairs a source did not score are
NaN and left out. `pairwise_agreement` and `cohen_kappa` are plain functions on label
arrays; `krippendorff_alpha` takes any number of sources with missing values.

The order of two candidates is arbitrary, but chance agreement depends on it (two judges
that always say "first is better" have kappa 0 however they order the pairs).
`agreement_report` therefore computes kappa and alpha over both orientations of every
pair (labels and their negations), which makes them independent of candidate order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from prefdata.labelling.combine import group_indices


def derived_pair_labels(groups: Sequence, scores: Sequence[float | None]) -> np.ndarray:
    """Sign of score[i] - score[j] for every i < j with groups[i] == groups[j] (NaN if missing).

    Pairs come in a fixed order (by group in first-seen order, then index), so two calls
    with the same `groups` give aligned arrays.
    """
    values = np.array([np.nan if s is None else float(s) for s in scores], dtype=float)
    labels = []
    for idx in group_indices(groups):
        for i, j in itertools.combinations(idx, 2):
            labels.append(np.sign(values[i] - values[j]))  # NaN propagates
    return np.array(labels, dtype=float)


def _both_present(a: Sequence, b: Sequence) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in length: {a.shape[0]} vs {b.shape[0]}")
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def pairwise_agreement(a: Sequence, b: Sequence) -> float | None:
    """Share of items where both sources gave the same label (NaN items skipped; None if none)."""
    a, b = _both_present(a, b)
    if a.size == 0:
        return None
    return float(np.mean(a == b))


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa of two sources' categorical labels (NaN items skipped; None if none).

    kappa = (p_o - p_e) / (1 - p_e). When both sources use one single identical label
    (p_e == 1) agreement is perfect but chance-level: kappa is reported as 1.0 if they
    agree everywhere, else 0.0.
    """
    a, b = _both_present(a, b)
    if a.size == 0:
        return None
    categories = np.union1d(a, b)
    p_o = float(np.mean(a == b))
    p_e = float(sum(np.mean(a == c) * np.mean(b == c) for c in categories))
    if math.isclose(p_e, 1.0):
        return 1.0 if p_o == 1.0 else 0.0
    return (p_o - p_e) / (1.0 - p_e)


def krippendorff_alpha(labels: Sequence[Sequence], level: str = "ordinal") -> float | None:
    """Krippendorff's alpha over several sources (rows) and items (columns), NaN = missing.

    None when fewer than two sources rated any item or every label is the same.
    """
    import krippendorff

    data = np.asarray(labels, dtype=float)
    if data.ndim != 2 or data.shape[0] < 2:
        return None
    rated_twice = np.sum(~np.isnan(data), axis=0) >= 2
    data = data[:, rated_twice]
    if data.shape[1] == 0 or np.unique(data[~np.isnan(data)]).size < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _both_orientations(labels: np.ndarray) -> np.ndarray:
    return np.concatenate([labels, -labels])


def agreement_report(groups: Sequence, scores_by_source: dict[str, Sequence]) -> dict:
    """Agreement on derived pairs for every two sources, plus Krippendorff's alpha over all.

    {"pairs": {"a|b": {"n_pairs", "agreement", "n_decisive", "decisive_agreement",
    "cohen_kappa"}}, "krippendorff_alpha": x}. `agreement` counts a tie as a label of its
    own; `decisive_agreement` is over the pairs where both sources prefer one candidate
    (a 0/1 check that ties most pairs says little about a reward model that never ties).
    """
    return agreement_of_labels({name: derived_pair_labels(groups, s) for name, s in scores_by_source.items()})


def agreement_of_labels(labels: dict[str, np.ndarray]) -> dict:
    """`agreement_report` from each source's derived pair labels (aligned arrays). Pairs never
    cross prompts, so labels of disjoint prompt sets concatenate (the partitioned label stage)."""
    pairs = {}
    for (na, la), (nb, lb) in itertools.combinations(labels.items(), 2):
        both = ~(np.isnan(la) | np.isnan(lb))
        decisive = both & (la != 0) & (lb != 0)
        pairs[f"{na}|{nb}"] = {
            "n_pairs": int(both.sum()),
            "agreement": pairwise_agreement(la, lb),
            "n_decisive": int(decisive.sum()),
            "decisive_agreement": pairwise_agreement(la[decisive], lb[decisive]),
            "cohen_kappa": cohen_kappa(_both_orientations(la), _both_orientations(lb)),
        }
    symmetric = [_both_orientations(v) for v in labels.values()]
    alpha = krippendorff_alpha(symmetric) if len(labels) > 1 else None
    return {"pairs": pairs, "krippendorff_alpha": alpha}
