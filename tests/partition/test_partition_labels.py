"""The label stage in partitions equals the in-memory label stage: the same judgments, rejects
and statistics, with programmatic, pairwise and reward-model judges and every combine method.

    python -m pytest -q tests/partition/test_partition_labels.py
"""

from __future__ import annotations

import polars as pl
import pytest
from partition_data import random_labels
from polars.testing import assert_frame_equal

from prefdata.stages.base import StageContext
from prefdata.stages.label import LabelConfig, LabelStage

VARYING = ("partitions", "partitions_resumed")  # how the work was cut, not what it found
SHARDING = ("shards", "shards_resumed")  # a model judge's shards are cut per partition


def judges(reward_model):
    return [
        {"type": "programmatic", "id": "long", "name": "length", "params": {"prefer": "longer"}},
        {"type": "programmatic", "id": "w1", "name": "regex", "params": {"pattern": "w1"}},
        {"type": "programmatic", "id": "ab", "mode": "pairwise", "function": "prefdata.demo.task:position_biased_preference"},
        {"type": "reward_model", "id": "rm", "path": str(reward_model), "batch_size": 8},
    ]


def run_label(tmp_path, frames, key=None, **config):
    stage_dir = tmp_path / "stage"
    stage_dir.mkdir(parents=True, exist_ok=True)
    out = LabelStage(LabelConfig.model_validate(config)).run(
        dict(zip(("prompts", "candidates"), frames)),
        StageContext(run_dir=tmp_path, stage_dir=stage_dir, seed=3, key=key))
    data = out.frame()
    return out, data.sort("judge_id", "candidate_id")


def rounded(value, digits: int = 9):
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    return round(value, digits) if isinstance(value, float) else value


def judge_stats(stats):
    return {j: {k: v for k, v in s.items() if k not in SHARDING} for j, s in stats["judges"].items()}


@pytest.fixture(scope="module")
def frames():
    prompts, candidates, _ = random_labels(seed=5, n_prompts=40)
    return prompts.with_columns(pl.col("prompt_id").str.slice(0, 2).alias("reference")), candidates


@pytest.mark.parametrize("combine", ["mean", "rank", "majority"])
def test_partitioned_labels_equal_the_one_partition_labels(tmp_path, frames, tiny_reward_model_dir, combine):
    config = {"judges": judges(tiny_reward_model_dir), "combine": combine, "shard_size": 16}
    whole, whole_data = run_label(tmp_path / "whole", frames, **config)
    parts, parts_data = run_label(tmp_path / "parts", frames, partition_prompts=6, **config)
    assert parts.stats["partitions"] == 7 and whole_data.height == 5 * 160
    model = pl.col("judge_id").is_in(["rm", "aggregate"])
    assert_frame_equal(parts_data.filter(~model), whole_data.filter(~model))
    # A reward model's score depends slightly on its batch's padding, and partitions batch other
    # candidates together (as for diversity's embeddings): equal to 5 digits, raw logits aside.
    assert_frame_equal(parts_data.filter(model).drop("raw_output"), whole_data.filter(model).drop("raw_output"),
                       check_exact=False, rel_tol=1e-5, abs_tol=1e-5)
    assert_frame_equal(parts.rejects, whole.rejects)
    assert parts.rejects["reason"].to_list() == ["unknown_prompt"] * 4
    assert (parts.rows_in, parts.rows_kept) == (whole.rows_in, whole.rows_kept) == (164, 160)
    assert judge_stats(parts.stats) == judge_stats(whole.stats)
    assert parts.stats["judges"]["rm"]["shards"] >= 7  # the model judge labelled in shards, partition by partition
    same = {k: v for k, v in parts.stats.items() if k not in (*VARYING, "judges", "pairwise_judgments")}
    # alpha sums the same terms in another order
    assert rounded(same) == rounded({k: v for k, v in whole.stats.items()
                                     if k not in (*VARYING, "judges", "pairwise_judgments")})
    assert (whole.stats["partitions"], whole.stats["partitions_resumed"]) == (1, 0)
    assert same["agreement"]["pairs"]["long|w1"]["n_pairs"] > 0
    assert_frame_equal(*(pl.read_parquet(o.stats["pairwise_judgments"]["file"]).sort("judgment_id")
                         for o in (parts, whole)))
    assert not (tmp_path / "parts" / "stage" / "partitions").exists()
