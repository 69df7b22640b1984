"""Kill matrix: a real `prefdata build` SIGKILLed at 3 random points inside sampling, inside
labelling with an LLM judge, and inside the dataset export; each rerun gives exactly the
uninterrupted run's artifacts (no row missing, none doubled). The Argilla push and training
kills live with their tests (tests/argilla/test_argilla_crash.py, tests/trainer/)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from prefdata import runner
from prefdata.errors import DataError
from prefdata.io.dataset_dir import read_dataset_dir

pytestmark = pytest.mark.slow
STAGES = ("prompts", "sample", "label", "pair", "export")
POINTS = random.Random(12).sample(range(1, 7), 3)  # shard markers to kill at: drawn once, fixed
EXPORT_POINTS = ("dataset_dir:after_train", "dataset_dir:before_card", "dataset_dir:before_done")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, tiny_model_dir, tiny_reward_model_dir) -> Path:
    root = tmp_path_factory.mktemp("matrix")
    (root / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"what is {i} plus {i}?"}) + "\n"
                                                for i in range(16)))
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "matrix", "seed": 3, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": 2, "shard_size": 2, "sampling": {"max_tokens": 12},
                   "models": [{"backend": "transformers", "model": str(tiny_model_dir)}]},
        # The random tiny model's judge text does not parse: the reward model gives the scores
        # that pairs are made of, the LLM judge gives real, resumable judge calls.
        "label": {"shard_size": 4, "aggregate_judges": ["rm"], "judges": [
            {"type": "llm", "id": "judge", "mode": "pointwise", "aspects": ["helpfulness"],
             "sampling": {"temperature": 0.0, "max_tokens": 16},
             "sampler": {"backend": "transformers", "model": str(tiny_model_dir)}},
            {"type": "reward_model", "id": "rm", "path": str(tiny_reward_model_dir), "batch_size": 4}]},
        "pair": {}, "export": {"test_size": 0.25},
    }))
    return path


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("reference")
    runner.build(recipe, run_dir)
    assert set(read_dataset_dir(run_dir / "dataset")) == {"train", "test"}  # something real to compare
    return run_dir


def _start(recipe: Path, run_dir: Path, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run_dir)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, stdout=subprocess.DEVNULL,
                            stderr=(run_dir.parent / "build.log").open("w"), start_new_session=True)


def _assert_same_as(run_dir: Path, reference: Path) -> None:
    for stage in STAGES:
        got = pl.read_parquet(run_dir / "stages" / stage / "data.parquet")
        want = pl.read_parquet(reference / "stages" / stage / "data.parquet")
        assert got.height and got.equals(want), f"{stage} differs after the resume"
    for split in ("train", "test"):
        got = read_dataset_dir(run_dir / "dataset")[split]
        assert got.equals(read_dataset_dir(reference / "dataset")[split])


@pytest.mark.parametrize("stage", ["sample", "label"])
@pytest.mark.parametrize("point", POINTS)
def test_kill_inside_a_sharded_stage_then_rerun(stage, point, recipe, reference, tmp_path, kill_when):
    run_dir = tmp_path / "run"
    proc = _start(recipe, run_dir)
    kill_when(proc, run_dir, f"stages/{stage}/shards/*/shard-{point:05d}.json")
    finished = len(list(run_dir.glob(f"stages/{stage}/shards/*/shard-*.json")))
    assert not (run_dir / "stages" / stage / "DONE").exists()
    manifest = runner.build(recipe, run_dir)
    stats = json.loads(next(s for s in manifest.stages if s.name == stage).stats)
    resumed = (next(iter(stats["models"].values()))["shards_resumed"] if stage == "sample"
               else stats["judges"]["judge"]["shards_resumed"])
    assert resumed == finished >= point + 1
    _assert_same_as(run_dir, reference)


@pytest.mark.parametrize("point", EXPORT_POINTS)
def test_kill_inside_the_dataset_export_then_rerun(point, recipe, reference, tmp_path):
    run_dir = tmp_path / "run"
    proc = _start(recipe, run_dir, PREFDATA_KILL_AT=point)
    assert proc.wait(timeout=600) == -signal.SIGKILL
    assert not (run_dir / "stages" / "export" / "DONE").exists()
    with pytest.raises(DataError, match="incomplete dataset directory"):
        read_dataset_dir(run_dir / "dataset")  # what the kill left is never trusted
    runner.build(recipe, run_dir)
    _assert_same_as(run_dir, reference)
