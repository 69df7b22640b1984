"""How much longer the chosen answer is than the rejected one: the length bias every report shows.

    from prefdata.lengths import length_gap_stats
    length_gap_stats(pairs)   # {"mean": 41.0, "median": 12.0, "chosen_longer_share": 0.62}

Judges and annotators favour long answers, and a DPO model trained on pairs where the chosen
side is always longer learns to ramble; the filter stage reports the gap before and after
its steps (in memory, or from every partition's gaps), the report and the card plot it, and
the `length` filter caps the ratio.
"""

from __future__ import annotations

import polars as pl


def length_expr(side: str, unit: str = "auto", columns: list[str] = ()) -> pl.Expr:
    """Length of one side: tokens when known (and unit allows), else characters."""
    chars = pl.col(side).str.len_chars().cast(pl.Float64)
    if unit == "chars" or f"{side}_tokens" not in columns:
        return chars
    return pl.coalesce(pl.col(f"{side}_tokens").cast(pl.Float64), chars)


def length_gap_expr(schema: pl.Schema) -> pl.Expr:
    """Chosen-minus-rejected length in characters, for pairs (plain strings) or DPO examples
    (conversational: a list holding one assistant message)."""
    def chars(side: str) -> pl.Expr:
        text = pl.col(side) if schema[side] == pl.String else pl.col(side).list.last().struct.field("content")
        return text.str.len_chars().cast(pl.Int64)

    return (chars("chosen") - chars("rejected")).alias("length_gap")


def length_gap(pairs: pl.DataFrame | pl.LazyFrame) -> pl.Series:
    """Chosen-minus-rejected length in characters per pair (from a scan, only this column is held)."""
    lf = pairs.lazy()
    return lf.select(length_gap_expr(lf.collect_schema())).collect()["length_gap"]


def gap_summary(gap: pl.Series) -> dict[str, float | None]:
    """Mean, median and share with chosen longer, of length_gap values."""
    if gap.len() == 0:
        return {"mean": None, "median": None, "chosen_longer_share": None}
    return {"mean": float(gap.mean()), "median": float(gap.median()),
            "chosen_longer_share": float((gap > 0).mean())}


def length_gap_stats(pairs: pl.DataFrame | pl.LazyFrame) -> dict[str, float | None]:
    """Chosen-minus-rejected length gap in characters: mean, median, share with chosen longer."""
    return gap_summary(length_gap(pairs))
