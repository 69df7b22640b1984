"""Aggregation (mean / majority / rank) and agreement (pairwise agreement, Cohen's kappa).

    python -m pytest -q tests/labelling/test_combine_agreement.py
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from prefdata.labelling.combine import combine, ranks_within_groups
from prefdata.labelling.agreement import (
    agreement_report,
    cohen_kappa,
    derived_pair_labels,
    krippendorff_alpha,
    pairwise_agreement,
)

GROUPS = ["p1", "p1", "p1", "p2", "p2"]


def test_rank_is_scale_free_borda():
    # Same order on very different scales -> identical Borda scores; ties share the average.
    scores = {"rm": [10.0, -3.0, 250.0, 1.0, 1.0], "exact": [0.5, 0.1, 0.9, 0.0, 0.0]}
    out = combine(GROUPS, scores, "rank")
    assert out == [0.5, 0.0, 1.0, 0.5, 0.5]


def test_rank_weights_and_missing_scores():
    scores = {"a": [3.0, 2.0, 1.0, None, 5.0], "b": [1.0, 2.0, 3.0, None, None]}
    out = combine(GROUPS, scores, "rank", weights={"a": 3.0})
    assert out[:3] == pytest.approx([0.75, 0.5, 0.25])  # (3*1 + 0) / 4, ...
    assert out[3] is None  # nobody scored it
    assert out[4] == 0.5  # scored, but alone in its prompt for judge a


def test_mean_standardises_each_judge():
    scores = {"rm": [100.0, 0.0, 50.0, 50.0, 50.0], "exact": [1.0, 0.0, 0.0, 1.0, 0.0]}
    out = combine(GROUPS, scores, "mean")
    z_rm = (np.array([100, 0, 50, 50, 50]) - 50) / np.std([100, 0, 50, 50, 50])
    z_ex = (np.array([1, 0, 0, 1, 0]) - 0.4) / np.std([1, 0, 0, 1, 0])
    assert out == pytest.approx(list((z_rm + z_ex) / 2))
    constant = combine(GROUPS, {"c": [2.0] * 5}, "mean")
    assert constant == [0.0] * 5


def test_majority_is_copeland_win_rate():
    scores = {
        "j1": [3.0, 2.0, 1.0, 1.0, 0.0],
        "j2": [3.0, 1.0, 2.0, 0.0, 1.0],
        "j3": [1.0, 2.0, 3.0, 1.0, 0.0],
    }
    out = combine(GROUPS, scores, "majority")
    # c0 beats c1 (2:1) and c2 (2:1); c1 vs c2 is 1:2 -> c2 wins.
    assert out[:3] == [1.0, 0.0, 0.5]
    assert out[3:] == [1.0, 0.0]  # 2 of 3 prefer c3
    tie = combine(["p"] * 2, {"a": [1.0, 0.0], "b": [0.0, 1.0]}, "majority")
    assert tie == [0.5, 0.5]


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown combine method"):
        combine(GROUPS, {"a": [1.0] * 5}, "median")


def test_ranks_within_groups():
    assert ranks_within_groups(GROUPS, [0.2, 0.9, 0.2, None, 1.0]) == [2, 1, 2, None, 1]


def test_derived_pairs_and_agreement():
    a = derived_pair_labels(GROUPS, [3.0, 1.0, 2.0, 1.0, 1.0])
    assert list(a) == [1.0, 1.0, -1.0, 0.0]  # (0,1) (0,2) (1,2) within p1, (3,4) within p2
    b = derived_pair_labels(GROUPS, [3.0, 2.0, None, 1.0, 0.0])
    assert np.isnan(b[1]) and np.isnan(b[2])
    assert pairwise_agreement(a, b) == 0.5  # pairs (0,1) agree, (3,4) do not
    assert pairwise_agreement([np.nan], [1.0]) is None


def test_cohen_kappa_against_hand_computation():
    a = [1, 1, 1, -1, -1, 0, 1, -1]
    b = [1, 1, -1, -1, -1, 0, 1, 1]
    p_o = 6 / 8
    p_e = (4 / 8) * (4 / 8) + (3 / 8) * (3 / 8) + (1 / 8) * (1 / 8)
    assert cohen_kappa(a, b) == pytest.approx((p_o - p_e) / (1 - p_e))
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa([1, -1, 1, -1], [-1, 1, -1, 1]) == pytest.approx(-1.0)
    assert cohen_kappa([1, 1], [1, 1]) == 1.0  # one label only: perfect, not NaN
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError, match="differ in length"):
        cohen_kappa([1, 0], [1])


def test_krippendorff_and_report():
    groups = ["p"] * 4
    same = [4.0, 3.0, 2.0, 1.0]
    report = agreement_report(groups, {"a": same, "b": same, "c": [1.0, 2.0, 3.0, 4.0]})
    assert report["pairs"]["a|b"] == {"n_pairs": 6, "agreement": 1.0, "n_decisive": 6, "decisive_agreement": 1.0,
                                      "cohen_kappa": 1.0}
    ties = agreement_report(groups, {"check": [1.0, 0.0, 0.0, 0.0], "rm": [4.0, 3.0, 2.0, 1.0]})["pairs"]["check|rm"]
    assert ties["agreement"] == 0.5 and ties["n_decisive"] == 3 and ties["decisive_agreement"] == 1.0
    assert report["pairs"]["a|c"]["agreement"] == 0.0
    assert report["pairs"]["a|c"]["cohen_kappa"] == pytest.approx(-1.0)
    assert report["krippendorff_alpha"] < 0.5  # c disagrees with a and b everywhere
    # Kappa does not depend on candidate order: reversing the candidates changes nothing.
    flipped = agreement_report(groups, {"a": same[::-1], "c": [1.0, 2.0, 3.0, 4.0][::-1]})
    assert flipped["pairs"]["a|c"]["cohen_kappa"] == pytest.approx(-1.0)
    raw = (derived_pair_labels(groups, same), derived_pair_labels(groups, [1.0, 2.0, 3.0, 4.0]))
    assert cohen_kappa(*raw) == 0.0  # one orientation only: each source is constant
    assert krippendorff_alpha([[1.0, -1.0], [1.0, -1.0]]) == pytest.approx(1.0)
    assert krippendorff_alpha([[1.0, np.nan], [np.nan, 1.0]]) is None  # no item rated twice
    assert math.isclose(agreement_report(groups, {"a": same, "b": same})["krippendorff_alpha"], 1.0)
