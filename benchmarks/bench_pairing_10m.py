"""10,000,000 candidates through the pair and filter stages in partitions, against a polars floor.

    python benchmarks/bench_pairing_10m.py                          # 2,500,000 prompts x 4 candidates
    python benchmarks/bench_pairing_10m.py --prompts 250000         # the 1M size, partitioned
    python benchmarks/bench_pairing_10m.py --data /tmp/d --keep     # generate once, reuse with --data

Data: benchmarks/synthetic_labels.py (the 1M benchmark's generator, in chunks). Two child
processes each measure their own wall time and peak RSS (getrusage ru_maxrss):
- floor: the least work that gives the same pairs and exact prompt dedup, as one lazy
  polars query run by the streaming engine and sunk to parquet;
- prefdata: the pair stage and the filter stage [gap, quality, length, dedup(exact)] as the
  runner runs them (lazy scans in, one parquet artifact out), partitioned: more prompts than
  `--partition-prompts` (default: the stage default) and more pairs than `--partition-pairs`.
Prints both and the ratio (targets: peak RSS < 8 GiB; wall time within 2x of the floor).
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

import polars as pl

from synthetic_labels import floor_query, in_child, make_data


def run_prefdata(data: Path, work: Path, partition_prompts: int, partition_pairs: int) -> dict:
    from prefdata.filters.dedup import DedupFilterConfig
    from prefdata.filters.gap import GapFilterConfig
    from prefdata.filters.length import LengthFilterConfig
    from prefdata.filters.quality import QualityFilterConfig
    from prefdata.stages.base import StageContext
    from prefdata.stages.filter import FilterConfig, FilterStage
    from prefdata.stages.pair import PairConfig, PairStage

    scans = {n: pl.scan_parquet(data / f"{n}.parquet") for n in ("prompts", "candidates", "judgments")}
    t0 = time.perf_counter()
    pair_dir, filter_dir = work / "pair", work / "filter"
    pair_dir.mkdir(parents=True), filter_dir.mkdir(parents=True)
    paired = PairStage(PairConfig(strategy="best_vs_worst", partition_prompts=partition_prompts)).run(
        scans, StageContext(run_dir=work, stage_dir=pair_dir))
    pairs_file = paired.data if isinstance(paired.data, Path) else paired.data.write_parquet(pair_dir / "p.parquet")
    t_pair = time.perf_counter() - t0
    config = FilterConfig(steps=[GapFilterConfig(min_margin=0.1), QualityFilterConfig(), LengthFilterConfig(),
                                 DedupFilterConfig(near=False)], partition_pairs=partition_pairs)
    out = FilterStage(config).run({"pairs": pl.scan_parquet(pairs_file)},
                                  StageContext(run_dir=work, stage_dir=filter_dir, console=_quiet()))
    return {"seconds": time.perf_counter() - t0, "pair_seconds": t_pair, "pairs": paired.rows_kept and
            paired.stats["pairs"], "kept": out.rows_kept, "pair_partitions": paired.stats.get("partitions", 1),
            "filter_partitions": out.stats.get("partitions", 1),
            "steps": {s["type"]: s["seconds"] for s in out.stats["funnel"]}, "dropped": out.stats["dropped"]}


def _quiet():
    from rich.console import Console

    return Console(quiet=True)


def run_floor(data: Path, work: Path) -> dict:
    t0 = time.perf_counter()
    floor_query(data).sink_parquet(work / "floor.parquet", engine="streaming")
    kept = pl.scan_parquet(work / "floor.parquet").select(pl.len()).collect().item()
    return {"seconds": time.perf_counter() - t0, "kept": kept}


def child(args) -> None:
    with tempfile.TemporaryDirectory(dir=args.data) as tmp:
        if args.child == "prefdata":
            result = run_prefdata(args.data, Path(tmp), args.partition_prompts, args.partition_pairs)
        else:
            result = run_floor(args.data, Path(tmp))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    from prefdata.stages.filter import FilterConfig
    from prefdata.stages.pair import PairConfig

    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=2_500_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--partition-prompts", type=int, default=PairConfig().partition_prompts)
    parser.add_argument("--partition-pairs", type=int, default=FilterConfig().partition_pairs)
    parser.add_argument("--data", type=Path, help="a directory for the generated data (reused when it has it)")
    parser.add_argument("--keep", action="store_true", help="leave the generated data in --data")
    parser.add_argument("--child", choices=["prefdata", "floor"])
    args = parser.parse_args()
    if args.child:
        return child(args)
    owned = args.data is None
    data = Path(tempfile.mkdtemp(prefix="bench10m-")) if owned else args.data
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "judgments.parquet").is_file():
        t0 = time.perf_counter()
        in_child(make_data, args.prompts, args.k, data)
        print(f"data: {args.prompts} prompts x {args.k} = {args.prompts * args.k} candidates "
              f"({sum(f.stat().st_size for f in data.glob('*.parquet')) / 2**20:.0f} MiB parquet) "
              f"in {time.perf_counter() - t0:.1f}s", flush=True)
    results = {}
    try:
        for which in ("floor", "prefdata"):
            proc = subprocess.run([sys.executable, __file__, "--child", which, "--data", str(data),
                                   "--partition-prompts", str(args.partition_prompts),
                                   "--partition-pairs", str(args.partition_pairs)],
                                  capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{which} failed:\n{proc.stderr[-4000:]}")
            results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{which:>9}: {json.dumps(results[which])}", flush=True)
    finally:
        if owned and not args.keep:
            import shutil

            shutil.rmtree(data, ignore_errors=True)
    ratio = results["prefdata"]["seconds"] / results["floor"]["seconds"]
    print(f"ratio prefdata / floor wall time: {ratio:.2f}x (target <= 2x); peak RSS prefdata "
          f"{results['prefdata']['peak_rss_mib'] / 1024:.2f} GiB (target < 8 GiB), floor "
          f"{results['floor']['peak_rss_mib'] / 1024:.2f} GiB")


if __name__ == "__main__":
    main()
