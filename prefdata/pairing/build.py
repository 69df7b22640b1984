"""The pair stage as a function of frames: prompts, candidates and labels in; pairs, rejects, stats out.

    from prefdata.pairing.build import PairConfig, build_pairs
    pairs, rejects, candidate_rejects, stats = build_pairs(prompts, candidates, judgments, PairConfig())

No I/O: the stage (prefdata/stages/pair.py) runs it on all the data, or partition by
partition (prefdata/partition/pairs.py); the rules are in that stage's docstring.
"""

from __future__ import annotations

from typing import Literal, Union

import polars as pl
from pydantic import Field, field_validator

from prefdata.config import StrictModel
from prefdata.errors import DataError
from prefdata.records import Judgment, PairRecord
from prefdata.pairing.strategy import BUILTIN, Strategy, StrategyPlugin
from prefdata.pairing.blocks import (
    annotator_agreement, candidate_rejects, candidate_values, generate_pairs, orphan_judgments, prompt_rejects,
    provenance, resolve_label_source, swap_consistency,
)
from prefdata.frames import polars_schema, with_all_columns
from prefdata.ledger import AGREE, RECOMPUTE, SUM, provenance_of

class PairConfig(StrictModel):
    strategy: Union[Strategy, StrategyPlugin] = Field(
        "best_vs_worst", description="How pairs are formed per prompt: a built-in, or a strategy of your own "
        "(`my_module:MyStrategy`, or `{type: my_module:MyStrategy, ...options}`; prefdata/pairing/strategy.py).")
    min_margin: float = Field(0.0, ge=0.0, description="Pairs need chosen_score - rejected_score > this.")
    label_source: str | None = Field(
        None, description="Judge id whose labels decide; default: the aggregate judge, else the only judge."
    )
    value: Literal["auto", "score", "rank"] = Field(
        "auto", description="Label field: auto = rank for strategy ranking (or when only ranks exist), else score."
    )
    annotators: Literal["aggregate", "per_annotator"] = Field(
        "aggregate", description="Several labels per candidate: average first, or pair per annotator."
    )
    max_pairs_per_prompt: int | None = Field(None, ge=1, description="Cap for all_pairs/ranking (widest margins).")
    complete_only: bool = Field(
        False, description="Pair only answers that ended on their own: one cut at max_tokens (finish_reason length) "
        "is left out (reason truncated), so a prompt pairs its best complete answers instead of losing the pair "
        "to the quality filter's truncation check.")
    seed: int | None = Field(None, description="Seed for best_vs_random_lower; default: the recipe seed.")
    partition_prompts: int = Field(
        100_000, ge=1, description="More prompts than this are paired in partitions of this many (same result).")
    executor: Literal["local", "ray"] = Field(
        "local", description="ray: pair the partitions as Ray Data tasks on the recipe's `ray:` cluster.")

    @field_validator("strategy", mode="before")
    @classmethod
    def _own_strategy(cls, value):
        return {"type": value} if isinstance(value, str) and value not in BUILTIN else value

    @property
    def strategy_name(self) -> str:
        return self.strategy if isinstance(self.strategy, str) else self.strategy.type


def build_pairs(prompts: pl.DataFrame, candidates: pl.DataFrame, judgments: pl.DataFrame,
                config: PairConfig, seed: int = 0, plan: tuple[str, bool] | None = None):
    """(pairs frame, prompt rejects, candidate rejects, stats) - the whole stage, no I/O.

    `plan` = (label source, use ranks), decided once over all the labels (`pair_plan`) when
    this runs on one partition of them.
    """
    check_types(judgments)
    label, use_rank = plan or pair_plan(judgments, config)
    per_annotator = config.annotators == "per_annotator"
    values, status = candidate_values(candidates, judgments, label, use_rank, per_annotator, config.complete_only)
    candidate_drops = (pl.concat([candidate_rejects(status), orphan_judgments(judgments, candidates)])
                       .sort(["reason", "row_id"]))
    raw = generate_pairs(values, config.strategy, config.min_margin, seed, config.max_pairs_per_prompt)
    # Joins do not keep row order: sort, so that the same inputs give byte-identical pairs
    # (and the same artifact hash for the stages after this one, and the same training order).
    pairs = _assemble(raw, prompts, candidates, judgments, label, use_rank, config).sort("pair_id")
    rejects, accounting = prompt_rejects(prompts, candidates, status, values, pairs)
    rejects = rejects.sort("row_id", nulls_last=True)
    stats = {
        "label_source": label, "value": "rank" if use_rank else "score", "strategy": config.strategy_name,
        **accounting, "pairs": pairs.height,
        "candidates": candidates.height,
        "candidates_missing_score": int((candidate_drops["reason"] == "missing_score").sum()),
        "candidates_invalid_score": int((candidate_drops["reason"] == "invalid_score").sum()),
        "candidates_truncated": int((candidate_drops["reason"] == "truncated").sum()),
        "orphan_judgments": int((candidate_drops["reason"] == "orphan_judgment").sum()),
        "margin": describe(pairs["margin"]),
    }
    by_provenance = provenance_of(pairs)
    if by_provenance:
        stats["provenance"] = by_provenance
    return pairs, rejects, candidate_drops, stats


