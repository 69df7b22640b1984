"""The demo's claims over 3 seeds: DPO on clean labels beats SFT; filtered noisy beats noisy.

    python benchmarks/bench_demo.py --out runs/bench-demo [--seeds 0 1 2] [--quick]

Runs `prefdata demo` (full size unless --quick) once per seed and prints held-out greedy
accuracy per model, the mean over seeds, and the two differences the demo claims, each
with its per-seed values so that a claim that fails on one seed is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/bench-demo"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from prefdata.demo.run import run_demo

    per_seed = {}
    for seed in args.seeds:
        started = time.perf_counter()
        report = run_demo(args.out / f"seed{seed}", seed=seed, quick=args.quick)
        per_seed[seed] = {**report["results"], "seconds": time.perf_counter() - started}
    summary = summarize(per_seed)
    (args.out / "summary.json").write_text(json.dumps({"per_seed": per_seed, "summary": summary}, indent=2))
    print(json.dumps(summary, indent=2))


def summarize(per_seed: dict) -> dict:
    models = ("sft", "clean", "noisy", "filtered")
    acc = {m: [r[m]["accuracy"] for r in per_seed.values()] for m in models}
    claims = {
        "clean_minus_sft": [c - s for c, s in zip(acc["clean"], acc["sft"])],
        "filtered_minus_noisy": [f - n for f, n in zip(acc["filtered"], acc["noisy"])],
    }
    return {
        "mean_accuracy": {m: statistics.mean(v) for m, v in acc.items()},
        "accuracy_per_seed": acc,
        "label_noise_mean": {m: statistics.mean(r[m]["label_noise"] for r in per_seed.values()) for m in models[1:]},
        "inverted_mean": {m: statistics.mean(r[m]["inverted"] for r in per_seed.values()) for m in models[1:]},
        "claims_per_seed": claims,
        "claims_hold_on_every_seed": {k: all(d > 0 for d in v) for k, v in claims.items()},
        "seconds_per_seed": [r["seconds"] for r in per_seed.values()],
    }


if __name__ == "__main__":
    main()
