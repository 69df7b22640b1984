"""1,000,000 candidates through pairing + gap + quality + length + exact prompt dedup.

    python benchmarks/bench_pairing_1m.py                  # 250,000 prompts x 4 candidates, 3 rounds
    python benchmarks/bench_pairing_1m.py --prompts 20000  # a quick run

Synthetic data of realistic lengths (benchmarks/synthetic_labels.py: prompts 10-80 words,
responses 20-300 words, 2% missing scores, 5% duplicated prompts) is written to parquet
first. Then child processes read it and run, each measuring its own wall time and peak RSS
(getrusage ru_maxrss), floor and prefdata alternating for `--repeats` rounds:
- prefdata: the pair and filter stages' drivers (best_vs_worst; [gap, quality, length,
  dedup(exact)]) with partitions as large as the data: their one-partition case, in memory.
  Its clock starts with the three inputs read (their reading is reported apart, as
  `read_seconds`); the floor's streaming query reads its inputs as it goes, inside its clock;
- floor: a minimal hand-written polars version of the same pairing + exact prompt dedup.
Prints each run and the median ratio (target: prefdata within 1.5x of the floor, under 4 GiB).
The floor runs no quality rule, so the quality filter is also timed alone on prefdata's pairs
against `synthetic_labels.quality_floor`, the same rules as one plain polars query run by the
streaming engine (children `quality` / `quality-floor`; same kept pairs checked; target 1.3x).
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

from synthetic_labels import floor_query, in_child, make_data


def run_prefdata(data: Path) -> dict:
    from prefdata.filters.dedup import DedupFilterConfig
    from prefdata.filters.gap import GapFilterConfig
    from prefdata.filters.length import LengthFilterConfig
    from prefdata.filters.quality import QualityFilterConfig
    from prefdata.partition.filters import filter_partitions
    from prefdata.partition.pairs import pair_partitions
    from prefdata.stages.filter import FilterConfig
    from prefdata.stages.pair import PairConfig

    whole = 10**9  # one partition
    t_read = time.perf_counter()
    frames = [pl.read_parquet(data / f"{n}.parquet") for n in ("prompts", "candidates", "judgments")]
    read_seconds = time.perf_counter() - t_read  # reported apart: the clock starts with the inputs in memory
    t0 = time.perf_counter()
    paired = pair_partitions(*(f.lazy() for f in frames), PairConfig(strategy="best_vs_worst", partition_prompts=whole),
                             0, data / "pair")
    pairs = paired.frame()
    t_pair = time.perf_counter() - t0
    config = FilterConfig(steps=[GapFilterConfig(min_margin=0.1), QualityFilterConfig(), LengthFilterConfig(),
                                 DedupFilterConfig(near=False)], partition_pairs=whole)
    out = filter_partitions(pairs, config)
    return {"seconds": time.perf_counter() - t0, "read_seconds": read_seconds, "pair_seconds": t_pair,
            "pairs": pairs.height,
            "kept": out.data.height, "steps": {s["type"]: s["seconds"] for s in out.stats["funnel"]},
            "dropped": out.stats["dropped"], "prompts_paired": paired.stats["prompts_paired"],
            "partitions": [paired.stats["partitions"], out.stats["partitions"]]}


def run_floor(data: Path) -> dict:
    t0 = time.perf_counter()
    pairs = floor_query(data).collect()
    return {"seconds": time.perf_counter() - t0, "kept": pairs.height}


def run_quality(data: Path) -> dict:
    from prefdata.filters.quality import QualityFilter, QualityFilterConfig

    pairs = pl.read_parquet(data / "pairs.parquet")
    t0 = time.perf_counter()
    result = QualityFilter(QualityFilterConfig()).apply(pairs)
    seconds = time.perf_counter() - t0
    result.kept.select("pair_id").write_parquet(data / "quality-kept.parquet")
    return {"seconds": seconds, "kept": result.kept.height, "dropped": result.stats["dropped"]}


def run_quality_floor(data: Path) -> dict:
    from synthetic_labels import quality_floor

    pairs = pl.read_parquet(data / "pairs.parquet")
    t0 = time.perf_counter()
    decided = quality_floor(pairs.lazy()).select("pair_id", "reason").collect(engine="streaming")
    seconds = time.perf_counter() - t0
    kept = decided.filter(pl.col("reason").is_null())["pair_id"]
    same = (data / "quality-kept.parquet").is_file() and \
        kept.equals(pl.read_parquet(data / "quality-kept.parquet")["pair_id"])
    return {"seconds": seconds, "kept": kept.len(), "same_kept_pairs_as_prefdata": same,
            "dropped": dict(decided.drop_nulls("reason").group_by("reason").len().iter_rows())}


def write_pairs(data: Path) -> None:
    """prefdata's pairs (best vs worst), the quality filter's input in both quality children."""
    from prefdata.stages.pair import PairConfig, build_pairs

    frames = {n: pl.read_parquet(data / f"{n}.parquet") for n in ("prompts", "candidates", "judgments")}
    build_pairs(*frames.values(), PairConfig(strategy="best_vs_worst"))[0].write_parquet(data / "pairs.parquet")


CHILDREN = {"prefdata": run_prefdata, "floor": run_floor, "quality": run_quality, "quality-floor": run_quality_floor}


def child(which: str, data: Path) -> None:
    result = CHILDREN[which](Path(data))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=250_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=list(CHILDREN))
    parser.add_argument("--data", type=Path)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.data)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        in_child(make_data, args.prompts, args.k, Path(tmp))
        print(f"data: {args.prompts} prompts x {args.k} = {args.prompts * args.k} candidates "
              f"({sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20:.0f} MiB parquet) "
              f"in {time.perf_counter() - t0:.1f}s")
        in_child(write_pairs, Path(tmp))
        runs = {which: [] for which in CHILDREN}
        for _ in range(args.repeats):  # alternating: both arms see the same machine state
            for which in ("floor", "prefdata", "quality", "quality-floor"):
                proc = subprocess.run([sys.executable, __file__, "--child", which, "--data", tmp],
                                      capture_output=True, text=True, check=True)
                runs[which].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"{which:>9}: {json.dumps(runs[which][-1])}", flush=True)
    median = {w: statistics.median(r["seconds"] for r in rs) for w, rs in runs.items()}
    peak = max(r["peak_rss_mib"] for r in runs["prefdata"]) / 1024
    print(f"median wall time: floor {median['floor']:.2f}s, prefdata {median['prefdata']:.2f}s; ratio "
          f"{median['prefdata'] / median['floor']:.2f}x (target <= 1.5x); prefdata peak RSS {peak:.2f} GiB "
          f"(target < 4 GiB)")
    read = statistics.median(r["read_seconds"] for r in runs["prefdata"])
    print(f"prefdata's reading of its inputs, outside its clock: {read:.2f}s; counted in, the ratio would be "
          f"{(median['prefdata'] + read) / median['floor']:.2f}x")
    same = all(r["same_kept_pairs_as_prefdata"] for r in runs["quality-floor"])
    print(f"quality filter alone: prefdata {median['quality']:.2f}s, polars floor {median['quality-floor']:.2f}s; "
          f"ratio {median['quality'] / median['quality-floor']:.2f}x (target <= 1.3x); same kept pairs: {same}")


if __name__ == "__main__":
    main()
