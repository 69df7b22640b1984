"""Pair filters, one small block each: gap, margin_quantile, rip, quality, length, dedup, diversity, decontam.

    from prefdata.filters import build_filter
    result = build_filter(GapFilterConfig(min_margin=0.5)).apply(pairs)

`FILTERS` names every filter class once; `FilterStepConfig`, the tagged union the `filter`
stage's `steps` list holds (`type:` picks the block), is built from it. A new filter is a
module with a `Filter` subclass (`name`, `Config`, a docstring, `apply`) plus one line in
`FILTERS`. Heavy dependencies (sentence-transformers, rensa) load only when a step that
needs them runs.
"""

from __future__ import annotations

from prefdata.filters.base import Filter, FilterResult
from prefdata.filters.decontam import DecontamFilter, DecontamFilterConfig
from prefdata.filters.dedup import DedupFilter, DedupFilterConfig
from prefdata.filters.diversity import DiversityFilter, DiversityFilterConfig
from prefdata.filters.gap import GapFilter, GapFilterConfig
from prefdata.filters.length import LengthFilter, LengthFilterConfig
from prefdata.filters.margin_quantile import MarginQuantileFilter, MarginQuantileFilterConfig
from prefdata.filters.quality import QualityFilter, QualityFilterConfig
from prefdata.filters.rip import RipFilter, RipFilterConfig
from prefdata.registry import catalog, config_union, lookup

FILTERS: list[type[Filter]] = [GapFilter, MarginQuantileFilter, RipFilter, QualityFilter, LengthFilter, DedupFilter,
                               DiversityFilter, DecontamFilter]
FilterStepConfig = config_union(FILTERS)


def build_filter(config) -> Filter:
    """The filter block for one step's config (its `type` names the class in `FILTERS`)."""
    return lookup(FILTERS, config.type, "filter")(config)


def filter_catalog() -> list[tuple[str, str]]:
    """(type, what it does) per filter, from the classes' docstrings."""
    return catalog(FILTERS)


__all__ = ["FILTERS", "DecontamFilterConfig", "DedupFilterConfig", "DiversityFilterConfig", "Filter",
           "FilterResult", "FilterStepConfig", "GapFilterConfig", "LengthFilterConfig", "MarginQuantileFilterConfig",
           "QualityFilterConfig", "RipFilterConfig",
           "build_filter", "filter_catalog"]
