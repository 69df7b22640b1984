"""Trustworthy builds: a model rewritten in place is never served from the cache, a kill -9
while labelling loses at most one shard of judge calls, and no secret lands in a run dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from prefdata import runner
from prefdata.tiny import build_tiny_model

from test_runner import write_recipe as runner_recipe

FAKE_KEY = "sk-prefdata-test-FAKE-0123456789"


def write_recipe(path: Path, model_dir: Path, prompts: int = 6, label: dict | None = None) -> Path:
    """test_runner's recipe (transformers sampling, k=2), going on to pair and export with a label section."""
    return runner_recipe(path, model_dir, prompts, **({"label": label, "pair": {}, "export": {}} if label else {}))


def llm_judge(model_dir: Path, shard_size: int) -> dict:
    return {"shard_size": shard_size, "judges": [{
        "type": "llm", "id": "j", "mode": "pointwise", "aspects": ["helpfulness"],
        "sampling": {"temperature": 0.0, "max_tokens": 24},
        "sampler": {"backend": "transformers", "model": str(model_dir)}}]}


def frames(run_dir: Path, stage: str) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "stages" / stage / "data.parquet")


@pytest.mark.slow
def test_a_model_retrained_in_place_reruns_sample_and_equals_a_fresh_run(tmp_path):
    model = build_tiny_model(tmp_path / "models" / "sft", seed=0)
    recipe = write_recipe(tmp_path / "t.yaml", model, label={"judges": [
        {"type": "programmatic", "id": "len", "name": "length", "params": {"min": 1, "max": 400}}]})
    run_dir = tmp_path / "run"
    runner.build(recipe, run_dir)
    old = frames(run_dir, "sample")

    build_tiny_model(model, seed=1)  # `output_dir=models/sft` again: same path, new weights
    again = runner.build(recipe, run_dir)
    reran = {s.name: not s.skipped for s in again.stages}
    assert reran["sample"] and reran["label"] and not reran["prompts"]  # later stages re-run if their inputs changed
    assert json.loads(again.stages[1].stats)["models"]["0:" + str(model)]["shards_resumed"] == 0
    new = frames(run_dir, "sample")
    assert not new.equals(old)

    fresh_dir = tmp_path / "fresh"
    runner.build(recipe, fresh_dir)
    for stage in ("sample", "label", "pair", "export"):
        assert frames(run_dir, stage).equals(frames(fresh_dir, stage)), stage
    assert json.loads(again.stages[1].model_dump_json())["engines"]["torch"]


@pytest.mark.slow
def test_kill_9_while_labelling_resumes_with_only_the_missing_judge_requests(tmp_path, tiny_model_dir, kill_when):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir, prompts=20, label=llm_judge(tiny_model_dir, 4))
    reference = tmp_path / "uninterrupted"
    runner.build(recipe, reference)
    total = json.loads(runner.build(recipe, reference).stages[2].stats)  # reused: same stats
    shards_total = total["judges"]["j"]["shards"]
    assert shards_total == 10 and total["judges"]["j"]["requests_sent"] == 40

    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": FAKE_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    shards = run_dir / "stages" / "label" / "shards"
    kill_when(proc, shards, "*/shard-00001.json")
    done_before = len(list(shards.glob("*/shard-*.json")))
    assert 2 <= done_before < shards_total and not (run_dir / "stages" / "label" / "DONE").exists()

    resumed = runner.build(recipe, run_dir)
    stats = json.loads(resumed.stages[2].stats)["judges"]["j"]
    assert stats["shards_resumed"] == done_before
    assert stats["requests_sent"] == 40 - 4 * done_before  # 4 candidates per shard, one request each
    assert stats["requests"] == 40  # the judge's own count covers resumed shards too
    for stage in ("sample", "label", "pair", "export"):
        assert frames(run_dir, stage).equals(frames(reference, stage)), stage

    leaked = [str(p) for p in run_dir.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert leaked == []
