"""Pair stage: invariants over random score tables (hypothesis) and hand-made edge cases.

    python -m pytest -q tests/stages/test_pair.py
"""

from __future__ import annotations

import itertools
import math

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefdata.errors import DataError
from prefdata.records import Candidate, Judgment, PairRecord, PromptRecord
from prefdata.stages.base import StageContext
from prefdata.stages.pair import PairConfig, PairStage, build_pairs
from prefdata.frames import frame

SCORES = st.sampled_from([None, math.nan, math.inf, 0.0, 0.5, 1.0, 1.0, 2.0, 3.0])


def make_tables(table: dict[str, list], *, judge="rm", judge_type="reward_model", annotators=None, ranks=False):
    """prompts/candidates/judgments frames from {prompt_id: [score or rank per candidate]}."""
    prompts, cands, judgments = [], [], []
    for pid, values in table.items():
        prompts.append(PromptRecord(prompt_id=pid, prompt=[{"role": "user", "content": f"q {pid}"}], source="t"))
        for k, value in enumerate(values):
            cid = f"{pid}:0:{k}"
            cands.append(Candidate(candidate_id=cid, prompt_id=pid, text="w " * (k + 1), model="m",
                                   backend="imported", finish_reason="stop", num_tokens=k + 1))
            for who, v in (annotators or {None: None}).items():
                label = values[k] if who is None else v[pid][k]
                judgments.append(Judgment(
                    judgment_id=f"{cid}:{who}", prompt_id=pid, candidate_id=cid, judge_id=judge,
                    judge_type=judge_type, annotator=who,
                    score=None if ranks else label, rank=label if ranks else None))
    return frame(prompts, PromptRecord), frame(cands, Candidate), frame(judgments, Judgment)


def usable(values):
    return [v for v in values if v is not None and math.isfinite(v)]


def check_invariants(table, pairs, rejects, stats, delta):
    assert pairs.columns == list(PairRecord.model_fields)
    assert (pairs["chosen_id"] != pairs["rejected_id"]).all()
    assert (pairs["chosen_score"] > pairs["rejected_score"] + delta).all(), "a pair within min_margin (or a tie)"
    assert ((pairs["chosen_score"] - pairs["rejected_score"] - pairs["margin"]).abs() < 1e-12).all()
    assert stats["prompts_in"] == len(table) == stats["prompts_paired"] + rejects.height
    assert set(pairs["prompt_id"]).isdisjoint(set(rejects["row_id"]))
    score_of = {f"{p}:0:{k}": v for p, vs in table.items() for k, v in enumerate(vs)}
    for row in pairs.iter_rows(named=True):
        assert row["chosen_score"] == score_of[row["chosen_id"]]
        assert row["rejected_score"] == score_of[row["rejected_id"]]
        assert row["label_source"] == "rm"


