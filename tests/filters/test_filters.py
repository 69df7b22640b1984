"""Each filter on hand-made edge cases: the right rows go, with the right reason and values.

    python -m pytest -q tests/filters
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.config import validate
from prefdata.errors import ConfigError, DataError
from prefdata.filters import build_filter
from prefdata.filters.decontam import DecontamFilterConfig
from prefdata.filters.dedup import DedupFilterConfig
from prefdata.filters.gap import GapFilterConfig
from prefdata.filters.length import LengthFilterConfig
from prefdata.filters.quality import QualityFilterConfig
from prefdata.stages.filter import FilterConfig


def run(config, pairs):
    result = build_filter(config).apply(pairs)
    assert result.kept.height + result.rejects.height == pairs.height
    assert result.kept.columns == pairs.columns
    return result, dict(zip(result.rejects["row_id"], result.rejects["reason"]))


def test_gap_absolute_normalized_quantile(make_pairs):
    pairs = make_pairs([{"chosen_score": 5, "rejected_score": s} for s in (4.9, 4, 2, 0)])
    _, dropped = run(GapFilterConfig(min_margin=1.0), pairs)
    assert dropped == {"pair0": "low_margin"}
    _, dropped = run(GapFilterConfig(min_normalized_margin=0.5, score_range=(0, 10)), pairs)
    assert set(dropped) == {"pair0", "pair1", "pair2"}  # margins 0.1, 1, 3 of a 10-point scale
    result, dropped = run(GapFilterConfig(min_normalized_margin=0.5), pairs)  # observed scale 5
    assert dropped == {"pair0": "low_normalized_margin", "pair1": "low_normalized_margin"}
    assert json.loads(result.rejects["values"][0])["normalized_margin"] == pytest.approx(0.02)
    _, dropped = run(GapFilterConfig(min_quantile=0.5), pairs)
    assert set(dropped) == {"pair0", "pair1"}


def test_gap_swap_consistency_agreement_and_missing_margin(make_pairs):
    pairs = make_pairs([{"swap_consistency": 1.0, "agreement": 1.0}, {"swap_consistency": 0.5},
                        {"agreement": 0.4}, {}])
    _, dropped = run(GapFilterConfig(min_swap_consistency=1.0, min_agreement=0.5), pairs)
    assert dropped == {"pair1": "low_swap_consistency", "pair2": "low_agreement"}
    _, dropped = run(GapFilterConfig(min_swap_consistency=1.0, require_evidence=True), pairs)
    assert dropped == {"pair1": "low_swap_consistency", "pair2": "missing_evidence", "pair3": "missing_evidence"}
    unscored = pairs.with_columns(pl.lit(None, dtype=pl.Float64).alias("margin"))
    _, dropped = run(GapFilterConfig(min_margin=0.1), unscored)
    assert set(dropped.values()) == {"missing_margin"}


def test_gap_rejects_text_scores(make_pairs):
    pairs = make_pairs([{}]).with_columns(pl.col("margin").cast(pl.String))
    with pytest.raises(DataError, match="'margin' has type String"):
        build_filter(GapFilterConfig(min_margin=1)).apply(pairs)


def test_quality_edge_cases(make_pairs):
    loop = "I am sorry " * 20
    pairs = make_pairs([
        {"chosen": "   "},
        {"rejected_finish_reason": "length", "rejected_tokens": 512},
        {"chosen": loop},
        {"user": "Tell me about the history of Rome please", "rejected": "Tell me about the history of Rome please!"},
        {"chosen": "Same answer.", "rejected": "same answer"},
        {"chosen": "the cat sat on the mat today", "rejected": "today the cat sat on the mat"},
        {"chosen": "Rome was founded in 753 BC, by legend.", "rejected": "No idea."},
    ])
    result, dropped = run(QualityFilterConfig(), pairs)
    assert dropped == {"pair0": "empty_chosen", "pair1": "truncated_rejected", "pair2": "repetitive_chosen",
                       "pair3": "prompt_echo_rejected", "pair4": "identical_pair", "pair5": "near_identical_pair"}
    assert result.kept["pair_id"].to_list() == ["pair6"]
    _, dropped = run(QualityFilterConfig(drop_truncated=False, near_identical_jaccard=None,
                                         max_repeated_trigram_share=None), pairs)
    assert set(dropped) == {"pair0", "pair3", "pair4"}



def test_answers_empty_or_identical_as_trl_sees_them_are_dropped(make_pairs):
    # measured: the toy model answered "\x1d" to "34+43="; polars' strip_chars kept it, Python's
    # strip (TRL's data check) did not, and training stopped on the kept pair
    pairs = make_pairs([{"rejected": "\x1d"}, {"chosen": "\u200b \n"}, {"chosen": "77", "rejected": "78"},
                        {"chosen": "8", "rejected": "\n8"}])  # seed 8: same answer, half the length
    _, dropped = run(QualityFilterConfig(), pairs)
    assert dropped == {"pair0": "empty_rejected", "pair1": "empty_chosen", "pair3": "identical_pair"}


def test_length_ratio_cap_and_gap_report(make_pairs):
    pairs = make_pairs([{"chosen": "x" * 99, "rejected": "y" * 9},    # ratio 10
                        {"chosen": "x" * 19, "rejected": "y" * 19},   # 1
                        {"chosen": "x" * 9, "rejected": "y" * 99}])   # 0.1
    result, dropped = run(LengthFilterConfig(max_ratio=2.0), pairs)
    assert dropped == {"pair0": "chosen_too_long"}
    assert result.stats["length_gap_before"]["mean"] == pytest.approx(0.0)
    assert result.stats["length_gap_after"]["mean"] == pytest.approx(-45.0)
    _, dropped = run(LengthFilterConfig(max_ratio=2.0, symmetric=True), pairs)
    assert dropped == {"pair0": "chosen_too_long", "pair2": "chosen_too_short"}
    with_tokens = pairs.with_columns(pl.lit(10).alias("chosen_tokens"), pl.lit(10).alias("rejected_tokens"))
    _, dropped = run(LengthFilterConfig(max_ratio=2.0), with_tokens)  # tokens win over chars
    assert dropped == {}


def test_dedup_exact_and_near_keep_the_first_prompt(make_pairs):
    base = "How do I bake a loaf of sourdough bread at home with a starter that is five days old"
    pairs = make_pairs([
        {"prompt_id": "a", "user": base},
        {"prompt_id": "a", "user": base},                     # same prompt, second pair: kept
        {"prompt_id": "b", "user": base.upper() + "!!"},      # exact after normalization
        {"prompt_id": "c", "user": base.replace("five", "six")},  # near duplicate
        {"prompt_id": "d", "user": "What is the capital of France"},
    ])
    result, dropped = run(DedupFilterConfig(threshold=0.6), pairs)
    assert dropped == {"pair2": "duplicate_prompt", "pair3": "near_duplicate_prompt"}
    assert {json.loads(v)["duplicate_of"] for v in result.rejects["values"]} == {"a"}
    _, dropped = run(DedupFilterConfig(near=False), pairs)
    assert dropped == {"pair2": "duplicate_prompt"}


def test_decontam_drops_overlap_and_reports_missing_files(make_pairs, tmp_path):
    evals = tmp_path / "eval.jsonl"
    evals.write_text(json.dumps({"prompt": "Write a haiku about the sea at night under the full moon"}) + "\n")
    pairs = make_pairs([{"user": "Please write a haiku about the sea at night under the full moon, thanks"},
                        {"user": "What is two plus two"}])
    result, dropped = run(DecontamFilterConfig(eval_files=[evals], ngram=5), pairs)
    assert dropped == {"pair0": "contaminated"}
    assert result.stats["eval_prompts"] == 1
    txt = tmp_path / "eval.txt"
    txt.write_text("what is two plus two\n")
    _, dropped = run(DecontamFilterConfig(eval_files=[txt], ngram=13), pairs)  # short: whole-text match
    assert dropped == {"pair1": "contaminated"}
    with pytest.raises(ConfigError, match="not found: .*missing.jsonl"):
        validate(FilterConfig, {"steps": [{"type": "decontam", "eval_files": [str(tmp_path / "missing.jsonl")]}]},
                 "filters.yaml")


def test_thresholds_out_of_range_fail_at_load_with_every_problem():
    bad = {"steps": [{"type": "gap", "min_normalized_margin": 1.5}, {"type": "length", "max_ratio": 0.5},
                     {"type": "dedup", "threshold": 1.0}, {"type": "gap"}, {"type": "nope"}]}
    with pytest.raises(ConfigError) as info:
        validate(FilterConfig, bad, "filters.yaml")
    text = str(info.value)
    for needle in ("steps.0.gap.min_normalized_margin", "steps.1.length.max_ratio", "steps.2.dedup.threshold",
                   "no threshold", "steps.4"):
        assert needle in text
