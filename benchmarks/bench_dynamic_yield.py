"""Does dynamic sampling buy pairs? Yield at equal candidates on a real model, on a dev split.

    python benchmarks/bench_dynamic_yield.py --out runs/bench-dynamic              # 60 dev prompts, SmolLM2
    python benchmarks/bench_dynamic_yield.py --out runs/bench-dynamic --dev 200 --model MODEL_DIR

The real-model benchmark's build (benchmarks/real.yaml: real questions with 2 IFEval
instructions, SmolLM2-135M-Instruct, IFEval's checkers with the relevance guard, best vs worst,
the quality filter) on the first `--dev` of its training prompts (benchmarks/real_prompts.py:
never a held-out prompt), three ways:
- fixed k=4: the recipe as it is (4 candidates per prompt);
- fixed k=8: twice the candidates, spent evenly;
- dynamic: k=4 first, then `sample.dynamic` with max_per_prompt 16 and a budget of 8 per
  prompt, so it spends exactly as many candidates as fixed k=8, where they are needed.
  Its first round is the fixed k=4 run itself (copied, then reused by key).
Each also with `pair.complete_only` (`+complete`): answers cut at max_tokens are left out of
pairing, so the quality filter's truncation check no longer drops the pair, and dynamic
sampling resamples the prompts left without a complete pair. The fixed arms' `+complete`
runs reuse their samples and labels (copied, then reused by key): only pairing differs.
Per arm: candidates, prompts with a pair, pairs, pairs kept by the quality filter, and the
yield (kept pairs per 1,000 candidates); yield ratios with 95% bootstrap intervals over
prompts (the same prompts in every arm): dynamic / fixed k=8 (equal candidates) and
dynamic / fixed k=4, each as is and with complete_only, and the whole change (dynamic
+complete / fixed k=4, today's recipe).
Target (issue "Make the data choices pay"): dynamic >= 2x the yield of fixed k at equal
candidates. Every command is its own process; a finished arm is reused, a killed one resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from real_prompts import write_split  # noqa: E402

from prefdata.gguf import smollm2  # noqa: E402

RECIPE = HERE / "real.yaml"
TRAIN_PROMPTS, HELDOUT_PROMPTS = 160, 100  # bench_real's CPU split: dev prompts are the first of its training ones


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-dynamic"))
    parser.add_argument("--dev", type=int, default=60, help="Dev prompts: the first of bench_real's training prompts.")
    parser.add_argument("--model", type=Path, help="Model directory (default: SmolLM2-135M-Instruct from PyPI).")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data")
    args = parser.parse_args()
    out = args.out.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # measured 2.4x faster on 2 cores
    model = (args.model or smollm2()).resolve()
    train, _ = write_split(args.shared, out / "prompts", max(TRAIN_PROMPTS, args.dev), HELDOUT_PROMPTS)
    dev = out / "prompts" / "dev.jsonl"
    dev.write_text("".join(train.read_text().splitlines(keepends=True)[: args.dev]))
    sets = [f"prompts.path={dev}", f"sample.models.0.model={model}", f"sample.sampling.max_tokens={args.max_tokens}",
            "sample.k=4"]
    arms = {"fixed_k4": sets, "fixed_k8": [*sets, "sample.k=8"],
            "dynamic": [*sets, "sample.dynamic.max_per_prompt=16", f"sample.dynamic.budget={8 * args.dev}"]}
    arms.update({f"{arm}+complete": [*o, "pair.complete_only=true"] for arm, o in list(arms.items())})
    # what each arm's run starts from: its samples and labels (or round 0) are reused by key
    start = {"dynamic": "fixed_k4", "fixed_k4+complete": "fixed_k4", "fixed_k8+complete": "fixed_k8",
             "dynamic+complete": "fixed_k4+complete"}
    for arm, overrides in arms.items():
        run, origin = out / "runs" / arm, out / "runs" / start.get(arm, "")
        if arm in start and not run.exists() and (origin / "manifest.json").is_file():
            shutil.copytree(origin, run)
        build(run, overrides)
    per_prompt = {arm: per_prompt_counts(out / "runs" / arm) for arm in arms}
    report = summarize(per_prompt)
    report["rounds"] = {arm: json.loads((out / "runs" / arm / "rounds.json").read_text())
                        for arm in ("dynamic", "dynamic+complete")}
    report["settings"] = {"dev_prompts": args.dev, "model": str(model), "max_tokens": args.max_tokens}
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    (out / "summary.md").write_text(markdown(report))
    print(markdown(report))


def build(run: Path, overrides: list[str]) -> None:
    cmd = [sys.executable, "-m", "prefdata.cli", "build", str(RECIPE), "--out", str(run), "--until-stage", "filter",
           *[a for o in overrides for a in ("--set", o)]]
    print("$ prefdata " + " ".join(cmd[3:]), flush=True)
    subprocess.run(cmd, check=True)
    manifest = json.loads((run / "manifest.json").read_text())
    from prefdata.report import rounds_table

    rounds = rounds_table((s["name"], json.loads(s["stats"])) for s in manifest["stages"])
    (run / "rounds.json").write_text(json.dumps(rounds, indent=2))


def per_prompt_counts(run: Path, candidates: Path | None = None) -> pl.DataFrame:
    """prompt_id, candidates, pairs (pair stage), kept (after the filters), in prompt_id order.
    `candidates`: the candidates file, where the run was given them (`--artifact candidates=`)."""
    stages = [s["name"] for s in json.loads((run / "manifest.json").read_text())["stages"]]
    sample = [s for s in stages if s.split(".")[0] == "sample"][-1]  # the last round's: every candidate
    prompts = pl.read_parquet(run / "stages" / "prompts" / "data.parquet").select("prompt_id")
    files = {"candidates": candidates or run / "stages" / sample / "data.parquet",
             "pairs": run / "stages" / "pair" / "data.parquet", "kept": run / "stages" / "filter" / "data.parquet"}
    table = prompts
    for name, path in files.items():
        table = table.join(pl.read_parquet(path).group_by("prompt_id").len(name), on="prompt_id", how="left")
    return table.fill_null(0).sort("prompt_id")


def summarize(per_prompt: dict[str, pl.DataFrame], n_boot: int = 10_000) -> dict:
    arms = {}
    for arm, t in per_prompt.items():
        n = t["candidates"].sum()
        arms[arm] = {"candidates": int(n), "prompts": t.height, "prompts_paired": int((t["pairs"] > 0).sum()),
                     "pairs": int(t["pairs"].sum()), "kept": int(t["kept"].sum()),
                     "yield_per_1k": round(1000 * t["kept"].sum() / n, 1) if n else None}
    return {"arms": arms, "ratios": {f"{a} / {b}": yield_ratio(per_prompt[a], per_prompt[b], n_boot)
                                     for a, b in RATIOS}}


def yield_ratio(a: pl.DataFrame, b: pl.DataFrame, n_boot: int = 10_000, seed: int = 0) -> dict:
    """Kept pairs per candidate of `a` over `b`, with a 95% bootstrap interval over rows (the same
    prompts, in the same order, in both)."""
    ka, ca = (a[c].to_numpy() for c in ("kept", "candidates"))
    kb, cb = (b[c].to_numpy() for c in ("kept", "candidates"))
    draws = np.random.default_rng(seed).integers(0, a.height, size=(n_boot, a.height))
    point = (ka.sum() / ca.sum()) / max(kb.sum() / cb.sum(), 1e-9)
    boot = (ka[draws].sum(1) / ca[draws].sum(1)) / np.maximum(kb[draws].sum(1), 1e-9) * cb[draws].sum(1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"ratio": round(float(point), 3), "ci95": [round(float(low), 3), round(float(high), 3)]}


RATIOS = (("dynamic", "fixed_k8"), ("dynamic", "fixed_k4"), ("dynamic+complete", "fixed_k8+complete"),
          ("dynamic+complete", "fixed_k4+complete"), ("fixed_k4+complete", "fixed_k4"),
          ("dynamic+complete", "fixed_k8"), ("dynamic+complete", "fixed_k4"))


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [f"{s['dev_prompts']} dev prompts, {Path(s['model']).name}, {s['max_tokens']} tokens; kept = pairs after "
             "the quality filter; yield = kept pairs per 1,000 candidates.", "",
             "| arm | candidates | prompts with a pair | pairs | kept | yield |", "|---|---|---|---|---|---|"]
    for arm, a in report["arms"].items():
        lines.append(f"| {arm} | {a['candidates']} | {a['prompts_paired']} of {a['prompts']} | {a['pairs']} | "
                     f"{a['kept']} | {a['yield_per_1k']} |")
    lines += ["", "| yield ratio | 95% interval |", "|---|---|"]
    lines += [f"| {name} | {r['ratio']:.2f}x [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] |"
              for name, r in report["ratios"].items()]
    for arm, rounds in report["rounds"].items():
        lines += ["", f"{arm}, by round:", "", "| round | candidates | prompts without a pair | pairs | yield (pairs, "
                  "before the filter) | sampled again |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['round']} | {r['candidates']} | {r['prompts_without_pair']} | {r['pairs']} | "
                  f"{r['yield_per_1k_candidates']} | {r['sampled_again']} |" for r in rounds]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
