"""The contract between the runner and a stage.

A stage reads named upstream artifacts (polars frames), returns its output frame, the rows
it dropped (RejectRecord columns) and statistics. The runner (prefdata/runner.py) writes
`RUN_DIR/stages/<name>/{data,rejects}.parquet` + `stats.json`, checks that
rows_in == rows_kept + dropped, and skips the stage when its key (config + inputs) is
unchanged.

    class Uppercase(Stage):
        name, inputs = "upper", ("prompts",)
        def run(self, inputs, ctx):
            df = inputs["prompts"]
            return StageOutput(data=df, rejects=empty_rejects(), rows_in=df.height)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel


@dataclass
class StageContext:
    run_dir: Path
    stage_dir: Path  # scratch space owned by the stage (shards, plots); survives re-runs
    seed: int = 0
    recipe: Any = None  # the whole Recipe, for stages that need another stage's config


@dataclass
class StageOutput:
    data: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int  # units the stage accounts for (prompts for sample, pairs for filter)
    rows_kept: int | None = None  # defaults to data.height
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.rows_kept is None:
            self.rows_kept = self.data.height


class Stage(ABC):
    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: BaseModel):
        self.config = config

    def fingerprint(self) -> dict[str, Any]:
        """What decides this stage's output besides its inputs; override to add file hashes."""
        return self.config.model_dump(mode="json")

    @abstractmethod
    def run(self, inputs: dict[str, pl.DataFrame], ctx: StageContext) -> StageOutput: ...