# Every statistic build_pairs returns, with how it combines over partitions (partition/pairs.py)
PAIR_STATS = {
    "label_source": AGREE, "value": AGREE, "strategy": AGREE,
    "prompts_in": SUM, "prompts_paired": SUM, "pairs": SUM, "candidates": SUM, "candidates_missing_score": SUM,
    "candidates_invalid_score": SUM, "candidates_truncated": SUM, "orphan_judgments": SUM, "provenance": SUM,
    "margin": RECOMPUTE,
}


def pair_plan(judgments: pl.DataFrame | pl.LazyFrame, config: PairConfig) -> tuple[str, bool]:
    """(label source, pair on ranks): decided over all the labels, from a few small aggregates."""
    judgments = judgments.lazy()
    judges = judgments.select("judge_id", "judge_type").unique(maintain_order=True).collect()
    label = resolve_label_source(judges, config.label_source)
    return label, _use_rank(judgments, label, config)


def check_types(judgments: pl.DataFrame | pl.LazyFrame) -> None:
    judgments = judgments.lazy()
    schema = judgments.collect_schema()
    for column, ok in (("score", lambda d: d.is_numeric() or d == pl.Null),
                       ("rank", lambda d: d.is_integer() or d == pl.Null)):
        if column in schema and not ok(schema[column]):
            example = judgments.select(pl.col(column).drop_nulls().head(1)).collect()[column].to_list()
            raise DataError(
                f"judgments column {column!r} has type {schema[column]} (e.g. {example}), expected "
                f"{'a float' if column == 'score' else 'an integer'}; fix the labels that produced it "
                "(an importer or judge writing text scores)")


def _use_rank(judgments: pl.LazyFrame, label: str, config: PairConfig) -> bool:
    counts = (judgments.filter(pl.col("judge_id") == label)
              .select(pl.len().alias("n"), pl.col("score").null_count().alias("no_score"),
                      pl.col("rank").null_count().alias("no_rank")).collect().row(0, named=True))
    if config.value != "auto":
        use_rank = config.value == "rank"
    elif config.strategy_name == "ranking":
        use_rank = True
    else:
        use_rank = counts["no_score"] == counts["n"] and counts["no_rank"] < counts["n"]
    if use_rank and counts["n"] and counts["no_rank"] == counts["n"]:
        raise DataError(f"pair: judge {label!r} has no ranks (Judgment.rank) but strategy {config.strategy_name!r} / "
                        f"value {config.value!r} needs them; use a score-based strategy or set value: score")
    return use_rank


def _assemble(raw: pl.DataFrame, prompts: pl.DataFrame, candidates: pl.DataFrame, judgments: pl.DataFrame,
              label: str, use_rank: bool, config: PairConfig) -> pl.DataFrame:
    """Raw (group, chosen_id, rejected_id, scores) -> PairRecord columns."""
    side = candidates.select("candidate_id", "text", "finish_reason", "num_tokens")
    annotated = "annotator" in raw.columns
    pairs = (
        raw.lazy()
        .join(prompts.lazy().select("prompt_id", "prompt"), on="prompt_id", how="inner")
        .join(side.lazy().rename({c: f"chosen_{c}" for c in side.columns}).rename({"chosen_candidate_id": "chosen_id"}),
              on="chosen_id", how="left")
        .join(side.lazy().rename({c: f"rejected_{c}" for c in side.columns})
              .rename({"rejected_candidate_id": "rejected_id"}), on="rejected_id", how="left")
        .with_columns(
            pl.concat_str([pl.col("chosen_id"), pl.lit(">"), pl.col("rejected_id"),
                           *([pl.lit("@"), pl.col("annotator")] if annotated else [])]).alias("pair_id"),
            (pl.col("chosen_score") - pl.col("rejected_score")).alias("margin"),
            (pl.concat_str([pl.lit(label + ":"), pl.col("annotator")]) if annotated else pl.lit(label))
            .alias("label_source"),
            pl.lit(config.strategy_name + ("+rank" if use_rank and config.strategy_name != "ranking" else ""))
            .alias("strategy"),
        )
        .rename({"chosen_text": "chosen", "rejected_text": "rejected", "chosen_num_tokens": "chosen_tokens",
                 "rejected_num_tokens": "rejected_tokens"})
        .collect()
    )
    pairs = pairs.join(swap_consistency(judgments, pairs, label), on="pair_id", how="left", maintain_order="left")
    pairs = pairs.join(annotator_agreement(judgments, label, use_rank, pairs), on="pair_id", how="left",
                       maintain_order="left")
    pairs = pairs.join(provenance(with_all_columns(judgments, Judgment), label, pairs), on="pair_id", how="left",
                       maintain_order="left")
    schema = polars_schema(PairRecord)
    return pairs.select([pl.col(c).cast(t) for c, t in schema.items()])


def describe(series: pl.Series) -> dict[str, float | None]:
    if series.len() == 0:
        return {"mean": None, "median": None, "min": None, "max": None}
    return {"mean": float(series.mean()), "median": float(series.median()),
            "min": float(series.min()), "max": float(series.max())}
