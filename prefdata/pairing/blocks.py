"""Vectorised building blocks of the pair stage (see prefdata/stages/pair.py for the rules).

    values, status = candidate_values(candidates, judgments, "rm", use_rank=False, per_annotator=False)
    raw = generate_pairs(values, "best_vs_worst", min_margin=0.0, seed=0, cap=None)

Everything is a polars join / group-by: 1M candidates pair in seconds
(benchmarks/bench_pairing_1m.py).
"""

from __future__ import annotations

import polars as pl

from prefdata.errors import DataError
from prefdata.ledger import empty_rejects, rejects_from

STAGE = "pair"


def resolve_label_source(judgments: pl.DataFrame, requested: str | None) -> str:
    """The judge id to pair on: the requested one, else the aggregate, else the only judge."""
    ids = judgments["judge_id"].unique(maintain_order=True).to_list()
    if requested is not None:
        if ids and requested not in ids:
            raise DataError(f"pair.label_source {requested!r} is not among the judges in the labels: "
                            f"{', '.join(ids)}; set it to one of them")
        return requested
    if not ids:
        return "none"
    mixed = judgments.filter(pl.col("judge_type") == "mixed")["judge_id"].unique(maintain_order=True)
    if mixed.len() == 1:  # label.source mixed: human where answered, judges elsewhere
        return mixed[0]
    aggregates = judgments.filter(pl.col("judge_type") == "aggregate")["judge_id"].unique(maintain_order=True)
    if aggregates.len() == 1:
        return aggregates[0]
    choices = aggregates.to_list() if aggregates.len() > 1 else ids
    if len(choices) == 1:
        return choices[0]
    raise DataError(f"the labels come from several judges ({', '.join(choices)}) and no single aggregate; "
                    f"set pair.label_source to the one to pair on (e.g. --set pair.label_source={choices[0]})")


def _label_rows(judgments: pl.DataFrame, label: str, use_rank: bool) -> pl.LazyFrame:
    value = (-pl.col("rank").cast(pl.Float64)) if use_rank else pl.col("score").cast(pl.Float64)
    return (judgments.lazy().filter(pl.col("judge_id") == label)
            .select("candidate_id", pl.col("annotator").fill_null(""), value.alias("v")))


