"""The Ray sample stage against the offline vLLM backend: same recipe, same prompts, same seeds.

    python benchmarks/bench_ray_sampling.py --prompts 200 --k 4

Runs `pipelines/sample_ray_cpu.yaml` twice through `prefdata.runner.build` on a fresh local
Ray cluster (all CPUs): once with `backend: ray` (Ray Data LLM, engine replicas started by
Ray), once with `--set sample.models.0.backend=vllm` (one in-process engine). Prints each
sample stage's wall time (engine start included: both pay one per run), the overhead
ratio ray / vllm, and whether the candidates are identical.
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


def run(out: Path, overrides: list[str]) -> tuple[float, pl.DataFrame]:
    from prefdata.runner import build

    t0 = time.perf_counter()
    build(RECIPE, out, overrides)
    seconds = time.perf_counter() - t0
    return seconds, pl.read_parquet(out / "stages" / "sample" / "data.parquet").select(SAME).sort("candidate_id")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--k", type=int, default=4)
    args = ap.parse_args()

    from prefdata.tiny import build_tiny_model

    root = Path(tempfile.mkdtemp())
    model = build_tiny_model(root / "tiny", seed=0)
    prompts = root / "prompts.jsonl"  # the recipe's 50 prompts, repeated with a suffix to reach --prompts
    base = [json.loads(line) for line in (REPO / "pipelines" / "data" / "prompts.jsonl").read_text().splitlines()]
    prompts.write_text("".join(json.dumps({"id": f"{i}", "prompt": f"{base[i % len(base)]['prompt']} ({i})"}) + "\n"
                               for i in range(args.prompts)))
    common = [f"sample.models.0.model={model}", f"prompts.path={prompts}", f"sample.k={args.k}",
              f"sample.shard_size={args.prompts}", "ray.num_cpus=2"]
    ray_s, ray_c = run(root / "ray", common)
    vllm_s, vllm_c = run(root / "vllm", [*common, "sample.models.0.backend=vllm"])
    print(json.dumps({
        "prompts": args.prompts, "k": args.k, "candidates": ray_c.height,
        "ray_sample_stage_s": round(ray_s, 1), "vllm_sample_stage_s": round(vllm_s, 1),
        "overhead_ratio_ray_over_vllm": round(ray_s / vllm_s, 2), "identical_candidates": ray_c.equals(vllm_c),
    }, indent=2))


if __name__ == "__main__":
    main()
