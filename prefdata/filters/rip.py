"""RIP (Rejecting Instruction Preferences, Yu et al. 2025): drop pairs whose rejected answer
says the prompt is a poor one to learn from.

    filter:
      steps:
        - {type: rip, rejected_score_quantile: 0.25, rejected_length_quantile: 0.25, gap_quantile: 0.9}

Three signals, each a quantile of the input pairs (a threshold left out is off):
- rejected score below its `rejected_score_quantile`: even the worst answer should be decent;
- rejected answer shorter than its `rejected_length_quantile` (characters, or tokens when
  every pair has them): short rejected answers mark low-quality prompts in the paper;
- margin above its `gap_quantile`: a huge gap says the prompt is easy or the judge is off.
With one pair per prompt (best_vs_worst) dropping a pair drops the prompt, as RIP does.
Every dropped pair keeps the value and the cutoff that decided it.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from prefdata.config import StrictModel
from prefdata.errors import DataError
from prefdata.filters.base import Filter, FilterResult, Rule, check_numeric, split_by_reasons
from prefdata.filters.phases import Scope


class RipFilterConfig(StrictModel):
    type: Literal["rip"] = "rip"
    rejected_score_quantile: float | None = Field(
        None, ge=0.0, lt=1.0, description="Drop pairs whose rejected score is below this quantile of rejected scores.")
    rejected_length_quantile: float | None = Field(
        None, ge=0.0, lt=1.0, description="Drop pairs whose rejected answer is shorter than this quantile.")
    gap_quantile: float | None = Field(
        None, gt=0.0, le=1.0, description="Drop pairs whose margin is above this quantile of margins.")
    length_unit: Literal["auto", "chars", "tokens"] = Field(
        "auto", description="auto: tokens when every pair has rejected_tokens, else characters.")

    @model_validator(mode="after")
    def _something_to_do(self):
        if self.rejected_score_quantile is None and self.rejected_length_quantile is None and self.gap_quantile is None:
            raise ValueError("rip filter has no threshold: set rejected_score_quantile, rejected_length_quantile "
                             "or gap_quantile")
        return self


class RipFilter(Filter):
    """Drop pairs by RIP's signals: low rejected score, short rejected answer, very large gap (quantiles)."""

    name, Config = "rip", RipFilterConfig
    config: RipFilterConfig

    def scope(self) -> Scope:
        return "columns"  # cutoffs are quantiles over all pairs

    def narrow_columns(self) -> list[pl.Expr]:
        return [pl.col("pair_id"), pl.col("margin"), pl.col("rejected_score"), pl.col("rejected_tokens"),
                pl.col("rejected").str.len_chars().alias("rejected_chars")]

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        c = self.config
        check_numeric(pairs, ["margin", "rejected_score"])
        pairs = pairs.with_columns(self._length(pairs).alias("rejected_length"))
        rules, stats = [], {}
        signals = (("rejected_score", c.rejected_score_quantile, "rip_low_rejected_score", "below", "rejected score"),
                   ("rejected_length", c.rejected_length_quantile, "rip_short_rejected", "below", "rejected length"),
                   ("margin", c.gap_quantile, "rip_large_gap", "above", "margin"))
        for column, q, reason, side, what in signals:
            if q is None:
                continue
            cutoff = _quantile(pairs[column], q)
            stats[f"{reason}_cutoff"] = cutoff
            if cutoff is None:
                continue
            when = pl.col(column) < cutoff if side == "below" else pl.col(column) > cutoff
            rules.append(Rule(reason, when, f"rip: {what} {side} its {q} quantile ({cutoff:g})", [column]))
        result = split_by_reasons(pairs, rules, helper_columns=["rejected_length"])
        result.stats.update(stats)
        return result

    def _length(self, pairs: pl.DataFrame) -> pl.Expr:
        tokens = "rejected_tokens" in pairs.columns and pairs["rejected_tokens"].null_count() == 0
        if self.config.length_unit == "tokens" and not tokens:
            raise DataError("rip filter: length_unit tokens, but not every pair has rejected_tokens (imported pairs "
                            "often have none); use length_unit: chars (or auto)")
        if self.config.length_unit == "tokens" or (self.config.length_unit == "auto" and tokens and pairs.height):
            return pl.col("rejected_tokens").cast(pl.Float64)
        # PairRecord: responses are strings; `rejected_chars` stands in for them in a narrow frame
        chars = pl.col("rejected_chars") if "rejected_chars" in pairs.columns else pl.col("rejected").str.len_chars()
        return chars.cast(pl.Float64)


def _quantile(series: pl.Series, q: float) -> float | None:
    values = series.drop_nulls()
    values = values.filter(values.is_finite()) if values.dtype.is_float() else values
    return float(values.quantile(q, "linear")) if values.len() else None
