"""A whole `prefdata build` of 10,000,000 candidates, label through export, in bounded memory.

    python benchmarks/bench_build_10m.py                           # 2,500,000 prompts x 4 candidates
    python benchmarks/bench_build_10m.py --prompts 25000           # a quick look at the same run
    python benchmarks/bench_build_10m.py --data /tmp/d --keep      # generate once, reuse with --data

Data: benchmarks/synthetic_labels.py (prompts and candidates; its labels are not used). The
recipe (written beside the data) labels every candidate with a programmatic judge of the
user's own (`build_judge:score`, a module beside the recipe: a hash of the answer rounded to
0.1, so ties happen, 2% unlabelled), pairs best vs worst, filters [gap, quality, length,
exact dedup] and exports a train/test dataset directory. `prefdata build` runs as a child
process with the prompts and candidates as `--artifact` files; this script reports its wall
time, its peak RSS (getrusage of the child; target < 8 GiB) and each stage's share of the
time, from the run manifest.
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

import yaml

from synthetic_labels import in_child, make_data

JUDGE = '''"""The benchmark's judge: a stable pseudo-score per answer, rounded (ties), 2% unlabelled."""
import zlib


def score(prompt, response, reference):
    h = zlib.crc32(response.encode())
    return None if h % 50 == 0 else round((h % 1000) / 100, 1)
'''

STAGES = ("label", "pair", "filter", "export")


def write_recipe(folder: Path, partition_prompts: int, partition_pairs: int) -> Path:
    (folder / "build_judge.py").write_text(JUDGE)
    (folder / "prompts.jsonl").write_text('{"prompt": "unused: replaced by --artifact prompts"}\n')
    recipe = folder / "build_10m.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "build-10m", "seed": 0, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": 4, "models": [{"backend": "vllm", "model": "unused-replaced-by-artifact"}]},
        "label": {"judges": [{"type": "programmatic", "id": "score", "function": "build_judge:score"}],
                  "partition_prompts": partition_prompts},
        "pair": {"strategy": "best_vs_worst", "partition_prompts": partition_prompts},
        "filter": {"steps": [{"type": "gap", "min_margin": 0.1}, {"type": "quality"}, {"type": "length"},
                             {"type": "dedup", "near": False}], "partition_pairs": partition_pairs},
        "export": {"test_size": 0.01, "plots": True},
    }, sort_keys=False))
    return recipe


def build(data: Path, recipe: Path, run: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run),
                           "--artifact", f"prompts={data / 'prompts.parquet'}",
                           "--artifact", f"candidates={data / 'candidates.parquet'}"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"prefdata build failed:\n{proc.stderr[-4000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    manifest = json.loads((run / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    return {"seconds": seconds, "peak_rss_gib": peak,
            "stages": {n: {"seconds": stages[n]["seconds"], "rows_in": stages[n]["rows_in"],
                           "rows_kept": stages[n]["rows_kept"]} for n in STAGES}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=2_500_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--partition-prompts", type=int, default=100_000)
    parser.add_argument("--partition-pairs", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="a directory for the generated data (reused when it has it)")
    parser.add_argument("--keep", action="store_true", help="leave the generated data and the run in --data")
    args = parser.parse_args()
    owned = args.data is None
    data = Path(tempfile.mkdtemp(prefix="bench-build-")) if owned else args.data
    data.mkdir(parents=True, exist_ok=True)
    try:
        if not (data / "candidates.parquet").is_file():
            t0 = time.perf_counter()
            in_child(make_data, args.prompts, args.k, data)
            print(f"data: {args.prompts} prompts x {args.k} = {args.prompts * args.k} candidates in "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
        recipe = write_recipe(data, args.partition_prompts, args.partition_pairs)
        result = build(data, recipe, data / "run")
    finally:
        if owned and not args.keep:
            import shutil

            shutil.rmtree(data, ignore_errors=True)
    total = sum(s["seconds"] for s in result["stages"].values())
    print(json.dumps(result))
    print(f"prefdata build, {args.prompts * args.k} candidates: {result['seconds']:.0f} s wall, peak RSS "
          f"{result['peak_rss_gib']:.2f} GiB (target < 8 GiB)")
    for name, s in result["stages"].items():
        print(f"  {name:>7}: {s['seconds']:7.1f} s ({s['seconds'] / total:4.0%}), {s['rows_in']} in, "
              f"{s['rows_kept']} kept")


if __name__ == "__main__":
    main()
