"""1,000,000 candidates through pairing + gap + quality + length + exact prompt dedup.

    python benchmarks/bench_pairing_1m.py                  # 250,000 prompts x 4 candidates
    python benchmarks/bench_pairing_1m.py --prompts 20000  # a quick run

Synthetic data of realistic lengths (prompts 10-80 words, responses 20-300 words, 2% missing
scores, 5% duplicated prompts) is written to parquet first. Then two child processes read it
and run, each measuring its own wall time and peak RSS (getrusage ru_maxrss):
- prefdata: PairStage logic (best_vs_worst) + FilterStage [gap, quality, length, dedup(exact)]
- floor: a minimal hand-written polars version of the same pairing + exact prompt dedup
Prints both and the ratio (target: prefdata within 3x of the floor, under 4 GiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def make_data(n_prompts: int, k: int, out: Path, seed: int = 0) -> None:
    from prefdata.records import Candidate, Judgment, PromptRecord
    from prefdata.tables import polars_schema

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(30000)])

    def pool(n, lo, hi):
        lengths = rng.integers(lo, hi, n)
        words = vocab[rng.integers(0, len(vocab), lengths.sum())]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return pl.Series([" ".join(words[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])

    prompt_pool, answer_pool = pool(20000, 10, 80), pool(40000, 10, 150)
    ids = pl.Series([f"p{i}" for i in range(n_prompts)])
    text = prompt_pool.gather(rng.integers(0, len(prompt_pool), n_prompts)) + " #" + ids
    dup = rng.random(n_prompts) < 0.05  # planted duplicates: an earlier prompt, shouted
    src = (rng.random(n_prompts) * np.arange(n_prompts)).astype(np.int64)
    text = pl.Series(np.where(dup, text.gather(src).str.to_uppercase().to_numpy() + "!", text.to_numpy()))
    prompts = pl.DataFrame({"prompt_id": ids, "content": text}).select(
        "prompt_id", pl.concat_list(pl.struct(pl.lit("user").alias("role"), "content")).alias("prompt"),
        pl.lit("bench").alias("source"))
    n = n_prompts * k
    cand_ids = pl.Series([f"p{i // k}:0:{i % k}" for i in range(n)])
    answers = (answer_pool.gather(rng.integers(0, len(answer_pool), n)) + " "
               + answer_pool.gather(rng.integers(0, len(answer_pool), n)))
    candidates = pl.DataFrame({
        "candidate_id": cand_ids, "prompt_id": ids.gather(np.arange(n) // k), "text": answers,
        "num_tokens": answers.str.count_matches(" ") + 1,
        "finish_reason": np.where(rng.random(n) < 0.03, "length", "stop"),
        "model": "bench", "backend": "imported", "sample_index": np.arange(n) % k,
    })
    scores = np.round(rng.normal(0, 1, n), 1)  # rounded: ties happen
    judgments = pl.DataFrame({
        "judgment_id": cand_ids + ":rm", "prompt_id": candidates["prompt_id"], "candidate_id": cand_ids,
        "judge_id": "rm", "judge_type": "reward_model",
        "score": pl.Series(np.where(rng.random(n) < 0.02, np.nan, scores)).fill_nan(None),
    })
    for name, df, model in (("prompts", prompts, PromptRecord), ("candidates", candidates, Candidate),
                            ("judgments", judgments, Judgment)):
        schema = polars_schema(model)
        df = df.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in df.columns])
        df.select([pl.col(c).cast(t) for c, t in schema.items()]).write_parquet(out / f"{name}.parquet")


def run_prefdata(data: Path) -> dict:
    from prefdata.filters.dedup import DedupFilterConfig
    from prefdata.filters.gap import GapFilterConfig
    from prefdata.filters.length import LengthFilterConfig
    from prefdata.filters.quality import QualityFilterConfig
    from prefdata.stages.filter import FilterConfig, run_filters
    from prefdata.stages.pair import PairConfig, build_pairs

    frames = {n: pl.read_parquet(data / f"{n}.parquet") for n in ("prompts", "candidates", "judgments")}
    t0 = time.perf_counter()
    pairs, rejects, _, stats = build_pairs(frames["prompts"], frames["candidates"], frames["judgments"],
                                           PairConfig(strategy="best_vs_worst"))
    t_pair = time.perf_counter() - t0
    config = FilterConfig(steps=[GapFilterConfig(min_margin=0.1), QualityFilterConfig(), LengthFilterConfig(),
                                 DedupFilterConfig(near=False)])
    out = run_filters(pairs, config, quiet=True)
    return {"seconds": time.perf_counter() - t0, "pair_seconds": t_pair, "pairs": pairs.height,
            "kept": out.data.height, "steps": {s["type"]: s["seconds"] for s in out.stats["funnel"]},
            "dropped": out.stats["dropped"], "prompts_paired": stats["prompts_paired"]}


def run_floor(data: Path) -> dict:
    """The least work that gives the same pairs: join, sort, first/last, margin > 0, exact dedup."""
    prompts, candidates, judgments = (pl.scan_parquet(data / f"{n}.parquet")
                                      for n in ("prompts", "candidates", "judgments"))
    t0 = time.perf_counter()
    scored = (candidates.select("candidate_id", "prompt_id", "text")
              .join(judgments.select("candidate_id", "score"), on="candidate_id")
              .filter(pl.col("score").is_not_null() & pl.col("score").is_finite())
              .sort(["prompt_id", "score", "candidate_id"], descending=[False, True, False]))
    best = scored.group_by("prompt_id").first()
    worst = scored.group_by("prompt_id").last()
    pairs = (best.join(worst, on="prompt_id", suffix="_r")
             .filter(pl.col("score") > pl.col("score_r"))
             .join(prompts.select("prompt_id", "prompt"), on="prompt_id")
             .with_columns(pl.col("prompt").list.last().struct.field("content").str.to_lowercase()
                           .str.replace_all(r"[^\p{L}\p{N}\s]+", " ").str.replace_all(r"\s+", " ")
                           .str.strip_chars().alias("norm"))
             .sort("prompt_id")
             .unique("norm", keep="first", maintain_order=True)
             .collect())
    return {"seconds": time.perf_counter() - t0, "kept": pairs.height}


def child(which: str, data: Path) -> None:
    result = (run_prefdata if which == "prefdata" else run_floor)(Path(data))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=250_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--child", choices=["prefdata", "floor"])
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_data(args.prompts, args.k, Path(tmp))
        print(f"data: {args.prompts} prompts x {args.k} = {args.prompts * args.k} candidates "
              f"({sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20:.0f} MiB parquet) "
              f"in {time.perf_counter() - t0:.1f}s")
        results = {}
        for which in ("floor", "prefdata"):
            proc = subprocess.run([sys.executable, __file__, "--child", which, "--data", tmp],
                                  capture_output=True, text=True, check=True)
            results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{which:>9}: {json.dumps(results[which])}")
    ratio = results["prefdata"]["seconds"] / results["floor"]["seconds"]
    print(f"ratio prefdata / floor wall time: {ratio:.2f}x (target <= 3x); prefdata peak RSS "
          f"{results['prefdata']['peak_rss_mib'] / 1024:.2f} GiB (target < 4 GiB)")


if __name__ == "__main__":
    main()
