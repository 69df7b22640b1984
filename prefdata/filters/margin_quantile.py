"""Margin selection (as in BeeS, "10% of UltraFeedback by margin"): keep the top share of pairs
by normalized margin.

    filter:
      steps:
        - {type: margin_quantile, keep: 0.5}      # the half of the pairs with the clearest preference

The margin is normalized by the observed range of all chosen and rejected scores (recorded
with every drop; the order, and so the selection, is the margin's); exactly ceil(keep x pairs)
are kept, pairs with the same margin ordered by pair_id (deterministic). Pairs without a
finite margin are dropped as `missing_margin`; the others below the cut as
`below_margin_quantile`, with their normalized margin and the cut.
"""

from __future__ import annotations

import math
from typing import Literal

import polars as pl
from pydantic import Field

from prefdata.config import StrictModel
from prefdata.filters.base import (
    Filter, FilterResult, Rule, check_numeric, score_scale, split_by_reasons,
)
from prefdata.filters.phases import Scope


class MarginQuantileFilterConfig(StrictModel):
    type: Literal["margin_quantile"] = "margin_quantile"
    keep: float = Field(gt=0.0, le=1.0, description="Share of pairs kept: those with the largest normalized margin.")

class MarginQuantileFilter(Filter):
    """Keep the top `keep` share of pairs by normalized margin (exact count, deterministic ties)."""

    name, Config = "margin_quantile", MarginQuantileFilterConfig
    config: MarginQuantileFilterConfig

    def scope(self) -> Scope:
        return "columns"  # cutoffs are quantiles over all pairs

    def narrow_columns(self) -> list[pl.Expr]:
        return [pl.col(n) for n in ("pair_id", "margin", "chosen_score", "rejected_score")]

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        check_numeric(pairs, ["margin", "chosen_score", "rejected_score"])
        finite = pl.col("margin").is_not_null() & pl.col("margin").is_finite()
        scale = score_scale(pairs, None)
        n_valid = pairs.filter(finite).height
        n_keep = math.ceil(self.config.keep * n_valid)
        order = (pairs.filter(finite).sort(["margin", "pair_id"], descending=[True, False])
                 .select("pair_id").with_row_index("_rank", offset=1))
        ranked = pairs.join(order, on="pair_id", how="left", maintain_order="left").with_columns(
            (pl.col("margin") / scale).alias("normalized_margin"))
        cut = ranked.filter(finite & (pl.col("_rank") <= n_keep))["normalized_margin"].min() if n_keep else None
        ranked = ranked.with_columns(pl.lit(cut, dtype=pl.Float64).alias("cut_normalized_margin"))
        rules = [
            Rule("missing_margin", ~finite.fill_null(False),
                 "margin_quantile: pair has no finite margin (no scores)", ["margin"]),
            Rule("below_margin_quantile", pl.col("_rank").is_null() | (pl.col("_rank") > n_keep),
                 f"margin_quantile: not among the top {self.config.keep:g} of pairs by normalized margin",
                 ["normalized_margin", "cut_normalized_margin"]),
        ]
        result = split_by_reasons(ranked, rules, helper_columns=["normalized_margin", "_rank", "cut_normalized_margin"])
        result.stats.update({"score_scale": scale, "kept_target": n_keep, "cut_normalized_margin": cut})
        return result

