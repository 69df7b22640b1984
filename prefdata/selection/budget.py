"""Which prompts get a human label when the budget is smaller than the run: the machines' doubt first.

    prefdata argilla push runs/hh --budget 200 --select margin      # or --budget 0.2: a share of the prompts
    argilla: {budget: 200, select: disagreement}                     # the same, in the recipe

    from prefdata.selection.budget import select
    selection = select(run_dir, judge_labels, prompt_ids, "margin", budget=200, score_judge="rm", dataset="hh-1")

Every prompt with candidates gets a value and a rank (1 = asked first); the first `budget`
ranks are pushed. Criteria, each from the run's label stage:
- `margin`: the score judge's gap between the best and the runner-up candidate, divided by
  that judge's score std over the run; smallest first. A prompt the judge could not rank
  (fewer than two scored candidates) comes before every ranked one.
- `disagreement`: the share of a prompt's candidate pairs on which two judges (candidate-level
  scores, aggregates left out) prefer opposite sides, averaged over every two judges; largest
  first. Needs two judges.
- `swap`: the share of a prompt's candidates that a pairwise judge judged differently in the
  two orders (`swap_consistent` false); largest first. Needs a pairwise judge.
- `implicit_margin`: the DPO implicit reward margin of the score judge's pair (its best vs its
  worst answer) under `argilla.policy` and `argilla.reference`, computed with the trainer's
  log-prob code (prefdata/selection/implicit_margin.py); smallest first, so a pair the policy
  already prefers the other way comes first (Yang et al. 2024, arXiv 2406.17312).
- `random`: a seeded hash of the prompt id: the baseline to compare the others with.
`labels` are the judges' candidate-level labels (push.judge_labels: no human answers). Ties go
to the prompt id. The selection is written to RUN_DIR/human/selection.parquet (prompt_id,
criterion, value, rank, selected, and what decided it: judge, seed, dataset) before anything is
pushed. A later push to the same dataset with a larger budget and the same criterion, judge
and seed keeps the order it wrote (prompts added since rank after it), so what was selected
stays selected and the next prompts are the next in line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from prefdata.atomic import write_parquet
from prefdata.errors import PrefdataError

CRITERIA = ("margin", "disagreement", "swap", "implicit_margin", "random")
LARGEST_FIRST = {"margin": False, "disagreement": True, "swap": True, "implicit_margin": False, "random": False}


def budget_size(budget: float, n_prompts: int) -> int:
    """A budget of N prompts (>= 1) or a share of them (< 1), as a number of prompts."""
    if budget <= 0:
        raise PrefdataError(f"--budget {budget}: give a number of prompts (>= 1) or a share of them (0 < share < 1)")
    if budget < 1:
        return max(1, round(budget * n_prompts))
    if budget != int(budget):
        raise PrefdataError(f"--budget {budget}: a number of prompts is whole; a share is below 1")
    return int(budget)


def values(labels: pl.DataFrame | None, prompt_ids: list[str], criterion: str, seed: int,
           score_judge: str | None, implicit: pl.DataFrame | None = None) -> pl.DataFrame:
    """prompt_id, value: the criterion's value per prompt (null: the machines could not decide).
    `implicit`: prompt_id, value of `implicit_margin` (computed by the caller: it needs models)."""
    prompts = pl.DataFrame({"prompt_id": prompt_ids}, schema={"prompt_id": pl.String})
    if criterion == "random":
        return prompts.with_columns(pl.col("prompt_id").map_elements(
            lambda p: int(hashlib.sha256(f"{seed}/{p}".encode()).hexdigest()[:12], 16) / 16**12,
            return_dtype=pl.Float64).alias("value"))
    if criterion not in CRITERIA:
        raise PrefdataError(f"--select {criterion!r}: choose one of {', '.join(CRITERIA)}")
    scores = _candidate_scores(labels)
    if criterion == "margin":
        value = _margins(scores, score_judge)
    elif criterion == "disagreement":
        value = _disagreement(scores)
    elif criterion == "implicit_margin":
        if implicit is None:
            raise PrefdataError("--select implicit_margin needs a policy and its reference: set argilla.policy and "
                                "argilla.reference to their model folders")
        value = implicit
    else:
        value = _swaps(labels)
    return prompts.join(value, on="prompt_id", how="left")


def _candidate_scores(labels: pl.DataFrame | None) -> pl.DataFrame:
    if labels is None or labels.height == 0:
        raise PrefdataError("the run has no judges' labels: --select needs them (build the recipe's label stage "
                            "with judges first), or use --select random")
    return labels.select("prompt_id", "candidate_id", "judge_id", "judge_type", pl.col("score").cast(pl.Float64))


def _margins(scores: pl.DataFrame, judge: str | None) -> pl.DataFrame:
    judges = scores["judge_id"].unique().to_list()
    judge = judge or ("aggregate" if "aggregate" in judges else judges[0] if len(judges) == 1 else None)
    if judge not in judges:
        raise PrefdataError(f"--select margin: the label stage has judges {sorted(judges)} and no aggregate; "
                            "set argilla.suggestions_from to the judge whose margins decide")
    rows = scores.filter((pl.col("judge_id") == judge) & pl.col("score").is_finite())
    std = rows["score"].std() or 1.0
    top = rows.sort("score", descending=True).group_by("prompt_id", maintain_order=True).head(2)
    return top.group_by("prompt_id").agg(
        pl.when(pl.len() >= 2).then((pl.col("score").max() - pl.col("score").min()) / std).alias("value"))


def _disagreement(scores: pl.DataFrame) -> pl.DataFrame:
    own = scores.filter(pl.col("judge_type") != "aggregate")
    judges = sorted(own["judge_id"].unique().to_list())
    if len(judges) < 2:
        raise PrefdataError(f"--select disagreement needs two judges; the label stage has {judges or 'none'}")
    wide = own.pivot("judge_id", index=["prompt_id", "candidate_id"], values="score", aggregate_function="first")
    pairs = wide.join(wide, on="prompt_id", suffix="_b").filter(pl.col("candidate_id") < pl.col("candidate_id_b"))
    flips = [((pl.col(a) - pl.col(f"{a}_b")).sign() * (pl.col(b) - pl.col(f"{b}_b")).sign() < 0).cast(pl.Float64)
             for i, a in enumerate(judges) for b in judges[i + 1:]]
    return pairs.group_by("prompt_id").agg(pl.mean_horizontal(*flips).mean().alias("value"))


def _swaps(labels: pl.DataFrame) -> pl.DataFrame:
    flags = labels.filter(pl.col("swap_consistent").is_not_null()) if "swap_consistent" in labels.columns \
        else labels.clear()
    if flags.height == 0:
        raise PrefdataError("--select swap needs a pairwise judge (its verdicts in both orders); the label stage "
                            "has none: add one, or choose --select margin")
    return flags.group_by("prompt_id").agg((~pl.col("swap_consistent")).cast(pl.Float64).mean().alias("value"))


def select(run_dir: Path, labels: pl.DataFrame | None, prompt_ids: list[str], criterion: str, budget: float,
           seed: int = 0, score_judge: str | None = None, dataset: str | None = None,
           implicit: pl.DataFrame | None = None) -> pl.DataFrame:
    """The selection, written to RUN_DIR/human/selection.parquet. `score_judge`: whose margins
    `margin` reads (default: the aggregate, else the only judge); `implicit`: see `values`."""
    size = budget_size(budget, len(prompt_ids))
    ranked = values(labels, prompt_ids, criterion, seed, score_judge, implicit).sort(
        [pl.col("value").is_not_null(), "value", "prompt_id"], descending=[False, LARGEST_FIRST[criterion], False],
        nulls_last=True)
    path = Path(run_dir) / "human" / "selection.parquet"
    if path.is_file():  # a larger budget extends the earlier order; it never reshuffles it
        earlier = pl.read_parquet(path)
        same = (criterion, score_judge, seed, dataset)
        if earlier.height and "dataset" in earlier.columns and tuple(
                earlier.select("criterion", "judge", "seed", "dataset").row(0)) == same:
            kept = earlier.select("prompt_id").join(ranked, on="prompt_id", how="inner", maintain_order="left")
            ranked = pl.concat([kept, ranked.join(kept.select("prompt_id"), on="prompt_id", how="anti")])
    selection = ranked.with_columns(
        pl.lit(criterion).alias("criterion"), pl.int_range(1, pl.len() + 1).alias("rank"),
        pl.lit(score_judge, dtype=pl.String).alias("judge"), pl.lit(seed).alias("seed"),
        pl.lit(dataset, dtype=pl.String).alias("dataset"),
    ).select("prompt_id", "criterion", "value", "rank", (pl.col("rank") <= size).alias("selected"),
             "judge", "seed", "dataset")
    write_parquet(selection, path)
    return selection
