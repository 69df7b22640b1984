"""Score a round's policy on the held-out prompts: greedy answers, the recipe's pointwise judges.

    overrides = eval_overrides(plan)          # k=1, temperature 0, only the eval judges
    scores = eval_scores(RunDir(run).stage("label").data, heldout_ids, judge_types)
    summary = summarize_eval(scores, baseline, pass_score=1.0)

One row per held-out prompt and judge, also for a prompt that got no answer (the sample
stage dropped it, e.g. too long) or no score: those count as missing. Per judge: the mean
score over the scored ones; for programmatic checks, the pass rate over all held-out prompts
(score >= pass_score, a missing score fails); the win rate against pi_0 on the prompts
both answered with a score (win 1, tie 0.5, loss 0; the others are left out and counted); and
`vs_initial`, the paired difference from pi_0 with its 95% bootstrap interval and verdict
(prefdata/evaluate/compare.py, as `prefdata eval` compares models): of the pass rate for
checks, of the score for other judges. IFEval judges also get IFEval's own accuracies, per
prompt and compared with pi_0 by `prefdata eval`'s code (`ifeval_section`).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from prefdata.evaluate.compare import paired_difference
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


def ifeval_section(run: Path, initial: Path | None, prompts: pl.DataFrame, judges: list[str]) -> dict:
    """Per `ifeval` eval judge: IFEval's accuracies (prompt- and instruction-level, strict and loose),
    relevance and answer length as `prefdata eval` scores them, and their paired differences from
    pi_0's evaluation run `initial` (None: this is pi_0)."""
    from prefdata.evaluate.compare import compare, summarize
    from prefdata.evaluate.scores import ACCURACY, prompt_scores

    out = {}
    for judge in judges:
        mine = prompt_scores(run, prompts, judge)
        entry = summarize({"t": mine})["t"]
        if initial is not None:
            entry["vs_initial"] = compare({"t": mine, "0": prompt_scores(initial, prompts, judge)}, "0", ACCURACY)["t"]
        out[judge] = entry
    return out


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
            base = baseline.filter(pl.col("judge_id") == judge)
            entry.update(_win_rate(mine, base))
            # checks: the pass rate's difference (a missing score fails); other judges: the score's, where both have one
            value = ((pl.col("score").fill_null(float("-inf")) >= pass_score).cast(pl.Float64)
                     if mine["judge_type"][0] in CHECKED else pl.col("score"))
            entry["vs_initial"] = paired_difference(mine.with_columns(value.alias("value")),
                                                    base.with_columns(value.alias("value")), "value")
        out[judge] = entry
    return out


def _win_rate(mine: pl.DataFrame, base: pl.DataFrame) -> dict:
    both = mine.join(base, on="prompt_id", suffix="_base").filter(
        pl.col("score").is_not_null() & pl.col("score_base").is_not_null())
    if not both.height:
        return {"win_rate_vs_initial": None, "compared": 0}
    wins = (both["score"] > both["score_base"]).sum() + 0.5 * (both["score"] == both["score_base"]).sum()
    return {"win_rate_vs_initial": float(wins / both.height), "compared": both.height}