tables = st.dictionaries(st.sampled_from([f"p{i}" for i in range(8)]), st.lists(SCORES, max_size=5), max_size=8)
deltas = st.sampled_from([0.0, 0.5, 1.0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables, delta=deltas, strategy=st.sampled_from(["best_vs_worst", "best_vs_random_lower",
                                                             "sweet_spot", "length_matched", "all_pairs"]))
def test_pairs_never_tie_respect_margin_and_balance(table, delta, strategy):
    pairs, rejects, _, stats = build_pairs(*make_tables(table), PairConfig(strategy=strategy, min_margin=delta))
    check_invariants(table, pairs, rejects, stats, delta)
    for pid, values in table.items():
        good = usable(values)
        mine = pairs.filter(pl.col("prompt_id") == pid)
        could_pair = bool(good) and max(good) - min(good) > delta
        assert (mine.height > 0) == could_pair
        if strategy == "all_pairs":
            expected = sum(1 for a, b in itertools.permutations(good, 2) if a - b > delta)
            assert mine.height == expected
        elif could_pair:
            assert mine.height == 1 and mine["chosen_score"][0] == max(good)
            if strategy == "best_vs_worst":
                assert mine["rejected_score"][0] == min(good)
            if strategy == "sweet_spot":  # nearest mean - 2 std (population) among the lower-by-delta ones
                spot = sum(good) / len(good) - 2 * math.sqrt(sum((v - sum(good) / len(good)) ** 2 for v in good)
                                                             / len(good))
                lower = [v for v in good if max(good) - v > delta]
                best = min(abs(v - spot) for v in lower)
                assert abs(abs(mine["rejected_score"][0] - spot) - best) < 1e-9


def test_sweet_spot_picks_the_rejected_near_mean_minus_two_std_not_the_outlier():
    # mean 6.0, std 3.52 (population): mean - 2 std = -1.04 -> the 0.0 outlier is nearest
    pairs, *_ = build_pairs(*make_tables({"p": [10.0, 6.0, 5.0, 9.0, 0.0]}), PairConfig(strategy="sweet_spot"))
    assert pairs["rejected_score"].to_list() == [0.0]
    # 16 candidates at 8-10 and two low ones: mean - 2 std = 4.03 -> 5.0, not the worst (1.0)
    scores = [8.0] * 8 + [9.0] * 7 + [10.0, 5.0, 1.0]
    pairs, *_ = build_pairs(*make_tables({"q": scores}), PairConfig(strategy="sweet_spot"))
    assert pairs["chosen_score"].to_list() == [10.0] and pairs["rejected_score"].to_list() == [5.0]


@settings(max_examples=40, deadline=None)
@given(ranks=st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=5), min_size=1, max_size=5))
def test_ranking_expands_into_every_ordered_pair(ranks):
    table = {f"p{i}": r for i, r in enumerate(ranks)}
    pairs, rejects, _, stats = build_pairs(*make_tables(table, ranks=True), PairConfig(strategy="ranking"))
    assert stats["prompts_in"] == stats["prompts_paired"] + rejects.height
    for pid, r in table.items():
        mine = pairs.filter(pl.col("prompt_id") == pid)
        expected = {(f"{pid}:0:{i}", f"{pid}:0:{j}") for i, j in itertools.permutations(range(len(r)), 2)
                    if r[i] < r[j]}
        assert set(zip(mine["chosen_id"], mine["rejected_id"])) == expected
        rank_of = {f"{pid}:0:{i}": v for i, v in enumerate(r)}
        for c, rej, margin, score in mine.select("chosen_id", "rejected_id", "margin", "chosen_score").iter_rows():
            assert margin == rank_of[rej] - rank_of[c] and score == -rank_of[c]  # scores are -rank


def test_reasons_for_prompts_without_pairs():
    table = {"ok": [1.0, 3.0], "tie": [2.0, 2.0], "one": [1.0], "none": [], "nan": [math.nan, 1.0],
             "missing": [None, 1.0], "close": [1.0, 1.2]}
    pairs, rejects, cand_rejects, stats = build_pairs(*make_tables(table), PairConfig(min_margin=0.5))
    assert dict(zip(rejects["row_id"], rejects["reason"])) == {
        "tie": "tie", "one": "too_few_candidates", "none": "no_candidates", "nan": "invalid_score",
        "missing": "missing_score", "close": "below_margin"}
    assert pairs["prompt_id"].to_list() == ["ok"]
    assert sorted(cand_rejects["reason"]) == ["invalid_score", "missing_score"]
    assert stats["candidates_invalid_score"] == 1 and stats["candidates_missing_score"] == 1


def test_annotators_aggregate_and_per_annotator_agreement():
    votes = {"a": {"p": [3.0, 1.0, 2.0]}, "b": {"p": [3.0, 2.0, 1.0]}, "c": {"p": [1.0, 2.0, 3.0]}}
    tables = make_tables({"p": [0, 0, 0]}, judge="humans", judge_type="human", annotators=votes)
    pairs, *_ = build_pairs(*tables, PairConfig(strategy="best_vs_worst"))
    # means: c0 = 7/3, c1 = 5/3, c2 = 2 -> best c0, worst c1; annotators a, b prefer c0 over c1, c does not
    assert pairs["chosen_id"].to_list() == ["p:0:0"] and pairs["rejected_id"].to_list() == ["p:0:1"]
    assert pairs["agreement"][0] == pytest.approx(2 / 3)
    assert pairs["provenance"].to_list() == ["human"] and stats_provenance(tables) == {"human": 1, "judges": 0, "both": 0}
    per, *_ = build_pairs(*tables, PairConfig(strategy="best_vs_worst", annotators="per_annotator"))
    assert sorted(per["label_source"]) == ["humans:a", "humans:b", "humans:c"]
    assert per.filter(pl.col("label_source") == "humans:c")["chosen_id"].to_list() == ["p:0:2"]


