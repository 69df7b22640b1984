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

import hashlib
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
        """What decides this stage's output besides its inputs: the config, and the content of
        every file it names (an edited eval file or judge template re-runs the stage)."""
        config = self.config.model_dump(mode="json")
        files = {path: content_digest(Path(path)) for path in _named_files(config)}
        return {**config, "file_sha256": files} if files else config

    @abstractmethod
    def run(self, inputs: dict[str, pl.DataFrame], ctx: StageContext) -> StageOutput: ...


def content_digest(path: Path) -> str:
    """sha256 of a file, or of every file under a directory (with their relative names)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _named_files(value: Any) -> list[str]:
    """Strings in a config dump that name existing files (model directories are left out)."""
    if isinstance(value, dict):
        return [f for v in value.values() for f in _named_files(v)]
    if isinstance(value, list):
        return [f for v in value for f in _named_files(v)]
    if isinstance(value, str) and 0 < len(value) < 4096 and "\n" not in value:
        try:
            return [value] if Path(value).is_file() else []
        except (OSError, ValueError):
            return []
    return []