def candidate_values(candidates: pl.DataFrame, judgments: pl.DataFrame, label: str, use_rank: bool,
                     per_annotator: bool, complete_only: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(usable values: prompt_id, [annotator], candidate_id, value, length; candidate status).

    status has one row per candidate: ok | truncated (`complete_only`: cut at max_tokens) |
    missing_score | invalid_score (NaN/inf only).
    """
    rows = _label_rows(judgments, label, use_rank)
    finite = pl.col("v").is_not_null() & pl.col("v").is_finite()
    per_candidate = rows.group_by("candidate_id").agg(
        finite.sum().alias("n_finite"),
        (pl.col("v").is_not_null() & ~pl.col("v").is_finite()).sum().alias("n_nonfinite"),
        pl.col("v").filter(finite).first().alias("value"),
        pl.col("v").filter(pl.col("v").is_not_null() & ~pl.col("v").is_finite()).first().cast(pl.String)
        .alias("bad_score"),
    )
    # Several labels (annotators): their mean, summed in sorted order - the same float whatever the
    # row order and frame size (a group-by mean's summation order depends on both), so a partition
    # of the labels pairs exactly as the whole does. One label (the usual case) is its own mean.
    per_candidate = per_candidate.collect()
    multi = per_candidate.filter(pl.col("n_finite") > 1).select("candidate_id")
    if multi.height:
        several = (rows.filter(finite).join(multi.lazy(), on="candidate_id", how="semi")
                   .group_by("candidate_id").agg(pl.col("v").sort().alias("_values"))
                   .select("candidate_id", pl.col("_values").list.mean().alias("_mean")).collect())
        per_candidate = (per_candidate.join(several, on="candidate_id", how="left")
                         .with_columns(pl.coalesce("_mean", "value").alias("value")).drop("_mean"))
    per_candidate = per_candidate.lazy()
    cut = (pl.col("finish_reason") == "length").fill_null(False) if complete_only else pl.lit(False)
    cands = candidates.lazy().select("prompt_id", "candidate_id",
                                     pl.col("text").str.len_chars().alias("length"), cut.alias("_cut"))
    status = (
        cands.join(per_candidate, on="candidate_id", how="left")
        .with_columns(
            pl.when(pl.col("_cut")).then(pl.lit("truncated"))
            .when(pl.col("n_finite").fill_null(0) > 0).then(pl.lit("ok"))
            .when(pl.col("n_nonfinite").fill_null(0) > 0).then(pl.lit("invalid_score"))
            .otherwise(pl.lit("missing_score")).alias("status"))
        .drop("_cut").collect()
    )
    if per_annotator:
        values = (cands.filter(~pl.col("_cut")).drop("_cut").join(rows.filter(finite), on="candidate_id", how="inner")
                  .select("prompt_id", "annotator", "candidate_id", pl.col("v").alias("value"), "length").collect())
    else:
        values = status.filter(pl.col("status") == "ok").select("prompt_id", "candidate_id", "value", "length")
    return values, status


def candidate_rejects(status: pl.DataFrame) -> pl.DataFrame:
    """Candidate-level ledger: candidates left out of pairing and why."""
    parts = [
        rejects_from(status.filter(pl.col("status") == "missing_score"), stage=STAGE, reason="missing_score",
                     message="candidate has no score from the label source; it was left out of pairing",
                     id_column="candidate_id", value_columns=["prompt_id"]),
        rejects_from(status.filter(pl.col("status") == "invalid_score"), stage=STAGE, reason="invalid_score",
                     message="candidate score is NaN or infinite; fix the judge output", id_column="candidate_id",
                     value_columns=["bad_score", "prompt_id"]),
        rejects_from(status.filter(pl.col("status") == "truncated"), stage=STAGE, reason="truncated",
                     message="candidate was cut at max_tokens (finish_reason length); pair.complete_only leaves it "
                     "out of pairing", id_column="candidate_id", value_columns=["prompt_id"]),
    ]
    return pl.concat(parts)


def orphan_judgments(judgments: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Judgments of candidates that are not in the candidates artifact (e.g. labels pulled before a
    re-sample): never used, always counted."""
    known = candidates.select("candidate_id").unique()
    orphans = judgments.join(known, on="candidate_id", how="anti")
    return rejects_from(orphans, stage=STAGE, reason="orphan_judgment",
                        message="judgment of a candidate that is not in the candidates artifact; it was ignored",
                        id_column="judgment_id", value_columns=["candidate_id", "prompt_id", "judge_id"])


def generate_pairs(values: pl.DataFrame, strategy, min_margin: float, seed: int,
                   cap: int | None) -> pl.DataFrame:
    """Raw pairs: group columns, chosen_id, rejected_id, chosen_score, rejected_score. `strategy` is a
    built-in name or a plugin's config (prefdata/pairing/strategy.py)."""
    group = ["prompt_id"] + (["annotator"] if "annotator" in values.columns else [])
    if not isinstance(strategy, str):
        return own_strategy_pairs(values, strategy, min_margin, seed, group)
    ordered = values.lazy().sort([*group, "value", "candidate_id"],
                                 descending=[False] * len(group) + [True, False])
    best = ordered.group_by(group, maintain_order=True).first().select(
        *group, pl.col("candidate_id").alias("chosen_id"), pl.col("value").alias("chosen_score"),
        pl.col("length").alias("chosen_length"))
    if strategy == "best_vs_worst":
        worst = ordered.group_by(group, maintain_order=True).last()
        raw = best.join(worst, on=group).rename({"candidate_id": "rejected_id", "value": "rejected_score"})
        raw = raw.filter(pl.col("chosen_score") - pl.col("rejected_score") > min_margin)
    elif strategy in ("best_vs_random_lower", "length_matched", "sweet_spot"):
        lower = (best.join(values.lazy(), on=group)
                 .filter(pl.col("chosen_score") - pl.col("value") > min_margin))
        if strategy == "best_vs_random_lower":
            keys = [pl.col("candidate_id").hash(seed)]
        elif strategy == "length_matched":  # closest length first, then the larger margin, then the id
            keys = [(pl.col("length") - pl.col("chosen_length")).abs(), pl.col("value"), pl.col("candidate_id")]
        else:  # nearest mean - 2 std of all the prompt's scores, then the lower score, then the id
            # mean and std of the sorted list: the same floats in a partition as in the whole
            spot = values.lazy().group_by(group).agg(pl.col("value").sort().alias("_v")).select(
                *group, (pl.col("_v").list.mean() - 2 * pl.col("_v").list.std(ddof=0)).alias("_spot"))
            lower = lower.join(spot, on=group)
            keys = [(pl.col("value") - pl.col("_spot")).abs(), pl.col("value"), pl.col("candidate_id")]
        raw = (lower.sort([*group, *keys]).group_by(group, maintain_order=True).first()
               .rename({"candidate_id": "rejected_id", "value": "rejected_score"}))
    elif strategy in ("all_pairs", "ranking"):
        right = values.lazy().rename({"candidate_id": "rejected_id", "value": "rejected_score", "length": "_rl"})
        raw = (values.lazy().rename({"candidate_id": "chosen_id", "value": "chosen_score"})
               .join(right, on=group)
               .filter(pl.col("chosen_score") - pl.col("rejected_score") > min_margin))
        if cap is not None:
            raw = (raw.sort([*group, (pl.col("rejected_score") - pl.col("chosen_score")), "chosen_id", "rejected_id"])
                   .filter(pl.int_range(pl.len()).over(group) < cap))
    else:
        raise ValueError(f"unknown pairing strategy {strategy!r}")
    return raw.select(*group, "chosen_id", "rejected_id", "chosen_score", "rejected_score").collect()


def own_strategy_pairs(values: pl.DataFrame, strategy, min_margin: float, seed: int,
                       group: list[str]) -> pl.DataFrame:
    """A user's PairingStrategy on `values`: which candidates it pairs is its choice, their scores
    are the labels' (never the strategy's numbers), and a pair is held to `min_margin` like a
    built-in one, so a plugin cannot make a tie, a self-pair or an inverted pair."""
    raw = strategy.build().pairs(values, min_margin, seed)
    columns = [*group, "chosen_id", "rejected_id"]
    missing = [c for c in columns if not isinstance(raw, pl.DataFrame) or c not in raw.columns]
    if missing:
        raise DataError(f"pair strategy {strategy.type}: pairs() must return a polars DataFrame with the "
                        f"columns {columns} (scores are taken from the labels); missing {missing}")
    known = values.select(*group, "candidate_id", "value")
    pairs = raw.select(columns).unique(maintain_order=True)
    for side in ("chosen", "rejected"):
        scored = pairs.join(known.rename({"candidate_id": f"{side}_id", "value": f"{side}_score"}),
                            on=[*group, f"{side}_id"], how="left")
        unknown = scored.filter(pl.col(f"{side}_score").is_null()).drop(f"{side}_score")
        if unknown.height:
            raise DataError(f"pair strategy {strategy.type}: {unknown.height} pairs name a {side}_id that is not a "
                            f"labelled candidate of their prompt (e.g. {unknown.row(0, named=True)})")
        pairs = scored
    return pairs.filter(pl.col("chosen_score") - pl.col("rejected_score") > min_margin).select(
        *columns, "chosen_score", "rejected_score")


def prompt_rejects(prompts: pl.DataFrame, candidates: pl.DataFrame, status: pl.DataFrame,
                   values: pl.DataFrame, pairs: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """One reject per prompt that produced no pair, and the prompt-level accounting."""
    known = prompts.select("prompt_id").unique(maintain_order=True).with_columns(pl.lit(True).alias("has_prompt"))
    universe = pl.concat([known.select("prompt_id"), candidates.select("prompt_id")]).unique(maintain_order=True)
    per_prompt = status.group_by("prompt_id").agg(
        pl.len().alias("n_candidates"),
        (pl.col("status") == "ok").sum().alias("n_scored"),
        (pl.col("status") == "missing_score").sum().alias("n_missing_score"),
        (pl.col("status") == "invalid_score").sum().alias("n_invalid_score"),
        (pl.col("status") == "truncated").sum().alias("n_truncated"),
    )
    group = ["prompt_id"] + (["annotator"] if "annotator" in values.columns else [])
    distinct = (values.group_by(group).agg(pl.col("value").n_unique().alias("d"), pl.len().alias("n"))
                .group_by("prompt_id").agg(pl.col("d").max().alias("n_distinct"), pl.col("n").max().alias("n_usable")))
    paired = pairs.group_by("prompt_id").len("n_pairs")
    table = (universe.join(known, on="prompt_id", how="left")
             .join(per_prompt, on="prompt_id", how="left").join(distinct, on="prompt_id", how="left")
             .join(paired, on="prompt_id", how="left")
             .with_columns(pl.col("has_prompt").fill_null(False), pl.exclude("prompt_id", "has_prompt").fill_null(0)))
    reason = (
        pl.when(pl.col("n_pairs") > 0).then(None)
        .when(pl.col("n_candidates") == 0).then(pl.lit("no_candidates"))
        .when(~pl.col("has_prompt")).then(pl.lit("unknown_prompt"))
        .when((pl.col("n_usable") < 2) & (pl.col("n_truncated") > 0)).then(pl.lit("truncated"))
        .when((pl.col("n_usable") < 2) & (pl.col("n_invalid_score") > 0)).then(pl.lit("invalid_score"))
        .when((pl.col("n_usable") < 2) & (pl.col("n_missing_score") > 0)).then(pl.lit("missing_score"))
        .when(pl.col("n_usable") < 2).then(pl.lit("too_few_candidates"))
        .when(pl.col("n_distinct") <= 1).then(pl.lit("tie"))
        .otherwise(pl.lit("below_margin"))
    )
    table = table.with_columns(reason.alias("reason"))
    messages = {
        "no_candidates": "prompt has no candidates: nothing to pair",
        "unknown_prompt": "candidates refer to a prompt_id with no prompt record; check the sample stage input",
        "truncated": "fewer than 2 complete candidates with a score: the others were cut at max_tokens "
                     "(pair.complete_only)",
        "invalid_score": "fewer than 2 candidates with a finite score: the others are NaN/inf",
        "missing_score": "fewer than 2 candidates with a score: the others have no label",
        "too_few_candidates": "prompt has fewer than 2 candidates; sample more (sample.k >= 2)",
        "tie": "all scored candidates have the same score: no preference to learn",
        "below_margin": "no pair of candidates differs by more than pair.min_margin",
    }
    columns = ["n_candidates", "n_scored", "n_missing_score", "n_invalid_score", "n_truncated", "n_distinct"]
    parts = [rejects_from(table.filter(pl.col("reason") == code), stage=STAGE, reason=code, message=msg,
                          id_column="prompt_id", value_columns=columns) for code, msg in messages.items()]
    rejects = pl.concat(parts) if parts else empty_rejects()
    accounting = {"prompts_in": table.height, "prompts_paired": int((table["n_pairs"] > 0).sum())}
    return rejects, accounting


def swap_consistency(judgments: pl.DataFrame, pairs: pl.DataFrame, label: str) -> pl.DataFrame:
    """pair_id, swap_consistency: mean of both candidates' share of swap-consistent verdicts.

    The verdicts are the label judge's when it is pairwise, else every pairwise judge's (an
    aggregate of them); another pairwise judge in the recipe never decides a pair's value."""
    rows = judgments.filter(pl.col("swap_consistent").is_not_null())
    if (rows["judge_id"] == label).any():
        rows = rows.filter(pl.col("judge_id") == label)
    if rows.height == 0:
        return pairs.select("pair_id", pl.lit(None, dtype=pl.Float64).alias("swap_consistency"))
    per_candidate = rows.group_by("candidate_id").agg(pl.col("swap_consistent").cast(pl.Float64).mean().alias("sc"))
    return (pairs.select("pair_id", "chosen_id", "rejected_id")
            .join(per_candidate.rename({"candidate_id": "chosen_id", "sc": "c"}), on="chosen_id", how="left")
            .join(per_candidate.rename({"candidate_id": "rejected_id", "sc": "r"}), on="rejected_id", how="left")
            .select("pair_id", pl.mean_horizontal("c", "r").alias("swap_consistency")))


def provenance(judgments: pl.DataFrame, label: str, pairs: pl.DataFrame) -> pl.DataFrame:
    """pair_id, provenance: who decided the pair. For mixed labels (prefdata/labelling/mixed.py)
    `judges`, `human`, or `both` when the annotators decided it and the judges' scores order it
    the same way; otherwise `human` for labels with annotators (Argilla), `judges` for the rest."""
    rows = judgments.filter((pl.col("judge_id") == label) & pl.col("provenance").is_not_null())
    if rows.height == 0:
        annotated = judgments.filter((pl.col("judge_id") == label) & (pl.col("annotator").fill_null("") != ""))
        by_human = pl.col("chosen_id").is_in(annotated["candidate_id"].implode())
        return pairs.select("pair_id", pl.when(by_human).then(pl.lit("human")).otherwise(pl.lit("judges"))
                            .alias("provenance"))
    side = rows.select("candidate_id", "provenance",
                       pl.col("raw_output").str.json_path_match("$.judges").cast(pl.Float64, strict=False).alias("j"))
    joined = (pairs.select("pair_id", "chosen_id", "rejected_id")
              .join(side.rename({"candidate_id": "chosen_id"}), on="chosen_id", how="left")
              .join(side.select("candidate_id", pl.col("j").alias("j_r")).rename({"candidate_id": "rejected_id"}),
                    on="rejected_id", how="left"))
    return joined.select("pair_id", pl.when(pl.col("provenance") == "human")
                         .then(pl.when(pl.col("j") > pl.col("j_r")).then(pl.lit("both")).otherwise(pl.lit("human")))
                         .otherwise("provenance").alias("provenance"))


def annotator_agreement(judgments: pl.DataFrame, label: str, use_rank: bool, pairs: pl.DataFrame) -> pl.DataFrame:
    """pair_id, agreement: share of annotators labelling both sides who prefer the chosen one."""
    rows = (_label_rows(judgments, label, use_rank)
            .filter((pl.col("annotator") != "") & pl.col("v").is_finite()).collect())
    if rows["annotator"].n_unique() < 2:
        return pairs.select("pair_id", pl.lit(None, dtype=pl.Float64).alias("agreement"))
    chosen = rows.rename({"candidate_id": "chosen_id", "v": "vc", "annotator": "who"})
    rejected = rows.rename({"candidate_id": "rejected_id", "v": "vr", "annotator": "who"})
    votes = (pairs.select("pair_id", "chosen_id", "rejected_id")
             .join(chosen, on="chosen_id").join(rejected, on=["rejected_id", "who"])
             .group_by("pair_id").agg((pl.col("vc") > pl.col("vr")).mean().alias("agreement")))
    return pairs.select("pair_id").join(votes, on="pair_id", how="left", maintain_order="left")
