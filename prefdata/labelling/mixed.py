"""Mixed labels: the annotators' ranking where a prompt was answered, the judges' labels everywhere else.

    label:
      source: mixed            # judges below run as usual; RUN_DIR/human/judgments.parquet, once pulled, decides
      judges: [...]
      mixed_id: mixed          # judge id of the mixed rows (the pair stage pairs on them by default)

    from prefdata.labelling.mixed import mix
    rows, contradictions, stats = mix(labels.lazy(), human, score_judge="rm", mixed_id="mixed")

One `mixed` row per candidate (judge_type "mixed", `provenance` human or judges):
- a prompt with at least two candidates the annotators scored is the humans': its candidates'
  scores are the annotators' mean score h in [0, 1] put on the score judge's scale,
  lo + h * (hi - lo) with lo/hi that judge's lowest/highest score over the run, so margins
  mean the same in both kinds of prompt (a human best-vs-worst spans the judge's whole range)
  and a margin filter treats them alike. A candidate the annotators left unscored in such a
  prompt has no score (the pair stage counts it as missing_score).
- every other prompt keeps the score judge's labels (the aggregate, else the only judge).
`raw_output` keeps both sides ({"judges": score, "human": h}); the pair stage reads it to mark
a pair `both` when the judges order it the same way (prefdata/pairing/blocks.py).

A contradiction is a human prompt whose judges' pair (their best vs their worst, scores
apart) the annotators order the other way: the human ranking wins; each is listed in
`<label stage dir>/contradictions.parquet` and counted in the stage stats.
Before anything is pulled, `mixed` is the judges' labels with provenance `judges`.
"""

from __future__ import annotations

import polars as pl

from prefdata.records import Judgment
from prefdata.frames import polars_schema, with_all_columns

EXAMPLES = 20  # contradicting prompt ids listed in the stats (all of them are in the file)


def human_scores(human: pl.DataFrame, candidates: pl.LazyFrame) -> tuple[pl.DataFrame, int]:
    """(prompt_id, candidate_id, human: the annotators' mean score) of the run's current
    candidates, and the number of human rows about candidates the run no longer has."""
    rows = human.filter(pl.col("score").is_not_null() & pl.col("score").is_finite())
    known = rows.join(candidates.select("candidate_id").collect(), on="candidate_id", how="semi")
    # Sorted before the mean: the same float whatever order the annotators' rows came in.
    means = (known.group_by("prompt_id", "candidate_id")
             .agg(pl.col("score").cast(pl.Float64).sort().alias("_s"))
             .select("prompt_id", "candidate_id", pl.col("_s").list.mean().alias("human")))
    return means, rows.height - known.height


def mix(labels: pl.LazyFrame, human: pl.DataFrame | None, score_judge: str, mixed_id: str
        ) -> tuple[pl.LazyFrame, pl.DataFrame, dict]:
    """(mixed Judgment rows, contradictions, stats). `labels`: the judges' rows (one per judge and
    candidate); `human`: human_scores' frame (None: nothing pulled yet)."""
    machine = labels.filter((pl.col("judge_id") == score_judge) & pl.col("opponent_id").is_null()).select(
        "prompt_id", "candidate_id", pl.col("score").alias("judges"), "parse_status", "reason")
    finite = pl.col("judges").is_not_null() & pl.col("judges").is_finite()
    lo, hi, n_prompts = machine.select(pl.col("judges").filter(finite).min().alias("lo"),
                                       pl.col("judges").filter(finite).max().alias("hi"),
                                       pl.col("prompt_id").n_unique()).collect().row(0)
    if human is None:
        human = pl.DataFrame(schema={"prompt_id": pl.String, "candidate_id": pl.String, "human": pl.Float64})
    answered = human.group_by("prompt_id").agg(pl.len().alias("_n")).filter(pl.col("_n") >= 2).select("prompt_id")
    span = (hi - lo) if lo is not None and hi > lo else 1.0
    base = 0.0 if lo is None or not hi > lo else lo
    by_human = pl.col("prompt_id").is_in(answered["prompt_id"].implode())
    joined = machine.join(human.lazy().select("candidate_id", "human"), on="candidate_id", how="left")
    rows = joined.select(
        pl.concat_str(pl.lit(mixed_id + ":"), "candidate_id").alias("judgment_id"),
        "prompt_id", "candidate_id", pl.lit(mixed_id).alias("judge_id"), pl.lit("mixed").alias("judge_type"),
        pl.when(by_human).then(base + pl.col("human") * span).otherwise("judges").alias("score"),
        pl.struct("judges", "human").struct.json_encode().alias("raw_output"),
        pl.when(by_human & pl.col("human").is_null()).then(pl.lit("invalid_score"))
        .when(by_human).then(pl.lit("ok")).otherwise("parse_status").alias("parse_status"),
        pl.when(by_human & pl.col("human").is_null()).then(pl.lit("the annotators answered this prompt and left "
                                                                 "this candidate unscored"))
        .when(by_human).then(None).otherwise("reason").alias("reason"),
        pl.when(by_human).then(pl.lit("human")).otherwise(pl.lit("judges")).alias("provenance"),
    ).with_columns(pl.col("score").rank("min", descending=True).over("prompt_id").cast(pl.Int64).alias("rank"))
    rows = with_all_columns(rows, Judgment).cast(polars_schema(Judgment))
    contradictions = _contradictions(joined.filter(by_human & finite).collect())
    stats = {
        "mixed_id": mixed_id, "score_judge": score_judge, "human_scale": [base, base + span],
        "prompts_human": answered.height,
        "prompts_judges": n_prompts - answered.height,
        "contradictions": contradictions.height,
        "contradiction_examples": contradictions["prompt_id"].head(EXAMPLES).to_list(),
    }
    return rows, contradictions, stats


def _contradictions(rows: pl.DataFrame) -> pl.DataFrame:
    """Human prompts whose judges' best-vs-worst pair the annotators order the other way."""
    ordered = rows.sort(["prompt_id", "judges", "candidate_id"], descending=[False, True, False])
    ends = ordered.group_by("prompt_id", maintain_order=True).agg(
        pl.col("candidate_id").first().alias("judges_chosen"), pl.col("candidate_id").last().alias("judges_rejected"),
        pl.col("judges").first().alias("_top"), pl.col("judges").last().alias("_bottom"),
        pl.col("human").first().alias("human_chosen_score"), pl.col("human").last().alias("human_rejected_score"))
    return ends.filter((pl.col("_top") > pl.col("_bottom"))
                       & (pl.col("human_chosen_score") < pl.col("human_rejected_score"))).drop("_top", "_bottom")
