"""The pipeline recipe: one YAML file, one section per stage, derived from `prefdata.stages.STAGES`.

    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/x --set sample.k=8

    name: my-run
    seed: 0
    prompts: {...}   # prefdata/stages/prompts.py PromptsConfig
    sample: {...}    # prefdata/stages/sample.py  SampleConfig
    label: {...}     # prefdata/stages/label.py   LabelConfig
    pair: {...}      # prefdata/stages/pair.py    PairConfig
    filter: {...}    # prefdata/stages/filter.py  FilterConfig (optional between pair and export)
    export: {...}    # prefdata/stages/export.py  ExportConfig
    argilla: {...}   # not a stage: how `prefdata argilla push/pull` shape the annotation dataset
    ray: {...}       # not a stage: the Ray cluster to connect to (prefdata/cluster.py)

A section left out ends the pipeline before that stage (e.g. sample only, for the human
loop); stages run in the order of STAGES.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional

from pydantic import create_model, model_validator

from prefdata.argilla.settings import ArgillaConfig
from prefdata.cluster import RayClusterConfig
from prefdata.config import StrictModel, load_config
from prefdata.stages import STAGES
from prefdata.stages.base import Stage


class RecipeBase(StrictModel):
    stage_classes: ClassVar[tuple[type[Stage], ...]] = ()
    name: str = "run"
    seed: int = 0
    argilla: ArgillaConfig | None = None
    ray: RayClusterConfig | None = None  # the Ray cluster `backend: ray` samplers and `executor: ray` use

    @model_validator(mode="after")
    def _contiguous(self):
        order = [c.name for c in self.stage_classes]
        present = self.stages()
        core = [c.name for c in self.stage_classes if not c.optional]
        required = core[: len([s for s in present if s in core])]
        gaps = [s for s in present if s in core] != required
        dangling = [c.name for c in self.stage_classes if c.optional and c.name in present
                    and order[order.index(c.name) - 1] not in present]
        if gaps or dangling:
            optional = [c.name for c in self.stage_classes if c.optional]
            raise ValueError(f"stages must run in order {' -> '.join(order)} without gaps ({', '.join(optional)} "
                             f"optional); got {' -> '.join(present)}")
        return self

    @model_validator(mode="after")
    def _pairs_read_mixed_labels(self):
        label, pair = getattr(self, "label", None), getattr(self, "pair", None)
        source, requested = getattr(label, "source", None), getattr(pair, "label_source", None)
        if source == "mixed" and requested not in (None, label.mixed_id):
            raise ValueError(f"pair.label_source {requested!r} would pair on the judges alone and leave the "
                             f"human answers of label.source: mixed unused; remove it or set it to {label.mixed_id!r}")
        return self

    @model_validator(mode="after")
    def _dynamic_sampling_compares_scores(self):
        sample = getattr(self, "sample", None)
        if sample is None or sample.dynamic is None:
            return self
        label, pair = getattr(self, "label", None), getattr(self, "pair", None)
        if label is None or pair is None:
            raise ValueError("sample.dynamic samples again for the prompts without a pair: the recipe needs label "
                             "and pair sections")
        if label.source != "judges":
            raise ValueError(f"sample.dynamic needs label.source: judges (got {label.source}): each round's new "
                             "answers are judged as they come")
        pairwise = [j.id for j in label.judges if getattr(j, "mode", None) == "pairwise"]
        if pairwise:
            raise ValueError(f"sample.dynamic needs pointwise judges; {pairwise} compare answers within a round, so "
                             "their labels would not compare across rounds (use mode: pointwise)")
        return self

    def stages(self) -> list[str]:
        return [c.name for c in self.stage_classes if getattr(self, c.name) is not None]

    def stage(self, name: str) -> Stage:
        cls = next(c for c in self.stage_classes if c.name == name)
        return cls(getattr(self, name))


def recipe_model(stages: tuple[type[Stage], ...] = STAGES, name: str = "Recipe",
                 base: type[RecipeBase] = RecipeBase) -> type[RecipeBase]:
    """The recipe model of a stage list: one section per stage, typed by its config model;
    `base` adds sections that are not stages (`prefdata iterate` adds train and iterate)."""
    fields: dict[str, Any] = {
        c.name: (c.Config, ...) if c.required else (Optional[c.Config], None) for c in stages
    }
    model = create_model(name, __base__=base, **fields)
    model.stage_classes = tuple(stages)
    return model


Recipe = recipe_model()


def load_recipe(path: str | Path, overrides: list[str] = ()) -> RecipeBase:
    return load_config(Recipe, path, overrides)
