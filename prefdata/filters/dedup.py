"""Prompt dedup: exact (normalized-text hash) and near-duplicate (MinHash LSH).

    filter:
      steps:
        - {type: dedup}                                    # exact + near, Jaccard >= 0.8
        - {type: dedup, near: false}                       # exact only (fast, any size)
        - {type: dedup, threshold: 0.7, ngram: 2, num_perm: 256}

Prompts are compared on their user turns (system prompts left out). The unit is the
prompt: pairs of the first prompt (in input order) of each duplicate group
are kept, every pair of a later duplicate prompt is dropped with `duplicate_prompt` or
`near_duplicate_prompt` and `duplicate_of` = the kept prompt's id. Several pairs of one
prompt_id (all-pairs strategy) are never duplicates of each other.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from prefdata.config import StrictModel
from prefdata.filters.base import (
    Filter, FilterResult, Rule, normalized_text, prompt_text, split_by_reasons, unique_prompts,
)
from prefdata.filters.phases import Scope, StepScratch, collect_prompts, first_seen


class DedupFilterConfig(StrictModel):
    type: Literal["dedup"] = "dedup"
    exact: bool = Field(True, description="Drop prompts whose normalized text equals an earlier prompt's.")
    near: bool = Field(True, description="Drop prompts that are near-duplicates (MinHash LSH) of an earlier one.")
    threshold: float = Field(0.8, gt=0.0, lt=1.0, description="Jaccard similarity of word n-grams for 'near'.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (more: more accurate, slower).")
    ngram: int = Field(3, ge=1, le=16, description="Word n-gram size of the shingles.")
    seed: int = Field(0, description="Hash seed.")


class DedupFilter(Filter):
    """Drop pairs of prompts that duplicate an earlier prompt, exactly or nearly (MinHash LSH)."""

    name, Config = "dedup", DedupFilterConfig
    config: DedupFilterConfig

    def scope(self) -> Scope:
        return "prompt"

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        decided, stats = self.decide(self.prompts(pairs))
        return self.apply_decided(pairs, decided, stats)

    def collect(self, pairs: pl.DataFrame, partition: int, n_partitions: int, scratch: StepScratch) -> None:
        """A partition's unique prompts: normalized texts into one bucket file each (bucket = text hash
        modulo the partitions, so exact duplicates meet in one bucket), and their MinHash digests."""
        prompts = collect_prompts(self.prompts(pairs.with_row_index("_row"), "_row"), partition, scratch)
        prompts = prompts.with_columns(normalized_text(pl.col("_text")).alias("_norm"))
        prompts = prompts.with_columns((pl.col("_norm").hash(0) % n_partitions).alias("_bucket"))
        for b in range(n_partitions):
            scratch.write(prompts.filter(pl.col("_bucket") == b).drop("_text", "_bucket"), f"exact-b{b}", partition)
        if self.config.near:
            from prefdata.filters.minhash import minhash_digests

            c = self.config
            scratch.save_array(minhash_digests(prompts["_text"], threshold=c.threshold, num_perm=c.num_perm,
                                               ngram=c.ngram, seed=c.seed), "digests", partition)

    def decide_partitions(self, scratch: StepScratch, n_partitions: int) -> tuple[pl.DataFrame, dict]:
        """Exact duplicates bucket by bucket, then MinHash near duplicates over the stacked digests
        (memory-mapped, banded one band at a time): the dropped prompts only."""
        c = self.config
        unique = first_seen(scratch, n_partitions)
        decided = _DECIDED
        if c.exact:  # a text's duplicates all hash to one bucket: the bucket's first is the text's first
            buckets = (scratch.read(f"exact-b{b}", n_partitions).sort("_partition", "_row")
                       .unique("prompt_id", keep="first", maintain_order=True) for b in range(n_partitions))
            decided = pl.concat([decided, *map(exact_duplicates, buckets)])
        near_checked = 0
        if c.near:
            from prefdata.filters.minhash import near_duplicate_of_digests

            survivors = unique.join(decided.select("prompt_id"), on="prompt_id", how="anti", maintain_order="left")
            near_checked = survivors.height
            digests = scratch.stack("digests", n_partitions, survivors["_stacked"].to_numpy())
            dup_of = near_duplicate_of_digests(digests, threshold=c.threshold, num_perm=c.num_perm)
            decided = pl.concat([decided, near_duplicates(survivors, dup_of)])
        return decided, {"unique_prompts": unique.height, "near_checked_prompts": near_checked}

    def prompts(self, pairs: pl.DataFrame, *keep: str) -> pl.DataFrame:
        """The unique prompts `decide` compares: their user turns."""
        return unique_prompts(pairs, prompt_text(), *keep)

    def decide(self, prompts: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
        """(prompt_id, _dup_reason, duplicate_of) for unique prompts (prompt_id, _text) in input order."""
        c = self.config
        decided = _DECIDED
        if c.exact:
            decided = exact_duplicates(prompts.with_columns(normalized_text(pl.col("_text")).alias("_norm")))
        near_checked = 0
        if c.near:
            from prefdata.filters.minhash import near_duplicate_of

            survivors = prompts.join(decided.select("prompt_id"), on="prompt_id", how="anti", maintain_order="left")
            near_checked = survivors.height
            dup_of = near_duplicate_of(survivors["_text"], threshold=c.threshold, num_perm=c.num_perm,
                                       ngram=c.ngram, seed=c.seed)
            decided = pl.concat([decided, near_duplicates(survivors, dup_of)])
        return decided, {"unique_prompts": prompts.height, "near_checked_prompts": near_checked}

    def apply_decided(self, pairs: pl.DataFrame, decided: pl.DataFrame, stats: dict) -> FilterResult:
        """Drop the pairs of the prompts `decide` marked (prompts it did not list are kept)."""
        work = pairs.join(decided, on="prompt_id", how="left", maintain_order="left")
        rules = [
            Rule("duplicate_prompt", pl.col("_dup_reason") == "duplicate_prompt",
                 "dedup filter: prompt text equals an earlier prompt (after normalization)", ["duplicate_of"]),
            Rule("near_duplicate_prompt", pl.col("_dup_reason") == "near_duplicate_prompt",
                 f"dedup filter: prompt is a near-duplicate (Jaccard >= {self.config.threshold}) of an earlier prompt",
                 ["duplicate_of"]),
        ]
        result = split_by_reasons(work, rules, helper_columns=["_dup_reason", "duplicate_of"])
        result.stats.update(stats)
        return result


_DECIDED = pl.DataFrame(schema={"prompt_id": pl.String, "_dup_reason": pl.String, "duplicate_of": pl.String})


def exact_duplicates(prompts: pl.DataFrame) -> pl.DataFrame:
    """The prompts (prompt_id, _norm; unique, in input order) whose normalized text an earlier one
    has, each with that first prompt's id: the dropped ones only, as `decide` returns them."""
    first = pl.col("prompt_id").first().over("_norm")
    return (prompts.with_columns(first.alias("duplicate_of")).filter(pl.col("prompt_id") != pl.col("duplicate_of"))
            .select("prompt_id", pl.lit("duplicate_prompt").alias("_dup_reason"), "duplicate_of"))


def near_duplicates(prompts: pl.DataFrame, dup_of: np.ndarray) -> pl.DataFrame:
    """The prompts that `dup_of` (minhash: per row, an earlier near-duplicate row or -1) marks,
    each with that earlier prompt's id."""
    hit = dup_of >= 0
    ids = prompts["prompt_id"]
    return pl.DataFrame({"prompt_id": ids.filter(pl.Series(hit)), "_dup_reason": "near_duplicate_prompt",
                         "duplicate_of": ids.gather(dup_of[hit])}, schema=_DECIDED.schema)
