"""1,000,000 candidates through pairing + gap + quality + length + exact prompt dedup.

    python benchmarks/bench_pairing_1m.py                  # 250,000 prompts x 4 candidates, 3 rounds
    python benchmarks/bench_pairing_1m.py --prompts 20000  # a quick run

Synthetic data of realistic lengths (benchmarks/synthetic_labels.py: prompts 10-80 words,
responses 20-300 words, 2% missing scores, 5% duplicated prompts) is written to parquet
first. Then child processes read it and run, each measuring its own wall time and peak RSS
(getrusage ru_maxrss), floor and prefdata alternating for `--repeats` rounds:
- prefdata: the pair stage's logic (best_vs_worst) + the filter stage [gap, quality,
  length, dedup(exact)], in memory (at this size the stages do not partition);
- floor: a minimal hand-written polars version of the same pairing + exact prompt dedup.
Prints each run and the median ratio (target: prefdata within 1.5x of the floor, under 4 GiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from synthetic_labels import floor_query, make_data


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
    t0 = time.perf_counter()
    pairs = floor_query(data).collect()
    return {"seconds": time.perf_counter() - t0, "kept": pairs.height}


def child(which: str, data: Path) -> None:
    result = (run_prefdata if which == "prefdata" else run_floor)(Path(data))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=250_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
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
        runs = {"floor": [], "prefdata": []}
        for _ in range(args.repeats):  # alternating: both arms see the same machine state
            for which in ("floor", "prefdata"):
                proc = subprocess.run([sys.executable, __file__, "--child", which, "--data", tmp],
                                      capture_output=True, text=True, check=True)
                runs[which].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"{which:>9}: {json.dumps(runs[which][-1])}", flush=True)
    median = {w: statistics.median(r["seconds"] for r in rs) for w, rs in runs.items()}
    peak = max(r["peak_rss_mib"] for r in runs["prefdata"]) / 1024
    print(f"median wall time: floor {median['floor']:.2f}s, prefdata {median['prefdata']:.2f}s; ratio "
          f"{median['prefdata'] / median['floor']:.2f}x (target <= 1.5x); prefdata peak RSS {peak:.2f} GiB "
          f"(target < 4 GiB)")


if __name__ == "__main__":
    main()
