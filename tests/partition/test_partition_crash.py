"""A real `prefdata build` whose label, pair and filter stages run in partitions, SIGKILLed
inside the partition loops and rerun: the rerun keeps the partitions the killed run finished,
and the artifacts equal the uninterrupted run's, and the in-memory run's.

    python -m pytest -q tests/partition/test_partition_crash.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest
import yaml
from partition_data import random_labels
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.slow
STAGES = ("label", "pair", "filter", "export")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_model_dir):
    """A recipe whose prompts and candidates come in as --artifact files (no engine runs)."""
    root = tmp_path_factory.mktemp("partitioned")
    prompts, candidates, _ = random_labels(seed=11, n_prompts=600)
    for name, frame in (("prompts", prompts), ("candidates", candidates)):
        frame.write_parquet(root / f"{name}.parquet")
    (root / "prompts.jsonl").write_text('{"prompt": "unused: replaced by --artifact prompts"}\n')
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "partitioned", "seed": 3, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": 4, "models": [{"backend": "transformers", "model": str(tiny_model_dir)}]},
        "label": {"judges": [{"type": "programmatic", "id": "long", "name": "length", "params": {"prefer": "longer"}},
                             {"type": "programmatic", "id": "w1", "name": "regex", "params": {"pattern": "w1 "}}],
                  "combine": "mean"},
        "pair": {"strategy": "all_pairs", "max_pairs_per_prompt": 2},
        "filter": {"steps": [{"type": "gap", "min_margin": 0.1}, {"type": "quality"}, {"type": "dedup"},
                             {"type": "margin_quantile", "keep": 0.8}, {"type": "length"}]},
        "export": {"test_size": 0.1},
    }))
    return root, recipe


def build(inputs, run_dir, *overrides, kill_at=None):
    root, recipe = inputs
    env = {k: v for k, v in os.environ.items() if k != "PREFDATA_KILL_AT"}
    if kill_at:
        env["PREFDATA_KILL_AT"] = kill_at
    artifacts = [a for n in ("prompts", "candidates") for a in ("--artifact", f"{n}={root / n}.parquet")]
    sets = [a for o in overrides for a in ("--set", o)]
    return subprocess.run([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run_dir),
                           *artifacts, *sets], env=env, capture_output=True, text=True, timeout=600)


def artifacts(run_dir):
    """Each stage's data and rejects; the judgments in one order (in partitions they come partition by
    partition) with the aggregate rounded (each judge's scale is summed in another order)."""
    out = {s: (pl.read_parquet(run_dir / "stages" / s / "data.parquet"),
               pl.read_parquet(run_dir / "stages" / s / "rejects.parquet")) for s in STAGES}
    labels, rejects = out["label"]
    out["label"] = labels.sort("judge_id", "candidate_id").with_columns(pl.col("score").round(9)), rejects
    return out


PARTITIONED = ("label.partition_prompts=70", "pair.partition_prompts=70", "filter.partition_pairs=90")


@pytest.fixture(scope="module")
def uninterrupted(inputs, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole") / "run"
    done = build(inputs, run_dir, *PARTITIONED)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "label: partition 18/18" in done.stderr and "pair: partition 9/9" in done.stderr
    assert "filter: partition" in done.stderr
    return artifacts(run_dir)


def test_partitioned_build_equals_the_in_memory_build(inputs, uninterrupted, tmp_path):
    done = build(inputs, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    for stage, (data, rejects) in artifacts(tmp_path / "run").items():
        assert_frame_equal(uninterrupted[stage][0], data)
        assert_frame_equal(uninterrupted[stage][1], rejects)


@pytest.mark.parametrize("kill_at", ["label:partitions:13", "pair:partitions:4", "filter:pass0:3", "filter:pass3:5"])
def test_kill_9_inside_the_partitions_then_rerun_equals_uninterrupted(inputs, uninterrupted, tmp_path, kill_at):
    run_dir = tmp_path / "run"
    killed = build(inputs, run_dir, *PARTITIONED, kill_at=kill_at)
    stage = kill_at.partition(":")[0]
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (run_dir / "stages" / stage / "DONE").exists()
    assert (run_dir / "stages" / stage / "partitions").is_dir()  # killed with scratch work on disk
    rerun = build(inputs, run_dir, *PARTITIONED)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    manifest = json.loads((run_dir / "stages" / stage / "stats.json").read_text())["manifest"]
    assert json.loads(manifest["stats"])["partitions_resumed"] >= 3  # finished partitions were not redone
    got = artifacts(run_dir)
    for name in STAGES:
        assert_frame_equal(got[name][0], uninterrupted[name][0])
        assert_frame_equal(got[name][1], uninterrupted[name][1])
    assert not (run_dir / "stages" / stage / "partitions").exists()
