"""The `filter` stage: an ordered list of filter steps over the pairs.

    filter:
      steps:                     # run top to bottom; each sees what the previous kept
        - {type: gap, min_margin: 0.5}
        - {type: quality}
        - {type: length, max_ratio: 2.0}
        - {type: dedup}
        - {type: diversity, max_cosine: 0.95}
        - {type: decontam, eval_files: [evals/mt_bench.jsonl]}
      partition_pairs: 100000    # pairs per partition: more are filtered in partitions (same result, bounded memory)
      executor: local            # | ray: the partitions as Ray Data tasks (prefdata/partition/)

Also runs on an imported dataset: `prefdata filter DATASET_DIR --config filters.yaml --out DIR`.
The unit is the pair: rows_in = input pairs, rows_kept = pairs left after the last step.
Every step must keep + drop exactly its input (checked here, a bug otherwise); the stats
carry the funnel (pairs after each step, drops by reason) for the report and the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field
from rich.console import Console

from prefdata.config import StrictModel
from prefdata.filters import FilterStepConfig
from prefdata.stages.base import Stage, StageContext, StageOutput


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

    def run(self, inputs: dict[str, pl.DataFrame | pl.LazyFrame], ctx: StageContext) -> StageOutput:
        from prefdata.partition.executor import console_progress
        from prefdata.partition.filters import filter_partitions

        c, console = self.config, ctx.console or Console(stderr=True)
        return filter_partitions(inputs["pairs"], c, ctx.stage_dir, source=ctx.input_files.get("pairs"),
                                 progress=console_progress(console, "filter"), log=console.log, key=ctx.key)
