"""Every model against the baseline: per metric, the mean over prompts and the paired
difference (model - baseline, per prompt) with its 95% bootstrap interval and verdict
(prefdata/stats.py: `holds` when the interval lies above 0, `worse` below).

    summary = summarize(tables)                   # {model: {metric: mean}}
    compared = compare(tables, baseline="base")   # {model: {metric: {diff, low, high, verdict}}}
    paired_difference(table, base, "score")       # one metric of two per-prompt tables (prefdata iterate's)
"""

from __future__ import annotations

import polars as pl

from prefdata.evaluate.scores import ACCURACY, METRICS
from prefdata.stats import paired_interval, verdict


def summarize(tables: dict[str, pl.DataFrame]) -> dict[str, dict]:
    out = {}
    for model, t in tables.items():
        entry = {m: _mean(t[m]) for m in METRICS}
        # IFEval's instruction-level figures weigh each instruction, not each prompt
        for mode in ("strict", "loose"):
            followed = (t[f"instruction_{mode}"] * t["instructions"]).sum()
            entry[f"instruction_{mode}_micro"] = float(followed / t["instructions"].sum()) if t.height else None
        entry.update(prompts=t.height, answered=int(t["answered"].sum()), truncated=int(t["truncated"].sum()),
                     stand_in_prompts=int(t["stand_in"].sum()))
        out[model] = entry
    return out


def compare(tables: dict[str, pl.DataFrame], baseline: str, metrics: tuple[str, ...] = METRICS) -> dict[str, dict]:
    base = tables[baseline]
    return {model: {metric: paired_difference(t, base, metric) for metric in metrics}
            for model, t in tables.items() if model != baseline}


def paired_difference(table: pl.DataFrame, base: pl.DataFrame, metric: str) -> dict:
    """table - base in `metric`, per prompt (joined on prompt_id; prompts where either is null are
    left out and the rest counted): mean, 95% bootstrap interval and verdict."""
    both = table.select("prompt_id", metric).join(base.select("prompt_id", metric), on="prompt_id", suffix="_base")
    pair = both.select(metric, f"{metric}_base").drop_nulls()
    diffs = (pair[metric].cast(pl.Float64) - pair[f"{metric}_base"].cast(pl.Float64)).to_list()
    mean, low, high = paired_interval([diffs])
    return {"diff": mean, "low": low, "high": high, "prompts": len(diffs),
            "verdict": verdict(low, high) if diffs else "no prompts"}


def _mean(column: pl.Series) -> float | None:
    values = column.drop_nulls().cast(pl.Float64)
    return float(values.mean()) if values.len() else None


__all__ = ["ACCURACY", "METRICS", "compare", "paired_difference", "summarize"]
