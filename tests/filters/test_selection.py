"""Selection blocks from the literature: margin_quantile (BeeS-style margin selection) and rip
(RIP's rejected-answer signals). Property tests over random pair tables, plus edge cases.

    python -m pytest -q tests/filters/test_selection.py
"""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefdata.config import validate
from prefdata.errors import ConfigError
from prefdata.filters import build_filter
from prefdata.filters.margin_quantile import MarginQuantileFilterConfig
from prefdata.filters.rip import RipFilterConfig
from prefdata.stages.filter import FilterConfig

SCORE = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.5, 7.0])
ROWS = st.lists(st.tuples(SCORE, SCORE, st.integers(1, 40), st.sampled_from([False, False, False, True])),
                min_size=0, max_size=25)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _pairs(make_pairs, rows):
    """Pairs from (a, b, rejected length, margin missing) with chosen = max(a, b) + 0.25."""
    pairs = make_pairs([{"chosen_score": max(a, b) + 0.25, "rejected_score": min(a, b), "rejected": "x" * n}
                        for a, b, n, _ in rows])
    missing = pl.Series([m for *_, m in rows], dtype=pl.Boolean)
    return pairs.with_columns(pl.when(missing).then(None).otherwise(pl.col("margin")).alias("margin"))


def run(config, pairs):
    result = build_filter(config).apply(pairs)
    assert result.kept.height + result.rejects.height == pairs.height
    assert result.kept.columns == pairs.columns
    return result


@SETTINGS
@given(rows=ROWS, keep=st.sampled_from([0.1, 0.3, 0.5, 1.0]))
def test_margin_quantile_keeps_exactly_the_top_share_by_margin(make_pairs, rows, keep):
    pairs = _pairs(make_pairs, rows)
    result = run(MarginQuantileFilterConfig(keep=keep), pairs)
    finite = pairs.filter(pl.col("margin").is_not_null())
    assert result.kept.height == math.ceil(keep * finite.height)
    dropped = dict(zip(result.rejects["row_id"], result.rejects["reason"]))
    assert {p for p, r in dropped.items() if r == "missing_margin"} == set(
        pairs.filter(pl.col("margin").is_null())["pair_id"])
    below = finite.filter(pl.col("pair_id").is_in([p for p, r in dropped.items() if r == "below_margin_quantile"]))
    if result.kept.height and below.height:
        assert result.kept["margin"].min() >= below["margin"].max()
    assert run(MarginQuantileFilterConfig(keep=keep), pairs).kept.equals(result.kept)  # deterministic


def test_margin_quantile_records_the_normalized_margin_and_the_cut(make_pairs):
    pairs = make_pairs([{"chosen_score": 10, "rejected_score": s} for s in (9, 6, 2, 0)])
    result = run(MarginQuantileFilterConfig(keep=0.5), pairs)  # observed range: 0..10
    assert result.kept["pair_id"].to_list() == ["pair2", "pair3"]
    values = json.loads(result.rejects["values"][0])
    assert values == {"normalized_margin": pytest.approx(0.1), "cut_normalized_margin": pytest.approx(0.8)}


@SETTINGS
@given(rows=ROWS, q_score=st.sampled_from([None, 0.25, 0.5]), q_len=st.sampled_from([None, 0.25, 0.75]),
       q_gap=st.sampled_from([None, 0.5, 0.9]))
def test_rip_drops_exactly_the_pairs_past_a_cutoff_and_names_it(make_pairs, rows, q_score, q_len, q_gap):
    if q_score is None and q_len is None and q_gap is None:
        q_gap = 0.9
    pairs = _pairs(make_pairs, rows).with_columns(pl.col("rejected").str.len_chars().alias("_len"))
    result = run(RipFilterConfig(rejected_score_quantile=q_score, rejected_length_quantile=q_len, gap_quantile=q_gap),
                 pairs.drop("_len"))

    def cutoff(column, q):
        values = pairs[column].drop_nulls().cast(pl.Float64)
        return None if q is None or not values.len() else values.quantile(q, "linear")

    cuts = {"score": cutoff("rejected_score", q_score), "len": cutoff("_len", q_len), "gap": cutoff("margin", q_gap)}
    reasons = dict(zip(result.rejects["row_id"], result.rejects["reason"]))
    for row in pairs.iter_rows(named=True):
        fails = [reason for reason, bad in (
            ("rip_low_rejected_score", cuts["score"] is not None and row["rejected_score"] < cuts["score"]),
            ("rip_short_rejected", cuts["len"] is not None and row["_len"] < cuts["len"]),
            ("rip_large_gap", cuts["gap"] is not None and row["margin"] is not None and row["margin"] > cuts["gap"]),
        ) if bad]
        assert reasons.get(row["pair_id"]) == (fails[0] if fails else None)  # the first failing signal decides


def test_rip_uses_tokens_when_every_pair_has_them_and_keeps_the_deciding_values(make_pairs):
    pairs = make_pairs([{"rejected": "a long rejected answer", "rejected_tokens": 2},
                        {"rejected": "short", "rejected_tokens": 9}])
    result = run(RipFilterConfig(rejected_length_quantile=0.5), pairs)
    assert result.rejects["row_id"].to_list() == ["pair0"]  # 2 tokens < median 5.5 (by characters it would be pair1)
    assert json.loads(result.rejects["values"][0]) == {"rejected_length": 2.0}
    assert result.stats["rip_short_rejected_cutoff"] == 5.5


def test_rip_in_tokens_needs_token_counts(make_pairs):
    from prefdata.errors import DataError

    with pytest.raises(DataError, match="not every pair has rejected_tokens"):
        build_filter(RipFilterConfig(rejected_length_quantile=0.5, length_unit="tokens")).apply(make_pairs([{}]))


def test_selection_configs_are_checked_at_load_with_every_problem():
    with pytest.raises(ConfigError) as e:
        validate(FilterConfig, {"steps": [{"type": "rip"}, {"type": "margin_quantile", "keep": 0},
                                          {"type": "rip", "gap_quantile": 1.5}]}, "recipe.yaml")
    message = str(e.value)
    assert "rip filter has no threshold" in message and "steps.1.margin_quantile.keep" in message
    assert "steps.2.rip.gap_quantile" in message
