"""Score a round's policy on the held-out prompts: greedy answers, the recipe's pointwise judges.

    overrides = eval_overrides(plan)          # k=1, temperature 0, only the eval judges
    scores = eval_scores(RunDir(run).stage("label").data, heldout_ids, judge_types)
    summary = summarize_eval(scores, baseline, pass_score=1.0)

One row per held-out prompt and judge, also for a prompt that got no answer (the sample
stage dropped it, e.g. too long) or no score: those count as missing. Per judge: the mean
score over the scored ones; for programmatic checks, the pass rate over all held-out prompts
(score >= pass_score, a missing score fails); and the win rate against pi_0 on the prompts
both answered with a score (win 1, tie 0.5, loss 0; the others are left out and counted).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from prefdata.iterate.config import Plan


def eval_overrides(plan: Plan) -> list[str]:
    """`--set` overrides that turn the recipe's sample + label sections into the evaluation."""
    judges = [j.model_dump(mode="json") for j in plan.recipe.label.judges if j.id in plan.eval_judges]
    overrides = ["sample.k=1", "sample.sampling.temperature=0.0", f"label.judges={json.dumps(judges)}",
                 "label.aggregate_judges=null", "label.weights=null"]
    max_tokens = plan.recipe.iterate.eval.max_tokens
    if max_tokens is not None:
        overrides.append(f"sample.sampling.max_tokens={max_tokens}")
    return overrides


def eval_scores(judgments: Path, prompt_ids: list[str], judge_types: dict[str, str]) -> pl.DataFrame:
    """One row per (held-out prompt, judge): the greedy answer's score, null when there is none."""
    grid = pl.DataFrame({"prompt_id": prompt_ids}).join(
        pl.DataFrame({"judge_id": list(judge_types), "judge_type": list(judge_types.values())}), how="cross")
    scored = (pl.read_parquet(judgments).filter(pl.col("judge_id").is_in(list(judge_types)))
              .select("prompt_id", "judge_id", "score"))
    return grid.join(scored, on=["prompt_id", "judge_id"], how="left").sort("prompt_id", "judge_id")


CHECKED = ("programmatic", "ifeval")  # judges with a right answer: a pass rate means something


def summarize_eval(scores: pl.DataFrame, baseline: pl.DataFrame | None, pass_score: float) -> dict:
    """Per judge: prompts, mean, missing, pass rate (programmatic, ifeval), win rate against the baseline."""
    out = {}
    for judge in scores["judge_id"].unique(maintain_order=True).to_list():
        mine = scores.filter(pl.col("judge_id") == judge)
        valid = mine["score"].drop_nulls()
        entry = {"prompts": mine.height, "missing": mine.height - valid.len(),
                 "mean": float(valid.mean()) if valid.len() else None}
        if mine["judge_type"][0] in CHECKED:
            entry["pass_rate"] = float((mine["score"].fill_null(float("-inf")) >= pass_score).mean())
        if baseline is not None:
            entry.update(_win_rate(mine, baseline.filter(pl.col("judge_id") == judge)))
        out[judge] = entry
    return out


def _win_rate(mine: pl.DataFrame, base: pl.DataFrame) -> dict:
    both = mine.join(base, on="prompt_id", suffix="_base").filter(
        pl.col("score").is_not_null() & pl.col("score_base").is_not_null())
    if not both.height:
        return {"win_rate_vs_initial": None, "compared": 0}
    wins = (both["score"] > both["score_base"]).sum() + 0.5 * (both["score"] == both["score_base"]).sum()
    return {"win_rate_vs_initial": float(wins / both.height), "compared": both.height}
