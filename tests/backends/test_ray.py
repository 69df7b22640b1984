"""The ray backend on a real two-node Ray cluster (tests/conftest.py `ray_cluster`): the same
seeds give exactly the offline vLLM engine's candidates, engine replicas land on both nodes,
and a killed sample stage resumes shard by shard. Bad addresses fail in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from ray_actors import ray_actors

from prefdata import runner
from prefdata.errors import PrefdataError

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "pipelines" / "sample_ray_cpu.yaml"
SAME = ["candidate_id", "prompt_id", "text", "num_tokens", "finish_reason", "seed", "sample_index"]


def _overrides(model_dir, address, *extra) -> list[str]:
    return [f"sample.models.0.model={model_dir}", f"ray.address={address}", "prompts.limit=12", *extra]


def worker_nodes() -> dict[str, set[str]]:
    """Node address of every Ray Data worker actor so far, by its stage (chat template,
    tokenize, vLLM engine, detokenize)."""
    placed: dict[str, set[str]] = {}
    for name, ip in ray_actors("MapWorker").values():
        placed.setdefault(name, set()).add(ip)
    return placed


@pytest.fixture(scope="module")
def ray_run(ray_cluster, tiny_model_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ray-run")
    manifest = runner.build(RECIPE, run_dir, _overrides(tiny_model_dir, ray_cluster))
    return run_dir, manifest, worker_nodes()


@pytest.mark.slow
def test_ray_recipe_runs_on_both_nodes_and_equals_the_offline_engine(ray_run, tiny_model_dir, ray_cluster, tmp_path):
    run_dir, manifest, placed = ray_run
    assert any("vLLMEngineStageUDF" in stage for stage in placed), placed
    assert set().union(*placed.values()) == {"127.0.0.2", "127.0.0.3"}, placed  # the job ran on both nodes
    got = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet")
    assert got.height == 12 * 4 and set(got["backend"]) == {"ray"}
    offline = runner.build(RECIPE, tmp_path / "vllm", _overrides(tiny_model_dir, ray_cluster,
                                                                  "sample.models.0.backend=vllm"))
    want = pl.read_parquet(tmp_path / "vllm" / "stages" / "sample" / "data.parquet")
    assert set(want["backend"]) == {"vllm"} and offline.stages[1].rows_kept == 12
    assert got.select(SAME).sort("candidate_id").equals(want.select(SAME).sort("candidate_id"))


@pytest.mark.slow
def test_kill_9_during_a_ray_sample_stage_resumes_to_identical_candidates(ray_run, tiny_model_dir, ray_cluster,
                                                                          tmp_path):
    run_dir = tmp_path / "run"
    overrides = _overrides(tiny_model_dir, ray_cluster, "sample.shard_size=2")
    cmd = [sys.executable, "-m", "prefdata.cli", "build", str(RECIPE), "--out", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    # one job for all 6 shards: they land as they finish, in any order, often all within a few ms,
    # so the build kills itself right after writing its second (a watcher's kill could come too late)
    proc = subprocess.run(cmd, env={**os.environ, "RAY_AUTH_MODE": "disabled", "PREFDATA_KILL_AT": "sample:shard:2"},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=400)
    assert proc.returncode == -9
    done = len(list(run_dir.glob("stages/sample/shards/*/shard-*.json")))
    assert done == 2
    resumed = runner.build(RECIPE, run_dir, overrides)
    stats = json.loads(resumed.stages[1].stats)
    assert next(iter(stats["models"].values()))["shards_resumed"] == done
    got = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet").sort("candidate_id")
    want = pl.read_parquet(ray_run[0] / "stages" / "sample" / "data.parquet").sort("candidate_id")
    assert got.height == 48 and got["candidate_id"].is_unique().all()
    assert got.select(SAME).equals(want.select(SAME))


@pytest.mark.slow
def test_engine_replicas_start_once_per_stage_run_not_once_per_shard(ray_run, tiny_model_dir, ray_cluster, tmp_path):
    before = set(ray_actors("vLLMEngineStageUDF"))
    manifest = runner.build(RECIPE, tmp_path / "run", _overrides(tiny_model_dir, ray_cluster, "sample.shard_size=3"))
    assert next(iter(json.loads(manifest.stages[1].stats)["models"].values()))["shards"] == 4
    # at most one per replica (Ray Data may start with fewer), never one per shard: per-shard jobs made >= 4
    assert 1 <= len(set(ray_actors("vLLMEngineStageUDF")) - before) <= 2


def test_an_unreachable_ray_address_fails_in_seconds(tmp_path):
    from prefdata.cluster import RayClusterConfig, _reachable

    t0 = time.time()
    with pytest.raises(PrefdataError, match="no Ray head answers there"):
        _reachable("127.0.0.9:1")
    with pytest.raises(PrefdataError, match="expected auto, HOST:PORT"):
        _reachable("not-an-address")
    assert time.time() - t0 < 10 and RayClusterConfig(address="auto").address == "auto"


def test_a_cluster_without_the_resources_names_the_resource():
    from prefdata.backends.ray import RayConfig, layout

    gpu = RayConfig(model="m", device="gpu", tensor_parallel_size=2)
    with pytest.raises(PrefdataError, match="needs 2 GPU but the cluster has 0"):
        layout(gpu, {"CPU": 2.0}, nodes=2)
    assert layout(RayConfig(model="m"), {"CPU": 2.0}, nodes=2) == ("cpu", 1, 2)
    assert layout(RayConfig(model="m", tensor_parallel_size=2), {"CPU": 64.0, "GPU": 8.0}, nodes=1) == ("gpu", 2, 4)
    assert layout(RayConfig(model="m", concurrency=3), {"CPU": 4.0}, nodes=2)[2] == 3


@pytest.mark.slow
def test_a_node_lost_mid_sample_stage_changes_no_candidate(ray_run, tiny_model_dir, ray_cluster, tmp_path):
    """A third node joins and runs one of three engine replicas; once the first shard is saved
    the node is lost (raylet and workers killed -9). Ray Data retries its rows on the other
    replicas: the build finishes with every candidate once, and the prompts the uninterrupted
    run also sampled get exactly its candidates (seeds are per prompt, not per position)."""
    from prefdata.cluster import add_loopback_node, lose_node

    ip = add_loopback_node(ray_cluster)
    run_dir = tmp_path / "run"
    # 48 batches of one shard each (4 rows) keep every replica busy over several rounds: the
    # first shard back leaves most of the work in flight. At 12 prompts in batches of 16, each
    # replica took all its rows in one batch, all 12 shards came back within milliseconds and
    # the node could be lost after the last one.
    overrides = _overrides(tiny_model_dir, ray_cluster, "prompts.limit=48", "sample.shard_size=1",
                           "sample.models.0.batch_size=4", "sample.models.0.concurrency=3")
    cmd = [sys.executable, "-m", "prefdata.cli", "build", str(RECIPE), "--out", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    shards = run_dir / "stages" / "sample" / "shards"
    proc = subprocess.Popen(cmd, env={**os.environ, "RAY_AUTH_MODE": "disabled"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not list(shards.glob("*/shard-*.json")):
            time.sleep(0.05)
        # read before the loss: Ray restarts a lost actor elsewhere under the same id, and the
        # table then shows its new node
        engines = {node for _, node in ray_actors("vLLMEngineStageUDF").values()}
        assert lose_node(ip) >= 2
        done_at_loss = len(list(shards.glob("*/shard-*.json")))
        assert proc.wait(timeout=400) == 0
    finally:
        proc.kill()
    assert done_at_loss < 48  # the node was lost with shards still to do
    assert ip in engines  # the lost node ran a replica
    _wait_until_dead(ip)  # the tests after this one see the cluster as it now is
    got = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet").select(SAME).sort("candidate_id")
    assert got.height == 48 * 4 and got["candidate_id"].is_unique().all()
    assert got.group_by("prompt_id").agg(pl.col("sample_index").sort()).get_column("sample_index").to_list() == \
        [[0, 1, 2, 3]] * 48
    want = pl.read_parquet(ray_run[0] / "stages" / "sample" / "data.parquet").select(SAME).sort("candidate_id")
    assert got.filter(pl.col("prompt_id").is_in(want["prompt_id"].unique().to_list())).equals(want)


def _wait_until_dead(ip: str, timeout_s: float = 120) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while any(n["NodeManagerAddress"] == ip and n["Alive"] for n in ray.nodes()):
        assert time.monotonic() < deadline, f"node {ip} still alive {timeout_s} s after it was killed"
        time.sleep(1)
