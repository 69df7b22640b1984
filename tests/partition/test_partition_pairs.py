"""The pair stage in partitions equals its one-partition case (the input in memory), locally and
on a real Ray cluster.

    python -m pytest -q tests/partition/test_partition_pairs.py
"""

from __future__ import annotations

import polars as pl
import pytest
from partition_data import random_labels
from polars.testing import assert_frame_equal

from prefdata.stages.base import StageContext
from prefdata.stages.pair import PairConfig, PairStage


def run_pair(tmp_path, frames, **config):
    stage_dir = tmp_path / "stage"
    stage_dir.mkdir(parents=True, exist_ok=True)
    out = PairStage(PairConfig(**config)).run(dict(zip(("prompts", "candidates", "judgments"), frames)),
                                              StageContext(run_dir=tmp_path, stage_dir=stage_dir, seed=3))
    data = out.frame()
    drops = stage_dir / "candidate_rejects.parquet"
    return out, data, pl.read_parquet(drops) if drops.is_file() else None


@pytest.mark.parametrize("strategy,annotators", [
    ("best_vs_worst", 1), ("best_vs_random_lower", 1), ("sweet_spot", 1), ("length_matched", 1), ("all_pairs", 1),
    ("best_vs_worst", 3),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_partitioned_pairs_equal_the_in_memory_pairs(tmp_path, strategy, annotators, seed):
    frames = random_labels(seed=seed, n_prompts=80, annotators=annotators)
    config = {"strategy": strategy, "max_pairs_per_prompt": 3 if strategy == "all_pairs" else None}
    whole, whole_data, whole_drops = run_pair(tmp_path / "whole", frames, **config)
    parts, parts_data, parts_drops = run_pair(tmp_path / "parts", frames, partition_prompts=7, **config)
    assert whole_data.height > 20 and (parts.stats["partitions"], whole.stats["partitions"]) == (12, 1)
    assert_frame_equal(parts_data, whole_data)
    assert_frame_equal(parts.rejects, whole.rejects)
    assert_frame_equal(parts_drops, whole_drops)
    assert {k: v for k, v in parts.stats.items() if k != "partitions"} == \
        {k: v for k, v in whole.stats.items() if k != "partitions"}
    assert (parts.rows_in, parts.rows_kept) == (whole.rows_in, whole.rows_kept)
    assert set(whole.rejects["reason"]) >= {"no_candidates", "unknown_prompt"}
    assert not (tmp_path / "parts" / "stage" / "partitions").exists()


def test_per_annotator_pairs_partition_too(tmp_path):
    frames = random_labels(seed=2, n_prompts=40, annotators=3)
    whole, whole_data, _ = run_pair(tmp_path / "whole", frames, annotators="per_annotator")
    parts, parts_data, _ = run_pair(tmp_path / "parts", frames, annotators="per_annotator", partition_prompts=5)
    assert_frame_equal(parts_data, whole_data)
    assert_frame_equal(parts.rejects, whole.rejects)


def test_prompt_ids_that_break_the_key_order_are_sorted_at_the_end(tmp_path):
    """Candidate ids that do not start with `prompt_id:` still give pairs in pair_id order."""
    prompts, candidates, judgments = random_labels(seed=4, n_prompts=30)
    rename = pl.col("candidate_id").str.replace(r"^(p\d+):", "z${1}-")
    candidates, judgments = candidates.with_columns(rename), judgments.with_columns(rename)
    whole, whole_data, _ = run_pair(tmp_path / "whole", (prompts, candidates, judgments))
    parts, parts_data, _ = run_pair(tmp_path / "parts", (prompts, candidates, judgments), partition_prompts=4)
    assert_frame_equal(parts_data, whole_data)


def test_partitions_run_as_ray_data_tasks_with_the_same_result(tmp_path, ray_cluster):
    frames = random_labels(seed=5, n_prompts=50)
    whole, whole_data, _ = run_pair(tmp_path / "whole", frames)
    parts, parts_data, _ = run_pair(tmp_path / "ray", frames, partition_prompts=10, executor="ray")
    assert parts.stats["partitions"] == 6
    assert_frame_equal(parts_data, whole_data)
    assert_frame_equal(parts.rejects, whole.rejects)
