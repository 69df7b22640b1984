"""The `filter` stage: an ordered list of filter steps over the pairs.

    filter:
      steps:                     # run top to bottom; each sees what the previous kept
        - {type: gap, min_margin: 0.5}
        - {type: quality}
        - {type: length, max_ratio: 2.0}
        - {type: dedup}
        - {type: diversity, max_cosine: 0.95}
        - {type: decontam, eval_files: [evals/mt_bench.jsonl]}
      partition_pairs: 100000    # more pairs than this: filtered in partitions (same result, bounded memory)
      executor: local            # | ray: the partitions as Ray Data tasks (prefdata/partition/)

Also runs on an imported dataset: `prefdata filter DATASET_DIR --config filters.yaml --out DIR`.
The unit is the pair: rows_in = input pairs, rows_kept = pairs left after the last step.
Every step must keep + drop exactly its input (checked here, a bug otherwise); the stats
carry the funnel (pairs after each step, drops by reason) for the report and the card.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field
from rich.console import Console

from prefdata.config import StrictModel
from prefdata.filters import FilterStepConfig, build_filter
from prefdata.filters.base import check_balance
from prefdata.lengths import length_gap_stats
from prefdata.stages.base import Stage, StageContext, StageOutput
from prefdata.ledger import empty_rejects, reasons


def _default_steps() -> list:
    from prefdata.filters import DedupFilterConfig, LengthFilterConfig, QualityFilterConfig

    return [QualityFilterConfig(), LengthFilterConfig(), DedupFilterConfig()]


class FilterConfig(StrictModel):
    steps: list[FilterStepConfig] = Field(
        default_factory=_default_steps,
        description="Filter steps in order (type: gap|quality|length|dedup|diversity|decontam|..., or "
        "module:Class for a filter of your own).",
    )
    partition_pairs: int = Field(
        100_000, ge=1, description="More pairs than this are filtered in partitions of this many (same result).")
    executor: Literal["local", "ray"] = Field(
        "local", description="ray: run the partitions as Ray Data tasks on the recipe's `ray:` cluster.")


class FilterStage(Stage):
    name, Config = "filter", FilterConfig
    inputs, output, unit, optional = ("pairs",), "pairs", "pairs", True
    lazy_inputs = True
    config: FilterConfig

    def code_files(self) -> list[Path]:
        """This module, every filter block and the partitioned runner: an edited filter re-filters."""
        import prefdata.filters as filters
        import prefdata.partition as package
        import prefdata.partition.executor as executor
        import prefdata.partition.files as files
        import prefdata.partition.filters as partitioned

        blocks = sorted(Path(filters.__file__).parent.glob("*.py"))
        return [*super().code_files(), *blocks, *(Path(m.__file__) for m in (package, partitioned, executor, files))]

    def run(self, inputs: dict[str, pl.DataFrame | pl.LazyFrame], ctx: StageContext | None = None) -> StageOutput:
        pairs = inputs["pairs"].lazy()
        c = self.config
        if ctx is not None and (c.executor == "ray" or pairs.select(pl.len()).collect().item() > c.partition_pairs):
            from prefdata.partition.executor import console_progress
            from prefdata.partition.filters import filter_partitioned

            console = ctx.console or Console(stderr=True)
            out, rejects, stats, rows_in = filter_partitioned(
                pairs, c, ctx.stage_dir, source=ctx.input_files.get("pairs"), partition_pairs=c.partition_pairs,
                executor=c.executor,
                progress=console_progress(console, "filter"),
                log=console.log, key=ctx.key)
            stats["dropped"] = reasons(rejects)
            return StageOutput(data=out, rejects=rejects, rows_in=rows_in, stats=stats)
        return run_filters(pairs.collect(), c, quiet=ctx is None)


def run_filters(pairs: pl.DataFrame, config: FilterConfig, *, quiet: bool = False) -> StageOutput:
    """Apply the steps in order; stats hold the funnel and length gap before/after."""
    console = Console(stderr=True, quiet=quiet)
    current, parts, funnel = pairs, [], []
    for index, step in enumerate(config.steps, 1):
        started = time.perf_counter()
        result = build_filter(step).apply(current)
        check_balance(result, current.height, index, step.type)
        funnel.append({
            "step": index, "type": step.type, "rows_in": current.height, "rows_kept": result.kept.height,
            "dropped": reasons(result.rejects), "seconds": round(time.perf_counter() - started, 3),
            "stats": result.stats,
        })
        console.log(f"filter {index}/{len(config.steps)} {step.type}: {current.height} -> {result.kept.height} pairs")
        parts.append(result.rejects)
        current = result.kept
    rejects = pl.concat(parts) if parts else empty_rejects()
    stats = {
        "funnel": funnel,
        "length_gap_before": length_gap_stats(pairs),
        "length_gap_after": length_gap_stats(current),
        "dropped": reasons(rejects),
    }
    return StageOutput(data=current, rejects=rejects, rows_in=pairs.height, stats=stats)