def stats_provenance(tables) -> dict:
    *_, stats = build_pairs(*tables, PairConfig(strategy="best_vs_worst"))
    return stats["provenance"]


def test_every_pair_says_who_decided_it():
    tables = make_tables({"p": [1.0, 2.0, 3.0], "q": [0.5, 0.1]})
    pairs, *_ = build_pairs(*tables, PairConfig(strategy="best_vs_worst"))
    assert pairs["provenance"].to_list() == ["judges", "judges"]
    assert stats_provenance(tables) == {"human": 0, "judges": 2, "both": 0}


def test_label_source_defaults_and_errors():
    prompts, cands, judgments = make_tables({"p": [1.0, 2.0]})
    other = judgments.with_columns(pl.lit("llm").alias("judge_id"), pl.col("score") * -1)
    both = pl.concat([judgments, other])
    with pytest.raises(DataError, match="several judges"):
        build_pairs(prompts, cands, both, PairConfig())
    pairs, *_ = build_pairs(prompts, cands, both, PairConfig(label_source="llm"))
    assert pairs["chosen_id"].to_list() == ["p:0:0"]
    agg = judgments.with_columns(pl.lit("avg").alias("judge_id"), pl.lit("aggregate").alias("judge_type"))
    pairs, _, _, stats = build_pairs(prompts, cands, pl.concat([both, agg]), PairConfig())
    assert stats["label_source"] == "avg"
    with pytest.raises(DataError, match="not among the judges"):
        build_pairs(prompts, cands, both, PairConfig(label_source="nope"))


def test_text_scores_are_a_clear_error():
    prompts, cands, judgments = make_tables({"p": [1.0, 2.0]})
    bad = judgments.with_columns(pl.col("score").cast(pl.String))
    with pytest.raises(DataError, match="'score' has type String"):
        build_pairs(prompts, cands, bad, PairConfig())


def test_swap_consistency_travels_with_the_pair():
    prompts, cands, judgments = make_tables({"p": [1.0, 2.0]})
    judgments = judgments.with_columns(pl.Series("swap_consistent", [True, False]))
    pairs, *_ = build_pairs(prompts, cands, judgments, PairConfig())
    assert pairs["swap_consistency"][0] == pytest.approx(0.5)


def test_stage_writes_candidate_ledger(tmp_path):
    prompts, cands, judgments = make_tables({"p": [1.0, None, 2.0]})
    ctx = StageContext(run_dir=tmp_path, stage_dir=tmp_path / "pair", seed=3)
    out = PairStage(PairConfig(strategy="best_vs_random_lower")).run(
        {"prompts": prompts, "candidates": cands, "judgments": judgments}, ctx)
    assert out.rows_in == 1 and out.rows_kept == 1 and out.rejects.height == 0
    ledger = pl.read_parquet(tmp_path / "pair" / "candidate_rejects.parquet")
    assert ledger["row_id"].to_list() == ["p:0:1"]


@pytest.mark.parametrize("strategy", ["best_vs_worst", "all_pairs"])
def test_same_inputs_give_identical_pairs_in_the_same_order(strategy):
    # Row order decides the artifact hash (later stages' keys) and the training order.
    table = {f"p{i:04d}": [float((i * 7 + k * 3) % 5) for k in range(4)] for i in range(3000)}
    tables = make_tables(table)
    config = PairConfig(strategy=strategy)
    first, rejects_first, _, _ = build_pairs(*tables, config)
    for _ in range(3):
        again, rejects_again, _, _ = build_pairs(*tables, config)
        assert again.equals(first) and rejects_again.equals(rejects_first)


def test_judgments_of_unknown_candidates_are_counted_orphans():
    prompts, cands, judgments = make_tables({"p": [0.0, 1.0]})
    stale = judgments.head(1).with_columns(pl.lit("stale").alias("judgment_id"), pl.lit("p:0:7").alias("candidate_id"))
    pairs, _, candidate_drops, stats = build_pairs(prompts, cands, pl.concat([judgments, stale]), PairConfig())
    assert pairs.height == 1 and stats["orphan_judgments"] == 1
    orphan = candidate_drops.filter(pl.col("reason") == "orphan_judgment")
    assert orphan["row_id"].to_list() == ["stale"] and "p:0:7" in orphan["values"][0]


