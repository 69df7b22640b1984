"""Preference-gap filter: keep pairs whose preference is clear.

    filter:
      steps:
        - {type: gap, min_margin: 0.5}                    # absolute score margin
        - {type: gap, min_normalized_margin: 0.1}         # margin / score scale
        - {type: gap, min_quantile: 0.9}                  # top 10% of margins
        - {type: gap, min_swap_consistency: 1.0, min_agreement: 0.66}

The score scale is `score_range` when given (e.g. [1, 10] for a 1-10 judge), else the
observed max - min over all chosen and rejected scores in the input. A pair without a
margin (imported data with no scores) is dropped as `missing_margin` when a margin rule is
set; a pair without swap-consistency/agreement evidence is kept unless
`require_evidence: true` (`missing_evidence`).
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from prefdata.config import StrictModel
from prefdata.filters.base import (
    Filter, FilterResult, Rule, ScoreRange, check_numeric, score_scale, split_by_reasons,
)
from prefdata.filters.phases import Scope

class GapFilterConfig(StrictModel):
    type: Literal["gap"] = "gap"
    min_margin: float | None = Field(None, ge=0.0, description="Drop pairs with margin below this.")
    min_normalized_margin: float | None = Field(
        None, ge=0.0, le=1.0, description="Drop pairs with margin / score scale below this."
    )
    score_range: ScoreRange | None = Field(
        None, description="[low, high] of the judge's scale; default: observed range of the input."
    )
    min_quantile: float | None = Field(
        None, ge=0.0, lt=1.0, description="Keep pairs with margin at or above this quantile of margins."
    )
    min_swap_consistency: float | None = Field(
        None, ge=0.0, le=1.0, description="Drop pairs whose judge verdict flips when swapped more often."
    )
    min_agreement: float | None = Field(None, ge=0.0, le=1.0, description="Drop pairs with less annotator agreement.")
    require_evidence: bool = Field(
        False, description="Drop pairs with no swap-consistency/agreement value when a threshold on it is set."
    )

    @model_validator(mode="after")
    def _something_to_do(self):
        thresholds = (self.min_margin, self.min_normalized_margin, self.min_quantile,
                      self.min_swap_consistency, self.min_agreement)
        if all(t is None for t in thresholds):
            raise ValueError("gap filter has no threshold: set min_margin, min_normalized_margin, "
                             "min_quantile, min_swap_consistency or min_agreement")
        return self


class GapFilter(Filter):
    """Drop pairs whose preference is not clear: margin, normalized margin, quantile, swap consistency, agreement."""

    name, Config = "gap", GapFilterConfig
    config: GapFilterConfig

    def scope(self) -> Scope:
        """columns when a threshold depends on all pairs (a quantile, the observed score scale)."""
        c = self.config
        if c.min_quantile is None and (c.min_normalized_margin is None or c.score_range is not None):
            return "pair"
        return "columns"

    def narrow_columns(self) -> list[pl.Expr] | None:
        return [pl.col(n) for n in ("pair_id", "margin", "chosen_score", "rejected_score", "swap_consistency",
                                    "agreement")]

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        c = self.config
        check_numeric(pairs, ["margin", "chosen_score", "rejected_score"])
        rules, helpers, stats = [], [], {}
        uses_margin = any(t is not None for t in (c.min_margin, c.min_normalized_margin, c.min_quantile))
        if uses_margin:
            rules.append(Rule("missing_margin", pl.col("margin").is_null() | ~pl.col("margin").is_finite(),
                              "gap filter: pair has no finite margin (no scores); drop the gap step for unscored data",
                              ["margin"]))
        if c.min_margin is not None:
            rules.append(Rule("low_margin", pl.col("margin") < c.min_margin,
                              f"gap filter: margin below min_margin={c.min_margin}", ["margin"]))
        if c.min_normalized_margin is not None:
            scale = score_scale(pairs, c.score_range)
            stats["score_scale"] = scale
            pairs = pairs.with_columns((pl.col("margin") / scale).alias("normalized_margin"))
            helpers.append("normalized_margin")
            rules.append(Rule("low_normalized_margin", pl.col("normalized_margin") < c.min_normalized_margin,
                              f"gap filter: margin / score scale ({scale:g}) below {c.min_normalized_margin}",
                              ["normalized_margin", "margin"]))
        if c.min_quantile is not None:
            cutoff = pairs["margin"].quantile(c.min_quantile, "linear") if pairs.height else None
            stats["quantile_cutoff"] = cutoff
            if cutoff is not None:
                rules.append(Rule("below_margin_quantile", pl.col("margin") < cutoff,
                                  f"gap filter: margin below the {c.min_quantile} quantile ({cutoff:g})", ["margin"]))
        for column, threshold in (("swap_consistency", c.min_swap_consistency), ("agreement", c.min_agreement)):
            if threshold is None:
                continue
            if c.require_evidence:
                rules.append(Rule("missing_evidence", pl.col(column).is_null(),
                                  f"gap filter: no {column} value and require_evidence is true", [column]))
            rules.append(Rule(f"low_{column}", pl.col(column) < threshold,
                              f"gap filter: {column} below {threshold}", [column]))
        result = split_by_reasons(pairs, rules, helper_columns=helpers)
        result.stats.update(stats)
        return result
