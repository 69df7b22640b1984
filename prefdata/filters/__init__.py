"""Pair filters, one small block each: gap, margin_quantile, rip, quality, length, dedup, diversity, decontam.

    from prefdata.filters import build_filter
    result = build_filter(GapFilterConfig(min_margin=0.5)).apply(pairs)

`FILTERS` names every filter class once; `FilterStepConfig`, the tagged union the `filter`
stage's `steps` list holds (`type:` picks the block), is built from it. A new filter is a
module with a `Filter` subclass (`name`, `Config`, a docstring, `apply`, `scope`) plus one
line in `FILTERS`; or, outside the package, `type: my_module:MyFilter` in the recipe or a
`prefdata.filters` entry point (prefdata/plugins.py). Heavy dependencies (sentence-transformers, rensa) load only when a step that
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
from prefdata.plugins import PluginConfig, plugin_union, registered_catalog
from prefdata.registry import catalog, lookup

FILTERS: list[type[Filter]] = [GapFilter, MarginQuantileFilter, RipFilter, QualityFilter, LengthFilter, DedupFilter,
                               DiversityFilter, DecontamFilter]
# `type:` a name in FILTERS, or a filter of the user's own (`module:Class`, an entry point)
FilterStepConfig = plugin_union(FILTERS, "filter", Filter)


def build_filter(config) -> Filter:
    """The filter block for one step's config (its `type` names the class in `FILTERS`, or the plugin)."""
    if isinstance(config, PluginConfig):
        return config.build()
    return lookup(FILTERS, config.type, "filter")(config)


def filter_catalog() -> list[tuple[str, str]]:
    """(type, what it does) per filter, from the classes' docstrings; installed plugins last."""
    return catalog(FILTERS) + registered_catalog("filter")


__all__ = ["FILTERS", "DecontamFilterConfig", "DedupFilterConfig", "DiversityFilterConfig", "Filter",
           "FilterResult", "FilterStepConfig", "GapFilterConfig", "LengthFilterConfig", "MarginQuantileFilterConfig",
           "QualityFilterConfig", "RipFilterConfig",
           "build_filter", "filter_catalog"]
