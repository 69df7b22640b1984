"""A model judge of the user's own (tests/plugin_model_judge.py, copied beside a recipe outside
the repository) is run from its declaration alone: sharded, and after `kill -9` inside the
label stage a rerun judges only the missing shards and ends on the uninterrupted run's labels.
Its Ray actor pool run is in tests/labelling/test_ray_pool.py.

    python -m pytest -q tests/judges/test_plugin_model_judge.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from prefdata import runner

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
CANDIDATES = 24  # 12 prompts x 2 answers; 2 per shard -> 12 shards


@pytest.fixture
def user_folder(tmp_path, tiny_model_dir, tiny_reward_model_dir) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(HERE.parent / "plugin_model_judge.py", folder)
    (folder / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"count to {i}"}) + "\n" for i in range(12)))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({
        "name": "model-judge", "seed": 1, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": 2, "sampling": {"max_tokens": 4},
                   "models": [{"backend": "transformers", "model": str(tiny_model_dir)}]},
        "label": {"shard_size": 2, "judges": [
            {"type": "plugin_model_judge:TinyScorer", "id": "mine", "path": str(tiny_reward_model_dir),
             "seconds_per_call": 0.5}]},
        "pair": {}, "export": {"test_size": 0.0},
    }, sort_keys=False))
    return folder


def judged(log: Path) -> int:
    return sum(int(line.split()[1]) for line in log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.timeout(600)
def test_a_plugin_model_judge_resumes_after_kill_9_judging_only_the_missing_shards(user_folder, kill_when,
                                                                                   monkeypatch):
    log = user_folder / "calls.log"
    monkeypatch.setenv("PLUGIN_JUDGE_CALLS", str(log))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the module is found beside the recipe
    proc = subprocess.Popen([sys.executable, "-m", "prefdata.cli", "build", "recipe.yaml", "--out", "run"],
                            cwd=user_folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=(user_folder / "build.log").open("w"), start_new_session=True)
    run = user_folder / "run"
    kill_when(proc, run, "stages/label/shards/*/shard-00004.json")
    finished = len(list(run.glob("stages/label/shards/*/shard-*.json")))
    assert not (run / "stages" / "label" / "DONE").exists() and finished >= 5
    before = judged(log)

    manifest = runner.build(user_folder / "recipe.yaml", run)
    stats = json.loads(next(s for s in manifest.stages if s.name == "label").stats)["judges"]["mine"]
    assert stats["shards"] == 12 and stats["shards_resumed"] == finished and stats["ran_in"] == "this process"
    assert judged(log) - before == CANDIDATES - 2 * finished  # only the missing shards were judged

    whole = runner.build(user_folder / "recipe.yaml", user_folder / "whole")
    assert whole.stages  # an uninterrupted run of the same recipe
    got, want = (pl.read_parquet(root / "stages" / "label" / "data.parquet") for root in (run, user_folder / "whole"))
    assert got.height == CANDIDATES and got.equals(want)
