"""The pipeline recipe: one YAML file, one section per stage.

    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/x --set sample.k=8

    name: my-run
    seed: 0
    prompts: {...}   # prefdata/stages/prompts.py PromptsConfig
    sample: {...}    # prefdata/stages/sample.py  SampleConfig
    label: {...}     # prefdata/stages/label.py   LabelConfig
    pair: {...}      # prefdata/stages/pair.py    PairConfig
    filter: {...}    # prefdata/stages/filter.py  FilterConfig
    export: {...}    # prefdata/stages/export.py  ExportConfig

A section left out ends the pipeline before that stage (e.g. sample only, for the human
loop); stages run in the order above.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from prefdata.argilla.settings import ArgillaConfig
from prefdata.config import StrictModel, load_config
from prefdata.stages.export import ExportConfig
from prefdata.stages.filter import FilterConfig
from prefdata.stages.label import LabelConfig
from prefdata.stages.pair import PairConfig
from prefdata.stages.prompts import PromptsConfig
from prefdata.stages.sample import SampleConfig

STAGE_ORDER = ("prompts", "sample", "label", "pair", "filter", "export")


class Recipe(StrictModel):
    name: str = "run"
    seed: int = 0
    prompts: PromptsConfig
    sample: SampleConfig | None = None
    label: LabelConfig | None = None
    pair: PairConfig | None = None
    filter: FilterConfig | None = None
    export: ExportConfig | None = None
    # Not a stage: how `prefdata argilla push/pull` shape the human-annotation dataset.
    argilla: ArgillaConfig | None = None

    @model_validator(mode="after")
    def _contiguous(self):
        present = self.stages()
        required = [s for s in STAGE_ORDER if s != "filter"][: len([s for s in present if s != "filter"])]
        if [s for s in present if s != "filter"] != required or ("filter" in present and "pair" not in present):
            raise ValueError(
                f"stages must run in order {' -> '.join(STAGE_ORDER)} without gaps (filter is "
                f"optional); got {' -> '.join(present)}"
            )
        return self

    def stages(self) -> list[str]:
        return [s for s in STAGE_ORDER if getattr(self, s) is not None]


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    return load_config(Recipe, path, overrides)
