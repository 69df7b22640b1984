"""A real `prefdata build` whose pair and filter stages run in partitions, SIGKILLed inside
the partition loops and rerun: the artifacts equal the uninterrupted run's, and the
in-memory run's.

    python -m pytest -q tests/partition/test_partition_crash.py
"""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest
import yaml
from partition_data import random_labels
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.slow
STAGES = ("pair", "filter")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_model_dir):
    """A recipe whose prompts, candidates and labels come in as --artifact files (no engine runs)."""
    root = tmp_path_factory.mktemp("partitioned")
    prompts, candidates, judgments = random_labels(seed=11, n_prompts=600)
    for name, frame in (("prompts", prompts), ("candidates", candidates), ("judgments", judgments)):
        frame.write_parquet(root / f"{name}.parquet")
    (root / "prompts.jsonl").write_text('{"prompt": "unused: replaced by --artifact prompts"}\n')
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "partitioned", "seed": 3, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": 4, "models": [{"backend": "transformers", "model": str(tiny_model_dir)}]},
        "label": {"judges": [{"type": "programmatic", "id": "rm", "name": "exact_match"}]},
        "pair": {"strategy": "all_pairs", "max_pairs_per_prompt": 2},
        "filter": {"steps": [{"type": "gap", "min_margin": 0.1}, {"type": "quality"}, {"type": "dedup"},
                             {"type": "margin_quantile", "keep": 0.8}, {"type": "length"}]},
    }))
    return root, recipe


def build(inputs, run_dir, *overrides, kill_at=None):
    root, recipe = inputs
    env = {k: v for k, v in os.environ.items() if k != "PREFDATA_KILL_AT"}
    if kill_at:
        env["PREFDATA_KILL_AT"] = kill_at
    artifacts = [a for n in ("prompts", "candidates", "judgments") for a in ("--artifact", f"{n}={root / n}.parquet")]
    sets = [a for o in overrides for a in ("--set", o)]
    return subprocess.run([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run_dir),
                           *artifacts, *sets], env=env, capture_output=True, text=True, timeout=600)


def artifacts(run_dir):
    return {s: (pl.read_parquet(run_dir / "stages" / s / "data.parquet"),
                pl.read_parquet(run_dir / "stages" / s / "rejects.parquet")) for s in STAGES}


PARTITIONED = ("pair.partition_prompts=70", "filter.partition_pairs=90")


@pytest.fixture(scope="module")
def uninterrupted(inputs, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole") / "run"
    done = build(inputs, run_dir, *PARTITIONED)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pair: partition 9/9" in done.stderr and "filter: partition" in done.stderr
    return artifacts(run_dir)


def test_partitioned_build_equals_the_in_memory_build(inputs, uninterrupted, tmp_path):
    done = build(inputs, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    for stage, (data, rejects) in artifacts(tmp_path / "run").items():
        assert_frame_equal(uninterrupted[stage][0], data)
        assert_frame_equal(uninterrupted[stage][1], rejects)


@pytest.mark.parametrize("kill_at", ["pair:partitions:4", "filter:pass0:3", "filter:pass3:5"])
def test_kill_9_inside_the_partitions_then_rerun_equals_uninterrupted(inputs, uninterrupted, tmp_path, kill_at):
    run_dir = tmp_path / "run"
    killed = build(inputs, run_dir, *PARTITIONED, kill_at=kill_at)
    stage = kill_at.partition(":")[0]
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (run_dir / "stages" / stage / "DONE").exists()
    assert (run_dir / "stages" / stage / "partitions").is_dir()  # killed with scratch work on disk
    rerun = build(inputs, run_dir, *PARTITIONED)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    got = artifacts(run_dir)
    for name in STAGES:
        assert_frame_equal(got[name][0], uninterrupted[name][0])
        assert_frame_equal(got[name][1], uninterrupted[name][1])
    assert not (run_dir / "stages" / stage / "partitions").exists()
