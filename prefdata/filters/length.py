"""Length-bias filter: cap how much longer (or shorter) the chosen response may be.

    filter:
      steps:
        - {type: length, max_ratio: 2.0}                  # chosen at most 2x rejected
        - {type: length, max_ratio: 1.5, symmetric: true} # and rejected at most 1.5x chosen

Judges and annotators favour long answers; a DPO model trained on pairs where the chosen
side is always longer learns to ramble. The ratio is measured in tokens when both sides
have token counts, else in characters (`unit: chars` forces characters). The stage report
shows the chosen-minus-rejected length gap before and after filtering (prefdata/lengths.py).
For a pairing that avoids the bias in the first place, see `pair.strategy: length_matched`.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from prefdata.config import StrictModel
from prefdata.filters.base import Filter, FilterResult, Rule, split_by_reasons
from prefdata.filters.phases import Scope
from prefdata.lengths import gap_summary, length_expr, length_gap


class LengthFilterConfig(StrictModel):
    type: Literal["length"] = "length"
    max_ratio: float = Field(2.0, gt=1.0, description="Drop pairs with chosen/rejected length above this.")
    symmetric: bool = Field(False, description="Also drop pairs with rejected/chosen length above max_ratio.")
    unit: Literal["auto", "chars"] = Field("auto", description="auto: tokens when known, else characters.")


class LengthFilter(Filter):
    """Drop pairs whose chosen side is much longer (or shorter) than the rejected one."""

    name, Config = "length", LengthFilterConfig
    config: LengthFilterConfig

    def scope(self) -> Scope:
        return "pair"

    def values(self, pairs: pl.DataFrame) -> pl.DataFrame:
        return length_gap(pairs).to_frame()

    def summarize(self, before: pl.DataFrame, after: pl.DataFrame) -> dict:
        """The length gap over all pairs, before and after (in partitions: from every partition's gaps)."""
        return {"length_gap_before": gap_summary(before["length_gap"]),
                "length_gap_after": gap_summary(after["length_gap"])}

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        c = self.config
        chosen = length_expr("chosen", c.unit, pairs.columns)
        rejected = length_expr("rejected", c.unit, pairs.columns)
        # +1 on both sides: an empty side gives a finite ratio (the quality filter owns empties)
        work = pairs.with_columns(((chosen + 1) / (rejected + 1)).alias("length_ratio"))
        rules = [Rule("chosen_too_long", pl.col("length_ratio") > c.max_ratio,
                      f"length filter: chosen is more than {c.max_ratio}x as long as rejected", ["length_ratio"])]
        if c.symmetric:
            rules.append(Rule("chosen_too_short", pl.col("length_ratio") < 1.0 / c.max_ratio,
                              f"length filter: rejected is more than {c.max_ratio}x as long as chosen",
                              ["length_ratio"]))
        result = split_by_reasons(work, rules, helper_columns=["length_ratio"])
        result.stats.update(self.summarize(self.values(pairs), self.values(result.kept)))
        return result
