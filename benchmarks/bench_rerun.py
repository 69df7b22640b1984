"""Time of a re-run where only a downstream stage changed vs the full run.

    python benchmarks/bench_rerun.py --prompts 50 --backend vllm

Builds prompts -> sample (tiny local model, k=4) -> label -> pair -> filter -> export into
one run dir, then re-runs with only the filter threshold changed. The downstream stages
here are trivial stand-ins (length score, max-min pair, margin filter, copy export) so the
figure isolates the runner's reuse of the expensive stages; the real label/pair/filter
stages plug in the same way. Prints both times, the ratio and which stages re-ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

REPO = Path(__file__).resolve().parents[1]


def downstream():
    """Trivial label/pair/filter/export stages and a recipe model that accepts their configs."""
    import polars as pl

    from prefdata.config import StrictModel
    from prefdata.recipe import Recipe
    from prefdata.stages.base import Stage, StageOutput
    from prefdata.ledger import empty_rejects, rejects_from

    class Threshold(StrictModel):
        threshold: float = 0.0

    class BenchRecipe(Recipe):
        label: Threshold | None = None
        pair: Threshold | None = None
        filter: Threshold | None = None
        export: Threshold | None = None

    def passthrough(name, inputs, fn):
        class S(Stage):
            def run(self, ins, ctx):
                data = fn(ins, self.config)
                return StageOutput(data=data, rejects=empty_rejects(), rows_in=data.height)
        S.name, S.inputs = name, inputs
        return S

    class Filter(Stage):
        name, inputs = "filter", ("pairs",)

        def run(self, ins, ctx):
            p, keep = ins["pairs"], pl.col("margin") >= self.config.threshold
            rej = rejects_from(p.filter(~keep), stage="filter", reason="low_margin", message="margin",
                               id_column="prompt_id", value_columns=["margin"])
            return StageOutput(data=p.filter(keep), rejects=rej, rows_in=p.height)

    stages = {
        "label": passthrough("label", ("prompts", "candidates"), lambda i, c: i["candidates"].select(
            "prompt_id", "candidate_id", pl.col("text").str.len_chars().cast(pl.Float64).alias("score"))),
        "pair": passthrough("pair", ("prompts", "candidates", "judgments"), lambda i, c: i["judgments"].group_by(
            "prompt_id", maintain_order=True).agg((pl.col("score").max() - pl.col("score").min()).alias("margin"))),
        "filter": Filter,
        "export": passthrough("export", ("pairs",), lambda i, c: i["pairs"]),
    }
    return stages, BenchRecipe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--backend", choices=["vllm", "transformers"], default="vllm")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import yaml

    from prefdata import runner
    from prefdata.tiny import build_tiny_model

    tmp = Path(tempfile.mkdtemp())
    model = str(build_tiny_model(tmp / "tiny", seed=0))
    recipe = yaml.safe_load((REPO / "pipelines" / "sample_vllm_cpu.yaml").read_text())
    recipe["prompts"].update(path=str(REPO / "pipelines" / "data" / "prompts.jsonl"), limit=args.prompts)
    engine = recipe["sample"]["models"][0] if args.backend == "vllm" else {"backend": "transformers"}
    recipe["sample"]["models"] = [{**engine, "model": model}]
    recipe.update(label={}, pair={}, filter={"threshold": 0.0}, export={})
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(recipe))
    stages, recipe_model = downstream()
    runner.STAGE_CLASSES.update(stages)
    from rich.console import Console

    quiet = Console(file=open(os.devnull, "w"))
    t0 = time.perf_counter()
    runner.build(path, tmp / "run", recipe_model=recipe_model, console=quiet)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = runner.build(path, tmp / "run", ["filter.threshold=5"], recipe_model=recipe_model, console=quiet)
    rerun = time.perf_counter() - t0
    reran = [s.name for s in m.stages if not s.skipped]
    print(f"full run ({args.prompts} prompts, k=4, {args.backend}, engine start included): {full:.1f} s")
    print(f"re-run with filter.threshold changed: {rerun:.2f} s, re-ran {reran}")
    print(f"full / re-run: {full / rerun:.0f}x")
    json.dump({"full_s": full, "rerun_s": rerun, "reran": reran}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
