"""Semantic diversity: drop prompts that mean the same thing; optionally keep a budget.

    filter:
      steps:
        - {type: diversity, max_cosine: 0.95}               # semantic near-duplicates
        - {type: diversity, max_cosine: 0.9, budget: 5000}  # then the 5000 pairs that cover most

Prompts (the last user turn) are embedded with a sentence-transformers model
(prefdata/embeddings.py; default: the bundled all-MiniLM-L6-v2, offline). A prompt whose
cosine similarity to an earlier kept prompt exceeds `max_cosine` is dropped
(`semantic_duplicate`). With `budget`, k-center greedy then picks prompts farthest from
those already picked until the budget of pairs is reached; the rest are `over_budget`.
Cost is O(prompts x kept prompts) dot products: fine up to ~100k prompts on a laptop.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from prefdata.config import StrictModel
from prefdata.embeddings import embed
from prefdata.filters.base import Filter, FilterResult, Rule, last_user_text, split_by_reasons, unique_prompts
from prefdata.filters.phases import Scope, StepScratch, collect_prompts, first_seen


class DiversityFilterConfig(StrictModel):
    type: Literal["diversity"] = "diversity"
    max_cosine: float | None = Field(
        0.95, gt=0.0, le=1.0, description="Drop prompts more similar than this to an earlier kept prompt (None: off)."
    )
    budget: int | None = Field(None, ge=1, description="Keep at most this many pairs, chosen by k-center greedy.")
    model: str | None = Field(None, description="sentence-transformers model dir; default: bundled all-MiniLM-L6-v2.")
    batch_size: int = Field(64, ge=1, description="Embedding batch size.")


def semantic_duplicate_of(vectors: np.ndarray, max_cosine: float, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(index of the earlier kept row it duplicates or -1, that cosine) for each row."""
    n = vectors.shape[0]
    dup_of, cosine = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.float32)
    kept: list[int] = []
    for start in range(0, n, block):
        chunk = vectors[start:start + block]
        if kept:  # against rows kept in earlier blocks: one matrix product
            sims = chunk @ vectors[kept].T
            best = sims.argmax(axis=1)
            best_sim = sims[np.arange(len(chunk)), best]
        else:
            best, best_sim = np.zeros(len(chunk), dtype=np.int64), np.full(len(chunk), -1.0)
        inner = chunk @ chunk.T
        kept_here: list[int] = []
        for i in range(len(chunk)):
            sim, of = float(best_sim[i]), (kept[best[i]] if kept else -1)
            if kept_here:
                j = int(np.argmax(inner[i, kept_here]))
                if inner[i, kept_here[j]] > sim:
                    sim, of = float(inner[i, kept_here[j]]), start + kept_here[j]
            if sim > max_cosine:
                dup_of[start + i], cosine[start + i] = of, sim
            else:
                kept_here.append(i)
        kept.extend(start + i for i in kept_here)
    return dup_of, cosine


def k_center_greedy(vectors: np.ndarray):
    """Yield rows in k-center greedy order: each next row is the farthest from those picked.

    A generator, so budget selection stops after `budget` picks (O(budget x rows)).
    """
    n = vectors.shape[0]
    distance = np.full(n, np.inf, dtype=np.float32)
    current = 0
    for _ in range(n):
        yield current
        distance = np.minimum(distance, 1.0 - vectors @ vectors[current])
        distance[current] = -np.inf
        current = int(np.argmax(distance))