BAD_STRATEGY = '''
import polars as pl
from pydantic import BaseModel

from prefdata.pairing.strategy import PairingStrategy


class Everything(PairingStrategy):
    """Every ordered pair, self-pairs included, with made-up scores."""

    class Config(BaseModel):
        pass

    def pairs(self, values, min_margin, seed):
        ids = values.select("prompt_id", "candidate_id")
        both = ids.join(ids.rename({"candidate_id": "rejected_id"}), on="prompt_id").rename({"candidate_id": "chosen_id"})
        return both.with_columns(pl.lit(9.0).alias("chosen_score"), pl.lit(0.0).alias("rejected_score"))
'''


def test_a_strategy_of_ones_own_cannot_make_ties_self_pairs_or_inverted_pairs(tmp_path, monkeypatch):
    (tmp_path / "bad_pairing.py").write_text(BAD_STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    prompts, cands, judgments = make_tables({"p1": [1.0, 2.0, 2.0, 3.0], "p2": [0.5, 0.5]})
    pairs, rejects, _, stats = build_pairs(prompts, cands, judgments,
                                           PairConfig.model_validate({"strategy": "bad_pairing:Everything"}))
    assert stats["strategy"] == "bad_pairing:Everything"
    # the labels' scores, not the strategy's 9.0 / 0.0: only the 5 pairs with a real gap survive
    assert sorted(zip(pairs["chosen_id"], pairs["rejected_id"])) == [
        ("p1:0:1", "p1:0:0"), ("p1:0:2", "p1:0:0"), ("p1:0:3", "p1:0:0"), ("p1:0:3", "p1:0:1"), ("p1:0:3", "p1:0:2")]
    assert (pairs["margin"] > 0).all() and set(rejects["row_id"]) == {"p2"}


def test_every_pair_statistic_declares_how_it_combines_over_partitions():
    from prefdata.ledger import combine_stats
    from prefdata.pairing.build import PAIR_STATS

    tables = make_tables({"p": [1.0, 2.0, 3.0], "q": [0.5, 0.1], "r": [1.0, 1.0]})
    *_, stats = build_pairs(*tables, PairConfig(strategy="best_vs_worst"))
    assert set(stats) <= set(PAIR_STATS)
    both = combine_stats([stats, stats], PAIR_STATS, {"margin": "all rows"})
    assert both["pairs"] == 2 * stats["pairs"] and both["provenance"]["judges"] == 2 * stats["provenance"]["judges"]
    assert both["label_source"] == stats["label_source"] and both["margin"] == "all rows"
    with pytest.raises(AssertionError, match="'label_source' differs between partitions"):
        combine_stats([stats, {**stats, "label_source": "other"}], PAIR_STATS)
    with pytest.raises(AssertionError, match=r"without a combine rule: \['new_count'\]"):
        combine_stats([{**stats, "new_count": 1}], PAIR_STATS)


def test_complete_only_pairs_the_best_complete_answers_and_says_which_were_cut():
    prompts, cands, judgments = make_tables({"p1": [1.0, 0.0, 0.5], "p2": [1.0, 0.0], "p3": [0.0, 1.0]})
    cut = {"p1:0:0", "p2:0:1"}  # p1's best and p2's worst answer ran into max_tokens
    cands = cands.with_columns(pl.when(pl.col("candidate_id").is_in(list(cut))).then(pl.lit("length"))
                               .otherwise(pl.col("finish_reason")).alias("finish_reason"))
    pairs, rejects, drops, stats = build_pairs(prompts, cands, judgments, PairConfig())
    assert set(pairs["chosen_id"]) == {"p1:0:0", "p2:0:0", "p3:0:1"}  # by default a cut answer pairs as any other
    pairs, rejects, drops, stats = build_pairs(prompts, cands, judgments, PairConfig(complete_only=True))
    assert dict(zip(pairs["prompt_id"], zip(pairs["chosen_id"], pairs["rejected_id"]))) == {
        "p1": ("p1:0:2", "p1:0:1"), "p3": ("p3:0:1", "p3:0:0")}
    assert dict(zip(rejects["row_id"], rejects["reason"])) == {"p2": "truncated"}
    assert set(drops.filter(pl.col("reason") == "truncated")["row_id"]) == cut
    assert stats["candidates_truncated"] == 2 and stats["prompts_in"] == stats["prompts_paired"] + rejects.height
