"""Agreement between Argilla annotators, and between a judge and the annotators.

    from prefdata.argilla.agreement import annotator_agreement, judge_vs_human
    annotator_agreement({"alice": {"p1/c1": 1, "p1/c2": 2}, "bob": {"p1/c1": 2, "p1/c2": 1}})
    # {"annotators": [...], "n_items": 2, "krippendorff_alpha": ..., "pairwise": {"alice|bob": {...}}}

Argilla 2.x has no agreement metrics, so pull computes them. An *item* is one candidate
of one prompt; its value is the rank an annotator gave it (ranking) or its rating. Alpha is
Krippendorff's ordinal alpha over all annotators (missing answers allowed); kappa is
unweighted Cohen's kappa per two annotators on the items both labelled. The math lives
in prefdata/labelling/agreement.py (shared with the label stage's inter-judge report); judge
vs human compares derived pairs (which of two candidates is better) the same way.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from prefdata.labelling.combine import group_indices
from prefdata.labelling.agreement import agreement_report, cohen_kappa, krippendorff_alpha, pairwise_agreement


def _clean(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def annotator_agreement(values: dict[str, dict[str, float]], level: str = "ordinal") -> dict:
    """values: annotator -> {item: rank or rating}. Alpha over all, kappa per pair of annotators."""
    annotators = sorted(values)
    items = sorted({item for v in values.values() for item in v})
    matrix = np.array([[values[a].get(i, np.nan) for i in items] for a in annotators], dtype=float)
    pairwise = {}
    for (ia, a), (ib, b) in itertools.combinations(enumerate(annotators), 2):
        both = ~(np.isnan(matrix[ia]) | np.isnan(matrix[ib]))
        pairwise[f"{a}|{b}"] = {
            "n_items": int(both.sum()),
            "agreement": _clean(pairwise_agreement(matrix[ia], matrix[ib])),
            "cohen_kappa": _clean(cohen_kappa(matrix[ia], matrix[ib])),
        }
    multi = int((np.sum(~np.isnan(matrix), axis=0) >= 2).sum()) if len(annotators) else 0
    return {
        "annotators": annotators,
        "n_items": len(items),
        "n_items_multi_annotated": multi,
        "level": level,
        "krippendorff_alpha": _clean(krippendorff_alpha(matrix, level=level)) if len(annotators) > 1 else None,
        "pairwise": pairwise,
    }


def judge_vs_human(groups: list[str], judge: list[float | None], human: list[float | None], judge_id: str) -> dict:
    """Derived-pair agreement of a judge's scores with the annotators' aggregated scores."""
    report = agreement_report(groups, {judge_id: judge, "human": human})
    pair = report["pairs"][f"{judge_id}|human"]
    top1 = _top1_agreement(groups, judge, human)
    return {
        "judge_id": judge_id,
        "n_pairs": pair["n_pairs"],
        "pair_agreement": _clean(pair["agreement"]),
        "cohen_kappa": _clean(pair["cohen_kappa"]),
        "top1_agreement": top1,
    }


def _top1_agreement(groups: list[str], judge: list[float | None], human: list[float | None]) -> float | None:
    """Share of prompts whose single best candidate is the same for the judge and the humans."""
    hits = total = 0
    for idx in group_indices(groups):
        if any(judge[i] is None or human[i] is None for i in idx) or len(idx) < 2:
            continue
        best_j = [i for i in idx if judge[i] == max(judge[k] for k in idx)]
        best_h = [i for i in idx if human[i] == max(human[k] for k in idx)]
        if len(best_j) == 1 and len(best_h) == 1:  # ties have no single best
            total += 1
            hits += best_j == best_h
    return round(hits / total, 6) if total else None