class DiversityFilter(Filter):
    """Drop prompts that mean the same as an earlier one (embeddings); optionally keep a budget."""

    name, Config = "diversity", DiversityFilterConfig
    config: DiversityFilterConfig

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        c = self.config
        prompts = self.prompts(pairs)
        vectors = embed(prompts["_text"].to_list(), c.model, c.batch_size) if prompts.height \
            else np.zeros((0, 1), np.float32)
        decided = self.decide(prompts["prompt_id"], vectors, pairs.group_by("prompt_id").len())
        return self.apply_decided(pairs, decided, {"embedded_prompts": prompts.height})

    def scope(self) -> Scope:
        return "prompt"

    def collect(self, pairs: pl.DataFrame, partition: int, n_partitions: int, scratch: StepScratch) -> None:
        """A partition's unique prompts, embedded, and its pairs per prompt (the budget counts pairs)."""
        c = self.config
        prompts = collect_prompts(self.prompts(pairs.with_row_index("_row"), "_row"), partition, scratch)
        vectors = (embed(prompts["_text"].to_list(), c.model, c.batch_size) if prompts.height
                   else np.zeros((0, 1), np.float32))
        scratch.save_array(vectors, "vectors", partition)
        scratch.write(pairs.group_by("prompt_id").len(), "counts", partition)

    def decide_partitions(self, scratch: StepScratch, n_partitions: int) -> tuple[pl.DataFrame, dict]:
        """Semantic duplicates and the budget on the stacked embeddings of the unique prompts."""
        unique = first_seen(scratch, n_partitions)
        vectors = np.asarray(scratch.stack("vectors", n_partitions, unique["_stacked"].to_numpy()))
        counts = scratch.read("counts", n_partitions).group_by("prompt_id").agg(pl.col("len").sum())
        decided = self.decide(unique["prompt_id"], vectors, counts)
        return decided.filter(pl.col("_div_reason").is_not_null()), {"embedded_prompts": unique.height}

    def prompts(self, pairs: pl.DataFrame, *keep: str) -> pl.DataFrame:
        """The unique prompts `decide` embeds: their last user turn."""
        return unique_prompts(pairs, last_user_text(), *keep)

    def decide(self, ids: pl.Series, vectors: np.ndarray, pair_counts: pl.DataFrame) -> pl.DataFrame:
        """(prompt_id, _div_reason, duplicate_of, cosine) for unique prompts in input order, with their
        embeddings; pair_counts (prompt_id, len) sizes the budget."""
        c = self.config
        n = len(ids)
        if c.max_cosine is not None and n:
            dup_of, cosine = semantic_duplicate_of(vectors, c.max_cosine)
        else:
            dup_of, cosine = np.full(n, -1), np.zeros(n, dtype=np.float32)
        ids = ids.to_list()
        reason = ["semantic_duplicate" if d >= 0 else None for d in dup_of]
        if c.budget is not None:
            counts = dict(zip(pair_counts["prompt_id"].to_list(), pair_counts["len"].to_list()))
            reason = self._over_budget(counts, ids, vectors, reason)
        return pl.DataFrame({
            "prompt_id": pl.Series(ids, dtype=pl.String),
            "_div_reason": pl.Series(reason, dtype=pl.String),
            "duplicate_of": pl.Series([ids[d] if d >= 0 else None for d in dup_of], dtype=pl.String),
            "cosine": pl.Series(cosine, dtype=pl.Float64),
        })

    def apply_decided(self, pairs: pl.DataFrame, decided: pl.DataFrame, stats: dict) -> FilterResult:
        c = self.config
        work = pairs.join(decided, on="prompt_id", how="left", maintain_order="left")
        rules = [
            Rule("semantic_duplicate", pl.col("_div_reason") == "semantic_duplicate",
                 f"diversity filter: prompt has cosine > {c.max_cosine} with an earlier prompt",
                 ["cosine", "duplicate_of"]),
            Rule("over_budget", pl.col("_div_reason") == "over_budget",
                 f"diversity filter: not among the {c.budget} pairs chosen for coverage (k-center greedy)", []),
        ]
        result = split_by_reasons(work, rules, helper_columns=["_div_reason", "duplicate_of", "cosine"])
        result.stats.update(stats)
        return result

    def _over_budget(self, counts: dict[str, int], ids: list[str], vectors: np.ndarray,
                     reason: list[str | None]) -> list[str | None]:
        alive = np.array([i for i, r in enumerate(reason) if r is None], dtype=np.int64)
        taken, keep = 0, set()
        for local in k_center_greedy(vectors[alive]) if alive.size else []:
            row = int(alive[local])
            if taken + counts[ids[row]] > self.config.budget:
                continue  # a prompt with fewer pairs may still fit
            keep.add(row)
            taken += counts[ids[row]]
            if taken == self.config.budget:
                break
        return [("over_budget" if r is None and i not in keep else r) for i, r in enumerate(reason)]
