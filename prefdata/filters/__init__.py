"""Pair filters, one small block each: gap, quality, length, dedup, diversity, decontam.

    from prefdata.filters import build_filter
    result = build_filter(GapFilterConfig(min_margin=0.5)).apply(pairs)

`FilterStepConfig` is the tagged union the `filter` stage's `steps` list holds (`type:`
picks the block). Heavy dependencies (sentence-transformers, rensa) load only when a step
that needs them runs.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from prefdata.filters.base import Filter, FilterResult
from prefdata.filters.decontam import DecontamFilter, DecontamFilterConfig
from prefdata.filters.dedup import DedupFilter, DedupFilterConfig
from prefdata.filters.diversity import DiversityFilter, DiversityFilterConfig
from prefdata.filters.gap import GapFilter, GapFilterConfig
from prefdata.filters.length import LengthFilter, LengthFilterConfig
from prefdata.filters.quality import QualityFilter, QualityFilterConfig

FilterStepConfig = Annotated[
    Union[GapFilterConfig, QualityFilterConfig, LengthFilterConfig, DedupFilterConfig,
          DiversityFilterConfig, DecontamFilterConfig],
    Field(discriminator="type"),
]

FILTERS: dict[str, type[Filter]] = {
    cls.name: cls for cls in (GapFilter, QualityFilter, LengthFilter, DedupFilter, DiversityFilter, DecontamFilter)
}


def build_filter(config) -> Filter:
    return FILTERS[config.type](config)


__all__ = ["FILTERS", "Filter", "FilterResult", "FilterStepConfig", "build_filter"]
