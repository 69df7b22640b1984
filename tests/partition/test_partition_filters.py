"""The filter stage over partitions of the pairs equals the in-memory filter stage: the kept
pairs, the rejects ledger (row order), the funnel and its statistics; locally and on Ray.

    python -m pytest -q tests/partition/test_partition_filters.py
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from partition_data import random_labels
from polars.testing import assert_frame_equal

from prefdata.stages.base import StageContext
from prefdata.stages.filter import FilterConfig, FilterStage
from prefdata.stages.pair import PairConfig, build_pairs

ROW_AND_NARROW = [
    {"type": "gap", "min_margin": 0.1},
    {"type": "quality"},
    {"type": "gap", "min_quantile": 0.2},
    {"type": "length", "max_ratio": 3.0},
    {"type": "gap", "min_normalized_margin": 0.05},
    {"type": "rip", "rejected_score_quantile": 0.1, "rejected_length_quantile": 0.1, "gap_quantile": 0.95},
    {"type": "margin_quantile", "keep": 0.8},
]


@pytest.fixture(scope="module")
def pairs():
    """all_pairs: several pairs per prompt, so prompts span partition boundaries."""
    prompts, candidates, judgments = random_labels(seed=7, n_prompts=120)
    data = build_pairs(prompts, candidates, judgments, PairConfig(strategy="all_pairs"))[0]
    return data.sample(fraction=1.0, shuffle=True, seed=1)  # not in prompt order: duplicates come first or later


def run_filter(tmp_path, pairs, steps, in_place=True, **config):
    """The stage as the runner runs it: a scan of the pairs artifact, and its file (read partition by
    partition in place); `in_place=False`: a scan only (partitions copied to scratch first)."""
    stage_dir = tmp_path / "stage"
    stage_dir.mkdir(parents=True, exist_ok=True)
    artifact = tmp_path / "pairs.parquet"
    pairs.write_parquet(artifact, row_group_size=16)  # partitions start inside row groups
    out = FilterStage(FilterConfig.model_validate({"steps": steps, **config})).run(
        {"pairs": pl.scan_parquet(artifact)},
        StageContext(run_dir=tmp_path, stage_dir=stage_dir, input_files={"pairs": artifact} if in_place else {}))
    data = out.frame()
    return out, data


def assert_same(whole, whole_data, parts, parts_data):
    assert_frame_equal(parts_data, whole_data)
    assert_frame_equal(parts.rejects, whole.rejects)
    assert (parts.rows_in, parts.rows_kept) == (whole.rows_in, whole.rows_kept)
    drop_seconds = lambda funnel: [{k: v for k, v in step.items() if k != "seconds"} for step in funnel]  # noqa: E731
    assert json.loads(json.dumps(drop_seconds(parts.stats["funnel"]), default=float)) == \
        json.loads(json.dumps(drop_seconds(whole.stats["funnel"]), default=float))
    for key in ("length_gap_before", "length_gap_after", "dropped"):
        assert parts.stats[key] == whole.stats[key]


def test_per_pair_and_quantile_steps_equal_in_memory(tmp_path, pairs):
    whole, whole_data = run_filter(tmp_path / "whole", pairs, ROW_AND_NARROW)
    parts, parts_data = run_filter(tmp_path / "parts", pairs, ROW_AND_NARROW, partition_pairs=37)
    assert parts.stats["partitions"] == -(-pairs.height // 37) and whole_data.height < pairs.height
    assert len(set(whole.rejects["reason"])) >= 6
    assert_same(whole, whole_data, parts, parts_data)
    assert not (tmp_path / "parts" / "stage" / "partitions").exists()


def test_exact_and_near_dedup_equal_in_memory(tmp_path, pairs):
    steps = [{"type": "dedup", "threshold": 0.7}, {"type": "quality"}, {"type": "dedup", "near": False}]
    whole, whole_data = run_filter(tmp_path / "whole", pairs, steps)
    parts, parts_data = run_filter(tmp_path / "parts", pairs, steps, partition_pairs=29)
    dropped = whole.stats["funnel"][0]["dropped"]
    assert dropped["duplicate_prompt"] > 5 and dropped["near_duplicate_prompt"] > 5  # planted in the data
    assert_same(whole, whole_data, parts, parts_data)


def test_decontam_and_a_first_global_step(tmp_path, pairs):
    evals = tmp_path / "evals.jsonl"
    texts = pairs["prompt"].list.last().struct.field("content").unique().sort().head(5).to_list()
    evals.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts))
    steps = [{"type": "margin_quantile", "keep": 0.9}, {"type": "decontam", "eval_files": [str(evals)], "ngram": 4}]
    whole, whole_data = run_filter(tmp_path / "whole", pairs, steps)
    parts, parts_data = run_filter(tmp_path / "parts", pairs, steps, partition_pairs=50)
    assert whole.stats["funnel"][1]["dropped"].get("contaminated", 0) > 0
    assert_same(whole, whole_data, parts, parts_data)
    parts, parts_data = run_filter(tmp_path / "copied", pairs, steps, in_place=False, partition_pairs=50)
    assert_same(whole, whole_data, parts, parts_data)


def test_diversity_embeds_per_slice_and_selects_globally(tmp_path, pairs, embedder):
    """Same pairs and reasons; a cosine may differ in the 7th digit, as a text's embedding
    depends slightly on the padding of the batch it was embedded in."""
    steps = [{"type": "diversity", "max_cosine": 0.97, "budget": 150}]
    whole, whole_data = run_filter(tmp_path / "whole", pairs, steps)
    parts, parts_data = run_filter(tmp_path / "parts", pairs, steps, partition_pairs=64)
    assert set(whole.stats["dropped"]) == {"semantic_duplicate", "over_budget"}
    assert_frame_equal(parts_data, whole_data)
    assert_frame_equal(parts.rejects.drop("values"), whole.rejects.drop("values"))
    decoded = [[json.loads(v) if v else {} for v in out.rejects["values"]] for out in (whole, parts)]
    for w, p in zip(*decoded):
        assert w.get("duplicate_of") == p.get("duplicate_of")
        assert abs(w.get("cosine", 0.0) - p.get("cosine", 0.0)) < 1e-5


def test_slices_run_as_ray_data_tasks_with_the_same_result(tmp_path, pairs, ray_cluster):
    steps = [*ROW_AND_NARROW[:3], {"type": "dedup"}]
    whole, whole_data = run_filter(tmp_path / "whole", pairs, steps)
    parts, parts_data = run_filter(tmp_path / "ray", pairs, steps, partition_pairs=80, executor="ray")
    assert_same(whole, whole_data, parts, parts_data)


@pytest.mark.parametrize("steps", [[], [{"type": "gap", "min_margin": 100.0}, {"type": "dedup"}],
                                   [{"type": "dedup"}, {"type": "margin_quantile", "keep": 0.5}]])
def test_no_steps_everything_dropped_and_two_global_steps_in_a_row(tmp_path, pairs, steps):
    whole, whole_data = run_filter(tmp_path / "whole", pairs, steps)
    parts, parts_data = run_filter(tmp_path / "parts", pairs, steps, partition_pairs=100)
    assert_same(whole, whole_data, parts, parts_data)
