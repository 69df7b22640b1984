"""The Ray sample stage against the offline vLLM backend: same recipe, same prompts, same seeds.

    python benchmarks/bench_ray_sampling.py --prompts 200 --k 4

    python benchmarks/bench_ray_sampling.py --prompts 2000 --k 4 --shard-size 16

    python benchmarks/bench_ray_sampling.py --replicas --prompts 400 --k 4   # 1 vs 2 replicas, two nodes

Runs `pipelines/sample_ray_cpu.yaml` twice through `prefdata.runner.build` on a fresh local
Ray cluster (all CPUs): once with `backend: ray` (Ray Data LLM, engine replicas started by
Ray), once with `--set sample.models.0.backend=vllm` (one in-process engine), both with
`--shard-size` prompts per shard (default 16, the stage's default: a Ray run is one job over
all shards, so its engines start once either way). Prints per backend where the time went
(cluster connect, sampler ready: the local engine starts here; first shard back: the Ray
replicas start before it; the rest: generation), the overhead ratio ray / vllm end to end
and after the first shard, and whether the candidates are identical.

`--replicas`: the same work on a two-node cluster on loopback addresses (one CPU per node,
prefdata.cluster.loopback_cluster) with `concurrency: 1` and then `concurrency: 2` engine
replicas: candidates/s of each, end to end and after the first shard, their ratio, and
whether both runs made the same candidates.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "pipelines" / "sample_ray_cpu.yaml"
SAME = ["candidate_id", "text", "num_tokens", "finish_reason", "seed"]


def run(out: Path, overrides: list[str]) -> tuple[dict, pl.DataFrame]:
    from prefdata.runner import build

    t0 = time.perf_counter()
    manifest = build(RECIPE, out, overrides)
    seconds = time.perf_counter() - t0
    stage = next(s for s in manifest.stages if s.name == "sample")
    model = next(iter(json.loads(stage.stats)["models"].values()))
    phases = {"build_s": round(seconds, 1), "sample_stage_s": model["seconds"],
              "sampler_ready_s": model.get("sampler_ready_s"), "first_shard_s": model.get("first_shard_s"),
              "after_first_shard_s": round(model["seconds"] - model.get("first_shard_s", 0.0), 3),
              "shards": model["shards"]}
    return phases, pl.read_parquet(out / "stages" / "sample" / "data.parquet").select(SAME).sort("candidate_id")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--shard-size", type=int, default=16)
    ap.add_argument("--replicas", action="store_true", help="1 vs 2 engine replicas on a two-node cluster")
    args = ap.parse_args()

    from prefdata.tiny import build_tiny_model

    root = Path(tempfile.mkdtemp())
    model = build_tiny_model(root / "tiny", seed=0)
    prompts = root / "prompts.jsonl"  # the recipe's 50 prompts, repeated with a suffix to reach --prompts
    base = [json.loads(line) for line in (REPO / "pipelines" / "data" / "prompts.jsonl").read_text().splitlines()]
    prompts.write_text("".join(json.dumps({"id": f"{i}", "prompt": f"{base[i % len(base)]['prompt']} ({i})"}) + "\n"
                               for i in range(args.prompts)))
    common = [f"sample.models.0.model={model}", f"prompts.path={prompts}", f"sample.k={args.k}",
              f"sample.shard_size={args.shard_size}"]
    if args.replicas:
        return replicas(root, common, args)
    common.append("ray.num_cpus=2")
    from prefdata.cluster import RayClusterConfig, configure, connect

    configure(RayClusterConfig(num_cpus=2))
    t0 = time.perf_counter()
    connect()  # the local cluster starts here, outside both timings
    connect_s = time.perf_counter() - t0
    ray_t, ray_c = run(root / "ray", common)
    vllm_t, vllm_c = run(root / "vllm", [*common, "sample.models.0.backend=vllm"])
    print(json.dumps({
        "prompts": args.prompts, "k": args.k, "shard_size": args.shard_size, "candidates": ray_c.height,
        "ray_cluster_connect_s": round(connect_s, 1), "ray": ray_t, "vllm": vllm_t,
        "overhead_ratio_ray_over_vllm": round(ray_t["sample_stage_s"] / vllm_t["sample_stage_s"], 2),
        "ratio_after_first_shard": round(ray_t["after_first_shard_s"] / max(vllm_t["after_first_shard_s"], 1e-9), 2),
        "identical_candidates": ray_c.equals(vllm_c),
    }, indent=2))


def replicas(root: Path, common: list[str], args) -> None:
    from prefdata.cluster import RayClusterConfig, configure, connect, loopback_cluster

    with loopback_cluster(nodes=2, cpus_per_node=1) as address:
        configure(RayClusterConfig(address=address))
        connect()
        runs = {n: run(root / f"replicas{n}", [*common, f"ray.address={address}", f"sample.models.0.concurrency={n}"])
                for n in (1, 2)}
    timing = {n: {**t, "candidates_per_s": round(c.height / t["sample_stage_s"], 2),
                  "candidates_per_s_after_first_shard": round(c.height / max(t["after_first_shard_s"], 1e-9), 2)}
              for n, (t, c) in runs.items()}
    print(json.dumps({
        "prompts": args.prompts, "k": args.k, "shard_size": args.shard_size, "nodes": 2, "cpus_per_node": 1,
        "replicas_1": timing[1], "replicas_2": timing[2],
        "speedup_2_over_1": round(timing[2]["candidates_per_s"] / timing[1]["candidates_per_s"], 2),
        "speedup_after_first_shard": round(timing[2]["candidates_per_s_after_first_shard"]
                                           / timing[1]["candidates_per_s_after_first_shard"], 2),
        "identical_candidates": runs[1][1].equals(runs[2][1]),
    }, indent=2))


if __name__ == "__main__":
    main()
