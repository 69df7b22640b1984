"""The training sets the demo and the evidence benchmark compare, all from one candidate set.

    datasets = make_datasets(out, recipe, overrides, ["naive", "prefdata"], seed=0)

Every variant pairs the same candidates (k per prompt, sampled once from the SFT model) with
the same judge scores (`pipelines/demo.yaml`'s label stage, run once):
- ultrafeedback: UltraFeedback-binarized's rule as users run it (TRL's and the Zephyr
  recipe's `ultrafeedback_binarized`): chosen = the best-scored answer, rejected = a random
  other one, even when it scores the same (ties kept).
- max_min: distilabel's max-vs-min formatting: chosen = the first answer with the top
  score, rejected = the first with the lowest; when all scores are equal both are the same
  answer, and the pair stays.
  (Both peers' datasets go to TRL as those tools would write them: prefdata's pairing,
  filters and export checks never see them, and training skips prefdata's data checks.)
- prefdata: tie-free best-vs-worst on the noisy reward model, quality filter (the recipe as written).
- margin_quantile: prefdata + keep the half with the largest normalized margin.
- rip: prefdata + RIP (rejected score >= its 0.25 quantile, rejected length >= its 0.25
  quantile, margin <= its 0.9 quantile).
- sweet_spot: rejected = the answer nearest mean - 2 std of the prompt's scores.
- pairwise: best-vs-worst on the position-biased pairwise judge's win rates.
- pairwise_swap: pairwise + keep only pairs whose two answers had every verdict hold in
  both orders (gap filter, min_swap_consistency 1.0).
Every threshold here was fixed before the first benchmark run.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl

from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
from prefdata.rundir import RunDir
from prefdata.runner import build

QUALITY = "{type: quality}"
OVERRIDES: dict[str, list[str]] = {
    "prefdata": [],
    "margin_quantile": [f"filter.steps=[{QUALITY}, {{type: margin_quantile, keep: 0.5}}]"],
    "rip": [f"filter.steps=[{QUALITY}, {{type: rip, rejected_score_quantile: 0.25, rejected_length_quantile: 0.25, "
            "gap_quantile: 0.9}]"],
    "sweet_spot": ["pair.strategy=sweet_spot"],
    "pairwise": ["pair.label_source=ab"],
    "pairwise_swap": ["pair.label_source=ab", f"filter.steps=[{QUALITY}, {{type: gap, min_swap_consistency: 1.0}}]"],
}
NAIVE = ("ultrafeedback", "max_min")
SUMMARY = {  # one line each, for the console
    "ultrafeedback": "UltraFeedback-binarized: best vs a random other, ties kept",
    "max_min": "distilabel max-vs-min: all equal -> chosen == rejected",
    "prefdata": "tie-free best-vs-worst + quality filter",
    "margin_quantile": "prefdata + top half by normalized margin",
    "rip": "prefdata + RIP (rejected score, rejected length, gap)",
    "sweet_spot": "rejected nearest mean - 2 std",
    "pairwise": "best-vs-worst on the position-biased pairwise judge",
    "pairwise_swap": "pairwise + swap-consistency filter",
}
VARIANTS = (*NAIVE, *OVERRIDES)
NAIVE_JUDGE = "rm"  # the peers' rules read the same noisy reward model as prefdata's setting


def make_datasets(out: Path, recipe: Path, overrides: list[str], variants: list[str], seed: int,
                  console=None) -> dict[str, Path]:
    """Sample and label once (OUT/runs/labels), then one dataset dir per variant."""
    labels = out / "runs" / "labels"
    build(recipe, labels, overrides, until_stage="label", console=console)
    run = RunDir(labels)
    shared = {"prompts": run.stage("prompts").data, "candidates": run.stage("sample").data,
              "judgments": run.stage("label").data}
    datasets = {}
    for variant in variants:
        if variant in NAIVE:
            datasets[variant] = naive_dataset(variant, shared, out / "runs" / variant / "dataset", seed)
            continue
        target = out / "runs" / variant
        build(recipe, target, [*overrides, *OVERRIDES[variant]], console=console,
              external={"candidates": shared["candidates"], "judgments": shared["judgments"]})
        datasets[variant] = RunDir(target).dataset
    return datasets


def naive_dataset(rule: str, shared: dict[str, Path], out: Path, seed: int, judge: str = NAIVE_JUDGE) -> Path:
    """A peer tool's binarization of one judge's scores, written as a dataset dir TRL loads."""
    prompts = pl.read_parquet(shared["prompts"]).select("prompt_id", "prompt")
    candidates = pl.read_parquet(shared["candidates"]).select("prompt_id", "candidate_id", "text", "sample_index")
    scores = (pl.read_parquet(shared["judgments"]).filter(pl.col("judge_id") == judge)
              .select("candidate_id", "score"))
    rows = []
    rng = random.Random(seed)
    scored = candidates.join(scores, on="candidate_id").sort("prompt_id", "sample_index")
    for (prompt_id,), group in scored.group_by("prompt_id", maintain_order=True):
        answers = group.to_dicts()
        if len(answers) < 2 or any(a["score"] is None for a in answers):
            continue
        top = max(a["score"] for a in answers)
        chosen = next(a for a in answers if a["score"] == top)
        if rule == "ultrafeedback":
            rejected = rng.choice([a for a in answers if a is not chosen])
        else:
            rejected = next(a for a in answers if a["score"] == min(x["score"] for x in answers))
        rows.append({"prompt_id": prompt_id, "chosen": [{"role": "assistant", "content": chosen["text"]}],
                     "rejected": [{"role": "assistant", "content": rejected["text"]}],
                     "chosen_score": chosen["score"], "rejected_score": rejected["score"],
                     "margin": chosen["score"] - rejected["score"], "source": rule})
    pairs = pl.DataFrame(rows).join(prompts, on="prompt_id")
    examples = examples_frame(pairs.to_dicts(), "conversational")
    write_dataset_dir(out, examples, pl.DataFrame(), source=f"{rule} binarization (peer rule, unfiltered)")
    return out
